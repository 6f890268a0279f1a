package kinesisio

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"time"

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
	return openStoreWithin(ctx, s.Checkpoints.Store, s.Checkpoints.StartupTimeout, "WithCheckpoints", nil)
}

// openStoreWithin opens spec, retrying a store that fails for within; who
// names the option for messages. A path or table that is not a checkpoint
// store is retried too: at a worker's start it may be one being replaced
// for a moment (the discovery step's start, which opens it first, has
// the same bound).
func openStoreWithin(ctx context.Context, spec checkpoint.Spec, within time.Duration, who string, logs *backoff.LogLimit) (checkpoint.Store, error) {
	var st checkpoint.Store
	err := retryStore(ctx, spec, within, who, "opening the store", nil, logs, func(ctx context.Context) (err error) {
		st, err = openCheckpointStore(ctx, spec)
		return err
	})
	if err != nil {
		return nil, fmt.Errorf("kinesisio: %s: opening %v: %w", who, spec, err)
	}
	return st, nil
}

// openCheckpointStore opens the store spec names. Tests wrap the store
// it returns to count its calls.
var openCheckpointStore = checkpoint.Open

// commitConfig is the configuration of run's committer: its failed
// writes are logged within the run's limit, with its readers' store
// failures.
func (s readSpec) commitConfig(run *readstate.Run, stream string) commit.Config {
	return commit.Config{Stream: stream, Interval: s.Checkpoints.Interval, Retry: storeRetry, Log: &run.StoreLog, AfterSink: s.Checkpoints.AfterSink, SinkGrace: s.Checkpoints.SinkGrace}
}

// startCheckpoints is the discovery step's part of a run with a store: it
// takes the application's lease for the run, starts the run's committer
// in this process, and returns the stream's checkpoints. watchShardsFn
// calls it once per run in a process (readstate.Run.Start). A store that
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
		return commit.New(store, lease, s.commitConfig(run, stream)), nil
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
	return retryStore(ctx, s.Checkpoints.Store, s.Checkpoints.StartupTimeout, "WithCheckpoints", what, permanentStoreError, nil, op)
}

// permanentStoreError reports errors of a store that retrying cannot
// mend: a lease held by a live job, a store that is not ours.
func permanentStoreError(err error) bool {
	return errors.Is(err, checkpoint.ErrLeaseHeld) || errors.Is(err, checkpoint.ErrForeign)
}

// retryStore runs op on the store spec until it succeeds, fails for good
// (permanent, when not nil, says which errors are) or within passes; who
// names the option for messages. Each retry logs a line, within logs
// when it is not nil (a limit the caller shares with the other DoFn
// instances doing the same).
func retryStore(ctx context.Context, spec checkpoint.Spec, within time.Duration, who, what string, permanent func(error) bool, logs *backoff.LogLimit, op func(context.Context) error) error {
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
			if logs != nil {
				logs.Warnf(ctx, "kinesisio: %s in %v failed (attempt %d, retrying in %v): %v", what, spec, attempt, d, err)
			} else {
				log.Warnf(ctx, "kinesisio: %s in %v failed (attempt %d, retrying in %v): %v", what, spec, attempt, d, err)
			}
			return d, nil
		},
		Interrupted: func(error) error { return ctx.Err() },
	}.Do(ctx, op)
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

// CheckpointStore names where WithCheckpoints keeps a read's positions:
// DynamoDBTable or LocalDirectory. It holds names only (a table, its
// region, endpoint, profile or role; a path), never credentials.
type CheckpointStore struct {
	spec checkpoint.Spec
	err  error
}

// DynamoDBTable keeps positions in the DynamoDB table named table, for
// jobs on several workers. The table is created on first use when absent
// (on-demand billing, partition key "app" and sort key "key", both
// strings) or used as it is; a table with another key schema is refused.
// One table can hold many applications. conn sets the table's region,
// endpoint, profile or role when they differ from the stream's (default:
// the workers' AWS default chain, as for the stream); several combine as
// in Read.
func DynamoDBTable(table string, conn ...Connection) CheckpointStore {
	st := CheckpointStore{spec: checkpoint.Spec{Kind: checkpoint.DynamoDB, Table: table}}
	for _, c := range conn {
		if err := c.apply(&st.spec.Conn); err != nil {
			st.err = err
			return st
		}
	}
	return st
}

// LocalDirectory keeps positions in files under the directory path (made
// absolute when the pipeline is built), for runs on one machine such as
// Prism's: every write replaces a file atomically, so a crash never
// leaves a torn checkpoint. The directory is created when absent; an
// existing directory that holds other files is refused.
func LocalDirectory(path string) CheckpointStore {
	st := CheckpointStore{spec: checkpoint.Spec{Kind: checkpoint.Dir, Path: path}}
	if path == "" {
		st.err = fmt.Errorf("empty directory path")
		return st
	}
	abs, err := filepath.Abs(path)
	if err != nil {
		st.err = fmt.Errorf("directory %q: %v", path, err)
		return st
	}
	st.spec.Path = abs
	return st
}

// check refuses an application name or a store that who (the option or
// function given them) cannot use, saying why: the one check of
// WithCheckpoints, CommitWhenDone and RequestStop.
func (c CheckpointStore) check(who, app string) error {
	if err := checkpoint.ValidateApp(app); err != nil {
		return invalid(who, "%v", err)
	}
	if c.err != nil {
		return invalid(who, "%v: %v", c.spec, c.err)
	}
	if c.spec.Kind == "" {
		return invalid(who, "no store: use DynamoDBTable or LocalDirectory")
	}
	if err := c.spec.Validate(); err != nil {
		return invalid(who, "%v", err)
	}
	return nil
}

// String names the store.
func (c CheckpointStore) String() string { return c.spec.String() }

// WithCheckpoints makes Read keep each shard's position in store under
// the application name app, so that a job started again under the same
// name resumes where the last one stopped, as a KCL application does with
// its lease table:
//   - a shard with a checkpoint continues right after it;
//   - a shard read to its end is not read again, and its children start
//     at their beginning;
//   - other shards start at TRIM_HORIZON, or where WithStartAtLatest or
//     WithStartAtTimestamp says (a new name, or a store reset, starts
//     fresh).
//
// A position is written once the runner has committed the bundle that
// emitted the records up to it (it hands the residual back only then), at
// most once per shard per WithCommitInterval, and at once at a shard's end
// and when a bounded read stops. That is end to end for sinks in the same
// stage as the read, and on runners that keep state durably (Dataflow,
// Flink with checkpoints). On Prism, which keeps no state across a crash,
// records behind a GroupByKey that the sink had not finished when the
// process died are not read again: there, add WithCommitsAfterSink and
// place CommitWhenDone after the sink. A restart repeats at most what arrived
// in the last interval, and what was in flight (at-least-once). The
// legacy direct runner, which does not checkpoint, is refused.
//
// One job at a time reads a stream under a name: the job takes the
// stream's lease when it starts and heartbeats it while it reads; a second
// job under a name whose lease is live fails at once, naming the holder.
// One pipeline may read several streams under one name (a lease per
// stream). A lease without a heartbeat for 10 s (a job that crashed or was
// cancelled) is taken over, and so is, at once, one whose processes are
// provably gone (a crashed job on the same machine). A job whose lease
// was taken over, or reset, can no longer write a checkpoint that counts,
// and fails. RequestStop (or `kinesischeckpoints stop`) ends a job
// gracefully: every shard's position written, the lease released.
// Children of a split or merge are read only after every parent is
// recorded as read to its end, whichever worker read it.
func WithCheckpoints(app string, store CheckpointStore) ReadOption {
	return readOptionFunc(func(s *readSpec) error {
		if err := store.check("WithCheckpoints", app); err != nil {
			return err
		}
		s.Checkpoints.App, s.Checkpoints.Store = app, store.spec
		return nil
	})
}

// WithCommitInterval sets how often, at most, each shard's position is
// written to the checkpoint store (default 10 s; at least 100 ms). A
// shorter interval repeats fewer records after a crash and writes more:
// at 10 s, 6 writes per shard per minute (about 0.26 million a month,
// well within one DynamoDB partition for thousands of shards). A shard's
// end and a bounded read's stop are written at once whatever the
// interval.
func WithCommitInterval(d time.Duration) ReadOption {
	return readOptionFunc(func(s *readSpec) error {
		if d < 100*time.Millisecond {
			return invalid("WithCommitInterval", "%v is below 100 ms", d)
		}
		s.Checkpoints.Interval = d
		return nil
	})
}

// WithCommitsAfterSink leaves the committing of positions to
// CommitWhenDone, placed after the sink: the read then writes only where
// a shard it read to its end ended (CommitWhenDone marks it finished when
// it commits that record), and takes and heartbeats the lease as with
// WithCheckpoints alone, which it needs. Use it when the sink follows a GroupByKey on a
// runner without durable state (Prism): positions are then committed only
// once the sink finished their windows.
func WithCommitsAfterSink() ReadOption {
	return readOptionFunc(func(s *readSpec) error {
		s.Checkpoints.AfterSink = true
		return nil
	})
}

// withLeaseTimeout sets how long a lease may go without a heartbeat
// before another job may take it over (default 10 s). For tests.
func withLeaseTimeout(d time.Duration) ReadOption {
	return readOptionFunc(func(s *readSpec) error {
		if d < 100*time.Millisecond {
			return invalid("WithLeaseTimeout", "%v is below 100 ms", d)
		}
		s.Checkpoints.LeaseTimeout = d
		return nil
	})
}

// withSinkGrace sets how long after its first record a read with
// WithCommitsAfterSink waits for CommitWhenDone to report (default 15 s).
// For tests.
func withSinkGrace(d time.Duration) ReadOption {
	return readOptionFunc(func(s *readSpec) error {
		s.Checkpoints.SinkGrace = d
		return nil
	})
}
