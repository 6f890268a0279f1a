package kinesisio

import (
	"context"
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/runtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/sdf"
	"github.com/kinesisio/beam-kinesis/internal/awsclient"
	"github.com/kinesisio/beam-kinesis/internal/backoff"
	"github.com/kinesisio/beam-kinesis/internal/checkpoint/commit"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/fetcher"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/readstate"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/restriction"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/watermark"
)

// maxCallTime bounds one ProcessElement call, so that progress and the
// watermark are committed regularly even on a shard that never runs dry.
const maxCallTime = time.Second

// maxRecordsPerCall > 0 bounds the records one ProcessElement call
// emits, so that tests can make the runner checkpoint anywhere, such as
// inside a KPL aggregate.
var maxRecordsPerCall int

// subscribeSpacing, when set, replaces the 5 s Kinesis requires between
// two subscriptions to one shard (tests against the in-process server).
var subscribeSpacing time.Duration

// endCheckInterval, when set, replaces fetcher.EndCheckInterval, how long
// a subscription goes without records before GetRecords is asked whether
// the shard ended (tests against the in-process server).
var endCheckInterval time.Duration

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
	Spec readSpec
	readDoFn

	// consumerARN is the fan-out consumer's ARN, "" when polling.
	consumerARN string
	tsFn        func(Record) time.Time
	m           readMetrics
}

func (fn *readFn) Setup(ctx context.Context) error {
	return fn.setup(ctx, fn.Spec, true, func() (err error) {
		if fn.Spec.FanOut.enabled() {
			if fn.consumerARN, err = resolveConsumer(ctx, fn.client, fn.stream, fn.target, fn.Spec); err != nil {
				return err
			}
		}
		if name := fn.Spec.TimestampFn; name != "" {
			f, err := runtime.ResolveFunction(name, reflect.TypeOf((func(Record) time.Time)(nil)))
			if err != nil {
				return fmt.Errorf("kinesisio: timestamp function %s is not registered on this worker: call beam.RegisterFunction in an init() function: %w", name, err)
			}
			fn.tsFn = f.(func(Record) time.Time)
		}
		fn.m = newReadMetrics()
		return nil
	})
}

func (fn *readFn) Teardown() { fn.teardown(fn.Spec) }

// run returns the state of the run of the read that d belongs to.
func (fn *readFn) run(d shardDesc) *readstate.Run {
	return readstate.Default.Run(fn.Spec.ReadID, d.RunID)
}

func (fn *readFn) CreateInitialRestriction(d shardDesc) restriction.Restriction {
	fn.run(d).Watermarks.Pending(d.ShardID, d.TimestampMillis)
	// A closed shard ends where GetRecords stops returning an iterator.
	// Its EndingSequenceNumber is not used as a bound: kinesis-mock
	// reports one lower than the sequence numbers of the shard's own
	// records (measured), which would end the read before its first one.
	return restriction.Restriction{ShardID: d.ShardID, Start: d.Start}
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
	run := fn.run(d)
	we.Bind(run.Watermarks, d.ShardID)
	c, cont, err := fn.checkpointStep(ctx, run, rt, d)
	if c != nil {
		defer fn.m.reportCommits(ctx, d.ShardID, c)
	}
	if err != nil {
		return sdf.StopProcessing(), err
	}
	if cont != nil {
		return *cont, nil
	}
	resume, done, err := fn.drain(ctx, run, c, we, rt, d, emit)
	if err != nil || done {
		return sdf.StopProcessing(), err
	}
	return sdf.ResumeProcessingIn(resume), nil
}

// drain emits what the shard's fetcher has ready, for at most maxCallTime.
// It returns when to look again, or done once the restriction is finished.
// we may be nil (the bounded read of the direct runner has no estimator);
// c is nil without a checkpoint store.
func (fn *readFn) drain(ctx context.Context, run *readstate.Run, c *commit.Committer, we *watermark.Estimator, rt *restriction.Tracker, d shardDesc, emit func(beam.EventTime, Record)) (time.Duration, bool, error) {
	rest := rt.GetRestriction().(restriction.Restriction)
	now := time.Now()
	if rest.Empty {
		fn.finish(rt, run)
		return 0, true, nil
	}
	if d.DeadlineMillis > 0 && now.UnixMilli() >= d.DeadlineMillis || fn.budgetSpent(run) || c != nil && c.StopRequested() {
		return fn.end(rt, run, c, false)
	}
	// The fetcher to continue with is the one whose buffer starts right
	// after what this tracker claimed (the restriction's start, unless the
	// bounded read drains the same tracker again).
	from := rt.Resume()
	// Parents first: a child of a split or merge waits while a parent is
	// still being read in this process, so records of one partition key
	// keep their order across the reshard. With a checkpoint store,
	// checkpointStep waits for the parents through the store instead,
	// which also sees parents read on other workers.
	for _, p := range d.ParentIDs {
		if c == nil && run.Watermarks.Running(p) {
			return parentPoll, false, nil
		}
	}
	f := run.Fetchers.Acquire(d.ShardID, fn.Spec.fetchConfig(fn.stream, fn.consumerARN, d, from), fn.client)
	defer fn.m.report(ctx, d.ShardID, f)
	stopAt := time.UnixMilli(d.StopAtMillis)
	advance := func(t time.Time) {
		if we != nil {
			we.Advance(t)
		}
	}
	emitted := 0
	for deadline := now.Add(maxCallTime); time.Now().Before(deadline); {
		b := f.Next()
		if b == nil {
			break
		}
		stop := fn.emitBatch(run, we, rt, d, b, &emitted, emit)
		f.Return(b)
		switch stop {
		case stopLimit:
			// A test's bound: checkpoint here, wherever that is.
			return 0, false, nil
		case stopAtLatest, stopBudget:
			return fn.end(rt, run, c, false)
		case stopClaim:
			if err := rt.GetError(); err != nil {
				return 0, true, err
			}
			if rt.Ended() {
				// Past the restriction's end: the shard is done here.
				fn.finish(rt, run)
			}
			// Otherwise the runner checkpointed the restriction: its
			// residual resumes from the fetcher's buffer.
			return 0, true, nil
		}
		if c != nil && emitted > 0 {
			c.NoteRecords()
		}
		if b.CaughtUp() {
			// Evidence that the shard had nothing newer when the call was
			// made: later records arrive after about b.CallStart.
			advance(b.CallStart.Add(-fn.Spec.IdleSkew - fn.Spec.EventDelay))
			if d.StopAtMillis > 0 && !b.CallStart.Before(stopAt) {
				return fn.end(rt, run, c, false)
			}
		}
		if b.ShardEnd {
			if len(b.ChildShards) > 0 {
				// The service named the children: list them now rather
				// than at the next interval.
				run.SawChildShards()
			}
			return fn.end(rt, run, c, true)
		}
	}
	if err := f.Err(); err != nil {
		run.Fetchers.Release(d.ShardID, f)
		a := readAccess
		if fn.consumerARN != "" {
			a = fanOutAccess
		}
		return 0, true, explain(err, fn.stream, fn.Spec.Conn.Client, a)
	}
	if fn.Spec.ProcessingTime {
		advance(time.Now())
	}
	rt.SetRemaining(float64(f.Buffered() + f.Backlog()))
	return f.ResumeIn(), false, nil
}

// batchStop says why emitBatch stopped.
type batchStop uint8

const (
	batchDone    batchStop = iota // every record of the batch was emitted
	stopLimit                     // maxRecordsPerCall was reached
	stopAtLatest                  // a record arrived after WithStopAtLatest's tip
	stopBudget                    // WithMaxRecords' budget is spent
	stopClaim                     // the tracker refused a claim (split, end, or error)
)

// emitBatch claims and emits b's records from b.Next on, moving b.Next
// past each record emitted; emitted counts the records of the call. It
// stops at the end of the batch or at the first record it must not emit,
// and says why.
func (fn *readFn) emitBatch(run *readstate.Run, we *watermark.Estimator, rt *restriction.Tracker, d shardDesc, b *fetcher.Batch, emitted *int, emit func(beam.EventTime, Record)) batchStop {
	stopAfter := time.UnixMilli(d.StopAtMillis).Add(stopAtAllowance)
	for ; b.Next < len(b.Records); b.Next++ {
		if maxRecordsPerCall > 0 && *emitted == maxRecordsPerCall {
			return stopLimit
		}
		*emitted++
		r := &b.Records[b.Next]
		arrival := r.Arrival
		if d.StopAtMillis > 0 && arrival.After(stopAfter) {
			return stopAtLatest
		}
		if !fn.takeBudget(run) {
			return stopBudget
		}
		n := len(r.Data) + len(r.PartitionKey)
		if !rt.TryClaimRecord(r.Claim, n) {
			fn.returnBudget(run)
			return stopClaim
		}
		rec := Record{
			Stream:                      fn.stream.Name,
			ShardID:                     d.ShardID,
			SequenceNumber:              r.Claim.Seq,
			SubSequenceNumber:           r.Claim.Sub,
			PartitionKey:                r.PartitionKey,
			ExplicitHashKey:             r.ExplicitHashKey,
			ApproximateArrivalTimestamp: arrival,
			Data:                        r.Data,
		}
		ts := fn.timestamp(rec)
		emit(mtime.FromTime(ts), rec)
		if we != nil {
			we.Advance(fn.watermarkAfter(rec, ts))
		}
		fn.m.records++
		fn.m.bytes += int64(n)
	}
	return batchDone
}

// end ends the read of the shard: at once without a checkpoint store;
// with one, through a closing checkpoint whose residual writes the final
// position (and, when shardEnded, that the shard was read to its end)
// once the runner committed this call's bundle.
func (fn *readFn) end(rt *restriction.Tracker, run *readstate.Run, c *commit.Committer, shardEnded bool) (time.Duration, bool, error) {
	if c == nil {
		fn.finish(rt, run)
		return 0, true, nil
	}
	rt.Close(shardEnded)
	run.Fetchers.ReleaseKey(rt.GetRestriction().(restriction.Restriction).ShardID)
	return 0, false, nil
}

func (fn *readFn) finish(rt *restriction.Tracker, run *readstate.Run) {
	rt.Finish()
	shard := rt.GetRestriction().(restriction.Restriction).ShardID
	run.Watermarks.Finish(shard)
	run.Fetchers.ReleaseKey(shard)
}

func (fn *readFn) timestamp(r Record) time.Time {
	switch {
	case fn.tsFn != nil:
		return fn.tsFn(r)
	case fn.Spec.ProcessingTime || r.ApproximateArrivalTimestamp.IsZero():
		return time.Now()
	}
	return r.ApproximateArrivalTimestamp
}

// watermarkAfter is the shard's watermark once rec, stamped ts, was
// emitted: no later record of the shard has an earlier event time. With
// arrival or processing time that is ts. With a timestamp function it is
// the record's arrival less EventDelay: later records arrive no earlier,
// and TimestampFn's contract puts their event times at most EventDelay
// before their arrival, whatever ts is.
func (fn *readFn) watermarkAfter(rec Record, ts time.Time) time.Time {
	if fn.tsFn == nil {
		return ts
	}
	if rec.ApproximateArrivalTimestamp.IsZero() {
		return time.Time{} // no evidence
	}
	return rec.ApproximateArrivalTimestamp.Add(-fn.Spec.EventDelay)
}

// fetchConfig is the configuration of the fetcher of one shard, read
// from start: the one place where Read's settings reach the fetcher.
func (s readSpec) fetchConfig(stream awsclient.Stream, consumerARN string, d shardDesc, start restriction.Position) fetcher.Config {
	return fetcher.Config{
		Stream:           stream,
		ConsumerARN:      consumerARN,
		SubscribeSpacing: subscribeSpacing,
		EndCheckInterval: endCheckInterval,
		ShardID:          d.ShardID,
		Start:            start,
		HashKeyStart:     d.HashKeyStart,
		HashKeyEnd:       d.HashKeyEnd,
		MaxBufferedBytes: s.MaxBufferedBytes,
		RecordsPerCall:   s.RecordsPerCall,
		CallsPerSecond:   fetcher.MaxCallsPerSecond * s.QuotaShare,
		BytesPerSecond:   fetcher.MaxBytesPerSecond * s.QuotaShare,
		Unpaced:          s.QuotaShare == 0,
		IdlePoll:         s.IdlePoll,
	}
}

// budgetSpent reports that WithMaxRecords' budget is spent.
func (fn *readFn) budgetSpent(run *readstate.Run) bool {
	return fn.Spec.MaxRecords > 0 && run.Emitted.Load() >= fn.Spec.MaxRecords
}

// takeBudget takes one record of the budget, if there is one left.
func (fn *readFn) takeBudget(run *readstate.Run) bool {
	if fn.Spec.MaxRecords <= 0 {
		return true
	}
	if run.Emitted.Add(1) > fn.Spec.MaxRecords {
		run.Emitted.Add(-1)
		return false
	}
	return true
}

func (fn *readFn) returnBudget(run *readstate.Run) {
	if fn.Spec.MaxRecords > 0 {
		run.Emitted.Add(-1)
	}
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
		resume, done, err := fn.Fn.drain(ctx, fn.Fn.run(d), nil, nil, rt, d, emit)
		if err != nil || done {
			return err
		}
		if err := backoff.Sleep(ctx, resume); err != nil {
			return err
		}
	}
}

// readMetrics accumulates within one ProcessElement call and reports to
// Beam metrics at its end (fetchers run outside any bundle context).
type readMetrics struct {
	records, bytes int64

	recordsC, bytesC, calls, throttled, renewals, retried beam.Counter
	gauges                                                map[string]beam.Gauge

	aggregates, userRecords, corrupt, outsideRange beam.Counter

	subscriptions, subRenewals, inUse, events, endChecks, endsConfirmed beam.Counter

	commits, commitFailures, commitsThrottled beam.Counter
	sinceCommit                               map[string]beam.Gauge
}

func newReadMetrics() readMetrics {
	c := func(name string) beam.Counter { return beam.NewCounter(MetricsNamespace, name) }
	return readMetrics{
		recordsC: c("read_records"), bytesC: c("read_bytes"), calls: c("read_calls"),
		throttled: c("read_throttled"), renewals: c("read_iterator_renewals"), retried: c("read_retries"),
		gauges:     map[string]beam.Gauge{},
		aggregates: c("read_kpl_aggregates"), userRecords: c("read_kpl_user_records"),
		corrupt: c("read_kpl_corrupt"), outsideRange: c("read_kpl_outside_shard"),
		subscriptions: c("read_subscriptions"), subRenewals: c("read_subscription_renewals"),
		inUse: c("read_subscribe_in_use"), events: c("read_events"),
		endChecks: c("read_end_checks"), endsConfirmed: c("read_ends_confirmed"),
		commits: c("read_commits"), commitFailures: c("read_commit_failures"), commitsThrottled: c("read_commits_throttled"),
		sinceCommit: map[string]beam.Gauge{},
	}
}

// reportCommits reports the committer's writes since the last report and
// how long ago shardID's checkpoint was written.
func (m *readMetrics) reportCommits(ctx context.Context, shardID string, c *commit.Committer) {
	st := c.StatsDelta()
	for c, n := range map[*beam.Counter]int64{&m.commits: st.Commits, &m.commitFailures: st.Failures, &m.commitsThrottled: st.Throttled} {
		if n > 0 {
			c.Inc(ctx, n)
		}
	}
	if since, ok := c.SinceCommit(shardID, time.Now()); ok {
		g, ok := m.sinceCommit[shardID]
		if !ok {
			g = beam.NewGauge(MetricsNamespace, "read_millis_since_commit/"+shardID)
			m.sinceCommit[shardID] = g
		}
		g.Set(ctx, since.Milliseconds())
	}
}

func (m *readMetrics) report(ctx context.Context, shardID string, f *fetcher.Fetcher) {
	if m.records > 0 {
		m.recordsC.Inc(ctx, m.records)
		m.bytesC.Inc(ctx, m.bytes)
		m.records, m.bytes = 0, 0
	}
	s := f.StatsDelta()
	// An array, not a map literal: this runs at every ProcessElement call
	// (a map cost most of an idle shard's readFn CPU at 1,024 shards).
	for _, cn := range [...]struct {
		c *beam.Counter
		n int64
	}{{&m.calls, s.Calls}, {&m.throttled, s.Throttled}, {&m.renewals, s.Renewals}, {&m.retried, s.Retried},
		{&m.aggregates, s.Aggregates}, {&m.userRecords, s.UserRecords}, {&m.corrupt, s.Corrupt}, {&m.outsideRange, s.OutsideRange},
		{&m.subscriptions, s.Subscriptions}, {&m.subRenewals, s.SubRenewals}, {&m.inUse, s.InUse}, {&m.events, s.Events},
		{&m.endChecks, s.EndChecks}, {&m.endsConfirmed, s.EndsConfirmed}} {
		if cn.n > 0 {
			cn.c.Inc(ctx, cn.n)
		}
	}
	if s.MillisBehindLatest >= 0 {
		g, ok := m.gauges[shardID]
		if !ok {
			g = beam.NewGauge(MetricsNamespace, "read_millis_behind_latest/"+shardID)
			m.gauges[shardID] = g
		}
		g.Set(ctx, s.MillisBehindLatest)
	}
}

// committer returns the run's committer in a reader's process. Where the
// discovery step did not start it, it is started with the lease the
// store holds, which must be the run's. While reading the lease fails,
// the run's readers in the process back off together (errBackingOff).
func (fn *readFn) committer(ctx context.Context, run *readstate.Run, runID string) (*commit.Committer, error) {
	return run.Committer(func() (*commit.Committer, error) {
		now := time.Now()
		if w := run.StoreRead.Wait(now); w > 0 {
			return nil, errBackingOff{wait: w}
		}
		app := fn.Spec.Checkpoints.App
		l, ok, err := fn.store.ReadLease(ctx, app, fn.stream.Name)
		if err != nil {
			_, _, w := run.StoreRead.Fail(now, storeRetry, time.Time{})
			return nil, errBackingOff{wait: w, err: err}
		}
		run.StoreRead.Reset()
		if !ok || l.Owner != runID {
			return nil, fmt.Errorf("%w: application %s is held by run %q (%s), not by this run %s", errLeaseLost, app, l.Owner, l.Job, runID)
		}
		return commit.New(fn.store, l, fn.Spec.commitConfig(run, fn.stream.Name)), nil
	})
}

// errBackingOff is the committer's answer while the run's lease reads
// back off (run.StoreRead): wait before the next; err is the read that
// failed, nil for a reader that found the run backing off.
type errBackingOff struct {
	wait time.Duration
	err  error
}

func (e errBackingOff) Error() string {
	if e.err == nil {
		return fmt.Sprintf("reading the lease: backing off for %v", e.wait)
	}
	return fmt.Sprintf("reading the lease: %v (next in %v)", e.err, e.wait)
}

func (e errBackingOff) Unwrap() error { return e.err }

// checkpointStep is the reader's one entry into its checkpoint store, at
// the start of every ProcessElement call; without a store it does
// nothing and returns a nil committer, which drain and end then skip.
// With one, it offers the restriction's start to the committer (the
// runner committed everything before it), writes the final position of
// a closing restriction, and holds a child shard until its parents are
// recorded as read to their end. A non-nil continuation ends the call.
// Store calls that fail are retried at a later wake, after one backoff
// for the run's shards in the process (storeRetry; readstate.Run.StoreRead
// for its reads, the committer's WriteBackoff for its writes, the ends
// written included), and logged within the run's limit
// (readstate.Run.StoreLog): the first, then one line per 10 s for all the
// run's shards and the committer's own writes.
func (fn *readFn) checkpointStep(ctx context.Context, run *readstate.Run, rt *restriction.Tracker, d shardDesc) (*commit.Committer, *sdf.ProcessContinuation, error) {
	if fn.store == nil {
		return nil, nil, nil
	}
	stop := sdf.StopProcessing()
	c, err := fn.committer(ctx, run, d.RunID)
	if errors.Is(err, errLeaseLost) {
		return nil, nil, err
	}
	var b errBackingOff
	if errors.As(err, &b) {
		if b.err != nil {
			run.StoreLog.Warnf(ctx, "kinesisio: shard %s: checkpoint store %v: %v (retrying in %v)", d.ShardID, fn.Spec.Checkpoints.Store, b.err, b.wait.Round(time.Millisecond))
		}
		return nil, resumeIn(b.wait), nil
	}
	if err != nil {
		return nil, nil, err
	}
	if err := c.Err(); err != nil {
		if errors.Is(err, commit.ErrNoSink) {
			return nil, nil, fmt.Errorf("kinesisio: WithCommitsAfterSink: %w", err)
		}
		return nil, nil, fmt.Errorf("%w: %w", errLeaseLost, err)
	}
	c.Touch()
	rest := rt.GetRestriction().(restriction.Restriction)
	afterSink := fn.Spec.Checkpoints.AfterSink
	if seq, sub, ok := rest.Start.Committed(); ok && !afterSink {
		c.Offer(d.ShardID, d.ParentIDs, seq, sub)
	}
	if rest.Closing && afterSink {
		return fn.closeAfterSink(ctx, run, c, rt, d, rest)
	}
	if rest.Closing {
		if _, _, w := c.WriteBackoff(time.Now()); w > 0 {
			return c, resumeIn(w), nil
		}
		if err := c.Final(ctx, d.ShardID, d.ParentIDs, rest.ShardEnded); err != nil {
			if c.Err() != nil {
				return nil, nil, fmt.Errorf("%w: %w", errLeaseLost, err)
			}
			n, since, w := c.WriteBackoff(time.Now())
			run.StoreLog.Warnf(ctx, "kinesisio: shard %s: writing its final position to %v failed%s (retrying in %v): %v", d.ShardID, fn.Spec.Checkpoints.Store, backoff.InARow(n, time.Since(since)), w.Round(time.Millisecond), err)
			return c, resumeIn(w), nil
		}
		fn.finish(rt, run)
		releaseIfOver(ctx, run)
		return c, &stop, nil
	}
	if len(d.ParentIDs) > 0 && !rt.Claimed() {
		if c.StopRequested() || d.DeadlineMillis > 0 && time.Now().UnixMilli() >= d.DeadlineMillis || fn.budgetSpent(run) {
			// A stop, or a bounded read's end: the parents end where they
			// are, so the child ends before its first record (it writes
			// nothing).
			fn.end(rt, run, c, false)
			now := sdf.ResumeProcessingIn(0)
			return nil, &now, nil
		}
		// Parents this process knows to be read need no question.
		// While the store fails, the run's children ask it after one
		// backoff (StoreRead); while it answers "not yet" (a parent is
		// being read), each asks every parentStorePoll.
		if c.KnownFinished(d.ParentIDs) {
			return c, nil, nil
		}
		if w := run.StoreRead.Wait(time.Now()); w > 0 {
			return c, resumeIn(w), nil
		}
		ok, err := c.ParentsFinished(ctx, d.ParentIDs)
		if err != nil {
			n, since, w := run.StoreRead.Fail(time.Now(), storeRetry, time.Time{})
			run.StoreLog.Warnf(ctx, "kinesisio: shard %s: asking %v whether its parents %v were read: %v%s (retrying in %v)", d.ShardID, fn.Spec.Checkpoints.Store, d.ParentIDs, err, backoff.InARow(n, time.Since(since)), w.Round(time.Millisecond))
			return c, resumeIn(w), nil
		}
		run.StoreRead.Reset()
		if !ok {
			return c, resumeIn(parentStorePoll), nil
		}
	}
	return c, nil, nil
}

// resumeIn is the continuation of a checkpoint step that waits d (at
// least 1 ms: a backoff's full jitter may draw 0).
func resumeIn(d time.Duration) *sdf.ProcessContinuation {
	pc := sdf.ResumeProcessingIn(max(d, time.Millisecond))
	return &pc
}

// closeAfterSink ends a shard whose positions CommitWhenDone commits
// (WithCommitsAfterSink): a shard read to its end is recorded as such
// (EndSeq, which CommitWhenDone turns into Finished once it commits the
// shard's last record), so that its children start without waiting for
// the windows of that record to close. A failed write is retried after
// the run's backoff (the committer's WriteBackoff).
func (fn *readFn) closeAfterSink(ctx context.Context, run *readstate.Run, c *commit.Committer, rt *restriction.Tracker, d shardDesc, rest restriction.Restriction) (*commit.Committer, *sdf.ProcessContinuation, error) {
	if rest.ShardEnded {
		if _, _, w := c.WriteBackoff(time.Now()); w > 0 {
			return c, resumeIn(w), nil
		}
		last := ""
		if rest.Start.Kind == restriction.AfterSequence {
			last = rest.Start.Seq
		}
		if err := c.EndAfterSink(ctx, d.ShardID, d.ParentIDs, last); err != nil {
			if c.Err() != nil {
				return nil, nil, fmt.Errorf("%w: %w", errLeaseLost, err)
			}
			n, since, w := c.WriteBackoff(time.Now())
			run.StoreLog.Warnf(ctx, "kinesisio: shard %s: recording its end in %v: %v%s (retrying in %v)", d.ShardID, fn.Spec.Checkpoints.Store, err, backoff.InARow(n, time.Since(since)), w.Round(time.Millisecond))
			return c, resumeIn(w), nil
		}
	}
	fn.finish(rt, run)
	releaseIfOver(ctx, run)
	stop := sdf.StopProcessing()
	return c, &stop, nil
}
