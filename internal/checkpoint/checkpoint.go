// Package checkpoint keeps the positions of a Read outside the job, under
// an application name, so that a later job resumes where an earlier one
// stopped: the connector's counterpart of the KCL lease table.
//
// A store holds, per application and stream, one lease and one checkpoint
// per shard. The lease says which job (run) reads the stream under the
// name; a job acquires it when it starts, heartbeats it while it reads and
// releases it on a clean stop. Each stream has its own lease, so one job
// may read several streams under one name. A lease whose heartbeat is
// older than its StaleAfter may be taken over, and so may one whose every
// recently heartbeating process is provably dead (same machine, process
// gone: see procid); taking it over increments its epoch, and so does
// Reset, which releases it.
//
// Fencing: every checkpoint carries the epoch of the lease it was written
// under. A commit under an older epoch than the stored checkpoint's is
// refused (ErrFenced); the directory store also refuses one under an
// epoch that is no longer the lease's. Reset raises the lease's Floor to
// its new epoch, and every read (Load, Get) ignores checkpoints of an
// epoch below the floor, so that no write of a job cut off by a reset can
// count afterwards, even one that lands after it (DynamoDB has no
// transactions here to refuse it: dynalite has none).
//
// A stop request (RequestStop) is recorded in the lease for the holder's
// epoch; the holder sees it in the lease its heartbeat returns, ends its
// read as a bounded read ends, and releases the lease.
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
	"github.com/kinesisio/beam-kinesis/internal/procid"
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

// Lease is the hold of one job (run) on an application name for one
// stream.
type Lease struct {
	// App is the application name.
	App string
	// Stream is the stream's name.
	Stream string
	// Owner is the run ID of the holder; "" once released.
	Owner string
	// Job describes the holder for people: host, process and job name.
	Job string
	// Epoch counts the acquisitions of the lease by a new owner, and its
	// Resets, from 1.
	Epoch int64
	// Floor is the lowest epoch whose checkpoints count: Reset raises it
	// to its new epoch, and reads ignore checkpoints below it. 0 until the
	// first Reset.
	Floor int64
	// Heartbeat is the holder's last heartbeat (its clock, ms precision).
	Heartbeat time.Time
	// StaleAfter is how long after Heartbeat the lease may be taken over,
	// as the holder set it.
	StaleAfter time.Duration
	// Procs are the processes of the holder that heartbeated it, each
	// with its last heartbeat: the acquiring process, then every process
	// whose readers heartbeat.
	Procs []Proc
	// AfterSink is set by a holder whose positions a CommitWhenDone after
	// the sink commits (WithCommitsAfterSink).
	AfterSink bool
	// SinkEpoch is the epoch under which a CommitWhenDone last reported
	// that it receives the holder's records (MarkSink); 0 if never.
	SinkEpoch int64
	// StopEpoch is the epoch whose holder was asked to stop
	// (RequestStop); 0 if none was.
	StopEpoch int64
}

// Proc is one process of a lease's holder and its last heartbeat.
type Proc struct {
	ID        procid.ID
	Heartbeat time.Time
}

// Live reports whether the lease is held and not stale at now.
func (l Lease) Live(now time.Time) bool {
	return l.Owner != "" && now.Sub(l.Heartbeat) < l.StaleAfter
}

// StopRequested reports whether the holder was asked to stop.
func (l Lease) StopRequested() bool {
	return l.Owner != "" && l.StopEpoch == l.Epoch
}

// SinkAttached reports whether a CommitWhenDone reported under the
// lease's epoch that it receives the holder's records.
func (l Lease) SinkAttached() bool { return l.SinkEpoch == l.Epoch }

// Counts reports whether a checkpoint written under epoch counts under
// l: it is not below the floor a Reset left.
func (l Lease) Counts(epoch int64) bool { return epoch >= l.Floor }

// drop removes from cps, and returns, the checkpoints l does not count
// (a nil l counts all): what Get gives of a store's checkpoints.
func (l *Lease) drop(cps map[string]Checkpoint) map[string]Checkpoint {
	for id, cp := range cps {
		if l != nil && !l.Counts(cp.Epoch) {
			delete(cps, id)
		}
	}
	return cps
}

// Name names the lease for messages: its application and stream.
func (l Lease) Name() string { return fmt.Sprintf("application %s, stream %s", l.App, l.Stream) }

// Errors of stores, matched with errors.Is.
var (
	// ErrLeaseHeld: Acquire found a live lease of another owner. The error
	// is a *HeldError naming it.
	ErrLeaseHeld = errors.New("checkpoint: application name held by another job")
	// ErrLeaseLost: Heartbeat or Release found the lease held by another
	// owner or under a newer epoch (it was taken over).
	ErrLeaseLost = errors.New("checkpoint: lease lost to another job")
	// ErrFenced: Commit found the checkpoint written under a newer epoch,
	// or (directory store) the lease under another epoch than the
	// commit's.
	ErrFenced = errors.New("checkpoint: checkpoint written under a newer lease")
	// ErrNotHeld: RequestStop or MarkSink found no job holding the
	// lease.
	ErrNotHeld = errors.New("checkpoint: no job holds the lease")
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
	return fmt.Sprintf("checkpoint: application %q (stream %s) is held by run %s (%s), last heartbeat %v ago; it may be taken over once it has had none for %v",
		e.Lease.App, e.Lease.Stream, e.Lease.Owner, e.Lease.Job, e.Now.Sub(e.Lease.Heartbeat).Round(time.Millisecond), e.Lease.StaleAfter)
}

func (e *HeldError) Unwrap() error { return ErrLeaseHeld }

// Store keeps leases and checkpoints. Implementations are safe for
// concurrent use, by goroutines and by processes (and, for DynamoDB,
// machines) sharing the store.
type Store interface {
	// Acquire takes the lease of want.App and want.Stream for want.Owner
	// (with want's Job, StaleAfter and AfterSink, and want.Procs as its
	// processes): when there is none, when it is released, stale at now,
	// provably dead (ProvablyDead), or already the owner's (a retry; the
	// epoch stays). A new owner gets the previous epoch + 1. A live lease
	// of another owner gives a *HeldError.
	Acquire(ctx context.Context, want Lease, now time.Time) (Lease, error)
	// Heartbeat sets the lease's heartbeat, and that of process me, to now
	// and returns the lease as stored; ErrLeaseLost when the lease is no
	// longer l's (another owner, or another epoch). l is the lease as the
	// caller last read it: its processes not heartbeated for 10 times its
	// StaleAfter are dropped.
	Heartbeat(ctx context.Context, l Lease, me procid.ID, now time.Time) (Lease, error)
	// Release gives up the lease (Owner ""; the epoch stays);
	// ErrLeaseLost when it is no longer l's.
	Release(ctx context.Context, l Lease) error
	// ReadLease returns the lease of app and stream; ok is false when
	// there is none.
	ReadLease(ctx context.Context, app, stream string) (l Lease, ok bool, err error)
	// Leases returns app's leases, one per stream, sorted by stream.
	Leases(ctx context.Context, app string) ([]Lease, error)
	// RequestStop asks the holder of the lease of app and stream ("" =
	// of each stream of app) to stop: it records the holder's epoch in
	// StopEpoch. It returns the leases asked; ErrNotHeld when no lease is
	// held.
	RequestStop(ctx context.Context, app, stream string) ([]Lease, error)
	// MarkSink records that a CommitWhenDone receives the records of l's
	// holder (SinkEpoch = l.Epoch), on condition that the lease is still
	// under l's epoch; ErrNotHeld when it is not.
	MarkSink(ctx context.Context, l Lease) error
	// Commit writes cp under l (cp.Epoch and cp.Owner are set from l);
	// ErrFenced when the stored checkpoint has a newer epoch than l (and,
	// in the directory store, when the lease is under another epoch).
	Commit(ctx context.Context, l Lease, cp Checkpoint) error
	// Load returns app's checkpoints of stream ("" = of every stream),
	// sorted by stream and shard ID, leaving out those below their
	// lease's Floor.
	Load(ctx context.Context, app, stream string) ([]Checkpoint, error)
	// Get returns the checkpoints of the named shards of stream that
	// exist and count (not below the lease's Floor), by shard ID.
	Get(ctx context.Context, app, stream string, shardIDs []string) (map[string]Checkpoint, error)
	// Set writes cp as an operator does (the command's set): under the
	// current epoch of the stream's lease, whoever holds it.
	Set(ctx context.Context, app string, cp Checkpoint) error
	// Reset deletes app's checkpoints and releases each of its leases
	// under a new epoch (Owner "", Epoch + 1), which becomes the lease's
	// Floor; with no lease it writes none. The holder it cut off gets
	// ErrLeaseLost from its Heartbeat and Release, its later commits do
	// not count (below the floor), and the next Acquire gets an epoch
	// above any checkpoint that holder could still write.
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
