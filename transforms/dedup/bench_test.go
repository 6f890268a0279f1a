package dedup_test

import (
	"context"
	"flag"
	"fmt"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/transforms/periodic"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/transforms/stats"
	"github.com/kinesisio/beam-kinesis/kinesisio"
	"github.com/kinesisio/beam-kinesis/testing/beamtest"
	"github.com/kinesisio/beam-kinesis/testing/bench"
	"github.com/kinesisio/beam-kinesis/transforms/dedup"
)

var (
	benchSeconds = flag.Int("dedup.seconds", 20, "BenchmarkRecords: seconds of input per pipeline")
	benchRate    = flag.Int("dedup.rate", 10000, "BenchmarkRecords: records per second")
	benchHorizon = flag.Duration("dedup.horizon", time.Minute, "BenchmarkRecords: event-time horizon")
)

func init() {
	register.DoFn3x0[beam.EventTime, []byte, func(beam.EventTime, kinesisio.Record)](&burstFn{})
	register.Emitter2[beam.EventTime, kinesisio.Record]()
	register.DoFn3x0[context.Context, string, int](&sinkFn{})
	register.Function2x0(toOne)
	register.Emitter2[string, int]()
}

// burstFn turns each tick of a periodic impulse into N records with
// identities of their own, stamped with the tick's time.
type burstFn struct {
	StartMillis int64
	N           int
}

func (fn *burstFn) ProcessElement(ts beam.EventTime, _ []byte, emit func(beam.EventTime, kinesisio.Record)) {
	tick := int64(ts) - fn.StartMillis
	for i := range fn.N {
		emit(ts, kinesisio.Record{
			Stream: "bench", ShardID: "shardId-000000000000", PartitionKey: "pk",
			SequenceNumber: fmt.Sprintf("%d%06d", tick, i), Data: []byte("0123456789abcdef0123456789abcdef"),
		})
	}
}

func toOne(_ kinesisio.Record, emit func(string, int)) { emit("n", 1) }

// sinkFn counts what reaches the end of the pipeline, from per-second
// sums: the stage that drops duplicates then feeds a GroupByKey. (A stage
// with no outputs to the runner busy-waits one core on Prism v2.77 while
// its bundles run, see docs/upstream, which would swamp the figures.)
type sinkFn struct{ n beam.Counter }

func (fn *sinkFn) Setup() { fn.n = beam.NewCounter("bench", "sunk") }

func (fn *sinkFn) ProcessElement(ctx context.Context, _ string, n int) { fn.n.Inc(ctx, int64(n)) }

// runBench runs rate records/s for the given seconds (ticks of 100 ms)
// through Records or not, and returns the process CPU time and the
// pipeline's result.
func runBench(b *testing.B, withDedup bool, seconds, rate int) (time.Duration, time.Duration, beam.PipelineResult) {
	p, s := beam.NewPipelineWithRoot()
	start := time.Now().Add(time.Second)
	ticks := periodic.Impulse(s, start, start.Add(time.Duration(seconds)*time.Second), 100*time.Millisecond, false)
	records := beam.ParDo(s, &burstFn{StartMillis: start.UnixMilli(), N: rate / 10}, ticks)
	if withDedup {
		records = dedup.Records(s, records, dedup.WithHorizon(dedup.EventTime(*benchHorizon)))
	}
	ones := beam.WindowInto(s, window.NewFixedWindows(time.Second), beam.ParDo(s, toOne, records))
	beam.ParDo0(s, &sinkFn{}, stats.SumPerKey(s, ones))
	cpu0, t0 := bench.CPUTime(), time.Now()
	pr, err := ptest.RunWithMetrics(p)
	if err != nil {
		b.Fatal(err)
	}
	return bench.CPUTime() - cpu0, time.Since(t0), pr
}

// BenchmarkRecords measures the CPU per record that Records adds on Prism
// (the whole process: Prism, the SDK harness and the DoFns) at
// -dedup.rate records/s with a -dedup.horizon event-time horizon, against the
// same pipeline without it, run one after the other in each iteration:
//
//	go test -run '^$' -bench BenchmarkRecords -benchtime 1x ./transforms/dedup
func BenchmarkRecords(b *testing.B) {
	seconds, rate := *benchSeconds, *benchRate
	want := int64(seconds * rate)
	for b.Loop() {
		baseCPU, baseWall, basePR := runBench(b, false, seconds, rate)
		dedupCPU, dedupWall, dedupPR := runBench(b, true, seconds, rate)
		for name, pr := range map[string]beam.PipelineResult{"without": basePR, "with": dedupPR} {
			b.Logf("%s Records:", name)
			beamtest.CheckCounter(b, pr, "bench", "sunk", want)
		}
		beamtest.CheckCounter(b, dedupPR, dedup.MetricsNamespace, "records", want)
		beamtest.CheckCounter(b, dedupPR, dedup.MetricsNamespace, "duplicates", 0)
		if b.Failed() {
			b.FailNow()
		}
		base := float64(baseCPU.Microseconds()) / float64(want)
		with := float64(dedupCPU.Microseconds()) / float64(want)
		b.ReportMetric(base, "cpu-µs/rec-without")
		b.ReportMetric(with, "cpu-µs/rec-with")
		b.ReportMetric(with-base, "cpu-µs/rec-added")
		b.ReportMetric(with/base, "cpu-ratio")
		b.ReportMetric(baseWall.Seconds(), "wall-s-without")
		b.ReportMetric(dedupWall.Seconds(), "wall-s-with")
		// Above what the pipeline sustains, it lags behind its input and
		// its wall time grows past the input's seconds (+ ~1 s start-up).
		b.ReportMetric(float64(want)/dedupWall.Seconds(), "rec/s-with")
		// Every key is held until the watermark passes its time plus the
		// horizon: at the end of a run no longer than the horizon, all of
		// them (at rate × horizon in a longer one).
		b.ReportMetric(float64(min(want, int64(float64(rate)*benchHorizon.Seconds()))), "keys-held-peak")
	}
}
