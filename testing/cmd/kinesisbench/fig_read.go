package main

import (
	"context"
	"fmt"
	"runtime"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/kinesisio/beam-kinesis/kinesisio"
	"github.com/kinesisio/beam-kinesis/testing/bench"
	"github.com/kinesisio/beam-kinesis/testing/fakekinesis"
)

// quotaBytesPerSec is a shard's read quota, which the connector's fetcher
// keeps to whatever the server enforces.
const quotaBytesPerSec = 2 << 20

// readLimit bounds one read of n records of size bytes on shards shards:
// three times what the quota pace needs, plus a minute.
func readLimit(n int64, size, shards int) time.Duration {
	paced := time.Duration(float64(n) * float64(size+8) / float64(shards*quotaBytesPerSec) * float64(time.Second))
	calls := time.Duration(float64(n)/float64(shards*5*10000)) * time.Second
	return time.Minute + 3*max(paced, calls)
}

// readResult is one measured read.
type readResult struct {
	s          *sink
	wall       time.Duration // the bare loop, or beam.Run
	cpu        time.Duration // process CPU during it
	start      time.Time     // the bare loop's or beam.Run's start
	firstAfter time.Duration // from the start to the first record
	calls      int           // GetRecords calls the server saw
	counters   map[string]int64
}

// steady is the rate from the first to the last record.
func (r readResult) steady() float64 {
	return perSec(r.s.n.Load(), r.s.lastTime().Sub(r.s.firstTime()))
}

// readTables are the tables of figure 1; fanOut is nil without --fanout.
type readTables struct{ main, paced, fanOut *bench.Table }

func (b *benchRun) figRead(ctx context.Context, srv *fakekinesis.Server, client *kinesis.Client) error {
	quotas := "quotas off"
	if b.c.readQuotas {
		quotas = "quotas ON: 5 GetRecords/s and 2 MiB/s per shard"
	}
	bound := "WithStopAtLatest()"
	if b.c.readBound == "max" {
		bound = "WithMaxRecords(n)"
	}
	tt := readTables{
		main: &bench.Table{
			Title: "1a. Read throughput: kinesisio.Read on Prism vs a bare GetRecords loop (in-process server, " + quotas + ")",
			Columns: []string{"record", "shards", "records", "bare rec/s", "bare MB/s", "Read rec/s (job)", "ratio (job)",
				"Read rec/s (1st→last)", "Read MB/s (1st→last)", "ratio (1st→last)", "Read job", "1st record after",
				"unpaced Read rec/s (job / 1st→last)", "unpaced ratio (job / 1st→last)"},
		},
		paced: &bench.Table{
			Title: "1b. The same reads against a bare loop paced like the connector (5 calls/s and 2 MiB/s per shard, one second's worth at once), and process CPU per record",
			Columns: []string{"record", "shards", "paced loop rec/s", "Read (1st→last) / paced", "bare loop time", "paced loop time", "Read job",
				"GetRecords calls bare / Read", "bare calls throttled", "Read calls throttled", "process CPU µs/rec bare", "Read", "Read − bare"},
		},
	}
	if b.c.fanOut {
		tt.fanOut = &bench.Table{
			Title: "1c. Catch-up from TRIM_HORIZON per shard, enhanced fan-out vs polling: the same backlogs, read with SubscribeToShard (in-process server, which never throttles SubscribeToShard)",
			Columns: []string{"record", "shards", "records", "bare GetRecords loop rec/s/shard", "polling Read (1st→last)", "unpaced polling Read (1st→last)",
				"bare SubscribeToShard loop", "fan-out Read (job)", "fan-out Read (1st→last)", "fan-out MB/s/shard (1st→last)",
				"fan-out / polling", "fan-out / unpaced polling", "fan-out / bare GetRecords loop", "fan-out / bare SubscribeToShard loop",
				"records/event Read / bare", "process CPU µs/rec polling / unpaced / fan-out / bare subscribe"},
		}
	}
	for _, size := range b.c.sizes {
		for _, shards := range b.c.shards {
			if err := b.readCase(ctx, srv, client, size, shards, tt); err != nil {
				b.rep.fail("read %s x %d shards: %v", sizeLabel(size), shards, err)
			}
		}
	}
	volume := mib(b.c.readBytesPerShard)
	if b.c.readBytesPerShard == 0 {
		volume = "8 MiB of records under 1 KiB, 24 MiB of larger ones"
	}
	tt.main.Note("Each row reads the same stream (%s per shard, filled before) three ways: a bare aws-sdk-go-v2 loop, one goroutine per shard, GetRecords Limit 10000 from TRIM_HORIZON until a call returns no records with MillisBehindLatest 0, no pacing; the same loop paced (1b); kinesisio.Read on Prism bounded with %s into a counting DoFn. MB = 10^6 bytes of record data.",
		volume, bound)
	tt.main.Note("Read (job) counts from beam.Run to its return, so it includes Prism's job start and the end of the job; 1st→last is the rate from the first record reaching the DoFn to the last.")
	if b.c.readQuotas {
		tt.main.Note("With quotas on (turned on after the stream was filled), the bare loop is limited by the server (it retries a throttled call after 200 ms), as a reader of Kinesis would be.")
	}
	tt.main.Note("By default the connector paces every shard to Kinesis's read quota whether or not the server enforces it (a call every 200 ms at most; a byte bucket of one second at 2 MiB/s that a call may overdraw, as Kinesis accounts), while the bare loop runs free against a server without quotas: per shard, paced Read averages at most 2 MiB/s, about 20,000 records/s of 100 B or 200 records/s of 10 KiB. 1b compares it with the loop paced the same way. The unpaced columns run Read with WithQuotaPacing(0), the like-for-like comparison with the free-running loop: what the connector and Prism cost.")
	tt.paced.Note("Process CPU is getrusage user+system over the run divided by the records read. It includes the in-process server, which does the same work for every reader; Read − bare is therefore the connector's, Beam's and Prism's CPU per record beyond the SDK's own call and decode (figure 2 splits it).")
	b.emit(tt.main)
	b.emit(tt.paced)
	if tt.fanOut != nil {
		tt.fanOut.Note("Rates are per shard. After the runs of 1a and 1b, each backlog is read twice more: by a bare aws-sdk-go-v2 SubscribeToShard loop (one subscription per shard from TRIM_HORIZON, as a consumer of its own, until an event with MillisBehindLatest 0), and by kinesisio.Read bounded as in 1a with WithEnhancedFanOut(ConsumerName(...)), a consumer of its own that the job registers. The server sends an event with up to 1 MiB of records as soon as the reader has taken the last one; Kinesis would cap each consumer at 2 MiB/s per shard, which this server does not, while polling Read paces itself to that quota by default: 'unpaced polling' (WithQuotaPacing(0)) is the like-for-like comparison.")
		tt.fanOut.Note("Fan-out Read (job) counts from beam.Run to its return: with WithStopAtLatest a shard ends at the first event without records that says it is caught up, and the server sends those once a second when no records arrive, so the job lasts up to a second longer than its reading; 1st→last leaves that out. Process CPU is getrusage over each run divided by the records read, the in-process server included (as in 1b).")
		b.emit(tt.fanOut)
	}
	return nil
}

func (b *benchRun) readCase(ctx context.Context, srv *fakekinesis.Server, client *kinesis.Client, size, shards int, tt readTables) error {
	n := max(int64(shards), b.c.readBytes(size)*int64(shards)/int64(size))
	t0 := time.Now()
	// Fill at full speed; the write quota (1,000 records/s per shard) is
	// not what this figure measures.
	srv.SetQuotas(false)
	stream, infos, err := b.filledStream(ctx, client, "read", shards, size, n, 4)
	if err != nil {
		return err
	}
	defer deleteStream(client, stream)
	b.progress("read %s x %d shards: put %d records in %v", sizeLabel(size), shards, n, time.Since(t0).Round(time.Millisecond))
	limit := readLimit(n, size, shards)

	// Every run starts a new quota period (full buckets, no debt), so the
	// runs after the first are not charged for what it read.
	srv.SetQuotas(b.c.readQuotas)
	bare, err := b.bareRun(ctx, client, stream, infos, n, false, limit)
	if err != nil {
		return fmt.Errorf("bare loop: %w", err)
	}
	var paced readResult
	if b.c.pacedBaseline {
		srv.SetQuotas(b.c.readQuotas)
		if paced, err = b.bareRun(ctx, client, stream, infos, n, true, limit); err != nil {
			return fmt.Errorf("paced loop: %w", err)
		}
	}
	opts := []kinesisio.ReadOption{kinesisio.WithStopAtLatest()}
	if b.c.readBound == "max" {
		opts = []kinesisio.ReadOption{kinesisio.WithMaxRecords(n)}
	}
	srv.SetQuotas(b.c.readQuotas)
	rd, err := b.readRun(ctx, srv, stream, n, limit, b.c.readBound == "max", opts...)
	if err != nil {
		return err
	}
	unJob, unSteady := "-", "-"
	var un readResult
	if b.c.unpacedRead {
		srv.SetQuotas(b.c.readQuotas)
		un, err = b.readRun(ctx, srv, stream, n, limit, b.c.readBound == "max", append(opts, kinesisio.WithQuotaPacing(0))...)
		if err != nil {
			return fmt.Errorf("unpaced: %w", err)
		}
		j, st := perSec(n, un.wall), un.steady()
		unJob = num(j) + " / " + num(st)
		unSteady = ratio(j, perSec(n, bare.wall)) + " / " + ratio(st, perSec(n, bare.wall))
		b.rep.target(fmt.Sprintf("read.unpaced.job.%d.%d", size, shards), j/perSec(n, bare.wall))
		b.rep.target(fmt.Sprintf("read.unpaced.steady.%d.%d", size, shards), st/perSec(n, bare.wall))
	}
	bareRate := perSec(n, bare.wall)
	jobRate := perSec(n, rd.wall)
	steady := rd.steady()
	mb := func(rate float64) string { return fixed(rate*float64(size)/1e6, 1) }
	tt.main.AddRow(sizeLabel(size), shards, num(float64(n)), num(bareRate), mb(bareRate), num(jobRate), ratio(jobRate, bareRate),
		num(steady), mb(steady), ratio(steady, bareRate), secs(rd.wall), secs(rd.firstAfter), unJob, unSteady)
	cpuPer := func(r readResult) float64 { return float64(r.cpu.Microseconds()) / float64(n) }
	pacedRate, pacedWall, pacedRatio := "-", "-", "-"
	if b.c.pacedBaseline {
		pr := perSec(n, paced.wall)
		pacedRate, pacedWall, pacedRatio = num(pr), secs(paced.wall), ratio(steady, pr)
	}
	tt.paced.AddRow(sizeLabel(size), shards, pacedRate, pacedRatio, secs(bare.wall), pacedWall, secs(rd.wall),
		fmt.Sprintf("%d / %d", bare.calls, rd.calls), num(float64(bare.s.throttled.Load())), num(float64(rd.counters["read_throttled"])), fixed(cpuPer(bare), 2), fixed(cpuPer(rd), 2), fixed(cpuPer(rd)-cpuPer(bare), 2))
	if tt.fanOut != nil {
		if err := b.readFanOut(ctx, srv, client, stream, infos, size, n, limit, opts, bare, rd, un, tt.fanOut); err != nil {
			return fmt.Errorf("fan-out: %w", err)
		}
	}
	b.rep.target(fmt.Sprintf("read.job.%d.%d", size, shards), jobRate/bareRate)
	b.rep.target(fmt.Sprintf("read.steady.%d.%d", size, shards), steady/bareRate)
	b.progress("read %s x %d shards: bare %s rec/s, Read %s rec/s (job %v, first record after %v), 1st→last %s rec/s",
		sizeLabel(size), shards, num(bareRate), num(jobRate), rd.wall.Round(time.Millisecond), rd.firstAfter.Round(time.Millisecond), num(steady))
	return nil
}

// bareRun reads the stream with the bare loop into a new sink.
func (b *benchRun) bareRun(ctx context.Context, client *kinesis.Client, stream string, infos []shardInfo, n int64, paced bool, limit time.Duration) (readResult, error) {
	runtime.GC()
	s := newSink(n)
	rctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	cpu0, start := bench.CPUTime(), time.Now()
	calls, err := bareRead(rctx, client, stream, infos, paced, s)
	r := readResult{s: s, start: start, wall: time.Since(start), cpu: bench.CPUTime() - cpu0, calls: int(calls)}
	r.firstAfter = s.firstTime().Sub(start)
	if err != nil {
		return r, err
	}
	if msg := s.check(false); msg != "" {
		return r, fmt.Errorf("%s", msg)
	}
	return r, nil
}

// readRun reads the stream with kinesisio.Read on Prism into a new sink,
// with opts and a safety WithMaxReadTime(limit). budgeted says that opts
// bound the read with WithMaxRecords(n).
func (b *benchRun) readRun(ctx context.Context, srv *fakekinesis.Server, stream string, n int64, limit time.Duration, budgeted bool, opts ...kinesisio.ReadOption) (readResult, error) {
	runtime.GC()
	s := newSink(n)
	key := stream + "/read"
	defer trackSink(key, s)()
	p, sc := beam.NewPipelineWithRoot()
	opts = append(append(readOptions(srv.Endpoint()), kinesisio.WithMaxReadTime(limit)), opts...)
	b.addSink(sc, key, kinesisio.Read(sc, stream, opts...))
	calls0 := srv.Calls("GetRecords")
	cpu0, start := bench.CPUTime(), time.Now()
	pr, wall, err := b.runPipeline(ctx, p, limit+30*time.Second)
	r := readResult{s: s, start: start, wall: wall, cpu: bench.CPUTime() - cpu0, calls: srv.Calls("GetRecords") - calls0, counters: counters(pr)}
	r.firstAfter = s.firstTime().Sub(start)
	if err != nil {
		return r, fmt.Errorf("kinesisio.Read pipeline: %w", err)
	}
	if msg := s.check(budgeted); msg != "" {
		return r, fmt.Errorf("kinesisio.Read: %s", msg)
	}
	return r, nil
}

// readFanOut reads the backlog of a read case with a bare SubscribeToShard
// loop and with a fan-out Read (opts, as the polling Read had, plus
// WithEnhancedFanOut), and compares them with the case's bare loop, its
// polling Read and its unpaced polling Read (zero when not run) in t.
func (b *benchRun) readFanOut(ctx context.Context, srv *fakekinesis.Server, client *kinesis.Client, stream string, infos []shardInfo,
	size int, n int64, limit time.Duration, opts []kinesisio.ReadOption, bare, pol, un readResult, t *bench.Table) error {
	shards := len(infos)
	srv.SetQuotas(b.c.readQuotas)
	bs, err := b.bareSubscribeRun(ctx, client, stream, infos, n, limit)
	if err != nil {
		return fmt.Errorf("bare SubscribeToShard loop: %w", err)
	}
	mopts, consumer := b.modeOptions(fanOut)
	srv.SetQuotas(b.c.readQuotas)
	efo, err := b.readRun(ctx, srv, stream, n, limit, b.c.readBound == "max", append(append([]kinesisio.ReadOption(nil), opts...), mopts...)...)
	b.deregister(ctx, srv.Endpoint(), stream, consumer)
	if err != nil {
		return err
	}
	if open := srv.Subscriptions(); open > 0 {
		b.progress("note: %d subscriptions still open on the server after the fan-out Read ended and its consumer was deregistered", open)
	}
	per := func(rate float64) float64 { return rate / float64(shards) }
	rate := func(r readResult) string {
		if r.s == nil {
			return "-"
		}
		return num(per(r.steady()))
	}
	bareRate, bsRate, steady := perSec(n, bare.wall), perSec(n, bs.wall), efo.steady()
	unRatio := "-"
	if un.s != nil {
		unRatio = ratio(steady, un.steady())
	}
	cpu := func(r readResult) string {
		if r.s == nil {
			return "-"
		}
		return fixed(float64(r.cpu.Microseconds())/float64(n), 2)
	}
	events := efo.counters["read_events"]
	t.AddRow(sizeLabel(size), shards, num(float64(n)), num(per(bareRate)), rate(pol), rate(un), num(per(bsRate)),
		num(per(perSec(n, efo.wall))), num(per(steady)), fixed(per(steady)*float64(size)/1e6, 1),
		ratio(steady, pol.steady()), unRatio, ratio(steady, bareRate), ratio(steady, bsRate),
		fixed(float64(n)/float64(max(events, 1)), 0)+" / "+fixed(float64(n)/float64(max(int64(bs.calls), 1)), 0),
		cpu(pol)+" / "+cpu(un)+" / "+cpu(efo)+" / "+cpu(bs))
	b.rep.target(fmt.Sprintf("read.efo.steady.%d.%d", size, shards), steady/pol.steady())
	b.progress("read %s x %d shards with fan-out: bare SubscribeToShard loop %s rec/s/shard, Read %s rec/s/shard 1st→last (job %v), %d events",
		sizeLabel(size), shards, num(per(bsRate)), num(per(steady)), efo.wall.Round(time.Millisecond), events)
	return nil
}

// bareSubscribeRun reads the stream with the bare SubscribeToShard loop,
// as a consumer registered for it and deregistered after, into a new
// sink. Its calls are the events received.
func (b *benchRun) bareSubscribeRun(ctx context.Context, client *kinesis.Client, stream string, infos []shardInfo, n int64, limit time.Duration) (readResult, error) {
	name := fmt.Sprintf("kinesisbench-bare-%d", b.seq.Add(1))
	streamARN, arn, err := bareConsumer(ctx, client, stream, name)
	if err != nil {
		return readResult{}, err
	}
	defer bareDeregister(client, streamARN, name)
	runtime.GC()
	s := newSink(n)
	rctx, cancel := context.WithTimeout(ctx, limit)
	defer cancel()
	cpu0, start := bench.CPUTime(), time.Now()
	events, err := bareSubscribe(rctx, client, arn, infos, s)
	r := readResult{s: s, start: start, wall: time.Since(start), cpu: bench.CPUTime() - cpu0, calls: int(events)}
	r.firstAfter = s.firstTime().Sub(start)
	if err != nil {
		return r, err
	}
	if msg := s.check(false); msg != "" {
		return r, fmt.Errorf("%s", msg)
	}
	return r, nil
}
