package deadletter

import (
	"bufio"
	"context"
	"fmt"
	"strings"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem"
	_ "github.com/apache/beam/sdks/v2/go/pkg/beam/io/filesystem/local" // local paths work out of the box
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
)

func init() {
	register.DoFn2x2[context.Context, Letter, string, error](&toLineFn{})
	register.DoFn6x1[context.Context, beam.PaneInfo, beam.Window, int, func(*string) bool, func(string), error](&writeFileFn{})
	register.Iter1[string]()
	register.Emitter1[string]()
}

// FileSuffix ends the name of every file ToFiles writes.
const FileSuffix = ".jsonl"

// fileTimeLayout is how window bounds appear in file names: sortable, and
// without the colons some file systems and tools refuse.
const fileTimeLayout = "20060102T150405.000Z"

// ToFiles writes letters, a PCollection of Letter, as lines of JSON (one
// envelope per line, see Marshal) to files whose names start with prefix:
// a path on any file system registered with Beam's io/filesystem (local
// paths work as is; import io/filesystem/gcs or s3 for those). It returns
// the names of the files written, one element per file.
//
// Each window and pane of letters gives one file, written by one worker
// (a GroupByKey to a single key, as textio.Write does; dead letters are
// expected to be few):
//
//	<prefix>-<start>-<end>-<pane>.jsonl   in an interval window
//	<prefix>-global-<pane>.jsonl          in the global window
//
// with the window's bounds as 20060102T150405.000Z (UTC) and the pane's
// index (0 unless a trigger fires several panes or late data arrives).
// So a bounded PCollection in the global window gives one file,
// <prefix>-global-0.jsonl. An unbounded one must be windowed first, for
// example beam.WindowInto(s, window.NewFixedWindows(10*time.Minute),
// letters): in the global window with the default trigger the group never
// fires and nothing would be written. Use fixed windows: with sliding
// ones a letter is written in each of its windows.
//
// A file is written in place (a retried bundle writes it again, whole).
// textio.Read(s, prefix+"*"+FileSuffix) and Unmarshal read them back.
//
// ToFiles panics if an argument is invalid; TryToFiles returns the error
// instead.
func ToFiles(s beam.Scope, prefix string, letters beam.PCollection) beam.PCollection {
	files, err := TryToFiles(s, prefix, letters)
	if err != nil {
		panic(err)
	}
	return files
}

// TryToFiles is ToFiles, returning an error instead of panicking.
func TryToFiles(s beam.Scope, prefix string, letters beam.PCollection) (beam.PCollection, error) {
	s = s.Scope("deadletter.ToFiles")
	if err := checkType("letters", letters, letterType); err != nil {
		return beam.PCollection{}, err
	}
	if strings.TrimSpace(prefix) == "" {
		return beam.PCollection{}, invalid("prefix", "empty file name prefix")
	}
	if err := validateScheme(prefix); err != nil {
		return beam.PCollection{}, err
	}
	lines, err := tryParDo1(s, &toLineFn{}, letters)
	if err != nil {
		return beam.PCollection{}, err
	}
	keyed := beam.AddFixedKey(s, lines)
	grouped, err := beam.TryGroupByKey(s, keyed)
	if err != nil {
		return beam.PCollection{}, err
	}
	return tryParDo1(s, &writeFileFn{Prefix: prefix}, grouped)
}

// validateScheme is filesystem.ValidateScheme, which panics, as an error.
func validateScheme(path string) (err error) {
	defer func() {
		if r := recover(); r != nil {
			err = invalid("prefix", "%v", r)
		}
	}()
	filesystem.ValidateScheme(path)
	return nil
}

// toLineFn marshals letters where they are, in parallel, before the
// grouping.
type toLineFn struct{}

func (fn *toLineFn) ProcessElement(ctx context.Context, l Letter) (string, error) {
	b, err := Marshal(l)
	if err != nil {
		return "", fmt.Errorf("deadletter: letter of %s/%s: %w", l.Record.ShardID, l.Record.SequenceNumber, err)
	}
	return string(b), nil
}

var (
	fileLetters = beam.NewCounter(MetricsNamespace, "file_letters")
	filesOut    = beam.NewCounter(MetricsNamespace, "files")
)

// writeFileFn writes the lines of one window and pane to one file.
type writeFileFn struct {
	Prefix string `json:"prefix"`
}

// fileName is the name of the file of window w and pane p.
func (fn *writeFileFn) fileName(w beam.Window, p beam.PaneInfo) string {
	var bounds string
	switch w := w.(type) {
	case window.IntervalWindow:
		bounds = w.Start.ToTime().UTC().Format(fileTimeLayout) + "-" + w.End.ToTime().UTC().Format(fileTimeLayout)
	case window.GlobalWindow:
		bounds = "global"
	default:
		bounds = fmt.Sprintf("%x", w.MaxTimestamp().Milliseconds())
	}
	return fmt.Sprintf("%s-%s-%d%s", fn.Prefix, bounds, p.Index, FileSuffix)
}

func (fn *writeFileFn) ProcessElement(ctx context.Context, p beam.PaneInfo, w beam.Window, _ int, lines func(*string) bool, emit func(string)) (err error) {
	name := fn.fileName(w, p)
	fs, err := filesystem.New(ctx, name)
	if err != nil {
		return fmt.Errorf("deadletter: file system of %s: %w", name, err)
	}
	defer fs.Close()
	fd, err := fs.OpenWrite(ctx, name)
	if err != nil {
		return fmt.Errorf("deadletter: opening %s: %w", name, err)
	}
	buf := bufio.NewWriterSize(fd, 1<<20)
	var line string
	var n int64
	for lines(&line) {
		if _, err := buf.WriteString(line); err != nil {
			fd.Close()
			return fmt.Errorf("deadletter: writing %s: %w", name, err)
		}
		if err := buf.WriteByte('\n'); err != nil {
			fd.Close()
			return fmt.Errorf("deadletter: writing %s: %w", name, err)
		}
		n++
	}
	if err := buf.Flush(); err != nil {
		fd.Close()
		return fmt.Errorf("deadletter: writing %s: %w", name, err)
	}
	if err := fd.Close(); err != nil {
		return fmt.Errorf("deadletter: closing %s: %w", name, err)
	}
	fileLetters.Inc(ctx, n)
	filesOut.Inc(ctx, 1)
	emit(name)
	return nil
}
