package kinesisio

import (
	"time"

	"github.com/kinesisio/beam-kinesis/internal/backoff"
)

// WriteOption configures Write and WriteBytes. Options are checked when
// the pipeline is built; a bad one makes TryWrite fail with an error that
// wraps ErrInvalidOption and names the option.
//
// The connection options WithRegion, WithEndpoint, WithProfile and
// WithAssumeRole (ConnectionOption) configure Write too.
type WriteOption interface {
	applyWrite(*writeSpec) error
}

// FailedRecordsMode says what Write does with a record it cannot write:
// one that is invalid (too large, bad partition or hash key) or that still
// fails after the last attempt.
type FailedRecordsMode int

const (
	// FailBundle fails the bundle, after every other record of it was
	// attempted, with an error that names the failures (the default:
	// nothing is dropped silently). The runner then retries the bundle or
	// fails the job.
	FailBundle FailedRecordsMode = iota
	// EmitFailed emits the record in WriteResult.Failed, with the reason,
	// and goes on.
	EmitFailed
)

// Kinesis's limits on writes (1 MiB per record and 5 MiB per call, the
// defaults of streams; streams can be configured for records of up to
// 10 MiB, see WithMaxRecordSize).
const (
	maxBatchRecords       = 500
	defaultMaxRecordBytes = 1 << 20
	defaultMaxBatchBytes  = 5 << 20
	largeMaxRecordBytes   = 10 << 20
	largeMaxBatchBytes    = 10 << 20
	maxPartitionKeyChars  = 256
)

// writeSpec is the whole configuration of one Write, decided when the
// pipeline is built: the options write it, its DoFn holds it, and the
// writer's configuration is derived from it (writerConfig).
type writeSpec struct {
	Conn           connection
	MaxAttempts    int
	Backoff        backoff.Policy
	EmitFailed     bool
	NoWritten      bool
	MaxInFlight    int
	ShardRateLimit bool
	StrictOrdering bool
	MaxRecordBytes int
}

func defaultWriteSpec() writeSpec {
	return writeSpec{
		MaxAttempts:    10,
		Backoff:        backoff.Policy{Base: 100 * time.Millisecond, Max: 10 * time.Second},
		MaxInFlight:    4,
		MaxRecordBytes: defaultMaxRecordBytes,
	}
}

// writeOptionFunc is a write-only option.
type writeOptionFunc func(*writeSpec) error

func (f writeOptionFunc) applyWrite(s *writeSpec) error { return f(s) }

// WithMaxAttempts sets how many times Write sends a record before giving
// up on it (at least 1, default 10). A call that fails as a whole counts
// as an attempt for each of its records.
func WithMaxAttempts(n int) WriteOption {
	return writeOptionFunc(func(c *writeSpec) error {
		if n < 1 {
			return invalid("WithMaxAttempts", "%d is below 1", n)
		}
		c.MaxAttempts = n
		return nil
	})
}

// WithBackoff sets the backoff between attempts: before retry k, Write
// waits a random time between 0 and min(max, base * 2^(k-1)) ("full
// jitter"). Defaults: 100 ms and 10 s.
func WithBackoff(base, max time.Duration) WriteOption {
	return writeOptionFunc(func(c *writeSpec) error {
		if base <= 0 || max < base {
			return invalid("WithBackoff", "want 0 < base <= max, got base %v, max %v", base, max)
		}
		c.Backoff = backoff.Policy{Base: base, Max: max}
		return nil
	})
}

// WithFailedRecords says what happens to records that cannot be written:
// FailBundle (the default) or EmitFailed.
func WithFailedRecords(mode FailedRecordsMode) WriteOption {
	return writeOptionFunc(func(c *writeSpec) error {
		if mode != FailBundle && mode != EmitFailed {
			return invalid("WithFailedRecords", "unknown mode %d", mode)
		}
		c.EmitFailed = mode == EmitFailed
		return nil
	})
}

// WithoutWrittenRecords stops Write from emitting a WrittenRecord for each
// record written: WriteResult.Written stays empty. Failed records are
// reported as WithFailedRecords says, and the write_records and
// write_bytes metrics still count what was written. It saves the output
// and what Beam does with it downstream (about 0.4 µs per record on Prism,
// see docs/performance.md) in pipelines that never look at the results.
func WithoutWrittenRecords() WriteOption {
	return writeOptionFunc(func(c *writeSpec) error {
		c.NoWritten = true
		return nil
	})
}

// WithMaxInFlight bounds the requests each Write DoFn instance has in
// flight at once (1 to 64, default 4). Records are spread over that many
// lanes by partition key; each lane sends one request at a time, so
// records of one key are never in two requests at once.
func WithMaxInFlight(n int) WriteOption {
	return writeOptionFunc(func(c *writeSpec) error {
		if n < 1 || n > 64 {
			return invalid("WithMaxInFlight", "%d is not in [1, 64]", n)
		}
		c.MaxInFlight = n
		return nil
	})
}

// WithShardRateLimit paces writes on the client so that each worker
// process sends no shard more than its quota (1,000 records and 1 MiB per
// second), instead of sending and retrying what Kinesis throttles. Write
// then lists the stream's shards (it needs kinesis:ListShards) and maps
// each record to its shard by the MD5 hash of its partition key, or its
// explicit hash key; it lists them again when a record lands on a shard
// it did not expect (a reshard) and every minute. Workers do not share
// their budgets: with several worker processes writing the same shard,
// Kinesis still throttles and Write still retries.
func WithShardRateLimit(enabled bool) WriteOption {
	return writeOptionFunc(func(c *writeSpec) error {
		c.ShardRateLimit = enabled
		return nil
	})
}

// WithStrictOrdering writes each record with its own PutRecord call,
// serially per partition key, passing the sequence number of the key's
// previous record as SequenceNumberForOrdering: records of one key in one
// bundle then get strictly increasing sequence numbers, even across
// retries. It costs one request per record; records of different keys
// still go in parallel (WithMaxInFlight).
func WithStrictOrdering() WriteOption {
	return writeOptionFunc(func(c *writeSpec) error {
		c.StrictOrdering = true
		return nil
	})
}

// WithMaxRecordSize sets the largest record (data + partition key, in
// bytes) Write sends; larger ones fail with ErrCodeRecordTooLarge before
// any call. The default is 1 MiB, Kinesis's default. Up to 10 MiB is
// allowed for streams whose maximum record size was raised; above 1 MiB,
// a call may also carry up to 10 MiB instead of 5 MiB.
func WithMaxRecordSize(bytes int) WriteOption {
	return writeOptionFunc(func(c *writeSpec) error {
		if bytes < 1 || bytes > largeMaxRecordBytes {
			return invalid("WithMaxRecordSize", "%d is not in [1, %d]", bytes, largeMaxRecordBytes)
		}
		c.MaxRecordBytes = bytes
		return nil
	})
}

// maxBatchBytes is the size limit of one PutRecords call.
func (s writeSpec) maxBatchBytes() int {
	if s.MaxRecordBytes > defaultMaxRecordBytes {
		return largeMaxBatchBytes
	}
	return defaultMaxBatchBytes
}
