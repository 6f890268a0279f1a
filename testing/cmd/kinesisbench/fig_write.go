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

// writeBatch is the PutRecords batch size of the bare loop (Write's own).
const writeBatch = 500

// writeResult is one measured write.
type writeResult struct {
	wall, cpu   time.Duration
	first, last time.Time // first and last record reported written (Write only)
	calls       int       // PutRecords calls the server saw
}

func (b *benchRun) figWrite(ctx context.Context, srv *fakekinesis.Server, client *kinesis.Client) error {
	n, size := b.c.writeRecords, b.c.writeSize
	batch := (&putter{size: size}).batchLen() // writeBatch but for records over about 10 KiB
	t := &bench.Table{
		Title: fmt.Sprintf("6. Write throughput: %s records of %s on %d shards, kinesisio.Write on Prism vs a bare PutRecords loop (batches of %d)",
			num(float64(n)), sizeLabel(size), b.c.writeShards, batch),
		Columns: []string{"writer", "requests in flight", "time", "rec/s", "MB/s", "ratio vs bare, 1 in flight", "ratio vs bare, same in flight",
			"rec/s, 1st→last written", "PutRecords calls", "process CPU µs/rec"},
	}
	type runSpec struct {
		name      string
		inFlight  int
		write     bool
		noWritten bool // WithoutWrittenRecords
	}
	specs := []runSpec{{"bare loop", 1, false, false}, {"bare loop", 4, false, false}, {"kinesisio.Write (default)", 4, true, false},
		{"kinesisio.Write WithMaxInFlight(1)", 1, true, false}, {"kinesisio.Write WithoutWrittenRecords()", 4, true, true}}
	bareWall := map[int]time.Duration{}
	var writeProf []byte
	for _, sp := range specs {
		stream, infos, err := b.newStream(ctx, client, "write", b.c.writeShards)
		if err != nil {
			return err
		}
		var r writeResult
		if sp.write && sp.inFlight == 4 && !sp.noWritten {
			// Profile the default Write: where its time goes.
			writeProf = captureCPU(func() { r, err = b.writeRun(ctx, srv, stream, sp.inFlight, false) })
		} else if sp.write {
			r, err = b.writeRun(ctx, srv, stream, sp.inFlight, sp.noWritten)
		} else {
			r, err = b.bareWriteRun(ctx, srv, client, stream, sp.inFlight)
		}
		if err == nil {
			err = b.checkWritten(ctx, client, stream, infos, int64(n))
		}
		deleteStream(client, stream)
		if err != nil {
			b.rep.fail("write, %s with %d in flight: %v", sp.name, sp.inFlight, err)
			continue
		}
		rate := perSec(int64(n), r.wall)
		steady := "-"
		if !sp.write {
			bareWall[sp.inFlight] = r.wall
		} else if !sp.noWritten {
			steady = num(perSec(int64(n), r.last.Sub(r.first)))
		}
		vs := func(k int) string {
			if w, ok := bareWall[k]; ok {
				return ratio(rate, perSec(int64(n), w))
			}
			return "-"
		}
		t.AddRow(sp.name, sp.inFlight, secs(r.wall), num(rate), fixed(rate*float64(size)/1e6, 1), vs(1), vs(sp.inFlight), steady,
			num(float64(r.calls)), fixed(float64(r.cpu.Microseconds())/float64(n), 2))
		for key, k := range map[string]int{"write.ratio1": 1, "write.ratio": sp.inFlight} {
			if w, ok := bareWall[k]; ok && sp.write && !sp.noWritten {
				b.rep.target(fmt.Sprintf("%s.%d", key, sp.inFlight), rate/perSec(int64(n), w))
			}
		}
		b.progress("write %s (%d in flight): %s rec/s in %v", sp.name, sp.inFlight, num(rate), r.wall.Round(time.Millisecond))
	}
	t.Note("Each run writes the same %s records (%d partition keys) to a fresh stream; afterwards the stream is read back and every record must be there. The bare loop sends PutRecords calls of %d from goroutines sharing one client (same HTTP settings as the connector's) and resends failed entries; Write runs on Prism (Impulse -> a DoFn making the records -> Write -> a counting DoFn), so its time includes the job's start and the records' generation. WithoutWrittenRecords() emits nothing per record written (its count comes from the write_records metric).",
		num(float64(n)), b.c.writeKeys, batch)
	b.emit(t)
	if writeProf == nil {
		return nil
	}
	if err := b.saveProfile(".write", writeProf); err != nil {
		return err
	}
	return b.writeProfileTables(writeProf, n)
}

// writeProfileTables prints the top functions of the default Write run.
func (b *benchRun) writeProfileTables(data []byte, n int) error {
	prof, err := bench.ParseProfile(data)
	if err != nil {
		return err
	}
	perRec := func(v int64) string { return fixed(float64(v)/1e3/float64(n), 3) }
	total := prof.Total(prof.ValueIndex("cpu"), notServer)
	v := profView{prof: prof, keep: notServer, total: float64(total), unit: "µs/rec", val: perRec}
	top := v.flatTable(fmt.Sprintf("6b. Top %d functions of the default Write run by flat CPU (server excluded)", b.c.topN), b.c.topN, true)
	top.Note("The run's CPU outside the in-process server: %s µs per record; the server's: %s µs per record. The Write's stage (Impulse, the generating DoFn, Write and the counting DoFns, one bundle) has no outputs unless --unfused-sink, so Prism busy-waits during the whole bundle (see 2b).",
		perRec(total), perRec(prof.Total(prof.ValueIndex("cpu"), nil)-total))
	b.emit(top)
	b.emit(v.oursTable("6c. Connector, Beam and Prism functions of the default Write run by cumulative CPU (server excluded)", b.c.topN))
	return nil
}

// bareWriteRun writes the records with a putter: PutRecords calls of
// batchLen from inFlight goroutines, refused entries resent.
func (b *benchRun) bareWriteRun(ctx context.Context, srv *fakekinesis.Server, client *kinesis.Client, stream string, inFlight int) (writeResult, error) {
	p := &putter{c: client, stream: stream, size: b.c.writeSize, keys: partitionKeys(b.c.writeKeys)}
	runtime.GC()
	calls0 := srv.Calls("PutRecords")
	cpu0, start := bench.CPUTime(), time.Now()
	err := p.fill(ctx, int64(b.c.writeRecords), inFlight)
	return writeResult{wall: time.Since(start), cpu: bench.CPUTime() - cpu0, calls: srv.Calls("PutRecords") - calls0}, err
}

// writeRun writes the records with kinesisio.Write on Prism.
func (b *benchRun) writeRun(ctx context.Context, srv *fakekinesis.Server, stream string, inFlight int, noWritten bool) (writeResult, error) {
	n := b.c.writeRecords
	key := stream + "/write"
	defer byKey.Delete(key)
	p, s := beam.NewPipelineWithRoot()
	recs := beam.ParDo(s, &genFn{N: n, Size: b.c.writeSize, Keys: b.c.writeKeys}, beam.Impulse(s))
	opts := []kinesisio.WriteOption{kinesisio.WithEndpoint(srv.Endpoint()), kinesisio.WithRegion(region),
		kinesisio.WithFailedRecords(), kinesisio.WithMaxInFlight(inFlight)}
	if noWritten {
		opts = append(opts, kinesisio.WithoutWrittenRecords())
	}
	res := kinesisio.Write(s, stream, recs, opts...)
	b.terminate(s, beam.ParDo(s, &writtenFn{Key: key}, res.Written))
	b.terminate(s, beam.ParDo(s, &failedFn{Key: key}, res.Failed))
	runtime.GC()
	calls0 := srv.Calls("PutRecords")
	cpu0 := bench.CPUTime()
	pr, wall, err := b.runPipeline(ctx, p, 5*time.Minute+time.Duration(n/1000)*time.Second)
	c := keyed[tally](key)
	r := writeResult{wall: wall, cpu: bench.CPUTime() - cpu0, calls: srv.Calls("PutRecords") - calls0,
		first: time.Unix(0, c.first.Load()), last: time.Unix(0, c.last.Load())}
	if err != nil {
		return r, fmt.Errorf("kinesisio.Write pipeline: %w", err)
	}
	got := c.written.Load()
	if noWritten {
		// Nothing is emitted per record: the metric counts them.
		got = counters(pr)["write_records"]
	}
	if failed := c.failed.Load(); got != int64(n) || failed != 0 {
		return r, fmt.Errorf("kinesisio.Write reported %d records written and %d failed, want %d written", got, failed, n)
	}
	return r, nil
}

// checkWritten reads the stream back: every record 0..n-1 must be there.
func (b *benchRun) checkWritten(ctx context.Context, client *kinesis.Client, stream string, infos []shardInfo, n int64) error {
	s, err := readBack(ctx, client, stream, infos, n)
	if err != nil {
		return fmt.Errorf("reading back: %w", err)
	}
	if s.bad.Load() > 0 || s.distinct.Load() != n {
		return fmt.Errorf("reading back: %d of %d records in the stream (%d without a valid header)", s.distinct.Load(), n, s.bad.Load())
	}
	if d := s.dups.Load(); d > 0 {
		b.progress("write: %d records were written twice (at-least-once)", d)
	}
	return nil
}
