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
	// fanOut compares fan-out with polling (--fanout), nil without.
	fanOut *bench.Table
	// idle is the idle window's table (--scale-idle), nil without.
	idle *bench.Table
	// profiles of the producer's run, by shard count and mode
	profiles []scaleProfile
}

// scaleProfile is the CPU profile of one scale case's producer window.
type scaleProfile struct {
	shards int
	mode   readMode
	window time.Duration
	prof   *bench.Profile
}

// label names the case of p in table columns.
func (p scaleProfile) label() string { return scaleLabel(p.shards, p.mode) + " shards" }

// scaleLabel is the shard count of a case, with the mode when it is
// fan-out.
func scaleLabel(shards int, m readMode) string {
	if m == fanOut {
		return fmt.Sprintf("%d, fan-out", shards)
	}
	return fmt.Sprint(shards)
}

// scaleResult is what one scale case measured.
type scaleResult struct {
	n      int64
	window time.Duration // the producer's run
	cpu    time.Duration // process CPU over the window (getrusage)
	// parts is the profile's CPU over the window by part (partSums), nil
	// without a profile.
	parts   []int64
	s       *sink
	readRSS int64
}

// partNamed is the index in parts of the part called name.
func partNamed(name string) int {
	for i, p := range parts {
		if p.name == name {
			return i
		}
	}
	panic("no part " + name)
}

// readSide is the CPU of the parts that a worker reading a real stream
// would spend too: all but the in-process server and the producer.
func readSide(sums []int64) int64 {
	var t int64
	for i, v := range sums {
		if i != 0 && parts[i].name != producerPart {
			t += v
		}
	}
	return t
}

// figScale starts a server per case (with quotas): srv and client are nil.
func (b *benchRun) figScale(ctx context.Context, _ *fakekinesis.Server, _ *kinesis.Client) error {
	tt := scaleTables{
		keepUp: &bench.Table{
			Title: fmt.Sprintf("5a. Scale on one worker, quotas on (5 GetRecords/s and 2 MiB/s per shard): producer at %d records/s per shard for %v",
				b.c.scaleRate, b.c.scaleDuration),
			Columns: []string{"shards", "produced rec/s", "records", "every shard's read started after", "lag p50", "lag p99", "lag max",
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
	if b.c.scaleIdle > 0 {
		tt.idle = &bench.Table{
			Title:   fmt.Sprintf("5j. Idle stream on one worker: every shard's read running, no producer, measured for %v after 5 s of settling", b.c.scaleIdle),
			Columns: []string{"shards", "GetRecords calls/s/shard mean", "min", "max", "process CPU cores", "read side cores", "of which Prism", "read side without Prism", "server cores"},
		}
	}
	if b.c.fanOut {
		tt.fanOut = &bench.Table{
			Title: fmt.Sprintf("5g. CPU per record on one worker, enhanced fan-out vs polling: producer at %d records/s per shard for %v (CPU profile over the producer's run)",
				b.c.scaleRate, b.c.scaleDuration),
			Columns: []string{"shards", "records", "read side µs/rec polling", "fan-out", "fan-out / polling",
				"of which Prism polling / fan-out", "read side without Prism polling / fan-out", "fan-out / polling without Prism",
				"server µs/rec polling / fan-out", "process µs/rec polling / fan-out", "process fan-out / polling",
				"lag p50 polling / fan-out", "lag p99 polling / fan-out", "Read RSS per shard polling / fan-out"},
		}
	}
	for _, shards := range b.c.scaleShards {
		pol, err := b.scaleCase(ctx, shards, polling, &tt)
		if err != nil {
			b.rep.fail("scale %d shards: %v", shards, err)
		}
		if tt.fanOut == nil {
			continue
		}
		efo, err := b.scaleCase(ctx, shards, fanOut, &tt)
		if err != nil {
			b.rep.fail("scale %d shards with fan-out: %v", shards, err)
			continue
		}
		if pol != nil {
			b.scaleFanOutRow(tt.fanOut, shards, pol, efo)
		}
	}
	if tt.fanOut != nil {
		tt.keepUp.Note("Rows 'N, fan-out' read with WithEnhancedFanOut(ConsumerName(...)), a consumer of their own, on a new server right after the polling row of the same shard count; their reads have started once every shard had its SubscribeToShard call, and they make no GetRecords calls (the server does not throttle SubscribeToShard).")
	}
	tt.keepUp.Note("Read starts first (TRIM_HORIZON on the empty stream, bounded with WithMaxRecords); the producer starts once every shard has been polled. Lag is measured at a DoFn fused after Read, against the record's ApproximateArrivalTimestamp. 'keeps up' = the last record was read within 2 s of the producer's stop and no lag exceeded 5 s. Calls per shard per second are counted by the server over the producer's run (throttled calls included); the quota is 5.")
	tt.mem.Note("RSS before the job: server and empty stream, no job. RSS while reading: 1 s before the producer stops, pipeline live. Stream data: RSS after the job minus RSS after deleting the stream (the server keeps every record), scaled to the records put at the live measurement. Read's RSS = while reading − before − data; it includes Prism's and the Beam harness's share for the job. The peak column uses the highest RSS sampled every 200 ms without a forced GC (the heap grows to GOGC before a collection), so it is an upper bound.")
	b.emit(tt.keepUp)
	b.emit(tt.mem)
	b.emit(tt.windows)
	if tt.idle != nil {
		tt.idle.Note("Process CPU is getrusage over the window (server included); the other columns come from a CPU profile of the window, split as in 5d (read side = all but the in-process server and the producer).")
		b.emit(tt.idle)
	}
	b.scaleProfileTables(tt.profiles)
	if tt.fanOut != nil {
		tt.fanOut.Note("Per record = CPU over the producer's run / records produced in it. Read side = the profile without the in-process server's and the producer's goroutines (labels side=server, side=producer): the connector, Beam's harness, Prism, the counting DoFn and the Go runtime, GC included, as in 5e. Prism's part is its busy-wait during the bundles of the Read's stage (see 5d); without it is what a runner without that loop would leave. Server = the in-process server's goroutines: GetRecords responses when polling, SubscribeToShard events when fanning out (one event per shard for every PutRecords call that put records on it). Process = getrusage over the same run, server and producer included.")
		tt.fanOut.Note("Each pair runs one after the other, polling first, each on a new server with quotas on, with the same producer; the other engineer's tests may have shared the 2 cores, so a ratio is worth more than either value.")
		b.emit(tt.fanOut)
	}
	return nil
}

// scaleFanOutRow adds the comparison of the fan-out case efo with the
// polling case pol of shards shards to t.
func (b *benchRun) scaleFanOutRow(t *bench.Table, shards int, pol, efo *scaleResult) {
	us := func(r *scaleResult, ns int64) float64 { return float64(ns) / 1e3 / float64(r.n) }
	pair := func(a, b float64) string { return fixed(a, 2) + " / " + fixed(b, 2) }
	readPol, readEFO, prismPol, serverPol := "-", "-", "-", "-"
	readRatio, noPrism, noPrismRatio := "-", "-", "-"
	if pol.parts != nil && efo.parts != nil {
		prism := partNamed("Prism runner")
		rp, re := us(pol, readSide(pol.parts)), us(efo, readSide(efo.parts))
		pp, pe := us(pol, pol.parts[prism]), us(efo, efo.parts[prism])
		readPol, readEFO, readRatio = fixed(rp, 2), fixed(re, 2), ratio(re, rp)
		prismPol = pair(pp, pe)
		noPrism, noPrismRatio = pair(rp-pp, re-pe), ratio(re-pe, rp-pp)
		serverPol = pair(us(pol, pol.parts[0]), us(efo, efo.parts[0]))
		b.rep.target(fmt.Sprintf("scale.efo.cpu.%d", shards), re/rp)
	}
	cpuPol, cpuEFO := us(pol, int64(pol.cpu)), us(efo, int64(efo.cpu))
	kib := func(r *scaleResult) string { return fixed(float64(r.readRSS)/float64(shards)/(1<<10), 0) }
	t.AddRow(shards, num(float64(efo.n)), readPol, readEFO, readRatio, prismPol, noPrism, noPrismRatio, serverPol,
		pair(cpuPol, cpuEFO), ratio(cpuEFO, cpuPol),
		ms(pol.s.lag.Quantile(0.5))+" / "+ms(efo.s.lag.Quantile(0.5)), ms(pol.s.lag.Quantile(0.99))+" / "+ms(efo.s.lag.Quantile(0.99)),
		kib(pol)+" / "+kib(efo)+" KiB")
}

// scaleProfileTables prints where the CPU went while the producer ran.
func (b *benchRun) scaleProfileTables(profs []scaleProfile) {
	if len(profs) == 0 {
		return
	}
	byPart := &bench.Table{Title: "5d. CPU while the producer ran, by part (profile, in cores; 2 cores = the whole machine)", Columns: []string{"part"}}
	sums := make([][]int64, len(profs))
	for i, sp := range profs {
		byPart.Columns = append(byPart.Columns, sp.label())
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

	// The function tables are of the last case of each mode.
	for _, m := range []readMode{polling, fanOut} {
		var last *scaleProfile
		for i := range profs {
			if profs[i].mode == m {
				last = &profs[i]
			}
		}
		if last == nil {
			continue
		}
		top, ours, with := "5e", "5f", ""
		if m == fanOut {
			top, ours, with = "5h", "5i", " with fan-out"
		}
		keep := func(s bench.Sample) bool { side := s.Labels["side"]; return side != "server" && side != "producer" }
		v := profView{prof: last.prof, keep: keep, total: float64(last.prof.Total(last.prof.ValueIndex("cpu"), keep)), unit: "cores",
			val: func(x int64) string { return fixed(float64(x)/float64(last.window), 3) }}
		tt := v.flatTable(fmt.Sprintf("%s. Top %d functions of the read side at %d shards%s by flat CPU (server and producer excluded)", top, b.c.topN, last.shards, with), b.c.topN, true)
		tt.Note("Read side = everything but the server's and the producer's goroutines: the connector, Beam's harness, Prism, the counting DoFn and the Go runtime (GC included): %s cores in all.", fixed(v.total/float64(last.window), 2))
		b.emit(tt)
		b.emit(v.oursTable(fmt.Sprintf("%s. Connector, Beam and Prism functions of the read side at %d shards%s by cumulative CPU", ours, last.shards, with), b.c.topN))
	}
}

// scaleCase measures shards shards read in mode m on a new server with
// quotas on, adds its rows to tt and returns what it measured.
func (b *benchRun) scaleCase(ctx context.Context, shards int, m readMode, tt *scaleTables) (*scaleResult, error) {
	srv, client, err := newServerClient(true)
	if err != nil {
		return nil, err
	}
	defer srv.Close()
	stream, infos, err := b.newStream(ctx, client, "scale", shards)
	if err != nil {
		return nil, err
	}
	d := b.c.scaleDuration
	rate := float64(b.c.scaleRate * shards)
	n := int64(rate * d.Seconds())
	nWindows := int((d+b.c.scaleWindow-1)/b.c.scaleWindow) + 1
	lr := &liveRead{srv: srv, client: client, stream: stream, infos: infos, s: newSink(n).withWindows(b.c.scaleWindow, nWindows), n: n, mode: m}
	s := lr.s
	defer trackSink(stream+"/live", s)()

	before := measureMem()
	sampler := bench.StartRSSSampler(200 * time.Millisecond)
	defer sampler.Stop()
	if err := b.startLive(ctx, lr, d+3*time.Minute, 2*time.Minute); err != nil {
		return nil, err
	}
	label := scaleLabel(shards, m) + " shards"
	if tt.idle != nil {
		if err := b.scaleIdle(ctx, srv, infos, scaleLabel(shards, m), tt.idle); err != nil {
			return nil, err
		}
	}
	b.progress("scale %s: every shard's read started %v after the job started; producing %s records/s for %v", label, lr.ready.Round(time.Millisecond), num(rate), d)
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
	pr, err := b.finishLive(ctx, lr, prod, perr, tt.keepUp, label)
	sampler.Stop()
	if err != nil {
		return nil, err
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
	res := &scaleResult{n: n, window: window, cpu: cpu, s: s, readRSS: readRSS}
	if profData != nil {
		suffix := fmt.Sprintf(".scale-%d", shards)
		if m == fanOut {
			suffix += "-fanout"
		}
		if err := b.saveProfile(suffix, profData); err != nil {
			return nil, err
		}
		if prof, err := bench.ParseProfile(profData); err == nil {
			tt.profiles = append(tt.profiles, scaleProfile{shards: shards, mode: m, window: window, prof: prof})
			res.parts = partSums(prof)
		}
	}
	kib := func(v int64) string { return fixed(float64(v)/float64(shards)/(1<<10), 0) + " KiB" }
	callMean, callLo, callHi := fixed(mean, 2), fixed(lo, 2), fixed(hi, 2)
	if m == fanOut {
		callMean, callLo, callHi = "-", "-", "-"
	}
	tt.keepUp.AddRow(scaleLabel(shards, m), num(perSec(n, window)), num(float64(n)), secs(lr.ready), ms(s.lag.Quantile(0.5)), ms(s.lag.Quantile(0.99)), ms(s.lag.Max()),
		ms(drain), keeps, callMean, callLo, callHi, num(float64(counters(pr)["read_throttled"])), fixed(cpu.Seconds()/window.Seconds(), 2))
	tt.mem.AddRow(scaleLabel(shards, m), mib(before.rss), mib(live.rss), mib(dataRSS), mib(readRSS), kib(readRSS), kib(readHeap),
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
		tt.windows.AddRow(scaleLabel(shards, m), label, num(float64(h.Count())), ms(h.Quantile(0.5)), ms(h.Quantile(0.99)), ms(h.Max()))
	}
	if m == polling {
		b.rep.target(fmt.Sprintf("scale.keeps.%d", shards), map[bool]float64{true: 1, false: 0}[keeps == "yes"])
		b.rep.target(fmt.Sprintf("scale.mem.%d", shards), float64(readRSS)/float64(shards))
		b.rep.target(fmt.Sprintf("scale.calls.max.%d", shards), hi)
	}
	b.detail("scale %s: PutRecords calls p50 %v p99 %v; %d entries retried", label, prod.p.calls.Quantile(0.5), prod.p.calls.Quantile(0.99), prod.p.retried.Load())
	b.progress("scale %s: lag p50 %v p99 %v max %v; last record %v after the producer stopped; %.2f GetRecords calls/s/shard (max %.2f); Read RSS %s (%.0f KiB/shard); CPU %.2f cores",
		label, s.lag.Quantile(0.5).Round(time.Millisecond), s.lag.Quantile(0.99).Round(time.Millisecond), s.lag.Max().Round(time.Millisecond),
		drain.Round(time.Millisecond), mean, hi, mib(readRSS), float64(readRSS)/float64(shards)/1024, cpu.Seconds()/window.Seconds())
	return res, nil
}

// scaleIdle measures the read of the idle stream of infos (every shard's
// read running, nothing produced) for --scale-idle after 5 s of settling,
// and adds a row labelled label to t.
func (b *benchRun) scaleIdle(ctx context.Context, srv *fakekinesis.Server, infos []shardInfo, label string, t *bench.Table) error {
	if err := sleep(ctx, 5*time.Second); err != nil {
		return err
	}
	calls0, cpu0, start := callsByShard(srv, infos), bench.CPUTime(), time.Now()
	data := captureCPU(func() { _ = sleep(ctx, b.c.scaleIdle) })
	window, cpu, calls1 := time.Since(start), bench.CPUTime()-cpu0, callsByShard(srv, infos)
	if err := b.saveProfile(fmt.Sprintf(".scale-%d-idle", len(infos)), data); err != nil {
		return err
	}
	mean, lo, hi := callRates(calls0, calls1, window)
	cores := func(ns int64) string { return fixed(float64(ns)/float64(window), 3) }
	read, prism, rest, server := "-", "-", "-", "-"
	if prof, err := bench.ParseProfile(data); err == nil {
		sums := partSums(prof)
		p := sums[partNamed("Prism runner")]
		read, prism, rest, server = cores(readSide(sums)), cores(p), cores(readSide(sums)-p), cores(sums[0])
	}
	t.AddRow(label, fixed(mean, 2), fixed(lo, 2), fixed(hi, 2), fixed(cpu.Seconds()/window.Seconds(), 3), read, prism, rest, server)
	b.progress("scale %s idle: %.2f GetRecords calls/s/shard (max %.2f), process CPU %.3f cores, read side %s (Prism %s, the rest %s), server %s",
		label, mean, hi, cpu.Seconds()/window.Seconds(), read, prism, rest, server)
	return nil
}
