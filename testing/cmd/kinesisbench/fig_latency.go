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

// startPipeline runs p in the background.
func (b *benchRun) startPipeline(ctx context.Context, p *beam.Pipeline, limit time.Duration) <-chan pipelineDone {
	done := make(chan pipelineDone, 1)
	go func() {
		pr, wall, err := b.runPipeline(ctx, p, limit)
		done <- pipelineDone{pr, wall, err}
	}()
	return done
}

// perShardRates returns the GetRecords calls per second of each shard
// between two snapshots d apart.
func perShardRates(before, after []int, d time.Duration) []float64 {
	out := make([]float64, len(before))
	for i := range before {
		out[i] = float64(after[i]-before[i]) / d.Seconds()
	}
	return out
}

func (b *benchRun) figLatency(ctx context.Context) error {
	srv, err := newServer(false)
	if err != nil {
		return err
	}
	defer srv.Close()
	client := newClient(srv.Endpoint())
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
	stream := b.streamName("latency")
	infos, err := createStream(ctx, client, stream, b.c.latencyShards)
	if err != nil {
		return err
	}
	defer deleteStream(client, stream)
	s := newSink(n)
	key := stream + "/latency"
	registerSink(key, s)
	defer sinks.Delete(key)
	p, sc := beam.NewPipelineWithRoot()
	opts := append(readOptions(srv.Endpoint()), kinesisio.WithMaxRecords(n), kinesisio.WithMaxReadTime(d+2*time.Minute))
	b.addSink(sc, key, kinesisio.Read(sc, stream, opts...))
	start := time.Now()
	done := b.startPipeline(ctx, p, d+3*time.Minute)
	ready, err := waitPolled(ctx, srv, infos, start, time.Minute)
	if err != nil {
		prismrun.CancelJobs(b.jobs)
		<-done
		return err
	}
	b.detail("latency: all %d shards polled %v after the job started", len(infos), ready.Round(time.Millisecond))
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
	if perr != nil {
		prismrun.CancelJobs(b.jobs)
		<-done
		return fmt.Errorf("producer: %w", perr)
	}
	res := <-done
	if res.err != nil {
		return fmt.Errorf("kinesisio.Read pipeline: %w", res.err)
	}
	if msg := s.check(true); msg != "" {
		return explainMissing(ctx, client, stream, infos, n, prod.p, msg)
	}
	if twice := s.putTwice.Load(); twice > 0 {
		first, _ := prod.p.firstCallError.Load().(string)
		b.progress("note: %d records were in the stream twice (%d PutRecords calls resent after failing as a whole, first: %s); Read's WithMaxRecords budget stopped it before as many others, as it should",
			twice, prod.p.callErrors.Load(), first)
	}
	if twice := s.putTwice.Load(); twice > 0 {
		t.Note("%s: the producer resent %d PutRecords calls that had failed as a whole (%s) and %d records were in the stream twice; Read counted each copy once against its WithMaxRecords budget, so it ended before reading as many of the last records.",
			num(float64(rate))+" rec/s", prod.p.callErrors.Load(), firstErr(prod.p), twice)
	}
	rates := perShardRates(calls0, calls1, window)
	mean, _, hi := intStats(rates)
	var calls int
	for i := range calls0 {
		calls += calls1[i] - calls0[i]
	}
	t.AddRow(num(float64(rate)), num(perSec(n, window)), num(float64(n)),
		ms(s.latency.Quantile(0.5)), ms(s.latency.Quantile(0.9)), ms(s.latency.Quantile(0.99)), ms(s.latency.Max()),
		ms(s.lag.Quantile(0.5)), ms(s.lag.Quantile(0.99)), ms(prod.p.calls.Quantile(0.5)),
		fixed(mean, 2), fixed(hi, 2), fixed(float64(n)/float64(max(calls, 1)), 1))
	b.rep.target(fmt.Sprintf("latency.p50.%d", rate), float64(s.latency.Quantile(0.5))/float64(time.Millisecond))
	b.rep.target(fmt.Sprintf("latency.p99.%d", rate), float64(s.latency.Quantile(0.99))/float64(time.Millisecond))
	b.rep.target(fmt.Sprintf("latency.calls.max.%d", rate), hi)
	b.progress("latency at %d rec/s: p50 %v p99 %v; %.2f GetRecords calls/s per shard (max %.2f)", rate,
		s.latency.Quantile(0.5).Round(time.Millisecond), s.latency.Quantile(0.99).Round(time.Millisecond), mean, hi)
	return nil
}
