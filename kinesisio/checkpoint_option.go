package kinesisio

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/kinesisio/beam-kinesis/internal/checkpoint"
)

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
		if err := checkpoint.ValidateApp(app); err != nil {
			return invalid("WithCheckpoints", "%v", err)
		}
		if store.err != nil {
			return invalid("WithCheckpoints", "%v: %v", store.spec, store.err)
		}
		if store.spec.Kind == "" {
			return invalid("WithCheckpoints", "no store: use DynamoDBTable or LocalDirectory")
		}
		if err := store.spec.Validate(); err != nil {
			return invalid("WithCheckpoints", "%v", err)
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

// checkpointSpec is the WithCheckpoints part of a readSpec.
type checkpointSpec struct {
	// App is the application name; "" = no checkpoints.
	App   string
	Store checkpoint.Spec
	// Interval is the least time between two writes of a shard.
	Interval time.Duration
	// LeaseTimeout is how long a lease lives without a heartbeat.
	LeaseTimeout time.Duration
	// StartupTimeout bounds the retries of a store that fails when the
	// job starts.
	StartupTimeout time.Duration
	// AfterSink leaves positions to CommitWhenDone (WithCommitsAfterSink).
	AfterSink bool
	// SinkGrace bounds how long after its first record a read with
	// AfterSink waits for CommitWhenDone's mark on the lease.
	SinkGrace time.Duration
}

func (c checkpointSpec) enabled() bool { return c.App != "" }

func defaultCheckpointSpec() checkpointSpec {
	return checkpointSpec{Interval: 10 * time.Second, LeaseTimeout: 10 * time.Second, StartupTimeout: startupTimeout, SinkGrace: 15 * time.Second}
}
