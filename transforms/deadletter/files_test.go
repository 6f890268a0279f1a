package deadletter_test

import (
	"errors"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/io/textio"
	"github.com/google/go-cmp/cmp"
	"github.com/kinesisio/beam-kinesis/testing/beamtest"
	"github.com/kinesisio/beam-kinesis/transforms/deadletter"
	"github.com/kinesisio/beam-kinesis/transforms/decode"
)

// readFiles reads the letters of the files matching glob back with
// textio.Read and Unmarshal, on Prism.
func readFiles(t *testing.T, glob string) []deadletter.Letter {
	t.Helper()
	p, s := beam.NewPipelineWithRoot()
	lines := textio.Read(s, glob)
	ls := beam.ParDo(s, unmarshalLine, lines)
	got := collectLetters(s, ls)
	beamtest.Run(t, p)
	return got()
}

func fileNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	return names
}

// TestToFilesGlobalWindow: a bounded PCollection in the global window
// gives one file, which textio.Read and Unmarshal read back exactly.
func TestToFilesGlobalWindow(t *testing.T) {
	dir := t.TempDir()
	want := letters(12)
	p, s := beam.NewPipelineWithRoot()
	files := deadletter.ToFiles(s, filepath.Join(dir, "dl"), generate(s, want))
	gotFiles := collectStrings(s, files)
	pr := beamtest.Run(t, p)
	wantFile := filepath.Join(dir, "dl-global-0.jsonl")
	if diff := cmp.Diff([]string{wantFile}, gotFiles()); diff != "" {
		t.Errorf("files emitted (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"dl-global-0.jsonl"}, fileNames(t, dir)); diff != "" {
		t.Errorf("files in %s (-want +got):\n%s", dir, diff)
	}
	if diff := cmp.Diff(want, readFiles(t, filepath.Join(dir, "*.jsonl"))); diff != "" {
		t.Errorf("letters read back differ (-want +got):\n%s", diff)
	}
	beamtest.CheckCounter(t, pr, deadletter.MetricsNamespace, "file_letters", int64(len(want)))
	beamtest.CheckCounter(t, pr, deadletter.MetricsNamespace, "files", 1)
}

// TestToFilesWindowed: letters in fixed windows give one file per window,
// named by its bounds, each holding exactly that window's letters.
func TestToFilesWindowed(t *testing.T) {
	dir := t.TempDir()
	all := letters(10) // at 0s, 25s, ... 225s: windows of one minute hold 3, 2, 3, 2
	p, s := beam.NewPipelineWithRoot()
	in := beam.WindowInto(s, window.NewFixedWindows(time.Minute), generate(s, all))
	files := deadletter.ToFiles(s, filepath.Join(dir, "sub", "dl"), in)
	gotFiles := collectStrings(s, files)
	beamtest.Run(t, p)

	byWindow := map[string][]deadletter.Letter{}
	for _, l := range all {
		start := l.Record.ApproximateArrivalTimestamp.Truncate(time.Minute)
		name := "dl-" + start.Format("20060102T150405.000Z") + "-" + start.Add(time.Minute).Format("20060102T150405.000Z") + "-0.jsonl"
		byWindow[name] = append(byWindow[name], l)
	}
	var wantNames, wantPaths []string
	for name := range byWindow {
		wantNames = append(wantNames, name)
		wantPaths = append(wantPaths, filepath.Join(dir, "sub", name))
	}
	sort.Strings(wantNames)
	sort.Strings(wantPaths)
	if len(wantNames) != 4 || wantNames[0] != "dl-20260301T120000.000Z-20260301T120100.000Z-0.jsonl" {
		t.Fatalf("test setup: windows %v", wantNames)
	}
	if diff := cmp.Diff(wantNames, fileNames(t, filepath.Join(dir, "sub"))); diff != "" {
		t.Errorf("files (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantPaths, gotFiles()); diff != "" {
		t.Errorf("files emitted (-want +got):\n%s", diff)
	}
	for name, want := range byWindow {
		got := readFiles(t, filepath.Join(dir, "sub", name))
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("%s: letters differ (-want +got):\n%s", name, diff)
		}
	}
	// All of them, through decode.With and Unmarshal.
	p, s = beam.NewPipelineWithRoot()
	lines := textio.Read(s, filepath.Join(dir, "sub", "dl-*"+deadletter.FileSuffix))
	res := decode.With(s, beam.ParDo(s, lineToRecord, lines), deadletter.Unmarshal)
	got := collectLetters(s, res.Values)
	bad := collectLetters(s, res.Failed)
	beamtest.Run(t, p)
	if diff := cmp.Diff(all, got()); diff != "" {
		t.Errorf("letters through decode.With differ (-want +got):\n%s", diff)
	}
	if len(bad()) != 0 {
		t.Errorf("decode.With failed %d lines: %+v", len(bad()), bad())
	}
}

// TestConstructionErrors: bad arguments are refused when the pipeline is
// built, with errors wrapping ErrInvalidOption.
func TestConstructionErrors(t *testing.T) {
	_, s := beam.NewPipelineWithRoot()
	ls := generate(s, letters(1))
	strs := beam.Create(s, "x")
	for name, try := range map[string]func() error{
		"ToFiles empty prefix": func() error { _, err := deadletter.TryToFiles(s, " ", ls); return err },
		"ToFiles unknown scheme": func() error {
			_, err := deadletter.TryToFiles(s, "nosuchfs://bucket/dl", ls)
			return err
		},
		"ToFiles not letters":        func() error { _, err := deadletter.TryToFiles(s, "/tmp/x", strs); return err },
		"ToStream not letters":       func() error { _, err := deadletter.TryToStream(s, "dl", strs); return err },
		"ToStream invalid":           func() error { _, err := deadletter.TryToStream(s, "dl", beam.PCollection{}); return err },
		"FromWriteFailures not ones": func() error { _, err := deadletter.TryFromWriteFailures(s, ls); return err },
	} {
		t.Run(name, func(t *testing.T) {
			err := try()
			if !errors.Is(err, deadletter.ErrInvalidOption) {
				t.Fatalf("error %v, want one wrapping ErrInvalidOption", err)
			}
			if !strings.HasPrefix(err.Error(), "deadletter: ") {
				t.Errorf("error %q does not name the package", err)
			}
		})
	}
	defer func() {
		if err, _ := recover().(error); !errors.Is(err, deadletter.ErrInvalidOption) {
			t.Errorf("ToFiles panicked with %v, want an ErrInvalidOption error", err)
		}
	}()
	deadletter.ToFiles(s, "", ls)
}
