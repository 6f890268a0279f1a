package kinesisio

import (
	"context"
	"fmt"
	"reflect"
	"sync"
	"sync/atomic"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/runtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/sdf"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/awsclient"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/fetcher"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/restriction"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/watermark"
)

// maxCallTime bounds one ProcessElement call, so that progress and the
// watermark are committed regularly even on a shard that never runs dry.
const maxCallTime = time.Second

// stopAtAllowance is how far past the job's start a record's arrival time
// may be before WithStopAtLatest treats it as after the tip: clocks differ
// (kinesalite stamps the first records of a new shard up to 1 s ahead of
// its own clock). A call after the start that finds the shard caught up
// ends the read without it.
const stopAtAllowance = 2 * time.Second

// parentPoll is how often a child shard checks whether its parents are
// done.
const parentPoll = 100 * time.Millisecond

// readFn is the splittable DoFn that reads one shard per element. Its
// restriction is the shard's range of sequence numbers; it claims each
// record's sequence number, drains what the shard's background fetcher
// has ready, and self-checkpoints with ResumeProcessingIn.
type readFn struct {
	ReadID      string
	Stream      string
	Client      awsclient.Settings
	EventTime   EventTime
	TimestampFn string
	// EventDelay is how far the event times of TimestampFn may trail
	// arrival times: the watermark trails evidence in arrival time by it.
	EventDelay       time.Duration
	IdleSkewMillis   int64
	QuotaShare       float64
	Unpaced          bool
	MaxBufferedBytes int64
	RecordsPerCall   int32
	IdlePollMillis   int64
	MaxRecords       int64

	stream awsclient.Stream
	client awsclient.Kinesis
	tsFn   func(Record) time.Time
	m      readMetrics
}

func (fn *readFn) Setup(ctx context.Context) error {
	var err error
	if fn.stream, fn.client, err = newClient(ctx, fn.Stream, fn.Client); err != nil {
		return err
	}
	if fn.TimestampFn != "" {
		f, err := runtime.ResolveFunction(fn.TimestampFn, reflect.TypeOf((func(Record) time.Time)(nil)))
		if err != nil {
			return fmt.Errorf("kinesisio: timestamp function %s is not registered on this worker: call beam.RegisterFunction in an init() function: %w", fn.TimestampFn, err)
		}
		fn.tsFn = f.(func(Record) time.Time)
	}
	fn.m = newReadMetrics()
	instances.add(fn.ReadID, 1)
	return nil
}

func (fn *readFn) Teardown() {
	if instances.add(fn.ReadID, -1) == 0 {
		fetcher.Default.CloseRead(fn.ReadID)
	}
}

func (fn *readFn) CreateInitialRestriction(d shardDesc) restriction.Restriction {
	watermark.Default.Pending(fn.scope(d), d.ShardID, d.TimestampMillis)
	// A closed shard ends where GetRecords stops returning an iterator.
	// Its EndingSequenceNumber is not used as a bound: kinesis-mock
	// reports one lower than the sequence numbers of the shard's own
	// records (measured), which would end the read before its first one.
	return restriction.Restriction{ShardID: d.ShardID, Start: d.start()}
}

func (fn *readFn) SplitRestriction(_ shardDesc, r restriction.Restriction) []restriction.Restriction {
	return []restriction.Restriction{r}
}

func (fn *readFn) RestrictionSize(_ shardDesc, r restriction.Restriction) float64 {
	if r.Empty {
		return 0
	}
	return 1
}

func (fn *readFn) CreateTracker(r restriction.Restriction) *restriction.Tracker {
	return restriction.NewTracker(r)
}

func (fn *readFn) InitialWatermarkEstimatorState(et beam.EventTime, _ restriction.Restriction, _ shardDesc) int64 {
	return int64(et)
}

func (fn *readFn) CreateWatermarkEstimator(state int64) *watermark.Estimator {
	return watermark.New(state)
}

func (fn *readFn) WatermarkEstimatorState(e *watermark.Estimator) int64 {
	return e.State()
}

func (fn *readFn) ProcessElement(ctx context.Context, we *watermark.Estimator, rt *restriction.Tracker, d shardDesc, emit func(beam.EventTime, Record)) (sdf.ProcessContinuation, error) {
	we.Bind(watermark.Default, fn.scope(d), d.ShardID)
	resume, done, err := fn.drain(ctx, we, rt, d, emit)
	if err != nil || done {
		return sdf.StopProcessing(), err
	}
	return sdf.ResumeProcessingIn(resume), nil
}

// drain emits what the shard's fetcher has ready, for at most maxCallTime.
// It returns when to look again, or done once the restriction is finished.
// we may be nil (the bounded read of the direct runner has no estimator).
func (fn *readFn) drain(ctx context.Context, we *watermark.Estimator, rt *restriction.Tracker, d shardDesc, emit func(beam.EventTime, Record)) (time.Duration, bool, error) {
	scope := fn.scope(d)
	key := fetcher.Key(scope, d.ShardID)
	budget := fn.budget(scope)
	rest := rt.GetRestriction().(restriction.Restriction)
	now := time.Now()
	if rest.Empty || d.DeadlineMillis > 0 && now.UnixMilli() >= d.DeadlineMillis || fn.budgetSpent(budget) {
		fn.finish(rt, scope, key)
		return 0, true, nil
	}
	// The fetcher to continue with is the one whose buffer starts right
	// after what this tracker claimed (the restriction's start, unless the
	// bounded read drains the same tracker again).
	from := rest.Start
	if last := rt.LastClaimed(); last != "" {
		from = restriction.After(last)
	}
	// Parents first: a child of a split or merge waits while a parent is
	// still being read in this process, so records of one partition key
	// keep their order across the reshard. (A parent read on another
	// worker cannot be seen from here; see the package doc.)
	for _, p := range d.ParentIDs {
		if watermark.Default.Running(scope, p) {
			return parentPoll, false, nil
		}
	}
	f := fetcher.Default.Acquire(key, fn.fetchConfig(d, from), fn.client)
	defer fn.m.report(ctx, d.ShardID, f)
	stopAt := time.UnixMilli(d.StopAtMillis)
	advance := func(t time.Time) {
		if we != nil {
			we.Advance(t)
		}
	}
	for deadline := now.Add(maxCallTime); time.Now().Before(deadline); {
		b := f.Next()
		if b == nil {
			break
		}
		for ; b.Next < len(b.Records); b.Next++ {
			r := b.Records[b.Next]
			arrival := aws.ToTime(r.ApproximateArrivalTimestamp)
			if d.StopAtMillis > 0 && arrival.After(stopAt.Add(stopAtAllowance)) {
				f.Return(b)
				fn.finish(rt, scope, key)
				return 0, true, nil
			}
			if !fn.takeBudget(budget) {
				f.Return(b)
				fn.finish(rt, scope, key)
				return 0, true, nil
			}
			seq := aws.ToString(r.SequenceNumber)
			if !rt.TryClaim(seq) {
				fn.returnBudget(budget)
				f.Return(b)
				if err := rt.GetError(); err != nil {
					return 0, true, err
				}
				if rt.Ended() {
					// Past the restriction's end: the shard is done here.
					fn.finish(rt, scope, key)
				}
				// Otherwise the runner checkpointed the restriction: its
				// residual resumes from the fetcher's buffer.
				return 0, true, nil
			}
			rec := Record{
				Stream:                      fn.stream.Name,
				ShardID:                     d.ShardID,
				SequenceNumber:              seq,
				PartitionKey:                aws.ToString(r.PartitionKey),
				ApproximateArrivalTimestamp: arrival,
				Data:                        r.Data,
			}
			ts := fn.timestamp(rec)
			emit(mtime.FromTime(ts), rec)
			advance(fn.watermarkAfter(rec, ts))
			n := len(r.Data) + len(rec.PartitionKey)
			rt.AddClaimedBytes(n)
			fn.m.records++
			fn.m.bytes += int64(n)
		}
		f.Return(b)
		if b.CaughtUp() {
			// Evidence that the shard had nothing newer when the call was
			// made: later records arrive after about b.CallStart.
			advance(b.CallStart.Add(-time.Duration(fn.IdleSkewMillis)*time.Millisecond - fn.EventDelay))
			if d.StopAtMillis > 0 && !b.CallStart.Before(stopAt) {
				fn.finish(rt, scope, key)
				return 0, true, nil
			}
		}
		if b.ShardEnd {
			if len(b.ChildShards) > 0 {
				// The service named the children: list them now rather
				// than at the next interval.
				childShardsSeen(scope)
			}
			fn.finish(rt, scope, key)
			return 0, true, nil
		}
	}
	if err := f.Err(); err != nil {
		fetcher.Default.Release(key, f)
		return 0, true, explain(err, fn.stream, fn.Client, readAccess)
	}
	if fn.EventTime == ProcessingTime {
		advance(time.Now())
	}
	rt.SetRemaining(float64(f.Buffered() + f.Backlog()))
	return f.ResumeIn(), false, nil
}

// scope is the run scope of the read of d (runScope).
func (fn *readFn) scope(d shardDesc) string { return runScope(fn.ReadID, d.RunID) }

func (fn *readFn) finish(rt *restriction.Tracker, scope, key string) {
	rt.Finish()
	watermark.Default.Finish(scope, rt.GetRestriction().(restriction.Restriction).ShardID)
	fetcher.Default.ReleaseKey(key)
}

func (fn *readFn) timestamp(r Record) time.Time {
	switch {
	case fn.tsFn != nil:
		return fn.tsFn(r)
	case fn.EventTime == ProcessingTime || r.ApproximateArrivalTimestamp.IsZero():
		return time.Now()
	}
	return r.ApproximateArrivalTimestamp
}

// watermarkAfter is the shard's watermark once rec, stamped ts, was
// emitted: no later record of the shard has an earlier event time. With
// arrival or processing time that is ts. With a timestamp function it is
// the record's arrival less EventDelay: later records arrive no earlier,
// and the option's contract puts their event times at most EventDelay
// before their arrival, whatever ts is.
func (fn *readFn) watermarkAfter(rec Record, ts time.Time) time.Time {
	if fn.tsFn == nil {
		return ts
	}
	if rec.ApproximateArrivalTimestamp.IsZero() {
		return time.Time{} // no evidence
	}
	return rec.ApproximateArrivalTimestamp.Add(-fn.EventDelay)
}

func (fn *readFn) fetchConfig(d shardDesc, start restriction.Position) fetcher.Config {
	stream, _ := awsclient.ParseStream(fn.Stream)
	return fetcher.Config{
		Stream:           stream,
		ShardID:          d.ShardID,
		Start:            start,
		MaxBufferedBytes: fn.MaxBufferedBytes,
		RecordsPerCall:   fn.RecordsPerCall,
		CallsPerSecond:   fetcher.MaxCallsPerSecond * fn.QuotaShare,
		BytesPerSecond:   fetcher.MaxBytesPerSecond * fn.QuotaShare,
		Unpaced:          fn.Unpaced,
		IdlePoll:         time.Duration(fn.IdlePollMillis) * time.Millisecond,
	}
}

// budgets counts records emitted per run of a read in this process, for
// WithMaxRecords. Keyed by run, so that a pipeline run twice in one
// process gets its budget twice.
var budgets sync.Map // runScope -> *atomic.Int64

// budget returns the record budget of the run, or nil when the read is not
// bounded by records (no entry is made for it).
func (fn *readFn) budget(scope string) *atomic.Int64 {
	if fn.MaxRecords <= 0 {
		return nil
	}
	return budgetOf(scope)
}

func budgetOf(scope string) *atomic.Int64 {
	v, _ := budgets.LoadOrStore(scope, new(atomic.Int64))
	return v.(*atomic.Int64)
}

func (fn *readFn) budgetSpent(b *atomic.Int64) bool {
	return fn.MaxRecords > 0 && b.Load() >= fn.MaxRecords
}

func (fn *readFn) takeBudget(b *atomic.Int64) bool {
	if fn.MaxRecords <= 0 {
		return true
	}
	if b.Add(1) > fn.MaxRecords {
		b.Add(-1)
		return false
	}
	return true
}

func (fn *readFn) returnBudget(b *atomic.Int64) {
	if fn.MaxRecords > 0 {
		b.Add(-1)
	}
}

// instances counts live readFn instances per read in this process; the
// last one torn down stops the read's fetchers.
var instances = &instanceCount{n: map[string]int{}}

type instanceCount struct {
	mu sync.Mutex
	n  map[string]int
}

func (c *instanceCount) add(readID string, d int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.n[readID] += d
	if c.n[readID] <= 0 {
		delete(c.n, readID)
		return 0
	}
	return c.n[readID]
}

// boundedReadFn reads a shard to the end of a bounded read in a single
// ProcessElement call. It serves the legacy direct runner, which drops the
// residuals of self-checkpoints and panics on watermark estimators; it is
// slower elsewhere, since it reads one shard at a time.
type boundedReadFn struct {
	Fn *readFn
}

func (fn *boundedReadFn) Setup(ctx context.Context) error { return fn.Fn.Setup(ctx) }
func (fn *boundedReadFn) Teardown()                       { fn.Fn.Teardown() }

func (fn *boundedReadFn) CreateInitialRestriction(d shardDesc) restriction.Restriction {
	return fn.Fn.CreateInitialRestriction(d)
}

func (fn *boundedReadFn) SplitRestriction(d shardDesc, r restriction.Restriction) []restriction.Restriction {
	return fn.Fn.SplitRestriction(d, r)
}

func (fn *boundedReadFn) RestrictionSize(d shardDesc, r restriction.Restriction) float64 {
	return fn.Fn.RestrictionSize(d, r)
}

func (fn *boundedReadFn) CreateTracker(r restriction.Restriction) *restriction.Tracker {
	return restriction.NewTracker(r)
}

func (fn *boundedReadFn) ProcessElement(ctx context.Context, rt *restriction.Tracker, d shardDesc, emit func(beam.EventTime, Record)) error {
	for {
		resume, done, err := fn.Fn.drain(ctx, nil, rt, d, emit)
		if err != nil || done {
			return err
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-time.After(resume):
		}
	}
}
