package main

import (
	"context"
	"errors"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/kinesisio/beam-kinesis/kinesisio"
	"github.com/kinesisio/beam-kinesis/testing/bench"
	"github.com/kinesisio/beam-kinesis/testing/fakekinesis"
)

func (b *benchRun) figCPU(ctx context.Context, srv *fakekinesis.Server, client *kinesis.Client) error {
	size, shards, n := b.c.cpuSize, b.c.cpuShards, int64(b.c.cpuRecords)
	stream, infos, err := b.filledStream(ctx, client, "cpu", shards, size, n, 4)
	if err != nil {
		return err
	}
	defer deleteStream(client, stream)
	limit := readLimit(n, size, shards)
	var bare, rd readResult
	bareProf := captureCPU(func() { bare, err = b.bareRun(ctx, client, stream, infos, n, false, limit) })
	if err != nil {
		return fmt.Errorf("bare loop: %w", err)
	}
	readProf := captureCPU(func() {
		rd, err = b.readRun(ctx, srv, stream, n, limit, false, kinesisio.WithStopAtLatest(), kinesisio.WithQuotaPacing(0))
	})
	if err != nil {
		return err
	}
	if err := errors.Join(b.saveProfile("", readProf), b.saveProfile(".bare", bareProf)); err != nil {
		return err
	}
	perRec := func(d int64) float64 { return float64(d) / 1e3 / float64(n) }
	us := func(d int64) string { return fixed(perRec(d), 2) }

	summary := &bench.Table{
		Title: fmt.Sprintf("2a. CPU per record: %s records of %s on %d shards, bare GetRecords loop vs kinesisio.Read on Prism", num(float64(n)), sizeLabel(size), shards),
		Columns: []string{"run", "wall", "process CPU", "µs/rec (getrusage)", "µs/rec (profile)", "server µs/rec",
			"GC workers µs/rec", "client µs/rec", "profile samples"},
	}
	if bareProf == nil || readProf == nil {
		summary.AddRow("bare loop", secs(bare.wall), secs(bare.cpu), us(int64(bare.cpu)), "-", "-", "-", "-", "-")
		summary.AddRow("kinesisio.Read", secs(rd.wall), secs(rd.cpu), us(int64(rd.cpu)), "-", "-", "-", "-", "-")
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
	// split is a profile's CPU: in all, the server's, the GC workers' and
	// the rest (the client's).
	type split struct{ total, server, gc, client int64 }
	splitOf := func(p *bench.Profile) split {
		s := split{total: p.Total(cpuIdx, nil), server: p.Total(cpuIdx, parts[0].match)}
		s.gc = p.Total(cpuIdx, func(x bench.Sample) bool { return parts[partOf(x)].name == gcPart })
		s.client = s.total - s.server - s.gc
		return s
	}
	bs, rs := splitOf(bp), splitOf(rp)
	row := func(name string, r readResult, s split, samples int) {
		summary.AddRow(name, secs(r.wall), secs(r.cpu), us(int64(r.cpu)), us(s.total), us(s.server), us(s.gc), us(s.client), num(float64(samples)))
	}
	row("bare loop", bare, bs, len(bp.Samples))
	row("kinesisio.Read", rd, rs, len(rp.Samples))
	diff := func(a, b int64) string { return fixed(perRec(a)-perRec(b), 2) }
	summary.AddRow("Read − bare", secs(rd.wall-bare.wall), secs(rd.cpu-bare.cpu), diff(int64(rd.cpu), int64(bare.cpu)),
		diff(rs.total, bs.total), diff(rs.server, bs.server), diff(rs.gc, bs.gc), diff(rs.client, bs.client), "")
	summary.Note("Profile time is split by goroutine label: the server's goroutines carry side=server, the bare loop's side=bare; GC background workers are counted apart (they serve both sides); the rest is the client: for Read, the connector, Beam's harness and Prism. 'client µs/rec' of Read minus that of the bare loop is what Read costs beyond the SDK's own GetRecords call and decode.")
	summary.Note("The Read run is bounded with WithStopAtLatest() and unpaced (WithQuotaPacing(0), like the bare loop: a run paced to the quota lasts longer, and Prism's busy loop costs CPU per second, not per record); its process CPU includes Prism's job start and end (a fixed cost, large per record only for short runs).")
	b.emit(summary)

	byPart := &bench.Table{
		Title:   "2b. Where the CPU goes, by part (profile, µs per record)",
		Columns: []string{"part", "bare loop", "kinesisio.Read", "Read share of its process CPU"},
	}
	bparts, rparts := partSums(bp), partSums(rp)
	for i, p := range parts {
		if bparts[i] != 0 || rparts[i] != 0 {
			byPart.AddRow(p.name, us(bparts[i]), us(rparts[i]), fixed(100*float64(rparts[i])/float64(rs.total), 1)+" %")
		}
	}
	byPart.Note(prismSpinNote)
	b.emit(byPart)

	perRec3 := func(v int64) string { return fixed(perRec(v), 3) }
	rv := profView{prof: rp, keep: notServer, total: float64(rs.total - rs.server), unit: "µs/rec", val: perRec3}
	top := rv.flatTable(fmt.Sprintf("2c. Top %d functions of the Read run by own (flat) CPU, server excluded", b.c.topN), b.c.topN, true)
	top.Note("Percentages are of the Read run's CPU outside the server (%s µs/rec).", us(rs.total-rs.server))
	b.emit(top)
	b.emit(rv.oursTable("2d. Connector and Beam functions of the Read run by cumulative CPU (server excluded)", b.c.topN))
	bv := profView{prof: bp, keep: notServer, total: float64(bs.total - bs.server), unit: "µs/rec", val: perRec3}
	b.emit(bv.flatTable("2e. For comparison: top functions of the bare loop by flat CPU, server excluded", min(b.c.topN, 12), false))
	return nil
}
