package beamtest

import (
	"fmt"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/metrics"
)

// fixedResult is a pipeline result with set counters.
type fixedResult map[string]int64

func (r fixedResult) Metrics() metrics.Results {
	var cs []metrics.CounterResult
	for name, v := range r {
		// Two steps, as a counter updated in two transforms.
		cs = append(cs,
			metrics.CounterResult{Committed: v - v/2, Key: metrics.StepKey{Step: "a", Name: name, Namespace: "ns"}},
			metrics.CounterResult{Committed: v / 2, Key: metrics.StepKey{Step: "b", Name: name, Namespace: "ns"}})
	}
	return *metrics.NewResults(cs, nil, nil, nil, nil)
}

func (fixedResult) JobID() string { return "job" }

// recordingTB records what CheckCounter reports.
type recordingTB struct {
	testing.TB
	errors, logs int
}

func (r *recordingTB) Helper()                      {}
func (r *recordingTB) Errorf(string, ...any)        { r.errors++ }
func (r *recordingTB) Logf(format string, a ...any) { r.logs++; r.TB.Logf("(recorded) "+format, a...) }

// TestCheckCounter: a counter at its value passes; one above it, or zero
// for a value that is not, fails; one short of it fails where counters
// are exact (the exactcounters tag) and is logged as Prism's loss
// otherwise.
func TestCheckCounter(t *testing.T) {
	for _, tc := range []struct {
		got, want int64
		fails     bool
	}{
		{got: 40, want: 40},
		{got: 0, want: 0},
		{got: 41, want: 40, fails: true},
		{got: 1, want: 0, fails: true},
		{got: 0, want: 40, fails: true},
		{got: 20, want: 40, fails: exactCounters},
	} {
		t.Run(fmt.Sprintf("%d of %d", tc.got, tc.want), func(t *testing.T) {
			rec := &recordingTB{TB: t}
			CheckCounter(rec, fixedResult{"c": tc.got}, "ns", "c", tc.want)
			if failed := rec.errors > 0; failed != tc.fails {
				t.Errorf("CheckCounter failed = %v, want %v (exact counters: %v)", failed, tc.fails, exactCounters)
			}
			if short := tc.got > 0 && tc.got < tc.want && !exactCounters; short != (rec.logs > 0) {
				t.Errorf("CheckCounter logged %d lines for %d of %d", rec.logs, tc.got, tc.want)
			}
		})
	}
}
