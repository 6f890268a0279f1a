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
// producer starts once every shard's read has started (a GetRecords call,
// or with fan-out a SubscribeToShard call, on every shard).
type liveRead struct {
	srv    *fakekinesis.Server
	client *kinesis.Client
	stream string
	infos  []shardInfo
	s      *sink
	n      int64
	mode   readMode
	start  time.Time     // the job's start
	ready  time.Duration // from start to every shard's read started
	wall   time.Duration // beam.Run's time, set by finishLive
	done   chan pipelineDone
}

// startLive starts the read of lr (filled in but for start, ready, wall
// and done) on Prism, cancelled if still running a minute after readTime,
// and waits at most pollLimit for every shard's read to start.
func (b *benchRun) startLive(ctx context.Context, lr *liveRead, readTime, pollLimit time.Duration) error {
	p, sc := beam.NewPipelineWithRoot()
	opts := append(readOptions(lr.srv.Endpoint()), kinesisio.WithMaxRecords(lr.n), kinesisio.WithMaxReadTime(readTime))
	mopts, _ := b.modeOptions(lr.mode)
	b.addSink(sc, lr.stream+"/live", kinesisio.Read(sc, lr.stream, append(opts, mopts...)...))
	lr.start = time.Now()
	lr.done = make(chan pipelineDone, 1)
	go func() {
		pr, wall, err := b.runPipeline(ctx, p, readTime+time.Minute)
		lr.done <- pipelineDone{pr, wall, err}
	}()
	var err error
	if lr.ready, err = waitPolled(ctx, lr.srv, lr.mode.op(), lr.infos, lr.start, pollLimit); err != nil {
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
	lr.wall = res.wall
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
	var ft *bench.Table
	if b.c.fanOut {
		ft = &bench.Table{
			Title: fmt.Sprintf("3b. The same latency with enhanced fan-out (SubscribeToShard) next to polling, measured right after it on the same server: producer for %v on %d shards",
				b.c.latencyDuration, b.c.latencyShards),
			Columns: []string{"producer rec/s", "achieved", "records", "fan-out p50", "p90", "p99", "max", "arrival→emit p50", "arrival→emit p99",
				"polling p50 / p99", "p50 fan-out / polling", "p99 fan-out / polling", "events/s/shard", "records/event", "subscriptions", "p50 <= 70 ms, p99 <= 200 ms"},
		}
	}
	for _, rate := range b.c.latencyRates {
		pol, err := b.latencyCase(ctx, srv, client, rate, polling, t)
		if err != nil {
			b.rep.fail("latency at %d records/s: %v", rate, err)
		}
		if ft == nil {
			continue
		}
		efo, err := b.latencyCase(ctx, srv, client, rate, fanOut, ft)
		if err != nil {
			b.rep.fail("latency with fan-out at %d records/s: %v", rate, err)
			continue
		}
		b.fanOutLatencyRow(ft, rate, efo, pol)
	}
	t.Note("Each record carries the time its PutRecords call started; a DoFn right after Read (fused with it) takes the difference to its own clock. Same process, same clock. arrival→emit starts at the record's ApproximateArrivalTimestamp (server clock, millisecond precision).")
	t.Note("Read starts first (default start position TRIM_HORIZON on the empty stream, bounded with WithMaxRecords); the producer starts once every shard has been polled, and sends a PutRecords call every 10 ms. Options are the defaults: WithRecordsPerCall(10000), WithIdlePollInterval(1 s: after an empty call the next waits 250 ms, doubling after each further one up to 1 s), the fetcher's 200 ms minimum between calls per shard.")
	b.emit(t)
	if ft != nil {
		ft.Note("Each fan-out run follows the polling run of its rate on the same server, on a new stream, with the same producer; Read has WithEnhancedFanOut(ConsumerName(...)), a consumer of its own that the job registers, and otherwise the same options. The producer starts once every shard has had its SubscribeToShard call. The server pushes a SubscribeToShardEvent as soon as records are put (and an empty one every second); the records then wait in the fetcher's buffer for the next ProcessElement call: a call that finds the buffer empty asks Prism to resume it in 50 ms (fetcher.ResumeIn with fan-out), and Prism adds its own scheduling of the residual. A wait spread evenly over those 50 ms alone would give a p50 of 25 ms and a p90 of 45 ms.")
		ft.Note("events/s/shard counts the job's read_events over beam.Run's time (heartbeats included); records/event is records read / events. The targets (p50 <= 70 ms, p99 <= 200 ms) are the issue's for fan-out at 1,000 records/s on 4 shards; reported, never asserted.")
		b.emit(ft)
	}
	return nil
}

// latencyResult is what one latency case measured.
type latencyResult struct {
	n        int64
	window   time.Duration // the producer's run
	wall     time.Duration // beam.Run's
	s        *sink
	counters map[string]int64
}

// fanOutLatencyRow adds fan-out's row of rate to ft, against polling's
// result pol (nil when that run failed).
func (b *benchRun) fanOutLatencyRow(ft *bench.Table, rate int, efo, pol *latencyResult) {
	s := efo.s
	p50, p99 := s.latency.Quantile(0.5), s.latency.Quantile(0.99)
	polling, r50, r99 := "-", "-", "-"
	if pol != nil {
		q50, q99 := pol.s.latency.Quantile(0.5), pol.s.latency.Quantile(0.99)
		polling = ms(q50) + " / " + ms(q99)
		r50, r99 = ratio(float64(p50), float64(q50)), ratio(float64(p99), float64(q99))
		b.rep.target(fmt.Sprintf("latency.efo.ratio50.%d", rate), float64(p50)/float64(q50))
	}
	events := efo.counters["read_events"]
	met := "no"
	if p50 <= 70*time.Millisecond && p99 <= 200*time.Millisecond {
		met = "yes"
	}
	ft.AddRow(num(float64(rate)), num(perSec(efo.n, efo.window)), num(float64(efo.n)),
		ms(p50), ms(s.latency.Quantile(0.9)), ms(p99), ms(s.latency.Max()), ms(s.lag.Quantile(0.5)), ms(s.lag.Quantile(0.99)),
		polling, r50, r99, fixed(perSec(events, efo.wall)/float64(b.c.latencyShards), 1), fixed(float64(efo.n)/float64(max(events, 1)), 1),
		num(float64(efo.counters["read_subscriptions"])), met)
	b.rep.target(fmt.Sprintf("latency.efo.p50.%d", rate), float64(p50)/float64(time.Millisecond))
	b.rep.target(fmt.Sprintf("latency.efo.p99.%d", rate), float64(p99)/float64(time.Millisecond))
}

// latencyCase measures the latency at rate records/s with a Read in mode
// m. A polling case adds its row to t; a fan-out case only notes on t
// (see finishLive) and leaves its row to its caller.
func (b *benchRun) latencyCase(ctx context.Context, srv *fakekinesis.Server, client *kinesis.Client, rate int, m readMode, t *bench.Table) (*latencyResult, error) {
	d := b.c.latencyDuration
	n := int64(float64(rate) * d.Seconds())
	if n <= 0 {
		return nil, fmt.Errorf("rate x duration is no record")
	}
	stream, infos, err := b.newStream(ctx, client, "latency", b.c.latencyShards)
	if err != nil {
		return nil, err
	}
	defer deleteStream(client, stream)
	lr := &liveRead{srv: srv, client: client, stream: stream, infos: infos, s: newSink(n), n: n, mode: m}
	defer trackSink(stream+"/live", lr.s)()
	if err := b.startLive(ctx, lr, d+2*time.Minute, time.Minute); err != nil {
		return nil, err
	}
	b.detail("latency (%v): all %d shards' reads started %v after the job started", m, len(infos), lr.ready.Round(time.Millisecond))
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
	label := num(float64(rate)) + " rec/s"
	if m == fanOut {
		label += " with fan-out"
	}
	pr, err := b.finishLive(ctx, lr, prod, perr, t, label)
	if err != nil {
		return nil, err
	}
	s := lr.s
	res := &latencyResult{n: n, window: window, wall: lr.wall, s: s, counters: counters(pr)}
	if m == fanOut {
		b.progress("latency with fan-out at %d rec/s: p50 %v p99 %v; %d events, %d subscriptions", rate,
			s.latency.Quantile(0.5).Round(time.Millisecond), s.latency.Quantile(0.99).Round(time.Millisecond),
			res.counters["read_events"], res.counters["read_subscriptions"])
		return res, nil
	}
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
	return res, nil
}
