package kinesisio

import (
	"maps"
	"reflect"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/runtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/util/reflectx"
	"github.com/kinesisio/beam-kinesis/internal/checkpoint"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/fetcher"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/restriction"
)

// ReadOption configures Read. Options are checked when the pipeline is
// built; a bad one makes Read fail with an error that wraps
// ErrInvalidOption and names the option.
type ReadOption interface {
	applyRead(*readSpec) error
}

type readOptionFunc func(*readSpec) error

func (f readOptionFunc) applyRead(s *readSpec) error { return f(s) }

// readSpec is the whole configuration of one Read, decided when the
// pipeline is built: the options write it, every DoFn of the read holds
// it, and the fetchers' configuration is derived from it (fetchConfig).
// Only names, ARNs, regions and endpoints enter it; no secret.
type readSpec struct {
	Conn connection
	// ReadID names this Read transform, so that its DoFns find the state
	// of its runs in a worker process (package readstate).
	ReadID string
	Start  startSpec

	// ProcessingTime stamps records with the time they are emitted.
	ProcessingTime bool
	// TimestampFn is the registered name of the WithTimestampFn function.
	TimestampFn string
	// EventDelay is how far the event times of TimestampFn may trail
	// arrival times: all watermark evidence trails arrival by it.
	EventDelay time.Duration
	IdleSkew   time.Duration

	// QuotaShare is the share of each shard's polling quota Read paces
	// itself to; 0 turns pacing off (Polling.Unpaced).
	QuotaShare       float64
	MaxBufferedBytes int64
	RecordsPerCall   int32
	IdlePoll         time.Duration

	StopAtLatest bool
	MaxRecords   int64
	MaxReadTime  time.Duration

	DiscoveryInterval time.Duration
	PageSize          int32

	// StartupTimeout bounds the wait for Kinesis when the job starts
	// (see startupTimeout).
	StartupTimeout time.Duration

	Checkpoints checkpointSpec
	// FanOut names the enhanced fan-out consumer; empty = polling.
	FanOut consumerSpec
}

// defaultReadSpec is a Read's configuration before its options. The
// fetcher's settings take their defaults from the one place that owns
// them, fetcher.Config.WithDefaults.
func defaultReadSpec() readSpec {
	f := fetcher.Config{}.WithDefaults()
	return readSpec{
		Start:             startSpec{Default: restriction.Position{Kind: restriction.TrimHorizon}},
		IdleSkew:          time.Second,
		QuotaShare:        1,
		MaxBufferedBytes:  f.MaxBufferedBytes,
		RecordsPerCall:    f.RecordsPerCall,
		IdlePoll:          f.IdlePoll,
		DiscoveryInterval: time.Second,
		StartupTimeout:    startupTimeout,
		Checkpoints:       defaultCheckpointSpec(),
	}
}

// startupTimeout is how long a job waits, when it starts, for a service
// it cannot reach before it fails: Kinesis until the first listing of the
// stream succeeded (or an enhanced fan-out consumer was resolved), and the
// checkpoint store (WithCheckpoints) until it took the lease and loaded the
// checkpoints. Once the job has read, outages are waited out instead.
const startupTimeout = 30 * time.Second

func (s readSpec) bounded() bool {
	return s.StopAtLatest || s.MaxRecords > 0 || s.MaxReadTime > 0
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

// consumerSpec is the consumer of WithEnhancedFanOut: a name or an ARN,
// never both.
type consumerSpec struct {
	Name, ARN string
}

func (c consumerSpec) enabled() bool { return c.Name != "" || c.ARN != "" }

// WithStartAtLatest starts each shard that WithShardPositions does not
// name just after its newest record, instead of at the oldest record
// still in its retention (TRIM_HORIZON, the default). The position is
// pinned to the time the job starts (AT_TIMESTAMP of that moment, by the
// worker's clock), so a checkpoint or restart before the first record
// arrives loses nothing.
func WithStartAtLatest() ReadOption {
	return readOptionFunc(func(s *readSpec) error {
		s.Start.Default = restriction.Position{Kind: restriction.Latest}
		return nil
	})
}

// WithStartAtTimestamp starts each shard that WithShardPositions does not
// name at the first record that arrived at or after t, instead of at the
// oldest record still in its retention (TRIM_HORIZON, the default);
// shards created after t by a reshard are read from their start. Kinesis
// refuses to start at a time its clock has not reached: Read waits for a
// t at most 5 minutes ahead of it (the clock skew AWS's request signing
// tolerates) and fails the job, naming both times, beyond that. A t more
// than 5 minutes after the time the pipeline is built, or the zero time,
// is refused then.
func WithStartAtTimestamp(t time.Time) ReadOption {
	return readOptionFunc(func(s *readSpec) error {
		if err := validateStartTime(t); err != nil {
			return invalid("WithStartAtTimestamp", "%v", err)
		}
		s.Start.Default = restriction.Position{Kind: restriction.AtTimestamp, Millis: t.UnixMilli()}
		return nil
	})
}

// WithShardPositions starts each shard named in positions (by shard ID)
// at or after a sequence number (AtSequenceNumber, AfterSequenceNumber,
// AfterSubSequenceNumber): the way to resume from the positions a
// previous job reached, usually AfterSubSequenceNumber of its last
// record's SequenceNumber and SubSequenceNumber (which is exact for KPL
// user records and plain records alike). Other shards
// start at TRIM_HORIZON (or WithStartAtLatest, WithStartAtTimestamp),
// except for relatives of the named shards:
//
//   - a shard not named whose parent or any other ancestor is named (the
//     children of a split or merge since those positions were taken)
//     starts at its beginning, TRIM_HORIZON, since all its records follow
//     its ancestor's; so does a shard whose ancestry aged out of
//     retention when a named shard did too (it may descend from it:
//     reading it again is safer than losing it);
//   - a shard not named that a named shard descends from is not read: its
//     records all come before the named position (KCL does the same).
//
// Named shards that the stream does not have are ignored, logged with the
// shards it has and counted in the read_unknown_shard_positions metric.
func WithShardPositions(positions map[string]Position) ReadOption {
	return readOptionFunc(func(s *readSpec) error {
		out := make(map[string]restriction.Position, len(positions))
		for shard, p := range positions {
			if shard == "" {
				return invalid("WithShardPositions", "empty shard ID")
			}
			if p.err != nil {
				return invalid("WithShardPositions", "shard %s: %v", shard, p.err)
			}
			if k := p.p.Kind; k != restriction.AtSequence && k != restriction.AfterSequence {
				return invalid("WithShardPositions", "shard %s: %v is not a sequence number position: give AtSequenceNumber, AfterSequenceNumber or AfterSubSequenceNumber", shard, p)
			}
			if err := p.p.Validate(); err != nil {
				return invalid("WithShardPositions", "shard %s: %v", shard, err)
			}
			out[shard] = p.p
		}
		s.Start.Shards = maps.Clone(out)
		return nil
	})
}

// WithProcessingTime stamps each record with the time Read emits it
// instead of its ApproximateArrivalTimestamp (the default).
func WithProcessingTime() ReadOption {
	return readOptionFunc(func(s *readSpec) error {
		s.ProcessingTime, s.TimestampFn, s.EventDelay = true, "", 0
		return nil
	})
}

// WithTimestampFn stamps each record with fn(record) instead of its
// ApproximateArrivalTimestamp (the default), for event times the producer
// put in the records. fn must be a top-level function registered with
// beam.RegisterFunction in an init() function, so that workers in other
// processes can find it.
//
// maxDelay (0 or more) bounds how far a record's event time may be behind
// its arrival in Kinesis (ApproximateArrivalTimestamp): the time a
// producer may take to put a record, retries and batching included. The
// contract: a record whose fn(record) is no earlier than its arrival time
// less maxDelay is never late downstream, whatever order the event times
// come in (Flink calls this bounded out-of-orderness). Records further
// behind may be late. The watermark trails arrival time by maxDelay, on
// idle shards too, so windows close about maxDelay later than with
// arrival times.
func WithTimestampFn(fn func(Record) time.Time, maxDelay time.Duration) ReadOption {
	return readOptionFunc(func(s *readSpec) error {
		if fn == nil {
			return invalid("WithTimestampFn", "nil function")
		}
		if maxDelay < 0 {
			return invalid("WithTimestampFn", "negative maximum delay %v", maxDelay)
		}
		name := reflectx.FunctionName(fn)
		if _, err := runtime.ResolveFunction(name, reflect.TypeOf(fn)); err != nil {
			return invalid("WithTimestampFn", "%s is not registered: call beam.RegisterFunction(%s) in an init() function", name, name)
		}
		s.ProcessingTime, s.TimestampFn, s.EventDelay = false, name, maxDelay
		return nil
	})
}

// WithIdleWatermarkSkew sets how far behind the time of a call that found
// a shard caught up the watermark moves (default 1 s). It covers clock
// skew between workers and Kinesis.
func WithIdleWatermarkSkew(d time.Duration) ReadOption {
	return readOptionFunc(func(s *readSpec) error {
		if d < 0 {
			return invalid("WithIdleWatermarkSkew", "negative duration %v", d)
		}
		s.IdleSkew = d
		return nil
	})
}

// Polling tunes how Read polls shards with GetRecords (a ReadOption; it
// does not apply to WithEnhancedFanOut). A zero field keeps its default;
// several Pollings combine, each non-zero field of a later one replacing
// the value set before.
type Polling struct {
	// IdleInterval is the longest time between the starts of two
	// GetRecords calls on a shard that is caught up and quiet or near-idle
	// (default 1.5 s, KCL 2.x's): the latency bound of such a shard. A
	// shard is polled at the quota's pace (every 200 ms at full quota)
	// while its calls bring a full batch, records while it is behind, or
	// 5 records or more per quota interval. After an empty call on a
	// caught-up shard the next call starts 250 ms after it, then twice as
	// long after each further empty call, up to IdleInterval; while calls
	// bring fewer records, they are spaced to bring about 5 each at the
	// shard's rate over its latest calls (at 10 records/s, every 500 ms),
	// a gap growing by at most half per call and shrinking at once when
	// the rate rises, up to IdleInterval. A record that arrives on a
	// quiet or near-idle shard is therefore fetched at most IdleInterval
	// plus one call's duration after it arrived, and a quiet shard costs
	// about one call per IdleInterval. An IdleInterval below 250 ms is the
	// gap after every empty call. The watermark of a quiet shard advances
	// at each call, so it may trail the clock by up to IdleInterval more
	// than on a busy one (plus WithIdleWatermarkSkew). Calls never exceed
	// the quota either way.
	IdleInterval time.Duration
	// RecordsPerCall is the GetRecords Limit (1 to 10000, default 10000).
	RecordsPerCall int
	// QuotaShare is the share (0 < share <= 1, default 1) of each shard's
	// polling quota, 5 GetRecords calls and 2 MiB per second, that Read
	// paces itself to, leaving the rest to other consumers of the stream.
	// Read stays within it as Kinesis accounts for it, with one second's
	// worth of bytes granted at once (a 10 MiB call is followed by about
	// 5 s without calls), so that it is never throttled.
	QuotaShare float64
	// Unpaced turns the pacing off: a shard calls again as soon as a call
	// returned records and waits only after an empty call (IdleInterval)
	// or a throttled one (backoff), as Beam Java's KinesisIO does by
	// default. It is for servers that do not enforce quotas (emulators,
	// LocalStack), where it reads as fast as the server answers. Against
	// Kinesis it gains nothing but throttled calls, which also count
	// against other consumers of the shard. It excludes QuotaShare.
	Unpaced bool
}

func (p Polling) applyRead(s *readSpec) error {
	switch {
	case p.IdleInterval < 0:
		return invalid("Polling", "negative IdleInterval %v", p.IdleInterval)
	case p.RecordsPerCall < 0 || p.RecordsPerCall > 10000:
		return invalid("Polling", "RecordsPerCall %d is not in [1, 10000]", p.RecordsPerCall)
	case !(p.QuotaShare >= 0 && p.QuotaShare <= 1):
		return invalid("Polling", "QuotaShare %v is not in (0, 1]", p.QuotaShare)
	case p.Unpaced && p.QuotaShare != 0:
		return invalid("Polling", "Unpaced with QuotaShare %v: give one of them", p.QuotaShare)
	}
	if p.IdleInterval > 0 {
		s.IdlePoll = p.IdleInterval
	}
	if p.RecordsPerCall > 0 {
		s.RecordsPerCall = int32(p.RecordsPerCall)
	}
	if p.QuotaShare > 0 {
		s.QuotaShare = p.QuotaShare
	}
	if p.Unpaced {
		s.QuotaShare = 0
	}
	return nil
}

// WithMaxBufferedBytes bounds the bytes fetched ahead per shard (default
// 8 MiB, at least 1 MiB: one record may be that large). One call may
// overshoot it by up to what the call returned.
func WithMaxBufferedBytes(n int64) ReadOption {
	return readOptionFunc(func(s *readSpec) error {
		if n < 1<<20 {
			return invalid("WithMaxBufferedBytes", "%d bytes is below 1 MiB", n)
		}
		s.MaxBufferedBytes = n
		return nil
	})
}

// WithStopAtLatest makes the read bounded: each shard ends at the tip it
// had when the job started. Every record that arrived before the start is
// read; a shard ends when a call made after the start finds it caught up,
// or at its first record that arrived more than 2 s after the start (an
// allowance for clocks that differ), so a few records that arrived just
// after the start may be read too.
func WithStopAtLatest() ReadOption {
	return readOptionFunc(func(s *readSpec) error {
		s.StopAtLatest = true
		return nil
	})
}

// WithMaxRecords makes the read bounded: it ends once n records were
// emitted. The count is kept per worker process and per run of the
// pipeline: exact on Prism and in tests (a pipeline run twice reads n
// records each time), approximate (each worker stops at n) on a runner
// with several workers.
func WithMaxRecords(n int64) ReadOption {
	return readOptionFunc(func(s *readSpec) error {
		if n <= 0 {
			return invalid("WithMaxRecords", "%d is not positive", n)
		}
		s.MaxRecords = n
		return nil
	})
}

// WithMaxReadTime makes the read bounded: each shard ends d after the job
// started.
func WithMaxReadTime(d time.Duration) ReadOption {
	return readOptionFunc(func(s *readSpec) error {
		if d <= 0 {
			return invalid("WithMaxReadTime", "%v is not positive", d)
		}
		s.MaxReadTime = d
		return nil
	})
}

// WithShardDiscoveryInterval sets how often the stream is listed for new
// shards (default 1 s; at least 100 ms). New shards are read as soon as
// they are found, and the watermark waits for each listing, so a longer
// interval delays both. A listing asks only for shards newer than the
// last one found.
func WithShardDiscoveryInterval(d time.Duration) ReadOption {
	return readOptionFunc(func(s *readSpec) error {
		if d < 100*time.Millisecond {
			return invalid("WithShardDiscoveryInterval", "%v is below 100 ms", d)
		}
		s.DiscoveryInterval = d
		return nil
	})
}

// withShardListPageSize sets the ListShards page size (1 to 10000; 0, the
// default, leaves it to the service: 1000). For tests of paging.
func withShardListPageSize(n int) ReadOption {
	return readOptionFunc(func(s *readSpec) error {
		if n < 1 || n > 10000 {
			return invalid("WithShardListPageSize", "%d is not in [1, 10000]", n)
		}
		s.PageSize = int32(n)
		return nil
	})
}

// withStartupTimeout replaces the 30 s a job waits for Kinesis and for
// its checkpoint store when it starts (startupTimeout). For tests.
func withStartupTimeout(d time.Duration) ReadOption {
	return readOptionFunc(func(s *readSpec) error {
		if d <= 0 {
			return invalid("WithStartupTimeout", "%v is not positive", d)
		}
		s.StartupTimeout = d
		s.Checkpoints.StartupTimeout = d
		return nil
	})
}

// applyRead makes a Connection (connection.go) a ReadOption.
func (c Connection) applyRead(s *readSpec) error { return c.apply(&s.Conn.Client) }
