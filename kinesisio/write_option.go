package kinesisio

import (
	"time"

	"github.com/kinesisio/beam-kinesis/internal/backoff"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/writer"
)

// WriteOption configures Write: the With* options of this file,
// Aggregation and Connection. Options are checked when the pipeline is
// built; a bad one makes TryWrite fail with an error that wraps
// ErrInvalidOption and names the option.
type WriteOption interface {
	applyWrite(*writeSpec) error
}

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
	// Aggregation is set by the Aggregation option, its defaults filled in by
	// resolve; nil means no aggregation.
	Aggregation *Aggregation
}

func defaultWriteSpec() writeSpec {
	return writeSpec{
		MaxAttempts:    10,
		Backoff:        backoff.Policy{Base: 100 * time.Millisecond, Max: 10 * time.Second},
		MaxInFlight:    4,
		MaxRecordBytes: writer.DefaultMaxRecordBytes,
	}
}

// writeOptionFunc is a write-only option.
type writeOptionFunc func(*writeSpec) error

func (f writeOptionFunc) applyWrite(s *writeSpec) error { return f(s) }

// WithRetries sets how many times Write sends a record before giving up
// on it (at least 1, default 10; a call that fails as a whole counts as
// an attempt for each of its records) and the backoff between attempts:
// before retry k, Write waits a random time between 0 and
// min(max, base * 2^(k-1)) ("full jitter"; defaults 100 ms and 10 s). A
// zero maxAttempts, or zero base and max, keeps the value set before (the
// default, or an earlier WithRetries); otherwise 0 < base <= max.
func WithRetries(maxAttempts int, base, max time.Duration) WriteOption {
	return writeOptionFunc(func(c *writeSpec) error {
		switch {
		case maxAttempts < 0:
			return invalid("WithRetries", "maxAttempts %d is below 1", maxAttempts)
		case (base != 0 || max != 0) && (base <= 0 || max < base):
			return invalid("WithRetries", "want 0 < base <= max, got base %v, max %v", base, max)
		}
		if maxAttempts > 0 {
			c.MaxAttempts = maxAttempts
		}
		if base != 0 {
			c.Backoff = backoff.Policy{Base: base, Max: max}
		}
		return nil
	})
}

// WithFailedRecords emits each record Write cannot write (one that is
// invalid: too large, bad partition or hash key; or that still fails after
// the last attempt) in WriteResult.Failed, with the reason, and goes on.
// Without it, such records fail the bundle, after every other record of
// it was attempted, with an error that names them: nothing is dropped
// silently, and the runner retries the bundle or fails the job.
func WithFailedRecords() WriteOption {
	return writeOptionFunc(func(c *writeSpec) error {
		c.EmitFailed = true
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
func WithShardRateLimit() WriteOption {
	return writeOptionFunc(func(c *writeSpec) error {
		c.ShardRateLimit = true
		return nil
	})
}

// WithStrictOrdering writes each record with its own PutRecord call,
// serially per partition key, passing the sequence number of the key's
// previous record as SequenceNumberForOrdering: records of one key in one
// bundle then get strictly increasing sequence numbers, even across
// retries. It costs one request per record; records of different keys
// still go in parallel (WithMaxInFlight). It cannot be combined with
// Aggregation, which packs many records into one.
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
		if bytes < 1 || bytes > writer.LargeMaxRecordBytes {
			return invalid("WithMaxRecordSize", "%d is not in [1, %d]", bytes, writer.LargeMaxRecordBytes)
		}
		c.MaxRecordBytes = bytes
		return nil
	})
}

// Aggregation, given to Write as an option, makes Write pack user records into KPL aggregated
// records (the format of the Kinesis Producer Library, which the KCL and
// other KPL-aware consumers de-aggregate), many user records per Kinesis
// record, which lifts a shard's write rate from its 1,000 records per
// second towards its 1 MiB per second: about 9,000 user records of 100
// bytes.
//
// Write then lists the stream's shards (it needs kinesis:ListShards) and
// keeps one open aggregate per shard: each user record goes to the
// aggregate of the shard its explicit hash key, else the MD5 of its
// partition key, falls in. An aggregate is sent when the next record
// would take it over MaxBytes or MaxRecords, when MaxDelay has
// passed since its first record (checked as records arrive), and at the
// end of each bundle. It goes as one Kinesis record with the partition
// key of its first user record and, as explicit hash key, that record's
// hash key, so it lands on the shard its user records would have. A
// shard's aggregates are sent one call at a time, at most one per call,
// and a failed one is retried before anything newer of its shard is sent,
// so a partition key's records keep their order: by sequence number, then
// sub-sequence number. An aggregate that holds a single user record is
// sent as that plain record, and so is a record too large to share an
// aggregate (up to the maximum record size; larger ones fail with
// ErrCodeRecordTooLarge as without aggregation).
//
// Results are per user record: WrittenRecord gives the aggregate's shard
// and sequence number and the record's SubSequenceNumber (its index in
// the aggregate, 0 for a plain record); a failed aggregate reports each of
// its user records in WriteResult.Failed (WithFailedRecords) or counts them all
// in the error that fails the bundle (without WithFailedRecords).
//
// The shard map is listed again every minute, and when a record lands on
// a shard the map did not predict (after a split or merge); before it
// uses a new map, Write sends and settles every open aggregate. Until the
// map is listed again, an aggregate may hold user records whose hash keys
// fall in two child shards: it lands, whole, on the shard of its first
// record's. A consumer that de-aggregates without filtering by hash key
// range gets all its records: kinesisio.Read does (and counts them in
// read_kpl_outside_shard); the KCL drops such an aggregate whole. When
// the shards cannot be listed for a transient reason and no map was
// listed yet, records are sent plain, not aggregated, until a listing
// succeeds.
//
// kinesisio.Read de-aggregates: it emits each user record as a Record
// with its partition key, explicit hash key and SubSequenceNumber.
// Aggregation cannot be combined with WithStrictOrdering (one
// PutRecord per record), which TryWrite refuses.
// A zero field takes its default.
type Aggregation struct {
	// MaxBytes bounds an aggregated record: its data (the KPL magic,
	// protobuf and MD5) plus its partition key, counted as Kinesis counts a
	// record against its maximum size. Default and most: the Write's
	// maximum record size (WithMaxRecordSize, 1 MiB by default).
	MaxBytes int
	// MaxRecords bounds the user records of one aggregate. Default 4,096:
	// never the binding limit for throughput (a shard takes 1,000 records
	// a second, so 4,096 user records per aggregate would reach its 1 MiB
	// per second with records of a quarter byte), it bounds how many
	// records one failed aggregate takes with it.
	MaxRecords int
	// MaxDelay bounds how long a user record waits in an open aggregate:
	// an aggregate is sent once MaxDelay has passed since its first record,
	// at the next record given to the Write DoFn or at the end of the
	// bundle, whichever comes first. Default 500 ms (as Beam Java's
	// KinesisIO and the KPL's RecordMaxBufferedTime).
	MaxDelay time.Duration
}

// Defaults of Aggregation.
const (
	defaultAggregationMaxRecords = 4096
	defaultAggregationMaxDelay   = 500 * time.Millisecond
)

// applyWrite makes Aggregation a WriteOption.
func (a Aggregation) applyWrite(c *writeSpec) error {
	switch {
	case a.MaxBytes < 0:
		return invalid("Aggregation", "MaxBytes %d is negative", a.MaxBytes)
	case a.MaxRecords < 0:
		return invalid("Aggregation", "MaxRecords %d is negative", a.MaxRecords)
	case a.MaxDelay < 0:
		return invalid("Aggregation", "MaxDelay %v is negative", a.MaxDelay)
	}
	c.Aggregation = &a
	return nil
}

// resolve checks the options that depend on each other, once all are
// applied, and fills in the defaults that depend on others.
func (s *writeSpec) resolve() error {
	a := s.Aggregation
	if a == nil {
		return nil
	}
	if s.StrictOrdering {
		return invalid("Aggregation", "cannot be combined with WithStrictOrdering: strict ordering writes each record with its own PutRecord call, aggregation packs many records into one")
	}
	if a.MaxBytes > s.MaxRecordBytes {
		return invalid("Aggregation", "MaxBytes %d is larger than the maximum record size %d (WithMaxRecordSize)", a.MaxBytes, s.MaxRecordBytes)
	}
	r := *a
	if r.MaxBytes == 0 {
		r.MaxBytes = s.MaxRecordBytes
	}
	if r.MaxRecords == 0 {
		r.MaxRecords = defaultAggregationMaxRecords
	}
	if r.MaxDelay == 0 {
		r.MaxDelay = defaultAggregationMaxDelay
	}
	s.Aggregation = &r
	return nil
}

// maxBatchBytes is the size limit of one PutRecords call.
func (s writeSpec) maxBatchBytes() int {
	if s.MaxRecordBytes > writer.DefaultMaxRecordBytes {
		return writer.LargeMaxBatchBytes
	}
	return writer.DefaultMaxBatchBytes
}

// applyWrite makes a Connection (connection.go) a WriteOption.
func (c Connection) applyWrite(s *writeSpec) error { return c.apply(&s.Conn.Client) }
