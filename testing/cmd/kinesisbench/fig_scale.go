package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"runtime/pprof"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/kinesisio/beam-kinesis/testing/bench"
	"github.com/kinesisio/beam-kinesis/testing/fakekinesis"
)

// heapObjects returns the bytes of live and not yet swept heap objects.
func heapObjects() int64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	if s[0].Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return int64(s[0].Value.Uint64())
}

// writeHeapProfile writes the heap profile (as of the last GC) to name.
func writeHeapProfile(name string) error {
	f, err := os.Create(name)
	if err != nil {
		return err
	}
	if err := pprof.WriteHeapProfile(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// memPoint is the process's memory at one moment, after a full GC that
// returned free memory to the OS.
type memPoint struct {
	rss, heap  int64
	goroutines int
}

func measureMem() memPoint {
	runtime.GC()
	debug.FreeOSMemory()
	return memPoint{rss: bench.RSS(), heap: heapObjects(), goroutines: runtime.NumGoroutine()}
}

// scaleTables are the tables of figure 5.
type scaleTables struct {
	keepUp, mem, windows *bench.Table
	// profiles of the producer's run, by shard count
	profiles []scaleProfile
}

// scaleProfile is the CPU profile of one scale case's producer window.
type scaleProfile struct {
	shards int
	window time.Duration
	prof   *bench.Profile
}

// figScale starts a server per case (with quotas): srv and client are nil.
func (b *benchRun) figScale(ctx context.Context, _ *fakekinesis.Server, _ *kinesis.Client) error {
	tt := scaleTables{
		keepUp: &bench.Table{
			Title: fmt.Sprintf("5a. Scale on one worker, quotas on (5 GetRecords/s and 2 MiB/s per shard): producer at %d records/s per shard for %v",
				b.c.scaleRate, b.c.scaleDuration),
			Columns: []string{"shards", "produced rec/s", "records", "all shards polled after", "lag p50", "lag p99", "lag max",
				"last record after producer stop", "keeps up", "GetRecords calls/s/shard mean", "min", "max", "throttled calls", "CPU cores busy"},
		},
		mem: &bench.Table{
			Title: "5b. Memory of the read on one worker (RSS from /proc/self/status, after a full GC returning free memory to the OS)",
			Columns: []string{"shards", "RSS before the job", "RSS while reading", "stream data in the server", "Read's RSS", "RSS per shard",
				"Go heap per shard", "goroutines per shard", "peak RSS sampled", "peak above before+data, per shard"},
		},
		windows: &bench.Table{
			Title:   "5c. Lag (now − arrival time, at the DoFn after Read) by time since the producer started",
			Columns: []string{"shards", "window", "records", "lag p50", "lag p99", "lag max"},
		},
	}
	for _, shards := range b.c.scaleShards {
		if err := b.scaleCase(ctx, shards, &tt); err != nil {
			b.rep.fail("scale %d shards: %v", shards, err)
		}
	}
	tt.keepUp.Note("Read starts first (TRIM_HORIZON on the empty stream, bounded with WithMaxRecords); the producer starts once every shard has been polled. Lag is measured at a DoFn fused after Read, against the record's ApproximateArrivalTimestamp. 'keeps up' = the last record was read within 2 s of the producer's stop and no lag exceeded 5 s. Calls per shard per second are counted by the server over the producer's run (throttled calls included); the quota is 5.")
	tt.mem.Note("RSS before the job: server and empty stream, no job. RSS while reading: 1 s before the producer stops, pipeline live. Stream data: RSS after the job minus RSS after deleting the stream (the server keeps every record), scaled to the records put at the live measurement. Read's RSS = while reading − before − data; it includes Prism's and the Beam harness's share for the job. The peak column uses the highest RSS sampled every 200 ms without a forced GC (the heap grows to GOGC before a collection), so it is an upper bound.")
	b.emit(tt.keepUp)
	b.emit(tt.mem)
	b.emit(tt.windows)
	b.scaleProfileTables(tt.profiles)
	return nil
}

// scaleProfileTables prints where the CPU went while the producer ran.
func (b *benchRun) scaleProfileTables(profs []scaleProfile) {
	if len(profs) == 0 {
		return
	}
	byPart := &bench.Table{Title: "5d. CPU while the producer ran, by part (profile, in cores; 2 cores = the whole machine)", Columns: []string{"part"}}
	sums := make([][]int64, len(profs))
	for i, sp := range profs {
		byPart.Columns = append(byPart.Columns, fmt.Sprintf("%d shards", sp.shards))
		sums[i] = partSums(sp.prof)
	}
	for k, pt := range parts {
		row := []any{pt.name}
		nonzero := false
		for i, sp := range profs {
			row = append(row, fixed(float64(sums[i][k])/float64(sp.window), 2))
			nonzero = nonzero || sums[i][k] > 0
		}
		if nonzero {
			byPart.AddRow(row...)
		}
	}
	byPart.Note("The producer and the in-process server share the machine with the read; their parts are what the read does not cost on a real worker.")
	byPart.Note(prismSpinNote)
	b.emit(byPart)

	last := profs[len(profs)-1]
	readSide := func(s bench.Sample) bool { side := s.Labels["side"]; return side != "server" && side != "producer" }
	v := profView{prof: last.prof, keep: readSide, total: float64(last.prof.Total(last.prof.ValueIndex("cpu"), readSide)), unit: "cores",
		val: func(x int64) string { return fixed(float64(x)/float64(last.window), 3) }}
	top := v.flatTable(fmt.Sprintf("5e. Top %d functions of the read side at %d shards by flat CPU (server and producer excluded)", b.c.topN, last.shards), b.c.topN, true)
	top.Note("Read side = everything but the server's and the producer's goroutines: the connector, Beam's harness, Prism, the counting DoFn and the Go runtime (GC included): %s cores in all.", fixed(v.total/float64(last.window), 2))
	b.emit(top)
	b.emit(v.oursTable(fmt.Sprintf("5f. Connector, Beam and Prism functions of the read side at %d shards by cumulative CPU", last.shards), b.c.topN))
}

func (b *benchRun) scaleCase(ctx context.Context, shards int, tt *scaleTables) error {
	srv, client, err := newServerClient(true)
	if err != nil {
		return err
	}
	defer srv.Close()
	stream, infos, err := b.newStream(ctx, client, "scale", shards)
	if err != nil {
		return err
	}
	d := b.c.scaleDuration
	rate := float64(b.c.scaleRate * shards)
	n := int64(rate * d.Seconds())
	nWindows := int((d+b.c.scaleWindow-1)/b.c.scaleWindow) + 1
	lr := &liveRead{srv: srv, client: client, stream: stream, infos: infos, s: newSink(n).withWindows(b.c.scaleWindow, nWindows), n: n}
	s := lr.s
	defer trackSink(stream+"/live", s)()

	before := measureMem()
	sampler := bench.StartRSSSampler(200 * time.Millisecond)
	defer sampler.Stop()
	if err := b.startLive(ctx, lr, d+3*time.Minute, 2*time.Minute); err != nil {
		return err
	}
	b.progress("scale %d shards: all polled %v after the job started; producing %s records/s for %v", shards, lr.ready.Round(time.Millisecond), num(rate), d)
	prod := &producer{
		p:       &putter{c: client, stream: stream, shards: infos, size: b.c.scaleSize, calls: bench.NewHistogram()},
		rate:    rate,
		tick:    10 * time.Millisecond,
		workers: b.c.scaleWorkers,
	}
	calls0 := callsByShard(srv, infos)
	cpu0 := bench.CPUTime()
	s.startWindows(time.Now())
	var live memPoint
	var producedAtLive int64
	var perr error
	produce := func() {
		errc := make(chan error, 1)
		go func() { errc <- prod.run(ctx, d) }()
		select {
		case <-time.After(max(d-time.Second, d/2)):
			live = measureMem()
			producedAtLive = prod.produced.Load()
			if b.c.memProfile != "" {
				if err := writeHeapProfile(fmt.Sprintf("%s.scale-%d", b.c.memProfile, shards)); err != nil {
					b.progress("scale: heap profile: %v", err)
				}
			}
		case <-ctx.Done():
		}
		perr = <-errc
	}
	var profData []byte
	if b.c.scaleProfile {
		profData = captureCPU(produce)
	} else {
		produce()
	}
	calls1 := callsByShard(srv, infos)
	cpu := bench.CPUTime() - cpu0
	window := prod.stopped.Sub(prod.started)
	pr, err := b.finishLive(ctx, lr, prod, perr, tt.keepUp, fmt.Sprint(shards)+" shards")
	sampler.Stop()
	if err != nil {
		return err
	}
	after := measureMem()
	deleteStream(client, stream)
	deleted := measureMem()

	frac := float64(producedAtLive) / float64(n)
	dataRSS := int64(float64(after.rss-deleted.rss) * frac)
	dataHeap := int64(float64(after.heap-deleted.heap) * frac)
	readRSS := live.rss - before.rss - dataRSS
	readHeap := live.heap - before.heap - dataHeap
	peak := sampler.MaxBetween(lr.start, prod.stopped)
	peakAbove := peak - before.rss - (after.rss - deleted.rss)

	mean, lo, hi := callRates(calls0, calls1, window)
	drain := s.lastTime().Sub(prod.stopped)
	keeps := "yes"
	if drain > 2*time.Second || s.lag.Max() > 5*time.Second {
		keeps = "NO"
	}
	if profData != nil {
		if err := b.saveProfile(fmt.Sprintf(".scale-%d", shards), profData); err != nil {
			return err
		}
		if prof, err := bench.ParseProfile(profData); err == nil {
			tt.profiles = append(tt.profiles, scaleProfile{shards: shards, window: window, prof: prof})
		}
	}
	kib := func(v int64) string { return fixed(float64(v)/float64(shards)/(1<<10), 0) + " KiB" }
	tt.keepUp.AddRow(shards, num(perSec(n, window)), num(float64(n)), secs(lr.ready), ms(s.lag.Quantile(0.5)), ms(s.lag.Quantile(0.99)), ms(s.lag.Max()),
		ms(drain), keeps, fixed(mean, 2), fixed(lo, 2), fixed(hi, 2), num(float64(counters(pr)["read_throttled"])), fixed(cpu.Seconds()/window.Seconds(), 2))
	tt.mem.AddRow(shards, mib(before.rss), mib(live.rss), mib(dataRSS), mib(readRSS), kib(readRSS), kib(readHeap),
		fixed(float64(live.goroutines-before.goroutines)/float64(shards), 1), mib(peak), kib(peakAbove))
	for i, h := range s.windows {
		if h.Count() == 0 {
			continue
		}
		lo := time.Duration(i) * b.c.scaleWindow
		label := fmt.Sprintf("%v–%v", lo, lo+b.c.scaleWindow)
		if i == len(s.windows)-1 {
			label = fmt.Sprintf("%v– (drain)", lo)
		}
		tt.windows.AddRow(shards, label, num(float64(h.Count())), ms(h.Quantile(0.5)), ms(h.Quantile(0.99)), ms(h.Max()))
	}
	b.rep.target(fmt.Sprintf("scale.keeps.%d", shards), map[bool]float64{true: 1, false: 0}[keeps == "yes"])
	b.rep.target(fmt.Sprintf("scale.mem.%d", shards), float64(readRSS)/float64(shards))
	b.rep.target(fmt.Sprintf("scale.calls.max.%d", shards), hi)
	b.detail("scale %d shards: PutRecords calls p50 %v p99 %v; %d entries retried", shards, prod.p.calls.Quantile(0.5), prod.p.calls.Quantile(0.99), prod.p.retried.Load())
	b.progress("scale %d shards: lag p50 %v p99 %v max %v; last record %v after the producer stopped; %.2f calls/s/shard (max %.2f); Read RSS %s (%.0f KiB/shard)",
		shards, s.lag.Quantile(0.5).Round(time.Millisecond), s.lag.Quantile(0.99).Round(time.Millisecond), s.lag.Max().Round(time.Millisecond),
		drain.Round(time.Millisecond), mean, hi, mib(readRSS), float64(readRSS)/float64(shards)/1024)
	return nil
}
