package kinesisio

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/sdf"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/kinesisio/beam-kinesis/internal/backoff"
	"github.com/kinesisio/beam-kinesis/internal/checkpoint"
	"github.com/kinesisio/beam-kinesis/internal/checkpoint/commit"
	"github.com/kinesisio/beam-kinesis/internal/procid"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/readstate"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/restriction"
)

// How a read uses its checkpoint store (WithCheckpoints): the discovery
// step takes the application's lease and loads the stream's checkpoints
// when the job starts (startCheckpoints), and the first round of shards
// starts from them (startSpec.withCheckpoints). Readers offer each
// restriction's start to the run's committer when a ProcessElement call
// begins, since the runner hands a residual back only once it committed
// the bundle that made it; a shard whose read ends is closed through one
// more checkpoint (restriction.Tracker.Close), whose residual writes the
// final position once committed the same way.

// storeRetry spaces the retries of a store that fails.
var storeRetry = backoff.Policy{Base: 100 * time.Millisecond, Max: 5 * time.Second}

// parentStorePoll is how often a child shard asks the store whether its
// parents were read to their end.
const parentStorePoll = 500 * time.Millisecond

// errLeaseLost wraps the errors that end a run whose lease is gone.
var errLeaseLost = errors.New("kinesisio: WithCheckpoints: the application's lease is no longer this job's")

// openStore opens the read's checkpoint store in a DoFn's Setup: nil
// without WithCheckpoints. A store that fails is retried for
// StartupTimeout, as at the run's start.
func (s readSpec) openStore(ctx context.Context) (checkpoint.Store, error) {
	if !s.Checkpoints.enabled() {
		return nil, nil
	}
	return openStoreWithin(ctx, s.Checkpoints.Store, s.Checkpoints.StartupTimeout, "WithCheckpoints")
}

// openStoreWithin opens spec, retrying a store that fails for within; who
// names the option for messages. A path or table that is not a checkpoint
// store is retried too: at a worker's start it may be one being replaced
// for a moment (the discovery step's start, which opens it first, has
// the same bound).
func openStoreWithin(ctx context.Context, spec checkpoint.Spec, within time.Duration, who string) (checkpoint.Store, error) {
	var st checkpoint.Store
	err := retryStore(ctx, spec, within, who, "opening the store", nil, func(ctx context.Context) (err error) {
		st, err = checkpoint.Open(ctx, spec)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("kinesisio: %s: opening %v: %w", who, spec, err)
	}
	return st, nil
}

func (s readSpec) commitConfig(stream string) commit.Config {
	return commit.Config{Stream: stream, Interval: s.Checkpoints.Interval, Retry: storeRetry, AfterSink: s.Checkpoints.AfterSink, SinkGrace: s.Checkpoints.SinkGrace}
}

// startCheckpoints is the discovery step's part of a run with a store: it
// takes the application's lease for the run, starts the run's committer
// in this process, and returns the stream's checkpoints. A store that
// fails is retried for StartupTimeout; a lease held by a live job fails
// at once.
func (s readSpec) startCheckpoints(ctx context.Context, store checkpoint.Store, run *readstate.Run, runID, stream string) ([]checkpoint.Checkpoint, error) {
	c := s.Checkpoints
	self := procid.Self()
	want := checkpoint.Lease{
		App:        c.App,
		Stream:     stream,
		Owner:      runID,
		Job:        fmt.Sprintf("%v, stream %s", self, stream),
		StaleAfter: c.LeaseTimeout,
		AfterSink:  c.AfterSink,
		Procs:      []checkpoint.Proc{{ID: self}},
	}
	var lease checkpoint.Lease
	err := s.retryStore(ctx, "taking the lease of application "+c.App+" for stream "+stream, func(ctx context.Context) (err error) {
		lease, err = store.Acquire(ctx, want, time.Now())
		return err
	})
	var held *checkpoint.HeldError
	if errors.As(err, &held) {
		return nil, fmt.Errorf("kinesisio: WithCheckpoints: %w. One job at a time may read a stream under an application name (a pipeline that reads the same stream twice needs a name for each Read): stop the other job (`%s stop`, which ends it with a final checkpoint), or wait %v after it stopped (a crashed or cancelled job on another machine keeps the name until its lease goes stale; on this machine a crashed job's is taken over at once), or release it with `%s release`",
			err, kinesischeckpoints(c.Store, c.App), held.Lease.StaleAfter, kinesischeckpoints(c.Store, c.App))
	}
	if err != nil {
		return nil, err
	}
	if lease.Epoch > 1 && lease.Floor == lease.Epoch-1 {
		log.Infof(ctx, "kinesisio: %s was reset: reading from the start positions", lease.Name())
	}
	if _, err := run.Committer(func() (*commit.Committer, error) {
		return commit.New(store, lease, s.commitConfig(stream)), nil
	}); err != nil {
		return nil, err
	}
	var cps []checkpoint.Checkpoint
	err = s.retryStore(ctx, "loading the checkpoints of application "+c.App, func(ctx context.Context) (err error) {
		cps, err = store.Load(ctx, c.App, stream)
		return err
	})
	return cps, err
}

// kinesischeckpoints is the command line of cmd/kinesischeckpoints for
// application app in spec.
func kinesischeckpoints(spec checkpoint.Spec, app string) string {
	f := "go run github.com/kinesisio/beam-kinesis/cmd/kinesischeckpoints "
	if spec.Kind == checkpoint.Dir {
		f += "--dir " + spec.Path
	} else {
		f += "--table " + spec.Table
		if spec.Conn.Region != "" {
			f += " --table_region " + spec.Conn.Region
		}
		if spec.Conn.Endpoint != "" {
			f += " --table_endpoint " + spec.Conn.Endpoint
		}
	}
	return f + " --app " + app
}

// retryStore runs op until it succeeds, fails for good (a held lease, a
// store that is not ours) or StartupTimeout passes.
func (s readSpec) retryStore(ctx context.Context, what string, op func(context.Context) error) error {
	return retryStore(ctx, s.Checkpoints.Store, s.Checkpoints.StartupTimeout, "WithCheckpoints", what, permanentStoreError, op)
}

// permanentStoreError reports errors of a store that retrying cannot
// mend: a lease held by a live job, a store that is not ours.
func permanentStoreError(err error) bool {
	return errors.Is(err, checkpoint.ErrLeaseHeld) || errors.Is(err, checkpoint.ErrForeign)
}

// retryStore runs op on the store spec until it succeeds, fails for good
// (permanent, when not nil, says which errors are) or within passes; who
// names the option for messages.
func retryStore(ctx context.Context, spec checkpoint.Spec, within time.Duration, who, what string, permanent func(error) bool, op func(context.Context) error) error {
	deadline := time.Now().Add(within)
	return backoff.Retry{
		Policy: storeRetry,
		Next: func(attempt int, err error, d time.Duration) (time.Duration, error) {
			if permanent != nil && permanent(err) || ctx.Err() != nil {
				return 0, err
			}
			if time.Now().Add(d).After(deadline) {
				return 0, fmt.Errorf("kinesisio: %s: %s in %v failed for %v: %w; check that the store is reachable from the workers (endpoint, region, network) and that they may read and write it",
					who, what, spec, within, err)
			}
			log.Warnf(ctx, "kinesisio: %s in %v failed (attempt %d, retrying in %v): %v", what, spec, attempt, d, err)
			return d, nil
		},
		Interrupted: func(error) error { return ctx.Err() },
	}.Do(ctx, op)
}

// committer returns the run's committer in a reader's process. Where the
// discovery step did not start it, it is started with the lease the
// store holds, which must be the run's.
func (fn *readFn) committer(ctx context.Context, run *readstate.Run, runID string) (*commit.Committer, error) {
	return run.Committer(func() (*commit.Committer, error) {
		app := fn.Spec.Checkpoints.App
		l, ok, err := fn.store.ReadLease(ctx, app, fn.stream.Name)
		if err != nil {
			return nil, err
		}
		if !ok || l.Owner != runID {
			return nil, fmt.Errorf("%w: application %s is held by run %q (%s), not by this run %s", errLeaseLost, app, l.Owner, l.Job, runID)
		}
		return commit.New(fn.store, l, fn.Spec.commitConfig(fn.stream.Name)), nil
	})
}

// checkpointStep is the reader's one entry into its checkpoint store, at
// the start of every ProcessElement call; without a store it does
// nothing and returns a nil committer, which drain and end then skip.
// With one, it offers the restriction's start to the committer (the
// runner committed everything before it), writes the final position of
// a closing restriction, and holds a child shard until its parents are
// recorded as read to their end. A non-nil continuation ends the call.
func (fn *readFn) checkpointStep(ctx context.Context, run *readstate.Run, rt *restriction.Tracker, d shardDesc) (*commit.Committer, *sdf.ProcessContinuation, error) {
	if fn.store == nil {
		return nil, nil, nil
	}
	stop := sdf.StopProcessing()
	wait := func(d time.Duration) (*commit.Committer, *sdf.ProcessContinuation, error) {
		pc := sdf.ResumeProcessingIn(d)
		return nil, &pc, nil
	}
	c, err := fn.committer(ctx, run, d.RunID)
	if errors.Is(err, errLeaseLost) {
		return nil, nil, err
	}
	if err != nil {
		log.Warnf(ctx, "kinesisio: shard %s: checkpoint store %v: %v (retrying)", d.ShardID, fn.Spec.Checkpoints.Store, err)
		return wait(time.Second)
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
		if err := c.Final(ctx, d.ShardID, d.ParentIDs, rest.ShardEnded); err != nil {
			if c.Err() != nil {
				return nil, nil, fmt.Errorf("%w: %w", errLeaseLost, err)
			}
			log.Warnf(ctx, "kinesisio: shard %s: writing its final position to %v failed (retrying): %v", d.ShardID, fn.Spec.Checkpoints.Store, err)
			pc := sdf.ResumeProcessingIn(storeRetry.Max)
			return c, &pc, nil
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
			return wait(0)
		}
		ok, err := c.ParentsFinished(ctx, d.ParentIDs)
		if err != nil {
			log.Warnf(ctx, "kinesisio: shard %s: asking %v whether its parents %v were read: %v (retrying)", d.ShardID, fn.Spec.Checkpoints.Store, d.ParentIDs, err)
		}
		if !ok {
			pc := sdf.ResumeProcessingIn(parentStorePoll)
			return c, &pc, nil
		}
	}
	return c, nil, nil
}

// closeAfterSink ends a shard whose positions CommitWhenDone commits
// (WithCommitsAfterSink): a shard read to its end is recorded as such
// (EndSeq, which CommitWhenDone turns into Finished once it commits the
// shard's last record), so that its children start without waiting for
// the windows of that record to close.
func (fn *readFn) closeAfterSink(ctx context.Context, run *readstate.Run, c *commit.Committer, rt *restriction.Tracker, d shardDesc, rest restriction.Restriction) (*commit.Committer, *sdf.ProcessContinuation, error) {
	if rest.ShardEnded {
		last := ""
		if rest.Start.Kind == restriction.AfterSequence {
			last = rest.Start.Seq
		}
		if err := c.EndAfterSink(ctx, d.ShardID, d.ParentIDs, last); err != nil {
			if c.Err() != nil {
				return nil, nil, fmt.Errorf("%w: %w", errLeaseLost, err)
			}
			log.Warnf(ctx, "kinesisio: shard %s: recording its end in %v: %v (retrying)", d.ShardID, fn.Spec.Checkpoints.Store, err)
			pc := sdf.ResumeProcessingIn(storeRetry.Max)
			return c, &pc, nil
		}
	}
	fn.finish(rt, run)
	releaseIfOver(ctx, run)
	stop := sdf.StopProcessing()
	return c, &stop, nil
}

// releaseIfOver gives up the lease when the run is over in this process:
// its discovery step ended here (a bounded read) and no shard runs.
func releaseIfOver(ctx context.Context, run *readstate.Run) {
	if !run.DiscoveryDone.Load() || run.Watermarks.Active() > 0 {
		return
	}
	c, err := run.Committer(func() (*commit.Committer, error) { return nil, errNoCommitter })
	if err != nil {
		return
	}
	if err := c.Release(ctx); err != nil {
		log.Warnf(ctx, "kinesisio: releasing the lease of application %s: %v (it goes stale by itself)", c.Lease().App, err)
	}
}

var errNoCommitter = errors.New("no committer")

// withCheckpoints returns the start positions with the checkpoints' on
// top (a checkpoint is newer than any position the pipeline names), and
// the shards read to their end, which count as named for the lineage
// rules (their descendants start at their beginning) and are not read.
// A checkpoint whose user record has no next one (a corrupt store) is an
// error.
func (s startSpec) withCheckpoints(cps []checkpoint.Checkpoint) (startSpec, map[string]bool, error) {
	if len(cps) == 0 {
		return s, nil, nil
	}
	out := startSpec{Default: s.Default, Shards: map[string]restriction.Position{}}
	for id, p := range s.Shards {
		out.Shards[id] = p
	}
	finished := map[string]bool{}
	for _, cp := range cps {
		switch {
		case cp.Finished:
			finished[cp.ShardID] = true
			out.Shards[cp.ShardID] = restriction.Position{Kind: restriction.TrimHorizon}
		case cp.Seq != "":
			// Right after the last user record committed: inside a KPL
			// aggregate, its next user record. (An AT_SEQUENCE_NUMBER
			// iterator that skips what was committed: the checkpoint does
			// not say whether the record was the aggregate's last.)
			p, err := restriction.AfterUserRecord(cp.Seq, cp.SubSeq)
			if err != nil {
				return startSpec{}, nil, fmt.Errorf("kinesisio: the checkpoint of shard %s (sequence number %s): %w", cp.ShardID, cp.Seq, err)
			}
			out.Shards[cp.ShardID] = p
		case cp.EndSeq != "":
			// Read to its end, nothing committed (CommitWhenDone): all of
			// it again.
			out.Shards[cp.ShardID] = restriction.Position{Kind: restriction.TrimHorizon}
		}
	}
	return out, finished, nil
}
