package main

import (
	"context"
	"fmt"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/kinesisio/beam-kinesis/kinesisio"
	"github.com/kinesisio/beam-kinesis/testing/bench"
	"github.com/kinesisio/beam-kinesis/testing/fakekinesis"
	"github.com/kinesisio/beam-kinesis/testing/prismrun"
)

// pipelineDone is the outcome of a pipeline run in the background.
type pipelineDone struct {
	pr   beam.PipelineResult
	wall time.Duration
	err  error
}

// liveRead is a read of figures 3 and 5, started before its producer:
// Read from TRIM_HORIZON of an empty stream, bounded with
// WithMaxRecords(n) and WithMaxReadTime(readTime), into a sink; the
// producer starts once every shard has been polled.
type liveRead struct {
	srv    *fakekinesis.Server
	client *kinesis.Client
	stream string
	infos  []shardInfo
	s      *sink
	n      int64
	start  time.Time     // the job's start
	ready  time.Duration // from start to every shard polled
	done   chan pipelineDone
}

// startLive starts the read of lr (filled in but for start, ready and
// done) on Prism, cancelled if still running a minute after readTime, and
// waits at most pollLimit for every shard to be polled.
func (b *benchRun) startLive(ctx context.Context, lr *liveRead, readTime, pollLimit time.Duration) error {
	p, sc := beam.NewPipelineWithRoot()
	opts := append(readOptions(lr.srv.Endpoint()), kinesisio.WithMaxRecords(lr.n), kinesisio.WithMaxReadTime(readTime))
	b.addSink(sc, lr.stream+"/live", kinesisio.Read(sc, lr.stream, opts...))
	lr.start = time.Now()
	lr.done = make(chan pipelineDone, 1)
	go func() {
		pr, wall, err := b.runPipeline(ctx, p, readTime+time.Minute)
		lr.done <- pipelineDone{pr, wall, err}
	}()
	var err error
	if lr.ready, err = waitPolled(ctx, lr.srv, lr.infos, lr.start, pollLimit); err != nil {
		prismrun.CancelJobs(b.jobs)
		<-lr.done
	}
	return err
}

// finishLive waits for the read of lr once its producer prod returned
// perr, checks every record, and notes on t (as label) records that were
// put twice.
func (b *benchRun) finishLive(ctx context.Context, lr *liveRead, prod *producer, perr error, t *bench.Table, label string) (beam.PipelineResult, error) {
	if perr != nil {
		prismrun.CancelJobs(b.jobs)
		<-lr.done
		return nil, fmt.Errorf("producer: %w", perr)
	}
	res := <-lr.done
	if res.err != nil {
		return nil, fmt.Errorf("kinesisio.Read pipeline: %w", res.err)
	}
	if msg := lr.s.check(true); msg != "" {
		return nil, explainMissing(ctx, lr.client, lr.stream, lr.infos, lr.n, prod.p, msg)
	}
	if twice := lr.s.putTwice.Load(); twice > 0 {
		b.progress("note: %d records were in the stream twice (%d PutRecords calls resent after failing as a whole, first: %s); Read's WithMaxRecords budget stopped it before as many others, as it should",
			twice, prod.p.callErrors.Load(), firstErr(prod.p))
		t.Note("%s: the producer resent %d PutRecords calls that had failed as a whole (%s) and %d records were in the stream twice; Read counted each copy once against its WithMaxRecords budget, so it ended before reading as many of the last records.",
			label, prod.p.callErrors.Load(), firstErr(prod.p), twice)
	}
	return res.pr, nil
}

// callRates returns the mean, min and max over the shards of their
// GetRecords calls per second between two snapshots d apart.
func callRates(before, after []int, d time.Duration) (mean, lo, hi float64) {
	rates := make([]float64, len(before))
	for i := range before {
		rates[i] = float64(after[i]-before[i]) / d.Seconds()
	}
	return intStats(rates)
}

func (b *benchRun) figLatency(ctx context.Context, srv *fakekinesis.Server, client *kinesis.Client) error {
	t := &bench.Table{
		Title: fmt.Sprintf("3. Latency from PutRecords to the record leaving Read: producer for %v on %d shards, polling defaults, quotas off",
			b.c.latencyDuration, b.c.latencyShards),
		Columns: []string{"producer rec/s", "achieved", "records", "p50", "p90", "p99", "max", "arrival→emit p50", "arrival→emit p99",
			"PutRecords call p50", "GetRecords calls/s/shard mean", "max", "records/call"},
	}
	for _, rate := range b.c.latencyRates {
		if err := b.latencyCase(ctx, srv, client, rate, t); err != nil {
			b.rep.fail("latency at %d records/s: %v", rate, err)
		}
	}
	t.Note("Each record carries the time its PutRecords call started; a DoFn right after Read (fused with it) takes the difference to its own clock. Same process, same clock. arrival→emit starts at the record's ApproximateArrivalTimestamp (server clock, millisecond precision).")
	t.Note("Read starts first (default start position TRIM_HORIZON on the empty stream, bounded with WithMaxRecords); the producer starts once every shard has been polled, and sends a PutRecords call every 10 ms. Options are the defaults: WithRecordsPerCall(10000), WithIdlePollInterval(250 ms), the fetcher's 200 ms minimum between calls per shard.")
	b.emit(t)
	return nil
}

func (b *benchRun) latencyCase(ctx context.Context, srv *fakekinesis.Server, client *kinesis.Client, rate int, t *bench.Table) error {
	d := b.c.latencyDuration
	n := int64(float64(rate) * d.Seconds())
	if n <= 0 {
		return fmt.Errorf("rate x duration is no record")
	}
	stream, infos, err := b.newStream(ctx, client, "latency", b.c.latencyShards)
	if err != nil {
		return err
	}
	defer deleteStream(client, stream)
	lr := &liveRead{srv: srv, client: client, stream: stream, infos: infos, s: newSink(n), n: n}
	defer trackSink(stream+"/live", lr.s)()
	if err := b.startLive(ctx, lr, d+2*time.Minute, time.Minute); err != nil {
		return err
	}
	b.detail("latency: all %d shards polled %v after the job started", len(infos), lr.ready.Round(time.Millisecond))
	calls0 := callsByShard(srv, infos)
	prod := &producer{
		p:       &putter{c: client, stream: stream, shards: infos, size: b.c.latencySize, calls: bench.NewHistogram()},
		rate:    float64(rate),
		tick:    10 * time.Millisecond,
		workers: 2,
	}
	perr := prod.run(ctx, d)
	calls1 := callsByShard(srv, infos)
	window := prod.stopped.Sub(prod.started)
	if _, err := b.finishLive(ctx, lr, prod, perr, t, num(float64(rate))+" rec/s"); err != nil {
		return err
	}
	s := lr.s
	mean, _, hi := callRates(calls0, calls1, window)
	var calls int
	for i := range calls0 {
		calls += calls1[i] - calls0[i]
	}
	t.AddRow(num(float64(rate)), num(perSec(n, window)), num(float64(n)),
		ms(s.latency.Quantile(0.5)), ms(s.latency.Quantile(0.9)), ms(s.latency.Quantile(0.99)), ms(s.latency.Max()),
		ms(s.lag.Quantile(0.5)), ms(s.lag.Quantile(0.99)), ms(prod.p.calls.Quantile(0.5)),
		fixed(mean, 2), fixed(hi, 2), fixed(float64(n)/float64(max(calls, 1)), 1))
	b.rep.target(fmt.Sprintf("latency.p50.%d", rate), float64(s.latency.Quantile(0.5))/float64(time.Millisecond))
	b.rep.target(fmt.Sprintf("latency.calls.max.%d", rate), hi)
	b.progress("latency at %d rec/s: p50 %v p99 %v; %.2f GetRecords calls/s per shard (max %.2f)", rate,
		s.latency.Quantile(0.5).Round(time.Millisecond), s.latency.Quantile(0.99).Round(time.Millisecond), mean, hi)
	return nil
}
