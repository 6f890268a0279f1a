package kinesisio

import (
	"context"
	"errors"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/kinesisio/beam-kinesis/internal/checkpoint"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/fetcher"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/readstate"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/restriction"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/watermark"
)

// blockedAPI never answers: a fetcher on it makes no progress.
type blockedAPI struct{ fetcher.API }

func (blockedAPI) GetShardIterator(ctx context.Context, _ *kinesis.GetShardIteratorInput, _ ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// Reporting a ProcessElement call's metrics allocates nothing when there
// is nothing to report: at 1,024 shards a call runs thousands of times a
// second, most of them on idle shards.
func TestMetricsReportDoesNotAllocate(t *testing.T) {
	f := fetcher.Start(fetcher.Config{ShardID: "s", Start: restriction.Position{Kind: restriction.TrimHorizon}}, blockedAPI{}, nil)
	defer f.Close()
	m := newReadMetrics()
	ctx := context.Background()
	if n := testing.AllocsPerRun(100, func() { m.report(ctx, "s", f) }); n != 0 {
		t.Fatalf("%v allocations per report, want 0", n)
	}
}

// readyBatch is a batch of n plain 100 B records with increasing
// sequence numbers of Kinesis's length (56 digits), as a fetcher hands
// them to readFn.
func readyBatch(n int) *fetcher.Batch {
	b := &fetcher.Batch{Records: make([]fetcher.Entry, n), Fetched: n, MillisBehindLatest: 1000}
	arrival := time.UnixMilli(1_700_000_000_000)
	for i := range b.Records {
		b.Records[i] = fetcher.Entry{
			Claim:        restriction.Claim{Seq: fmt.Sprintf("4959%052d", i+1), Last: true},
			PartitionKey: fmt.Sprintf("key-%d", i%64),
			Arrival:      arrival.Add(time.Duration(i) * time.Millisecond),
			Data:         make([]byte, 100),
		}
	}
	return b
}

// drainBatch runs readFn's per-record path (claim, record, emit,
// watermark, progress, metrics) over b with a fresh tracker, emitting
// into emit, and fails t unless every record was emitted.
func drainBatch(t testing.TB, fn *readFn, run *readstate.Run, we *watermark.Estimator, b *fetcher.Batch, emit func(beam.EventTime, Record)) {
	rt := restriction.NewTracker(restriction.Restriction{ShardID: "shardId-000000000000", Start: restriction.Position{Kind: restriction.TrimHorizon}})
	b.Next = 0
	emitted := 0
	d := shardDesc{ShardID: "shardId-000000000000"}
	if stop := fn.emitBatch(run, we, rt, d, b, &emitted, emit); stop != batchDone || emitted != len(b.Records) {
		t.Fatalf("emitBatch stopped (%d) after %d of %d records: %v", stop, emitted, len(b.Records), rt.GetError())
	}
}

// batchReader is a readFn of one run and shard, bound to its watermark
// estimator, with a ready batch of 1,000 plain 100 B records and a no-op
// emit.
func batchReader() (*readFn, *readstate.Run, *watermark.Estimator, *fetcher.Batch, func(beam.EventTime, Record)) {
	fn := &readFn{}
	fn.stream.Name = "stream"
	run := readstate.NewRegistry().Run("read", "run")
	we := watermark.New(0)
	we.Bind(run.Watermarks, "shardId-000000000000")
	return fn, run, we, readyBatch(1000), func(beam.EventTime, Record) {}
}

// TestEmitBatchAllocatesNothingPerRecord: readFn's per-record path
// (claim, record, emit, watermark) allocates nothing of its own; what a
// batch costs (its tracker) is shared by its records. Beam's emit boxes
// each Record, but that is the SDK's, not counted here (a no-op emit).
func TestEmitBatchAllocatesNothingPerRecord(t *testing.T) {
	fn, run, we, b, emit := batchReader()
	perRecord := testing.AllocsPerRun(20, func() { drainBatch(t, fn, run, we, b, emit) }) / float64(len(b.Records))
	if perRecord > 0.01 {
		t.Fatalf("%.3f allocations per record, want at most 0.01", perRecord)
	}
}

// BenchmarkEmitBatch is readFn's CPU per record over a ready batch of
// 1,000 plain 100 B records with a no-op emit:
//
//	go test -run '^$' -bench EmitBatch -benchmem ./kinesisio/
func BenchmarkEmitBatch(bm *testing.B) {
	fn, run, we, b, emit := batchReader()
	bm.ReportAllocs()
	for bm.Loop() {
		drainBatch(bm, fn, run, we, b, emit)
	}
	bm.ReportMetric(float64(bm.Elapsed().Nanoseconds())/float64(bm.N*len(b.Records)), "ns/record")
}

// failingLeaseStore is a checkpoint store whose lease reads fail; it
// counts them. Any other call panics (the test makes none).
type failingLeaseStore struct {
	checkpoint.Store
	reads atomic.Int64
}

func (s *failingLeaseStore) ReadLease(context.Context, string, string) (checkpoint.Lease, bool, error) {
	s.reads.Add(1)
	return checkpoint.Lease{}, false, errors.New("the store does not answer")
}

// TestReadersBackOffTogetherWhileTheStoreFails: on a worker without the
// run's discovery step, a reader's first checkpoint step reads the lease
// to build the run's committer. While the store fails, the run's readers
// in the process back off together: 64 shards waking at once read the
// lease once, not 64 times (each on every wake, as before), and each
// waits for the run's backoff.
func TestReadersBackOffTogetherWhileTheStoreFails(t *testing.T) {
	st := &failingLeaseStore{}
	fn := &readFn{}
	fn.store = st
	fn.Spec.Checkpoints.App = "app"
	fn.stream.Name = "stream"
	run := readstate.NewRegistry().Run("read", "run")
	ctx := context.Background()
	for i := range 64 {
		d := shardDesc{RunID: "run", ShardID: fmt.Sprintf("shardId-%012d", i)}
		rt := restriction.NewTracker(restriction.Restriction{ShardID: d.ShardID, Start: restriction.Position{Kind: restriction.TrimHorizon}})
		c, cont, err := fn.checkpointStep(ctx, run, rt, d)
		if err != nil || c != nil || cont == nil || !(*cont).ShouldResume() {
			t.Fatalf("shard %d: checkpoint step returned %v, %+v, %v; want a wait", i, c, cont, err)
		}
		if (*cont).ResumeDelay() <= 0 {
			t.Errorf("shard %d: resumes in %v, want the run's backoff", i, (*cont).ResumeDelay())
		}
	}
	if n := st.reads.Load(); n != 1 {
		t.Errorf("64 shards read the lease %d times while the store failed, want once (one backoff for the run)", n)
	}
}
