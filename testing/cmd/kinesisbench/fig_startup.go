package main

import (
	"context"
	"fmt"
	"sync/atomic"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/kinesisio/beam-kinesis/kinesisio"
	"github.com/kinesisio/beam-kinesis/testing/bench"
	"github.com/kinesisio/beam-kinesis/testing/fakekinesis"
)

// pipelinesRun counts the pipelines this process ran (the first one pays
// for Prism's warm-up).
var pipelinesRun atomic.Int64

// trivialRun runs Impulse -> stampFn and returns the time from beam.Run to
// the element reaching the DoFn, and the job's time.
func (b *benchRun) trivialRun(ctx context.Context) (first, job time.Duration, err error) {
	key := fmt.Sprintf("trivial-%d", b.seq.Add(1))
	p, s := beam.NewPipelineWithRoot()
	beam.ParDo0(s, &stampFn{Key: key}, beam.Impulse(s))
	defer byKey.Delete(key)
	start := time.Now()
	_, job, err = b.runPipeline(ctx, p, 2*time.Minute)
	if err != nil {
		return 0, job, err
	}
	at := keyed[tally](key).first.Load()
	if at == 0 {
		return 0, job, fmt.Errorf("trivial pipeline: the element never reached the DoFn")
	}
	return time.Unix(0, at).Sub(start), job, nil
}

// watchMilestones notes when the server first sees each of ops, by
// polling its counters every millisecond, until finish is called.
func watchMilestones(srv *fakekinesis.Server, ops ...string) (finish func() []time.Time) {
	at := make([]time.Time, len(ops))
	base := make([]int, len(ops))
	for i, op := range ops {
		base[i] = srv.Calls(op)
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go func() {
		defer close(done)
		t := time.NewTicker(time.Millisecond)
		defer t.Stop()
		for pending := true; pending; {
			pending = false
			for i, op := range ops {
				if at[i].IsZero() && srv.Calls(op) > base[i] {
					at[i] = time.Now()
				}
				pending = pending || at[i].IsZero()
			}
			select {
			case <-stop:
				return
			case <-t.C:
			}
		}
	}()
	return func() []time.Time {
		close(stop)
		<-done
		return at
	}
}

func (b *benchRun) figStartup(ctx context.Context, srv *fakekinesis.Server, client *kinesis.Client) error {
	n := int64(b.c.startupRecords)
	stream, _, err := b.filledStream(ctx, client, "startup", b.c.startupShards, 100, n, 2)
	if err != nil {
		return err
	}
	defer deleteStream(client, stream)
	t := &bench.Table{
		Title: fmt.Sprintf("4. Start-up: from beam.Run to the first record (%d records already in a %d-shard stream) vs Prism's own start-up",
			n, b.c.startupShards),
		Columns: []string{"run", "trivial: element at DoFn", "trivial: job", "Read: 1st ListShards", "1st GetShardIterator",
			"1st GetRecords", "1st record", "last record", "job", "1st record − trivial"},
	}
	if pipelinesRun.Load() == 0 {
		first, job, err := b.trivialRun(ctx)
		if err != nil {
			return err
		}
		t.AddRow("process's first pipeline (cold)", ms(first), ms(job), "", "", "", "", "", "", "")
	}
	var trivFirst, trivJob, rdFirst, rdJob, rdLast []time.Duration
	var miles [][]time.Duration
	for i := range b.c.startupRuns {
		first, job, err := b.trivialRun(ctx)
		if err != nil {
			return err
		}
		trivFirst, trivJob = append(trivFirst, first), append(trivJob, job)

		finish := watchMilestones(srv, "ListShards", "GetShardIterator", "GetRecords")
		r, err := b.readRun(ctx, srv, stream, n, 2*time.Minute, false, kinesisio.WithStopAtLatest())
		var at []time.Duration
		for _, m := range finish() {
			at = append(at, max(m.Sub(r.start), 0)) // 0: not seen
		}
		if err != nil {
			return err
		}
		fr, lr, wall := r.firstAfter, r.s.lastTime().Sub(r.start), r.wall
		rdFirst, rdJob, rdLast = append(rdFirst, fr), append(rdJob, wall), append(rdLast, lr)
		miles = append(miles, at)
		t.AddRow(fmt.Sprint(i+1), ms(first), ms(job), ms(at[0]), ms(at[1]), ms(at[2]), ms(fr), ms(lr), ms(wall), ms(fr-first))
		b.progress("startup run %d: trivial element after %v; Read first record after %v (job %v)", i+1,
			first.Round(time.Millisecond), fr.Round(time.Millisecond), wall.Round(time.Millisecond))
	}
	if len(rdFirst) > 1 {
		col := func(k int) []time.Duration {
			var out []time.Duration
			for _, m := range miles {
				out = append(out, m[k])
			}
			return out
		}
		t.AddRow("median", ms(median(trivFirst)), ms(median(trivJob)), ms(median(col(0))), ms(median(col(1))), ms(median(col(2))),
			ms(median(rdFirst)), ms(median(rdLast)), ms(median(rdJob)), ms(median(rdFirst)-median(trivFirst)))
	}
	b.rep.target("startup.first", median(rdFirst).Seconds())
	t.Note("Times are from the call to beam.Run (in-process Prism, LOOPBACK worker, job server already started). The trivial pipeline is Impulse -> DoFn. Read is bounded with WithStopAtLatest(). The server's first ListShards, GetShardIterator and GetRecords are seen by polling its call counters every millisecond.")
	b.emit(t)
	return nil
}
