// Package checkpoint keeps the positions of a Read outside the job, under
// an application name, so that a later job resumes where an earlier one
// stopped: the connector's counterpart of the KCL lease table.
//
// A store holds, per application, one lease and one checkpoint per stream
// and shard. The lease says which job (run) holds the name; a job
// acquires it when it starts, heartbeats it while it reads and releases
// it on a clean stop. A lease whose heartbeat is older than its
// StaleAfter may be taken over; taking it over increments its epoch, and
// so does Reset, which releases it.
//
// Fencing: every checkpoint carries the epoch of the lease it was written
// under, and a commit under an older epoch than the checkpoint's is
// refused (ErrFenced). A job that lost its lease can therefore never
// overwrite what the job that took over wrote.
//
// Two stores implement the same semantics: a DynamoDB table (NewDynamoDB)
// and a local directory (NewDir). Open builds either from a Spec, the
// serializable description a DoFn carries.
package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"time"

	"github.com/kinesisio/beam-kinesis/internal/awsclient"
)

// Checkpoint is what a store keeps for one shard of one stream.
type Checkpoint struct {
	// Stream is the stream's name (not its ARN: one stream, one name).
	Stream string
	// ShardID is the shard's ID.
	ShardID string
	// Seq is the sequence number of the last record whose processing was
	// committed; "" when none was (a shard that ended before its first
	// record). Reading resumes after it.
	Seq string
	// SubSeq is the sub-sequence number within Seq's KPL aggregate of the
	// last user record committed; 0 for a record that is not an
	// aggregate. (Resuming from Seq with SubSeq resumes at SubSeq+1.)
	SubSeq int64
	// Finished is set once the shard was read to its end (a closed shard
	// whose last record was committed): it is not read again, and its
	// children may start.
	Finished bool
	// EndSeq is the sequence number of the shard's last record, once a
	// reader reached the shard's end while the positions up to it were
	// still to be committed by a later step (kinesisio.CommitWhenDone):
	// the shard was read to its end, but is Finished only once Seq
	// reaches EndSeq. "" otherwise.
	EndSeq string
	// Parents are the shard's parent shard IDs, as ListShards named them.
	Parents []string
	// Epoch is the lease epoch the checkpoint was written under.
	Epoch int64
	// Owner is the run ID of the job that wrote it.
	Owner string
	// Updated is when it was written (the writer's clock, millisecond
	// precision).
	Updated time.Time
}

// Lease is the hold of one job (run) on an application name.
type Lease struct {
	// App is the application name.
	App string
	// Owner is the run ID of the holder; "" once released.
	Owner string
	// Job describes the holder for people: host, process and job name.
	Job string
	// Epoch counts the acquisitions of the name by a new owner, and its
	// Resets, from 1.
	Epoch int64
	// Heartbeat is the holder's last heartbeat (its clock, ms precision).
	Heartbeat time.Time
	// StaleAfter is how long after Heartbeat the lease may be taken over,
	// as the holder set it.
	StaleAfter time.Duration
}

// Live reports whether the lease is held and not stale at now.
func (l Lease) Live(now time.Time) bool {
	return l.Owner != "" && now.Sub(l.Heartbeat) < l.StaleAfter
}

// Errors of stores, matched with errors.Is.
var (
	// ErrLeaseHeld: Acquire found a live lease of another owner. The error
	// is a *HeldError naming it.
	ErrLeaseHeld = errors.New("checkpoint: application name held by another job")
	// ErrLeaseLost: Heartbeat or Release found the lease held by another
	// owner or under a newer epoch (it was taken over).
	ErrLeaseLost = errors.New("checkpoint: lease lost to another job")
	// ErrFenced: Commit found the checkpoint written under a newer epoch.
	ErrFenced = errors.New("checkpoint: checkpoint written under a newer lease")
	// ErrForeign: the table or directory exists but is not a checkpoint
	// store of this format (another key schema, other files). Nothing was
	// written to it.
	ErrForeign = errors.New("checkpoint: not a kinesisio checkpoint store")
)

// HeldError is the ErrLeaseHeld of Acquire: Lease is the live lease.
type HeldError struct {
	Lease Lease
	// Now is when Acquire looked (the caller's clock).
	Now time.Time
}

func (e *HeldError) Error() string {
	return fmt.Sprintf("checkpoint: application %q is held by run %s (%s), last heartbeat %v ago; it may be taken over once it has had none for %v",
		e.Lease.App, e.Lease.Owner, e.Lease.Job, e.Now.Sub(e.Lease.Heartbeat).Round(time.Millisecond), e.Lease.StaleAfter)
}

func (e *HeldError) Unwrap() error { return ErrLeaseHeld }

// Store keeps leases and checkpoints. Implementations are safe for
// concurrent use, by goroutines and by processes (and, for DynamoDB,
// machines) sharing the store.
type Store interface {
	// Acquire takes the lease on app for owner: when there is none, when
	// it is released, stale at now, or already owner's (a retry; the
	// epoch stays). A new owner gets the previous epoch + 1. A live lease
	// of another owner gives a *HeldError.
	Acquire(ctx context.Context, app, owner, job string, staleAfter time.Duration, now time.Time) (Lease, error)
	// Heartbeat sets the lease's heartbeat to now; ErrLeaseLost when the
	// lease is no longer l's (another owner, or another epoch).
	Heartbeat(ctx context.Context, l Lease, now time.Time) error
	// Release gives up the lease (Owner ""; the epoch stays);
	// ErrLeaseLost when it is no longer l's.
	Release(ctx context.Context, l Lease) error
	// ReadLease returns app's lease; ok is false when there is none.
	ReadLease(ctx context.Context, app string) (l Lease, ok bool, err error)
	// Commit writes cp under l (cp.Epoch and cp.Owner are set from l);
	// ErrFenced when the stored checkpoint has a newer epoch than l.
	Commit(ctx context.Context, l Lease, cp Checkpoint) error
	// Load returns app's checkpoints of stream ("" = of every stream),
	// sorted by stream and shard ID.
	Load(ctx context.Context, app, stream string) ([]Checkpoint, error)
	// Get returns the checkpoints of the named shards of stream that
	// exist, by shard ID.
	Get(ctx context.Context, app, stream string, shardIDs []string) (map[string]Checkpoint, error)
	// Set writes cp as an operator does (the command's set): under the
	// lease's current epoch, whoever holds it.
	Set(ctx context.Context, app string, cp Checkpoint) error
	// Reset deletes app's checkpoints and releases its lease under a new
	// epoch (Owner "", Epoch + 1) when there is one; with no lease it
	// writes none. The holder it cut off gets ErrLeaseLost from its
	// Heartbeat and Release, and the next Acquire gets an epoch above any
	// checkpoint that holder could still commit, so the next job is not
	// fenced by it.
	Reset(ctx context.Context, app string) error
	// Close releases the store's resources (not the lease).
	Close() error
}

// Kind names a kind of store.
type Kind string

// The kinds of store.
const (
	DynamoDB Kind = "dynamodb"
	Dir      Kind = "dir"
)

// Spec names a store: serializable, with no secret (the DynamoDB client
// gets credentials from the AWS default chain of the worker).
type Spec struct {
	Kind Kind
	// Table is the DynamoDB table's name (DynamoDB).
	Table string
	// Conn holds the DynamoDB client's region, endpoint, profile and role.
	Conn awsclient.Settings
	// Path is the directory (Dir).
	Path string
}

// String names the store for messages.
func (s Spec) String() string {
	switch s.Kind {
	case DynamoDB:
		where := s.Conn.Region
		if s.Conn.Endpoint != "" {
			where = s.Conn.Endpoint
		}
		if where == "" {
			return fmt.Sprintf("DynamoDB table %s", s.Table)
		}
		return fmt.Sprintf("DynamoDB table %s (%s)", s.Table, where)
	case Dir:
		return fmt.Sprintf("checkpoint directory %s", s.Path)
	}
	return fmt.Sprintf("checkpoint store of kind %q", string(s.Kind))
}

// Validate reports a Spec that cannot name a store.
func (s Spec) Validate() error {
	switch s.Kind {
	case DynamoDB:
		if !tableName.MatchString(s.Table) {
			return fmt.Errorf("invalid DynamoDB table name %q: want 3 to 255 of [a-zA-Z0-9_.-]", s.Table)
		}
	case Dir:
		if s.Path == "" {
			return fmt.Errorf("empty checkpoint directory")
		}
	default:
		return fmt.Errorf("unknown checkpoint store kind %q", string(s.Kind))
	}
	return nil
}

var (
	tableName = regexp.MustCompile(`^[a-zA-Z0-9_.-]{3,255}$`)
	appName   = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,128}$`)
)

// ValidateApp reports an application name a store cannot hold: 1 to 128
// of [a-zA-Z0-9_.-] (a directory name, a DynamoDB key).
func ValidateApp(app string) error {
	if !appName.MatchString(app) || app == "." || app == ".." {
		return fmt.Errorf("invalid application name %q: want 1 to 128 of [a-zA-Z0-9_.-]", app)
	}
	return nil
}

// Open builds the store that spec names, creating the table or directory
// when absent and checking that an existing one is a checkpoint store
// (ErrForeign otherwise).
func Open(ctx context.Context, spec Spec) (Store, error) {
	if err := spec.Validate(); err != nil {
		return nil, fmt.Errorf("checkpoint: %w", err)
	}
	switch spec.Kind {
	case DynamoDB:
		return NewDynamoDB(ctx, spec.Table, spec.Conn)
	default:
		return NewDir(spec.Path)
	}
}
