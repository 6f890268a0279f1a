package main

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"runtime/pprof"
	"strings"
	"time"

	"github.com/kinesisio/beam-kinesis/kinesisio"
	"github.com/kinesisio/beam-kinesis/testing/bench"
)

// part is a share of a CPU profile, recognized by label or stack.
type part struct {
	name  string
	match func(bench.Sample) bool
}

func labelIs(key, value string) func(bench.Sample) bool {
	return func(s bench.Sample) bool { return s.Labels[key] == value }
}

func hasAny(substrs ...string) func(bench.Sample) bool {
	return func(s bench.Sample) bool {
		for _, sub := range substrs {
			if s.Has(sub) {
				return true
			}
		}
		return false
	}
}

const gcPart = "GC background workers"

// prismSpinNote explains the Prism part of the profiles.
const prismSpinNote = "Prism's part is almost all stage.Execute's progress loop (runtime.selectgo, lock2/unlock2, procyield under it): in Prism v2.77 it selects on the bundle's data channel, which is closed from the start when the stage has no outputs (here the Read's stage ends in the counting DoFn) and otherwise from the end of the data to the bundle's response, so it busy-waits for that time. --unfused-sink gives the stage an output; setting dataReady = nil once it fired (stage.go:217) removes the spin."

// parts split a profile of this process; the first that matches wins.
var parts = []part{
	{"in-process Kinesis server (label side=server)", labelIs("side", "server")},
	{"bare loop: SDK call + decode + counting (label side=bare)", labelIs("side", "bare")},
	{"producer (label side=producer)", labelIs("side", "producer")},
	{gcPart, hasAny("runtime.gcBgMarkWorker")},
	// The SDK's middleware makes stacks deeper than the profiler keeps
	// (64 frames, the outermost dropped), so the fetcher's goroutine root
	// is often cut off: SDK and net/http client frames outside the bare
	// loop are the fetcher's too (discovery's few ListShards aside).
	{"connector fetcher goroutines: GetRecords call + SDK decode", hasAny("kinesisio/internal/fetcher.(*Fetcher).run",
		"github.com/aws/aws-sdk-go-v2", "github.com/aws/smithy-go", "net/http.(*persistConn)", "net/http.(*Transport)")},
	{"benchmark's counting DoFn (after Read)", hasAny("main.(*sinkFn).ProcessElement")},
	{"readFn.ProcessElement: claim, emit, watermark", hasAny("kinesisio.(*readFn).ProcessElement")},
	{"other connector code (discovery, restriction, coders)", hasAny("beam-kinesis/kinesisio")},
	{"Beam SDK harness (bundles, data channel, coders)", hasAny("beam/core/runtime/harness", "beam/core/runtime/exec")},
	{"Prism runner", hasAny("beam/runners/prism")},
	{"gRPC and HTTP/2 (runner <-> worker)", hasAny("google.golang.org/grpc", "golang.org/x/net/http2")},
	{"other (Go runtime, scheduler, syscalls)", func(bench.Sample) bool { return true }},
}

// isOurs reports whether a function is the connector's, Beam's, Prism's
// or this command's.
func isOurs(name string) bool {
	return strings.Contains(name, "beam-kinesis/kinesisio") || strings.Contains(name, "beam/core/runtime/exec.") ||
		strings.Contains(name, "beam/core/runtime/harness.") || strings.Contains(name, "beam/runners/prism/") || strings.HasPrefix(name, "main.")
}

func partOf(s bench.Sample) int {
	for i, p := range parts {
		if p.match(s) {
			return i
		}
	}
	return len(parts) - 1
}

// profiled runs f under the CPU profiler and returns the profile (nil if
// the profiler was busy, e.g. under go test -cpuprofile).
func profiled(f func() (readResult, error)) ([]byte, readResult, error) {
	var buf bytes.Buffer
	if err := pprof.StartCPUProfile(&buf); err != nil {
		r, err := f()
		return nil, r, err
	}
	r, err := f()
	pprof.StopCPUProfile()
	return buf.Bytes(), r, err
}

func (b *benchRun) figCPU(ctx context.Context) error {
	srv, err := newServer(false)
	if err != nil {
		return err
	}
	defer srv.Close()
	client := newClient(srv.Endpoint())
	size, shards, n := b.c.cpuSize, b.c.cpuShards, int64(b.c.cpuRecords)
	stream := b.streamName("cpu")
	infos, err := createStream(ctx, client, stream, shards)
	if err != nil {
		return err
	}
	defer deleteStream(client, stream)
	p := &putter{c: client, stream: stream, shards: infos, size: size}
	if err := p.fill(ctx, n, 4); err != nil {
		return fmt.Errorf("fill: %w", err)
	}
	limit := readLimit(n, size, shards)
	bareProf, bare, err := profiled(func() (readResult, error) { return b.bareRun(ctx, client, stream, infos, n, false, limit) })
	if err != nil {
		return fmt.Errorf("bare loop: %w", err)
	}
	readProf, rd, err := profiled(func() (readResult, error) {
		return b.readRun(ctx, srv, stream, n, limit, false, kinesisio.WithStopAtLatest(), kinesisio.WithQuotaPacing(0))
	})
	if err != nil {
		return err
	}
	if b.c.cpuProfile != "" && readProf != nil {
		if err := os.WriteFile(b.c.cpuProfile, readProf, 0o644); err != nil {
			return err
		}
		if err := os.WriteFile(b.c.cpuProfile+".bare", bareProf, 0o644); err != nil {
			return err
		}
		b.progress("cpu: wrote %s and %s.bare (go tool pprof -top %s)", b.c.cpuProfile, b.c.cpuProfile, b.c.cpuProfile)
	}
	perRec := func(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e3 / float64(n) }

	summary := &bench.Table{
		Title: fmt.Sprintf("2a. CPU per record: %s records of %s on %d shards, bare GetRecords loop vs kinesisio.Read on Prism", num(float64(n)), sizeLabel(size), shards),
		Columns: []string{"run", "wall", "process CPU", "µs/rec (getrusage)", "µs/rec (profile)", "server µs/rec",
			"GC workers µs/rec", "client µs/rec", "profile samples"},
	}
	if bareProf == nil || readProf == nil {
		summary.AddRow("bare loop", secs(bare.wall), secs(bare.cpu), fixed(perRec(bare.cpu), 2), "-", "-", "-", "-", "-")
		summary.AddRow("kinesisio.Read", secs(rd.wall), secs(rd.cpu), fixed(perRec(rd.cpu), 2), "-", "-", "-", "-", "-")
		summary.Note("The CPU profiler was busy (another profile running), so only getrusage figures are given.")
		b.emit(summary)
		return nil
	}
	bp, err := bench.ParseProfile(bareProf)
	if err != nil {
		return err
	}
	rp, err := bench.ParseProfile(readProf)
	if err != nil {
		return err
	}
	cpuIdx := rp.ValueIndex("cpu")
	if cpuIdx < 0 || bp.ValueIndex("cpu") != cpuIdx {
		return fmt.Errorf("profile without cpu values: %v", rp.SampleTypes)
	}
	type split struct{ total, server, gc, client time.Duration }
	splitOf := func(p *bench.Profile) split {
		var s split
		s.total = time.Duration(p.Total(cpuIdx, nil))
		s.server = time.Duration(p.Total(cpuIdx, parts[0].match))
		s.gc = time.Duration(p.Total(cpuIdx, func(x bench.Sample) bool { return parts[partOf(x)].name == gcPart }))
		s.client = s.total - s.server - s.gc
		return s
	}
	bs, rs := splitOf(bp), splitOf(rp)
	row := func(name string, r readResult, s split, samples int) {
		summary.AddRow(name, secs(r.wall), secs(r.cpu), fixed(perRec(r.cpu), 2), fixed(perRec(s.total), 2), fixed(perRec(s.server), 2),
			fixed(perRec(s.gc), 2), fixed(perRec(s.client), 2), num(float64(samples)))
	}
	row("bare loop", bare, bs, len(bp.Samples))
	row("kinesisio.Read", rd, rs, len(rp.Samples))
	summary.AddRow("Read − bare", secs(rd.wall-bare.wall), secs(rd.cpu-bare.cpu), fixed(perRec(rd.cpu)-perRec(bare.cpu), 2),
		fixed(perRec(rs.total)-perRec(bs.total), 2), fixed(perRec(rs.server)-perRec(bs.server), 2), fixed(perRec(rs.gc)-perRec(bs.gc), 2),
		fixed(perRec(rs.client)-perRec(bs.client), 2), "")
	summary.Note("Profile time is split by goroutine label: the server's goroutines carry side=server, the bare loop's side=bare; GC background workers are counted apart (they serve both sides); the rest is the client: for Read, the connector, Beam's harness and Prism. 'client µs/rec' of Read minus that of the bare loop is what Read costs beyond the SDK's own GetRecords call and decode.")
	summary.Note("The Read run is bounded with WithStopAtLatest() and unpaced (WithQuotaPacing(0), like the bare loop: a run paced to the quota lasts longer, and Prism's busy loop costs CPU per second, not per record); its process CPU includes Prism's job start and end (a fixed cost, large per record only for short runs).")
	b.emit(summary)
	b.rep.target("cpu.client.delta", perRec(rs.client)-perRec(bs.client))

	byPart := &bench.Table{
		Title:   "2b. Where the CPU goes, by part (profile, µs per record)",
		Columns: []string{"part", "bare loop", "kinesisio.Read", "Read share of its process CPU"},
	}
	bparts := make([]int64, len(parts))
	rparts := make([]int64, len(parts))
	for _, s := range bp.Samples {
		bparts[partOf(s)] += s.Values[cpuIdx]
	}
	for _, s := range rp.Samples {
		rparts[partOf(s)] += s.Values[cpuIdx]
	}
	for i, p := range parts {
		if bparts[i] == 0 && rparts[i] == 0 {
			continue
		}
		byPart.AddRow(p.name, fixed(perRec(time.Duration(bparts[i])), 2), fixed(perRec(time.Duration(rparts[i])), 2),
			fixed(100*float64(rparts[i])/float64(rs.total), 1)+" %")
	}
	byPart.Note(prismSpinNote)
	b.emit(byPart)

	notServer := func(s bench.Sample) bool { return s.Labels["side"] != "server" }
	clientTotal := float64(rs.total - rs.server)
	top := &bench.Table{
		Title:   fmt.Sprintf("2c. Top %d functions of the Read run by own (flat) CPU, server excluded", b.c.topN),
		Columns: []string{"function", "flat µs/rec", "flat %", "cum %"},
	}
	for _, f := range rp.Top(cpuIdx, notServer, b.c.topN, false) {
		top.AddRow(shortFunc(f.Name), fixed(perRec(time.Duration(f.Flat)), 3), fixed(100*float64(f.Flat)/clientTotal, 1), fixed(100*float64(f.Cum)/clientTotal, 1))
	}
	top.Note("Percentages are of the Read run's CPU outside the server (%s µs/rec).", fixed(perRec(time.Duration(clientTotal)), 2))
	b.emit(top)

	conn := &bench.Table{
		Title:   "2d. Connector and Beam functions of the Read run by cumulative CPU (server excluded)",
		Columns: []string{"function", "cum µs/rec", "cum %"},
	}
	shown := 0
	for _, f := range rp.Top(cpuIdx, notServer, 0, true) {
		if !isOurs(f.Name) {
			continue
		}
		conn.AddRow(shortFunc(f.Name), fixed(perRec(time.Duration(f.Cum)), 3), fixed(100*float64(f.Cum)/clientTotal, 1))
		if shown++; shown == b.c.topN {
			break
		}
	}
	b.emit(conn)

	bareTop := &bench.Table{
		Title:   "2e. For comparison: top functions of the bare loop by flat CPU, server excluded",
		Columns: []string{"function", "flat µs/rec", "flat %"},
	}
	bareClient := float64(bs.total - bs.server)
	for _, f := range bp.Top(cpuIdx, notServer, min(b.c.topN, 12), false) {
		bareTop.AddRow(shortFunc(f.Name), fixed(perRec(time.Duration(f.Flat)), 3), fixed(100*float64(f.Flat)/bareClient, 1))
	}
	b.emit(bareTop)
	return nil
}
