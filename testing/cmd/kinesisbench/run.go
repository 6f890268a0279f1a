package main

import (
	"bytes"
	"cmp"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/kinesisio/beam-kinesis/kinesisio"
	"github.com/kinesisio/beam-kinesis/testing/bench"
	"github.com/kinesisio/beam-kinesis/testing/fakekinesis"
)

// reader is what reads (or writes) the records of a scenario.
type reader int

const (
	bareGet reader = iota // the bare aws-sdk-go-v2 GetRecords loop
	bareSub               // the bare SubscribeToShard loop
	polling               // kinesisio.Read, defaults
	unpaced               // kinesisio.Read, Polling{Unpaced: true}
	fanOut                // kinesisio.Read, WithEnhancedFanOut
	trivial               // Impulse -> DoFn: Prism's own start-up
	barePut               // the bare PutRecords loop
	write                 // kinesisio.Write
)

var readerNames = []string{"bare GetRecords loop", "bare SubscribeToShard loop", "Read, polling", "Read, polling, unpaced",
	"Read, fan-out", "trivial pipeline", "bare PutRecords loop", "Write"}

func (r reader) String() string { return readerNames[r] }

// scenario is one measurement: a reader on a stream of the in-process
// server. A catch-up scenario reads a backlog of n records from
// TRIM_HORIZON until caught up; a live one (dur > 0) starts reading the
// empty stream, then a producer puts rate records/s per shard for dur (0:
// the shards stay idle); a write scenario writes n records.
type scenario struct {
	fig      string // the figure it belongs to
	r        reader
	shards   int
	size     int
	n        int64
	rate     float64
	dur      time.Duration
	quotas   bool // the server enforces the per-shard read and write quotas
	inFlight int  // write: PutRecords calls in flight
	profile  bool // split the CPU by part (a CPU profile over the run)
	steady   bool // CPU and profile over the steady state only (steadyWindow)
}

func (sc scenario) String() string {
	s := fmt.Sprintf("%s %s: %d shards, %s", sc.fig, sc.r, sc.shards, sizeLabel(sc.size))
	if sc.dur > 0 {
		return s + fmt.Sprintf(", %g rec/s per shard for %v", sc.rate, sc.dur)
	}
	return s + fmt.Sprintf(", %d records", sc.n)
}

// result is what the runner measured for a scenario.
type result struct {
	sc          scenario
	s           *sink
	wall        time.Duration // the loop's, or beam.Run's
	first, last time.Duration // from the start to the first and last record
	window      time.Duration // what cpu covers: the producer's run if live, the steady state (steadyWindow) if steady, else wall
	cpu         time.Duration // process CPU (getrusage) over window
	counted     int64         // the records received in the window, when steady (else all)
	fetched     int64         // the records the server returned in the window, when steady
	calls       float64       // live: GetRecords calls per shard per second
	rssPerShard float64       // live: the read's RSS per shard, bytes
	parts       []int64       // profile: CPU ns by part (parts)
}

// perRec is the mean of ns per record, in µs: over the records received,
// or in a steady window the fewer of those received and those fetched in
// it (of the two halves of a reader's work, the one done for fewer
// records: an overestimate of the other's, never an underestimate).
func (r *result) perRec(ns int64) float64 {
	n := r.s.n.Load()
	if r.counted > 0 {
		n = min(r.counted, max(r.fetched, 1))
	}
	return float64(ns) / 1e3 / float64(max(n, 1))
}

// rate is records per second per shard from the start of the reading (of
// the loop, or beam.Run: Prism's job start included) to the last record.
// (First to last record is no measure when a call returns a shard's whole
// backlog.)
func (r *result) rate() float64 {
	return float64(r.s.n.Load()) / r.last.Seconds() / float64(r.sc.shards)
}

// fixture is a server with a stream, kept for the next scenario when it
// needs the same backlog.
type fixture struct {
	key    string
	srv    *fakekinesis.Server
	client *kinesis.Client
	stream string
	infos  []shardInfo
}

func (f *fixture) close() {
	if f != nil {
		f.srv.Close()
	}
}

// fixtureFor returns a server with a new stream for sc, filled with sc.n
// records of a catch-up scenario, or the previous one if it has the same.
func (b *benchRun) fixtureFor(ctx context.Context, sc scenario) (*fixture, error) {
	key := fmt.Sprint(sc.fig, sc.shards, sc.size, sc.n, sc.quotas)
	catchUp := sc.dur == 0 && sc.r != write && sc.r != barePut
	if b.fx != nil && b.fx.key == key && catchUp {
		return b.fx, nil
	}
	b.fx.close()
	b.fx = nil
	srv, client, err := newServer(false) // quotas on after the fill
	if err != nil {
		return nil, err
	}
	fx := &fixture{key: key, srv: srv, client: client}
	if fx.stream, fx.infos, err = newStream(ctx, client, sc.shards); err == nil && catchUp {
		err = (&putter{c: client, stream: fx.stream, shards: fx.infos, size: sc.size}).fill(ctx, sc.n, 4)
	}
	if err != nil {
		fx.close()
		return nil, err
	}
	if catchUp {
		b.fx = fx
	}
	return fx, nil
}

// runScenario is the runner: it measures one scenario.
func (b *benchRun) runScenario(ctx context.Context, sc scenario) (*result, error) {
	fx, err := b.fixtureFor(ctx, sc)
	if err != nil {
		return nil, err
	}
	if fx != b.fx {
		defer fx.close()
	}
	fx.srv.SetQuotas(sc.quotas) // a new quota period: full buckets, no debt
	res := &result{sc: sc, s: newSink(sc.n)}
	if sc.dur > 0 {
		res.s = newSink(int64(sc.rate * float64(sc.shards) * sc.dur.Seconds()))
	}
	before := memAfterGC()
	start, cpu0 := time.Now(), bench.CPUTime()
	var prof []byte
	timed := func(f func()) { // the reading, or the live window: what the profile covers
		start = time.Now()
		switch {
		case sc.steady:
			prof = res.steadyWindow(f, fx.srv.RecordsServed)
		case sc.profile:
			prof = captureCPU(f)
		default:
			f()
		}
	}
	err = b.measure(ctx, fx, res, timed)
	if res.wall == 0 {
		res.wall, res.window, res.cpu = time.Since(start), time.Since(start), bench.CPUTime()-cpu0
	}
	if err != nil {
		return nil, err
	}
	if prof != nil {
		if res.parts, err = partsOf(prof); err != nil {
			return nil, err
		}
		if b.c.profiles != "" {
			name := filepath.Join(b.c.profiles, fmt.Sprintf("%s-%d-%d-%d-%g.pprof", sc.fig, sc.r, sc.shards, sc.size, sc.rate)) // the rate tells a scale run from its idle twin
			if err := os.MkdirAll(b.c.profiles, 0o755); err != nil {
				return nil, err
			}
			if err := os.WriteFile(name, prof, 0o644); err != nil {
				return nil, err
			}
		}
	}
	first, last := res.s.span()
	res.first, res.last = first.Sub(start), last.Sub(start)
	if sc.dur > 0 {
		// The read's RSS: at the window's end, less the RSS before and
		// the records the server holds (what deleting the stream frees).
		live, held := res.rssPerShard, memAfterGC()
		deleteStream(fx.client, fx.stream)
		data := max(held-memAfterGC(), 0)
		res.rssPerShard = (live - float64(before) - float64(data)) / float64(sc.shards)
	}
	return res, nil
}

// steadyFrom and steadyTo bound a steady scenario's window by the share
// of its records the server has returned: before it, the job's start,
// the first calls and the buffers' first growth (not CPU per record);
// after it, the end, where the fetching stops and Read's consumers drain
// what was fetched ahead. In between, a reader that fetches ahead of its
// consumer (Read: up to its buffer's bound) is as far ahead at both ends,
// so the window holds the fetching and the emitting of about as many
// records (the progress line says how many of each); the bare loop does
// both in step. Counted by records received instead, a read whose
// fetchers had its whole backlog before the window opened left their
// work out of it.
const steadyFrom, steadyTo = 0.2, 0.8

// steadyWindow runs the reading f and measures its steady state: the
// process CPU, the CPU profile and the records received from the moment
// served (the server's count of records returned) has grown by
// steadyFrom of those expected to the moment it has grown by steadyTo.
// The job's start is figure 4's, and figure 1 gives the CPU per record
// of the whole read.
func (r *result) steadyWindow(f func(), served func() int64) []byte {
	s, base := r.s, served()
	done := make(chan struct{})
	go func() {
		defer close(done)
		f()
	}()
	defer func() { <-done }()
	reached := func(share float64) bool { // polls every millisecond: as cheap for both readers
		want := base + max(int64(float64(s.expected)*share), 1)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for served() < want {
			select {
			case <-t.C:
			case <-done:
				return false
			}
		}
		return true
	}
	if !reached(steadyFrom) {
		return nil // ended before its window: no figure
	}
	var buf bytes.Buffer
	profiling := pprof.StartCPUProfile(&buf) == nil
	start, cpu0, n0, s0 := time.Now(), bench.CPUTime(), s.n.Load(), served()
	reached(steadyTo)
	r.wall, r.window, r.cpu, r.counted = time.Since(start), time.Since(start), bench.CPUTime()-cpu0, s.n.Load()-n0
	r.fetched = served() - s0
	if !profiling {
		return nil
	}
	pprof.StopCPUProfile()
	return buf.Bytes()
}

// measure runs res's scenario on fx, filling res's sink, the reading or
// the live window in timed; a live scenario also sets its window, CPU,
// calls and (for now) the RSS at the window's end.
func (b *benchRun) measure(ctx context.Context, fx *fixture, res *result, timed func(func())) (err error) {
	sc, s := res.sc, res.s
	key := fmt.Sprintf("%s/%d", fx.stream, b.seq.Add(1))
	switch sc.r {
	case bareGet:
		timed(func() { _, err = bareRead(ctx, fx.client, fx.stream, "", fx.infos, s) })
		return cmp.Or(err, s.check(true))
	case bareSub:
		arn, dereg, err := registerConsumer(ctx, fx.client, fx.stream)
		if err != nil {
			return err
		}
		defer dereg()
		timed(func() { _, err = bareRead(ctx, fx.client, fx.stream, arn, fx.infos, s) })
		return cmp.Or(err, s.check(true))
	case barePut:
		p := &putter{c: fx.client, stream: fx.stream, size: sc.size, keys: partitionKeys(1024)}
		if err := p.fill(ctx, sc.n, sc.inFlight); err != nil {
			return err
		}
		s.n.Store(sc.n)
		return b.readBack(ctx, fx, sc.n)
	case trivial:
		p, root := beam.NewPipelineWithRoot()
		count(root, &stampFn{Key: key}, beam.Impulse(root), false)
		_, err = b.runPipeline(ctx, p, key, s, 2*time.Minute)
		return err
	case write:
		p, root := beam.NewPipelineWithRoot()
		recs := beam.ParDo(root, &genFn{N: int(sc.n), Size: sc.size, Keys: 1024}, beam.Impulse(root))
		w := kinesisio.Write(root, fx.stream, recs, kinesisio.Connection{Endpoint: fx.srv.Endpoint(), Region: region}, kinesisio.WithMaxInFlight(sc.inFlight))
		count(root, &writtenFn{Key: key}, w.Written, b.c.unfused)
		if _, err := b.runPipeline(ctx, p, key, s, 5*time.Minute+time.Duration(sc.n/1000)*time.Second); err != nil {
			return err
		}
		if s.n.Load() != sc.n {
			return fmt.Errorf("kinesisio.Write reported %d records written, want %d", s.n.Load(), sc.n)
		}
		return b.readBack(ctx, fx, sc.n)
	}
	bound := kinesisio.WithStopAtLatest()
	if sc.dur > 0 {
		bound = kinesisio.WithMaxRecords(max(s.expected, 1)) // idle: stopped after the window
	}
	opts := []kinesisio.ReadOption{kinesisio.Connection{Endpoint: fx.srv.Endpoint(), Region: region}, bound}
	consumer := fmt.Sprintf("kinesisbench-%d", b.seq.Add(1))
	switch sc.r {
	case unpaced:
		opts = append(opts, kinesisio.Polling{Unpaced: true})
	case fanOut:
		opts = append(opts, kinesisio.WithEnhancedFanOut(consumer))
		defer func() {
			_ = kinesisio.DeregisterConsumer(context.WithoutCancel(ctx), fx.stream, consumer, kinesisio.Connection{Endpoint: fx.srv.Endpoint(), Region: region})
		}()
	}
	p, root := beam.NewPipelineWithRoot()
	count(root, &sinkFn{Key: key}, kinesisio.Read(root, fx.stream, opts...), b.c.unfused)
	if sc.dur == 0 {
		timed(func() { _, err = b.runPipeline(ctx, p, key, s, 5*time.Minute) })
		return cmp.Or(err, s.check(true))
	}
	// Live: the producer starts once the read runs on every shard.
	stop, cancel := context.WithCancel(ctx)
	defer cancel()
	done := make(chan error, 1)
	go func() {
		_, err := b.runPipeline(stop, p, key, s, sc.dur+3*time.Minute)
		done <- err
	}()
	op := map[bool]string{false: "GetRecords", true: "SubscribeToShard"}[sc.r == fanOut]
	if err := waitStarted(ctx, fx.srv, op, fx.infos, 2*time.Minute); err != nil {
		cancel()
		return cmp.Or(err, <-done)
	}
	runtime.GC()
	start, cpu0, calls0 := time.Now(), bench.CPUTime(), callsByShard(fx.srv, "GetRecords", fx.infos)
	var perr error
	timed(func() {
		if sc.rate == 0 {
			perr = sleep(ctx, sc.dur)
			return
		}
		perr = (&putter{c: fx.client, stream: fx.stream, shards: fx.infos, size: sc.size}).produce(ctx, sc.rate*float64(sc.shards), sc.dur)
	})
	res.window, res.cpu = time.Since(start), bench.CPUTime()-cpu0
	for i, c := range callsByShard(fx.srv, "GetRecords", fx.infos) {
		res.calls += float64(c-calls0[i]) / float64(sc.shards) / res.window.Seconds()
	}
	res.rssPerShard = float64(memAfterGC()) // the caller makes it per shard
	if perr != nil || s.expected == 0 {
		cancel() // an idle read ends here
	}
	err = <-done
	if s.expected == 0 && stop.Err() != nil {
		err = nil
	}
	res.wall = time.Since(start)
	return cmp.Or(perr, err, s.check(true))
}

// readBack reads the stream of fx back: every record 0..n-1 must be there.
func (b *benchRun) readBack(ctx context.Context, fx *fixture, n int64) error {
	s := newSink(n)
	_, err := bareRead(ctx, fx.client, fx.stream, "", fx.infos, s)
	return cmp.Or(err, s.check(true))
}

func deleteStream(c *kinesis.Client, name string) {
	ctx, cancel := context.WithTimeout(context.Background(), callTimeout)
	defer cancel()
	_, _ = c.DeleteStream(ctx, &kinesis.DeleteStreamInput{StreamName: aws.String(name), EnforceConsumerDeletion: aws.Bool(true)})
}
