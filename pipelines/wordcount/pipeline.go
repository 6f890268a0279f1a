package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"reflect"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/transforms/stats"
	"github.com/kinesisio/beam-kinesis/kinesisio"
	"github.com/kinesisio/beam-kinesis/pipelines/wordcount/words"
)

func init() {
	// Prism and every portable runner find DoFns and types by name in the
	// worker: all of them are registered here, never while building.
	register.Function2x0(splitWords)
	register.Emitter1[string]()
	register.Function2x2(toFixedKey)
	register.Function4x0(collectWindow)
	register.Iter1[WordCount]()
	register.Emitter1[WindowCounts]()
	register.DoFn2x1[context.Context, WindowCounts, error](&printFn{})
	beam.RegisterType(reflect.TypeOf((*WordCount)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*WindowCounts)(nil)).Elem())
}

// WordCount is a word and the number of times it occurred in a window.
type WordCount struct {
	Word  string
	Count int
}

// WindowCounts holds the counts of one event-time window.
type WindowCounts struct {
	// Start and End bound the window [Start, End), in Unix milliseconds.
	Start, End int64
	// Counts are the window's words, by count descending, then word.
	Counts []WordCount
}

// Total is the number of words in the window.
func (wc WindowCounts) Total() int {
	n := 0
	for _, c := range wc.Counts {
		n += c.Count
	}
	return n
}

// CountWords splits records (a PCollection of kinesisio.Record) into
// words, counts each word in fixed event-time windows of the given size,
// and returns a PCollection of WindowCounts: one element per window that
// holds words, emitted when the watermark passes the window's end.
func CountWords(s beam.Scope, records beam.PCollection, size time.Duration) beam.PCollection {
	s = s.Scope("wordcount.CountWords")
	ws := beam.ParDo(s, splitWords, records)
	windowed := beam.WindowInto(s, window.NewFixedWindows(size), ws)
	counts := stats.Count(s, windowed) // KV<word, count>, per window
	// One key, so that each window's counts (one per distinct word) meet
	// in one element.
	grouped := beam.GroupByKey(s, beam.ParDo(s, toFixedKey, counts))
	return beam.ParDo(s, collectWindow, grouped)
}

// splitWords emits the words of a record.
func splitWords(r kinesisio.Record, emit func(string)) {
	for _, w := range words.Split(r.Data) {
		emit(w)
	}
}

// toFixedKey keys a word's count by the constant 0.
func toFixedKey(word string, n int) (int, WordCount) {
	return 0, WordCount{Word: word, Count: n}
}

// collectWindow gathers a window's counts, sorted.
func collectWindow(w beam.Window, _ int, counts func(*WordCount) bool, emit func(WindowCounts)) {
	iw, ok := w.(window.IntervalWindow)
	if !ok {
		panic(fmt.Sprintf("wordcount: counts in %T, not a fixed window", w))
	}
	wc := WindowCounts{Start: iw.Start.Milliseconds(), End: iw.End.Milliseconds()}
	var c WordCount
	for counts(&c) {
		wc.Counts = append(wc.Counts, c)
	}
	sortCounts(wc.Counts)
	emit(wc)
}

// sortCounts sorts by count descending, then word.
func sortCounts(cs []WordCount) {
	sort.Slice(cs, func(i, j int) bool {
		if cs[i].Count != cs[j].Count {
			return cs[i].Count > cs[j].Count
		}
		return cs[i].Word < cs[j].Word
	})
}

// lineWidth is where Format wraps the counts of a window.
const lineWidth = 100

// Format renders a window's counts as a block of text: a header line with
// the window's bounds (local time) and total, then the counts wrapped at
// 100 columns, each line indented by two spaces.
//
//	window 12:00:02-12:00:04  300 words, 48 distinct
//	  the=31 of=22 and=18 ...
func Format(wc WindowCounts) string {
	layout := "15:04:05"
	if wc.Start%1000 != 0 || wc.End%1000 != 0 {
		layout = "15:04:05.000"
	}
	var b strings.Builder
	fmt.Fprintf(&b, "window %s-%s  %d words, %d distinct\n",
		time.UnixMilli(wc.Start).Format(layout), time.UnixMilli(wc.End).Format(layout), wc.Total(), len(wc.Counts))
	line := 0
	for _, c := range wc.Counts {
		item := fmt.Sprintf("%s=%d", c.Word, c.Count)
		if line > 0 && line+1+len(item) > lineWidth {
			b.WriteString("\n")
			line = 0
		}
		if line == 0 {
			b.WriteString(" ")
			line = 1
		}
		b.WriteString(" " + item)
		line += 1 + len(item)
	}
	if line > 0 {
		b.WriteString("\n")
	}
	return b.String()
}

// consoleMu serializes writes to standard output, so that window blocks
// and the demo's status lines never interleave.
var consoleMu sync.Mutex

// printFn writes each window's block, when the window closes, to standard
// output (the worker's log on a distributed runner) or appends it to a
// file.
type printFn struct {
	// Output is the file the blocks are appended to, on the worker's
	// filesystem; "" prints them on standard output.
	Output string
	// Tap is set by the embedded demo only: the name under which it
	// registered, in its own process, the observer that counts what is
	// printed. The demo runs the worker in that process (in-process Prism,
	// LOOPBACK); a worker that cannot find the tap fails instead of
	// printing counts nobody checks.
	Tap string
}

// MetricsNamespace is the namespace of the pipeline's Beam metrics: the
// counters "windows" and "words" count what was printed.
const MetricsNamespace = "wordcount"

var (
	windowsPrinted = beam.NewCounter(MetricsNamespace, "windows")
	wordsPrinted   = beam.NewCounter(MetricsNamespace, "words")
)

// ProcessElement prints one window.
func (f *printFn) ProcessElement(ctx context.Context, wc WindowCounts) error {
	text := Format(wc)
	if f.Output == "" {
		consoleMu.Lock()
		_, err := io.WriteString(os.Stdout, text)
		consoleMu.Unlock()
		if err != nil {
			return fmt.Errorf("wordcount: print window: %w", err)
		}
	} else if err := appendFile(f.Output, text); err != nil {
		return err
	}
	if f.Tap != "" {
		t, ok := lookupTap(f.Tap)
		if !ok {
			return fmt.Errorf("wordcount: demo tap %q is not in this worker process: the demo runs only on in-process Prism with the LOOPBACK environment", f.Tap)
		}
		t.observe(wc)
	}
	windowsPrinted.Inc(ctx, 1)
	wordsPrinted.Inc(ctx, int64(wc.Total()))
	return nil
}

// appendFile appends text to the file at path, creating it if needed.
func appendFile(path, text string) error {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("wordcount: open output: %w", err)
	}
	if _, err := io.WriteString(f, text); err != nil {
		f.Close()
		return fmt.Errorf("wordcount: write output: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("wordcount: close output: %w", err)
	}
	return nil
}
