package kinesisio_test

import (
	"context"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/transforms/stats"
	"github.com/google/go-cmp/cmp"
	"github.com/kinesisio/beam-kinesis/kinesisio"
	"github.com/kinesisio/beam-kinesis/testing/emulators"
	"github.com/kinesisio/beam-kinesis/testing/kinesistest"
)

func init() {
	register.Function1x1(oneKey)
	beam.RegisterFunction(registeredTimestamp)
	register.DoFn3x0[beam.Window, string, int](&windowSinkFn{})
}

func oneKey(kinesisio.Record) string { return "all" }

func registeredTimestamp(r kinesisio.Record) time.Time { return r.ApproximateArrivalTimestamp }

var windowCounts sync.Map // key -> *sync.Map(window start ms -> count)

type windowSinkFn struct{ Key string }

func (f *windowSinkFn) ProcessElement(w beam.Window, _ string, n int) {
	v, _ := windowCounts.LoadOrStore(f.Key, &sync.Map{})
	start := w.(window.IntervalWindow).Start.Milliseconds()
	prev, _ := v.(*sync.Map).LoadOrStore(start, 0)
	v.(*sync.Map).Store(start, prev.(int)+n)
}

// TestWindowedCountOverLaggingShardsDropsNothing reads four shards that lag
// differently (a deep backlog read 10 records a call next to shards that
// catch up at once and go idle) through one-second event-time windows. On
// Prism, whose stage watermark follows the last committed bundle, a
// watermark taken from the idle shards alone would drop most of the
// lagging shard's records as late; every record must be counted in the
// window of its arrival time.
func TestWindowedCountOverLaggingShardsDropsNothing(t *testing.T) {
	e := newEnv(t, emulators.Kinesalite, 4)
	ids := e.shardIDs(t)
	perBatch := []int{20, 10, 2, 1} // per shard, every 100 ms for 3 s
	var total int
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for b := 0; b < 30; b++ {
		for i, id := range ids {
			var data [][]byte
			for j := 0; j < perBatch[i]; j++ {
				data = append(data, []byte(fmt.Sprintf("%s/%d/%d", id, b, j)))
			}
			if _, err := kinesistest.PutToShard(ctx, e.client, e.stream, id, data); err != nil {
				t.Fatal(err)
			}
			total += len(data)
		}
		time.Sleep(100 * time.Millisecond)
	}

	p, s := beam.NewPipelineWithRoot()
	recs := kinesisio.Read(s, e.stream, e.opts(kinesisio.WithRecordsPerCall(10), kinesisio.WithMaxRecords(int64(total)))...)
	got := collect(s, recs)
	windowed := beam.WindowInto(s, window.NewFixedWindows(time.Second), recs)
	counts := stats.Count(s, beam.ParDo(s, oneKey, windowed))
	key := kinesistest.StreamName(t)
	beam.ParDo0(s, &windowSinkFn{Key: key}, counts)
	run(t, p)

	read := got()
	if len(read) != total {
		t.Fatalf("read %d records, put %d", len(read), total)
	}
	want := map[int64]int{}
	for _, r := range read {
		want[r.ApproximateArrivalTimestamp.UnixMilli()/1000*1000]++
	}
	have := map[int64]int{}
	if v, ok := windowCounts.Load(key); ok {
		v.(*sync.Map).Range(func(k, n any) bool { have[k.(int64)] = n.(int); return true })
	}
	counted := 0
	for _, n := range have {
		counted += n
	}
	if diff := cmp.Diff(want, have); diff != "" {
		t.Errorf("%d of %d records dropped as late; window counts (-want +got):\n%s", total-counted, total, diff)
	}
	var windows []int64
	for w := range want {
		windows = append(windows, w)
	}
	sort.Slice(windows, func(i, j int) bool { return windows[i] < windows[j] })
	t.Logf("%d records in %d windows", total, len(windows))
}

// countWindows counts recs per one-second event-time window and returns
// a function giving the counts by window start (Unix milliseconds).
func countWindows(t *testing.T, s beam.Scope, recs beam.PCollection) func() map[int64]int {
	key := kinesistest.StreamName(t) + "/windows"
	counts := stats.Count(s, beam.ParDo(s, oneKey, beam.WindowInto(s, window.NewFixedWindows(time.Second), recs)))
	beam.ParDo0(s, &windowSinkFn{Key: key}, counts)
	return func() map[int64]int {
		have := map[int64]int{}
		if v, ok := windowCounts.Load(key); ok {
			v.(*sync.Map).Range(func(k, n any) bool { have[k.(int64)] = n.(int); return true })
		}
		return have
	}
}

// checkWindowCounts checks that every record read was counted in the
// window of its event time, eventTime(record): none dropped as late.
func checkWindowCounts(t *testing.T, read []kinesisio.Record, have map[int64]int, eventTime func(kinesisio.Record) time.Time) {
	t.Helper()
	want := map[int64]int{}
	for _, r := range read {
		ms := eventTime(r).UnixMilli()
		want[ms-ms%1000]++
	}
	counted := 0
	for _, n := range have {
		counted += n
	}
	if diff := cmp.Diff(want, have); diff != "" {
		t.Errorf("%d of %d records dropped as late; window counts (-want +got):\n%s", len(read)-counted, len(read), diff)
	}
}

func arrivalTime(r kinesisio.Record) time.Time { return r.ApproximateArrivalTimestamp }
