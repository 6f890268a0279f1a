package beamtest

import (
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
)

func init() {
	register.DoFn3x0[beam.Window, beam.EventTime, beam.T](&collectFn{})
}

// Collected is one element a Collect sink got.
type Collected[T any] struct {
	// Value is the element.
	Value T
	// Window is its window, as fmt.Sprint prints it.
	Window string
	// EventTime is its event timestamp, in UTC.
	EventTime time.Time
	// Arrived is when it reached the sink.
	Arrived time.Time
}

// collected holds what the Collect sinks of this process got, by key.
var collected sync.Map // key -> *collectSink

type collectSink struct {
	mu  sync.Mutex
	got []Collected[any]
}

func sinkFor(key string) *collectSink {
	v, _ := collected.LoadOrStore(key, &collectSink{})
	return v.(*collectSink)
}

// collectFn is the sink of Collect: it keeps each element, with its
// window, timestamp and arrival time, in the collectSink of Key.
type collectFn struct{ Key string }

func (f *collectFn) ProcessElement(w beam.Window, ts beam.EventTime, v beam.T) {
	s := sinkFor(f.Key)
	s.mu.Lock()
	s.got = append(s.got, Collected[any]{Value: v, Window: fmt.Sprint(w), EventTime: ts.ToTime().UTC(), Arrived: time.Now()})
	s.mu.Unlock()
}

// Collect adds a sink to col, whose elements are of type T, and returns
// a function giving what the sink got so far, in the order it got it.
//
// The sink keeps the elements in the memory of this process: it serves
// pipelines run with the worker in the test process (ptest, Run,
// RunInProcess), not RunInSeparateWorker, where passert and Counter do.
func Collect[T any](s beam.Scope, col beam.PCollection) func() []Collected[T] {
	var b [8]byte
	rand.Read(b[:])
	key := hex.EncodeToString(b[:])
	beam.ParDo0(s, &collectFn{Key: key}, col)
	return func() []Collected[T] {
		sk := sinkFor(key)
		sk.mu.Lock()
		defer sk.mu.Unlock()
		out := make([]Collected[T], len(sk.got))
		for i, c := range sk.got {
			out[i] = Collected[T]{Value: c.Value.(T), Window: c.Window, EventTime: c.EventTime, Arrived: c.Arrived}
		}
		return out
	}
}

// CollectValues is Collect giving the elements only.
func CollectValues[T any](s beam.Scope, col beam.PCollection) func() []T {
	got := Collect[T](s, col)
	return func() []T {
		cs := got()
		out := make([]T, len(cs))
		for i, c := range cs {
			out[i] = c.Value
		}
		return out
	}
}

// Run runs p with ptest on the default runner (in-process Prism, the
// worker in the test process), logs how long it ran and ends the test
// (t.Fatalf) when it fails.
func Run(t testing.TB, p *beam.Pipeline) beam.PipelineResult {
	t.Helper()
	start := time.Now()
	res, err := ptest.RunWithMetrics(p)
	if err != nil {
		t.Fatalf("pipeline failed after %v: %v", time.Since(start), err)
	}
	t.Logf("pipeline ran in %v", time.Since(start))
	return res
}
