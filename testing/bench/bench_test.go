package bench

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"runtime/pprof"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func TestHistogramQuantiles(t *testing.T) {
	h := NewHistogram()
	if h.Quantile(0.5) != 0 || h.Max() != 0 {
		t.Fatal("empty histogram is not all zero")
	}
	var all []time.Duration
	var wg sync.WaitGroup
	var mu sync.Mutex
	for g := range 4 {
		wg.Go(func() {
			r := rand.New(rand.NewPCG(uint64(g), 1))
			var mine []time.Duration
			for range 25000 {
				d := time.Duration(r.ExpFloat64() * float64(50*time.Millisecond))
				h.Record(d)
				mine = append(mine, d)
			}
			mu.Lock()
			all = append(all, mine...)
			mu.Unlock()
		})
	}
	wg.Wait()
	slices.Sort(all)
	if h.Count() != int64(len(all)) {
		t.Fatalf("count %d, want %d", h.Count(), len(all))
	}
	for _, q := range []float64{0.01, 0.5, 0.9, 0.99, 0.999} {
		want := all[int(q*float64(len(all)))-1]
		got := h.Quantile(q)
		if diff := float64(got-want) / float64(want); diff > 0.02 || diff < -0.02 {
			t.Errorf("q%.3f = %v, want %v (±2%%)", q, got, want)
		}
	}
	if h.Max() != all[len(all)-1] {
		t.Errorf("max %v, want %v", h.Max(), all[len(all)-1])
	}
	h.Record(-time.Second)
	if h.Quantile(0) != 0 {
		t.Errorf("a negative duration should count as 0, min = %v", h.Quantile(0))
	}
}

func TestBuckets(t *testing.T) {
	prev := -1
	for _, v := range []int64{0, 1, 127, 128, 129, 255, 256, 1000, 1 << 20, 1<<40 + 12345, 1<<62 + 1} {
		i := bucketOf(v)
		if i < prev {
			t.Errorf("bucketOf(%d) = %d, below %d", v, i, prev)
		}
		prev = i
		mid := bucketMid(i)
		if d := float64(mid-v) / float64(max(v, 1)); d > 0.016 || d < -0.016 {
			t.Errorf("bucketMid(bucketOf(%d)) = %d, off by %.3f", v, mid, d)
		}
	}
}

func TestParseProfileLabels(t *testing.T) {
	var buf bytes.Buffer
	if err := pprof.StartCPUProfile(&buf); err != nil {
		skipOutsideCI(t, "profiler busy: %v", err)
	}
	var wg sync.WaitGroup
	stop := time.Now().Add(300 * time.Millisecond)
	for _, side := range []string{"left", "right"} {
		wg.Go(func() {
			pprof.Do(context.Background(), pprof.Labels("side", side), func(context.Context) {
				spin(stop)
			})
		})
	}
	wg.Wait()
	pprof.StopCPUProfile()
	p, err := ParseProfile(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	idx := p.ValueIndex("cpu")
	if idx < 0 {
		t.Fatalf("no cpu values in %v", p.SampleTypes)
	}
	left := p.Total(idx, func(s Sample) bool { return s.Labels["side"] == "left" })
	right := p.Total(idx, func(s Sample) bool { return s.Labels["side"] == "right" })
	if left == 0 || right == 0 {
		t.Fatalf("labelled CPU: left %v, right %v (total %v)", time.Duration(left), time.Duration(right), time.Duration(p.Total(idx, nil)))
	}
	top := p.Top(idx, func(s Sample) bool { return s.Labels["side"] != "" }, 5, true)
	found := false
	for _, f := range top {
		if strings.HasSuffix(f.Name, "bench.spin") {
			found = true
		}
	}
	if !found {
		t.Errorf("bench.spin not among the top cumulative functions: %+v", top)
	}
}

//go:noinline
func spin(until time.Time) {
	x := 1
	for time.Now().Before(until) {
		for i := range 10000 {
			x = x*31 + i
		}
	}
	sinkInt.Store(int64(x))
}

var sinkInt atomic.Int64

func TestTable(t *testing.T) {
	tb := &Table{Title: "T", Columns: []string{"name", "value"}}
	tb.AddRow("a|b", 12)
	tb.AddRow("long name here", "3.5 ms")
	tb.Note("a note")
	var text, md bytes.Buffer
	tb.WriteText(&text)
	tb.WriteMarkdown(&md)
	if !strings.Contains(text.String(), "a|b                 12") {
		t.Errorf("text table:\n%s", text.String())
	}
	if !strings.Contains(md.String(), "| a\\|b | 12 |") || !strings.Contains(md.String(), "|---|---|") || !strings.Contains(md.String(), "- a note") {
		t.Errorf("markdown table:\n%s", md.String())
	}
}

func TestRSSAndCPU(t *testing.T) {
	if RSS() <= 0 {
		skipOutsideCI(t, "no /proc/self/status here")
	}
	s := StartRSSSampler(10 * time.Millisecond)
	time.Sleep(50 * time.Millisecond)
	s.Stop()
	if len(s.samples) < 2 || s.MaxBetween(time.Time{}, time.Now()) <= 0 {
		t.Errorf("samples %d, max %d", len(s.samples), s.MaxBetween(time.Time{}, time.Now()))
	}
	c0 := CPUTime()
	spin(time.Now().Add(30 * time.Millisecond))
	if CPUTime() <= c0 {
		t.Error("CPU time did not grow")
	}
	if m := Machine("github.com/apache/beam/sdks/v2"); !strings.Contains(m, "cores") {
		t.Errorf("Machine() = %q", m)
	}
}

// skipOutsideCI skips a test whose platform lacks what it measures, and
// fails it under CI=true: CI runs on Linux, where it must work.
func skipOutsideCI(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true: "+format, args...)
	}
	t.Skipf(format, args...)
}
