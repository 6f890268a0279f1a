package kinesisio_test

import (
	"context"
	"fmt"
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
	beam.RegisterFunction(fiveSecondsBeforeArrival)
	register.DoFn3x0[beam.Window, string, int](&windowSinkFn{})
}

func oneKey(kinesisio.Record) string { return "all" }

func registeredTimestamp(r kinesisio.Record) time.Time { return r.ApproximateArrivalTimestamp }

var windowCounts sync.Map // key -> *sync.Map(window start ms -> count)
var windowFired sync.Map  // key -> *sync.Map(window start ms -> time first counted)

type windowSinkFn struct{ Key string }

func (f *windowSinkFn) ProcessElement(w beam.Window, _ string, n int) {
	v, _ := windowCounts.LoadOrStore(f.Key, &sync.Map{})
	start := w.(window.IntervalWindow).Start.Milliseconds()
	fired, _ := windowFired.LoadOrStore(f.Key, &sync.Map{})
	fired.(*sync.Map).LoadOrStore(start, time.Now())
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
	recs := kinesisio.Read(s, e.stream, e.opts(kinesisio.Polling{RecordsPerCall: 10}, kinesisio.WithMaxRecords(int64(total)))...)
	got := collect(s, recs)
	counted := countWindows(t, s, recs)
	run(t, p)

	read := got()
	if len(read) != total {
		t.Fatalf("read %d records, put %d", len(read), total)
	}
	have, _ := counted()
	checkWindowCounts(t, read, have, arrivalTime)
	t.Logf("%d records in %d windows", total, len(have))
}

// countWindows counts recs per one-second event-time window and returns
// a function giving the counts by window start (Unix milliseconds), and
// when each window was first counted.
func countWindows(t *testing.T, s beam.Scope, recs beam.PCollection) func() (map[int64]int, map[int64]time.Time) {
	key := kinesistest.StreamName(t) + "/windows"
	counts := stats.Count(s, beam.ParDo(s, oneKey, beam.WindowInto(s, window.NewFixedWindows(time.Second), recs)))
	beam.ParDo0(s, &windowSinkFn{Key: key}, counts)
	return func() (map[int64]int, map[int64]time.Time) {
		have, fired := map[int64]int{}, map[int64]time.Time{}
		if v, ok := windowCounts.Load(key); ok {
			v.(*sync.Map).Range(func(k, n any) bool { have[k.(int64)] = n.(int); return true })
		}
		if v, ok := windowFired.Load(key); ok {
			v.(*sync.Map).Range(func(k, at any) bool { fired[k.(int64)] = at.(time.Time); return true })
		}
		return have, fired
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

// fiveSecondsBeforeArrival is a producer's event time that trails arrival
// in Kinesis by 5 s.
func fiveSecondsBeforeArrival(r kinesisio.Record) time.Time {
	return r.ApproximateArrivalTimestamp.Add(-5 * time.Second)
}

// TestTimestampFnRecordsNeverLateOnIdleShard: with WithTimestampFn(fn,
// maxDelay), records whose event times trail arrival by at most maxDelay
// are never late, also when the shard goes idle between batches. The
// caught-up evidence once moved the watermark to the call's start (less
// the skew) in arrival time, whatever the event times: all 40 records of
// four batches 2 s apart were dropped as late by a 1 s windowed count.
// Windows must also close while the shard idles, not only when records
// come or the job ends (no stall): the last batch's window is counted
// before a sentinel batch is put 5 s later (it closes about 2 s after the
// batch: 5 s of delay and 1 s of skew after its end, less its 1 s).
func TestTimestampFnRecordsNeverLateOnIdleShard(t *testing.T) {
	e := newEnv(t, emulators.Kinesalite, 1)
	const batches, perBatch = 4, 10
	p, s := beam.NewPipelineWithRoot()
	recs := kinesisio.Read(s, e.stream, e.opts(
		kinesisio.WithTimestampFn(fiveSecondsBeforeArrival, 5*time.Second),
		kinesisio.WithMaxRecords((batches+1)*perBatch),
		kinesisio.WithMaxReadTime(time.Minute))...)
	got := collect(s, recs)
	windows := countWindows(t, s, recs)
	done := runAsync(p)
	var puts []kinesistest.Put
	for b := range batches {
		if b > 0 {
			time.Sleep(2 * time.Second)
		}
		puts = append(puts, e.putPerShard(t, perBatch, fmt.Sprintf("batch%d", b))...)
	}
	time.Sleep(5 * time.Second)
	sentinelAt := time.Now()
	puts = append(puts, e.putPerShard(t, perBatch, "sentinel")...)
	if err := await(t, done, 2*time.Minute); err != nil {
		t.Fatal(err)
	}
	read := got()
	checkExactlyOnce(t, read, puts)
	have, fired := windows()
	checkWindowCounts(t, read, have, fiveSecondsBeforeArrival)
	if len(read) < batches*perBatch {
		t.Fatalf("read %d records, want at least %d", len(read), batches*perBatch)
	}
	// The last record of the last batch before the sentinel (records of
	// one shard reach the sink in sequence order).
	last := fiveSecondsBeforeArrival(read[batches*perBatch-1]).UnixMilli()
	last -= last % 1000
	if at, ok := fired[last]; !ok || !at.Before(sentinelAt) {
		t.Errorf("the last batch's window was counted at %v, not before the sentinel was put at %v: the watermark stalls while the shard idles", at, sentinelAt)
	}
}
