package kinesisio

import (
	"context"
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"reflect"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/runtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/util/reflectx"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/awsclient"
)

func init() {
	register.DoFn5x1[context.Context, beam.EventTime, Record, func(beam.EventTime, WrittenRecord), func(beam.EventTime, FailedRecord), error](&writeFn{})
	register.DoFn1x1[[]byte, Record](&bytesToRecordFn{})
	register.Emitter2[beam.EventTime, WrittenRecord]()
	register.Emitter2[beam.EventTime, FailedRecord]()
	register.Function1x1(RandomPartitionKey)
	beam.RegisterType(reflect.TypeOf((*WrittenRecord)(nil)).Elem())
	beam.RegisterType(reflect.TypeOf((*FailedRecord)(nil)).Elem())
	beam.RegisterCoder(reflect.TypeOf((*WrittenRecord)(nil)).Elem(), encodeWrittenRecord, decodeWrittenRecord)
	beam.RegisterCoder(reflect.TypeOf((*FailedRecord)(nil)).Elem(), encodeFailedRecord, decodeFailedRecord)
}

// Error codes of FailedRecord for records Write refuses before sending
// them. Records Kinesis refuses carry Kinesis's codes instead
// ("ProvisionedThroughputExceededException", "InternalFailure", or the
// error code of a failed call: "InvalidParameter" when the AWS SDK refused
// it before sending), and ErrCodeRequestFailed when a call failed without
// an answer.
const (
	// ErrCodeRecordTooLarge: data + partition key exceed the maximum record
	// size (1 MiB unless WithMaxRecordSize says otherwise).
	ErrCodeRecordTooLarge = "RecordTooLarge"
	// ErrCodeInvalidPartitionKey: the partition key is empty, longer than
	// 256 characters, or not valid UTF-8. Characters are counted as UTF-16
	// code units, the stricter reading of Kinesis's limit: one outside the
	// Basic Multilingual Plane (an emoji, say) counts twice.
	ErrCodeInvalidPartitionKey = "InvalidPartitionKey"
	// ErrCodeInvalidExplicitHashKey: the explicit hash key is not a
	// decimal integer in [0, 2^128-1].
	ErrCodeInvalidExplicitHashKey = "InvalidExplicitHashKey"
	// ErrCodeRequestFailed: the last attempt's call failed without an
	// answer from Kinesis (connection reset, timeout).
	ErrCodeRequestFailed = "RequestFailed"
)

// WrittenRecord is emitted for each record Write wrote.
type WrittenRecord struct {
	// ShardID is the shard the record landed on.
	ShardID string
	// SequenceNumber is the sequence number Kinesis gave the record.
	SequenceNumber string
	// PartitionKey is the record's partition key.
	PartitionKey string
	// ExplicitHashKey is the record's explicit hash key, if it had one.
	ExplicitHashKey string
	// Size is the record's data + partition key, in bytes.
	Size int
	// Attempts is how many times the record was sent (1 unless retried).
	Attempts int
}

// FailedRecord is emitted, with WithFailedRecords(EmitFailed), for each
// record Write could not write.
type FailedRecord struct {
	// Record is the record as given to Write.
	Record Record
	// ErrorCode says why: one of the ErrCode constants, or Kinesis's error
	// code of the last attempt.
	ErrorCode string
	// ErrorMessage explains ErrorCode.
	ErrorMessage string
	// Attempts is how many times the record was sent; 0 for records
	// refused before sending.
	Attempts int
}

// WriteResult holds the outputs of Write. Each output element has the
// timestamp of the input record it is about and, for the non-merging
// windowing of Beam Go (global, fixed, sliding), its window too; see
// Write.
type WriteResult struct {
	// Written holds a WrittenRecord for each record written (none with
	// WithoutWrittenRecords).
	Written beam.PCollection
	// Failed holds a FailedRecord for each record that could not be
	// written; it stays empty unless WithFailedRecords(EmitFailed).
	Failed beam.PCollection
}

var recordType = reflect.TypeOf((*Record)(nil)).Elem()

// Write writes col, a PCollection of Record, to the Kinesis data stream
// named stream (a name, or a stream ARN, which also sets the region). The
// Data, PartitionKey and ExplicitHashKey of each Record are written; its
// other fields are ignored, so records read from one stream can be
// written to another.
//
// # Batching and retries
//
// Each worker's DoFn instance batches records into PutRecords calls of at
// most 500 records and 5 MiB (data + partition keys), sent when full and
// at the end of each bundle, with at most WithMaxInFlight calls in flight.
// Only the records a call reports as failed are sent again, after an
// exponential backoff with full jitter, up to WithMaxAttempts times;
// calls that fail as a whole with a transient error (throttling, 5xx,
// connection resets) are retried the same way. When a call is refused as
// malformed as a whole (by the SDK's validation or the service's) and the
// refusal names the records at fault, those fail at once with the call's
// error and the others are sent again, so that one bad record never fails
// the others of its call; a refusal that names none fails the bundle.
// Empty data is written (Kinesis takes records of 0 bytes).
// Permanent errors (stream
// not found, access denied, KMS key unusable) fail the bundle at once with
// a message that says what to fix. Records that cannot be valid (data +
// partition key over 1 MiB, an empty, non-UTF-8 or over-256-character
// partition key, a malformed explicit hash key) are never sent. Records
// that cannot be written go to WriteResult.Failed with
// WithFailedRecords(EmitFailed), or fail the bundle (the default) once
// every other record of the bundle was attempted: no record is dropped
// silently. A bundle ends only when each of its records was written or
// reported.
//
// Delivery is at least once: a call whose answer was lost (reset,
// timeout) is retried, and a failed bundle is retried by the runner, so a
// record can be written twice.
//
// # Order
//
// Write sends the records of one partition key in the order in which its
// bundle gives them: the key's records share a lane, a lane has one call
// in flight at a time, and the records a call failed to write are retried
// before the lane sends anything newer. So a key's record is never sent
// before the key's earlier records are settled, except for records in the
// same call. There AWS promises nothing more than this: "A single record
// failure does not stop the processing of subsequent records. As a
// result, PutRecords doesn't guarantee the ordering of records" (AWS,
// PutRecords API reference). If record A of a key fails in a call while a
// later record B of the key in that call succeeds, B is in the stream
// before the retried A. (When all succeed, the emulators store a call's
// records of a shard in request order.) WithStrictOrdering closes the
// gap, at one PutRecord call per record, following the same reference:
// "If you need to read records in the same order they are written to the
// stream, use PutRecord instead of PutRecords, and write to the same
// shard", and the PutRecord reference: "To guarantee strictly increasing
// ordering, write serially to a shard and use the
// SequenceNumberForOrdering parameter". Neither mode orders records
// across bundles, which the runner may process in parallel, nor
// restores an order the runner did not keep: Beam PCollections are
// unordered (Prism, for one, reorders a PCollection it materializes,
// after a Flatten for example), and records emitted by one DoFn call in
// Write's fused stage keep their order. To keep a key's records in order
// end to end, emit them from one element, for example after a
// GroupByKey.
//
// # Windows and timestamps
//
// Results are known only after the calls return, mostly in FinishBundle,
// and Beam Go (v2.77) invokes FinishBundle with no element: what it emits
// is placed in the global window (exec.ParDo.FinishBundle passes
// window.SingleGlobalWindow), and a timestamp is kept only if emitted
// explicitly. So Write moves col into the global window before its DoFn,
// emits each result with the timestamp of its input record, and then
// applies col's windowing (window function, trigger, accumulation mode,
// allowed lateness) again to both outputs. For global, fixed and sliding
// windows, assigned from the timestamp, each result is in exactly its
// record's windows; for sessions, which merge, each result is in the
// proto-session of its timestamp, as when a record first enters session
// windowing. Panes are not carried over.
//
// # Metrics
//
// Counters in namespace kinesisio: write_records and write_bytes (data +
// partition keys) written; write_batches, the calls made, retries
// included; write_retries, records sent again; write_throttled, records
// refused for throughput (per entry or with their call); write_failures,
// records given up (invalid or out of attempts). The distribution
// write_batch_size holds the records per call.
//
// Write panics if an argument or option is invalid; TryWrite returns the
// error instead.
func Write(s beam.Scope, stream string, col beam.PCollection, opts ...WriteOption) WriteResult {
	res, err := TryWrite(s, stream, col, opts...)
	if err != nil {
		panic(err)
	}
	return res
}

// TryWrite is Write, returning an error instead of panicking.
func TryWrite(s beam.Scope, stream string, col beam.PCollection, opts ...WriteOption) (WriteResult, error) {
	s = s.Scope("kinesisio.Write")
	fn, err := newWriteFn(stream, col, recordType, opts)
	if err != nil {
		return WriteResult{}, err
	}
	in, rewindow, err := intoGlobalWindow(s, col)
	if err != nil {
		return WriteResult{}, err
	}
	outs, err := beam.TryParDo(s, fn, in)
	if err != nil {
		return WriteResult{}, err
	}
	written, err := rewindow(outs[0])
	if err != nil {
		return WriteResult{}, err
	}
	failed, err := rewindow(outs[1])
	if err != nil {
		return WriteResult{}, err
	}
	return WriteResult{Written: written, Failed: failed}, nil
}

// WriteBytes writes col, a PCollection of []byte, to stream as Write
// does, each element as the data of one record with partition key
// partitionKey(data). partitionKey must be a top-level function
// registered with beam.RegisterFunction (or register.Function1x1) in an
// init() function, so that workers in other processes can find it. A nil
// partitionKey means RandomPartitionKey, which spreads the records over
// all shards and gives them no order.
//
// WriteBytes panics if an argument or option is invalid; TryWriteBytes
// returns the error instead.
func WriteBytes(s beam.Scope, stream string, col beam.PCollection, partitionKey func([]byte) string, opts ...WriteOption) WriteResult {
	res, err := TryWriteBytes(s, stream, col, partitionKey, opts...)
	if err != nil {
		panic(err)
	}
	return res
}

// TryWriteBytes is WriteBytes, returning an error instead of panicking.
func TryWriteBytes(s beam.Scope, stream string, col beam.PCollection, partitionKey func([]byte) string, opts ...WriteOption) (WriteResult, error) {
	s = s.Scope("kinesisio.WriteBytes")
	if !col.IsValid() {
		return WriteResult{}, invalid("col", "invalid PCollection")
	}
	if t := col.Type().Type(); t != reflect.TypeOf([]byte(nil)) {
		return WriteResult{}, invalid("col", "WriteBytes takes a PCollection of []byte, not of %v; use Write for Record", t)
	}
	if partitionKey == nil {
		partitionKey = RandomPartitionKey
	}
	name := reflectx.FunctionName(partitionKey)
	if _, err := runtime.ResolveFunction(name, reflect.TypeOf(partitionKey)); err != nil {
		return WriteResult{}, invalid("partitionKey", "%s is not registered: call beam.RegisterFunction(%s) in an init() function", name, name)
	}
	// Check the options now, so that the error names them rather than the
	// nested Write.
	if _, err := newWriteFn(stream, col, reflect.TypeOf([]byte(nil)), opts); err != nil {
		return WriteResult{}, err
	}
	recs, err := beam.TryParDo(s, &bytesToRecordFn{PartitionKeyFn: name}, col)
	if err != nil {
		return WriteResult{}, err
	}
	return TryWrite(s, stream, recs[0], opts...)
}

// RandomPartitionKey returns a random partition key of 32 hexadecimal
// digits, whatever data is: records with random keys spread evenly over
// the shards. It is what WriteBytes uses when given no key function.
func RandomPartitionKey(data []byte) string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], rand.Uint64())
	binary.BigEndian.PutUint64(b[8:], rand.Uint64())
	return hex.EncodeToString(b[:])
}

// newWriteFn checks the arguments and options and builds the DoFn.
func newWriteFn(stream string, col beam.PCollection, want reflect.Type, opts []WriteOption) (*writeFn, error) {
	parsed, err := awsclient.ParseStream(stream)
	if err != nil {
		return nil, fmt.Errorf("%w: stream: %v", ErrInvalidOption, err)
	}
	if !col.IsValid() {
		return nil, invalid("col", "invalid PCollection")
	}
	if t := col.Type().Type(); t != want {
		return nil, invalid("col", "Write takes a PCollection of kinesisio.Record, not of %v; use WriteBytes for []byte", t)
	}
	c := defaultWriteConfig()
	for _, opt := range opts {
		if opt == nil {
			return nil, invalid("WriteOption", "nil option")
		}
		if err := opt.applyWrite(&c); err != nil {
			return nil, err
		}
	}
	settings, err := streamSettings(parsed, c.client)
	if err != nil {
		return nil, err
	}
	return &writeFn{
		Stream:           stream,
		Client:           settings,
		MaxAttempts:      c.maxAttempts,
		BackoffBaseNanos: int64(c.backoffBase),
		BackoffMaxNanos:  int64(c.backoffMax),
		EmitFailed:       c.failed == EmitFailed,
		NoWritten:        c.noWritten,
		MaxInFlight:      c.maxInFlight,
		ShardRateLimit:   c.shardRateLimit,
		StrictOrdering:   c.strictOrdering,
		MaxRecordBytes:   c.maxRecordBytes,
		MaxBatchBytes:    c.maxBatchBytes(),
	}, nil
}

// intoGlobalWindow moves col into the global window, where FinishBundle
// emits, and returns a function that applies col's windowing to an
// output. A col already in the global window is left alone.
func intoGlobalWindow(s beam.Scope, col beam.PCollection) (beam.PCollection, func(beam.PCollection) (beam.PCollection, error), error) {
	ws := col.WindowingStrategy()
	if ws == nil || ws.Fn == nil || ws.Fn.Kind == window.GlobalWindows {
		return col, func(p beam.PCollection) (beam.PCollection, error) { return p, nil }, nil
	}
	global, err := beam.TryWindowInto(s, window.NewGlobalWindows(), col)
	if err != nil {
		return beam.PCollection{}, nil, err
	}
	var opts []beam.WindowIntoOption
	if ws.Trigger != nil {
		opts = append(opts, beam.Trigger(ws.Trigger))
	}
	switch ws.AccumulationMode {
	case window.Accumulating:
		opts = append(opts, beam.PanesAccumulate())
	case window.Discarding:
		opts = append(opts, beam.PanesDiscard())
	}
	if ws.AllowedLateness > 0 {
		opts = append(opts, beam.AllowedLateness(time.Duration(ws.AllowedLateness)*time.Millisecond))
	}
	return global, func(p beam.PCollection) (beam.PCollection, error) {
		return beam.TryWindowInto(s, ws.Fn, p, opts...)
	}, nil
}

// bytesToRecordFn makes a Record of each []byte, with the partition key
// its function gives.
type bytesToRecordFn struct {
	// PartitionKeyFn is the registered name of the key function.
	PartitionKeyFn string

	key func([]byte) string
}

func (fn *bytesToRecordFn) Setup() error {
	f, err := runtime.ResolveFunction(fn.PartitionKeyFn, reflect.TypeOf((func([]byte) string)(nil)))
	if err != nil {
		return fmt.Errorf("kinesisio: partition key function %s is not registered on this worker: call beam.RegisterFunction in an init() function: %w", fn.PartitionKeyFn, err)
	}
	fn.key = f.(func([]byte) string)
	return nil
}

func (fn *bytesToRecordFn) ProcessElement(data []byte) Record {
	return Record{Data: data, PartitionKey: fn.key(data)}
}

// The result coders are versioned binary layouts, like Record's.
const resultCoderVersion = 1

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func readString(b []byte) (string, []byte, error) {
	l, n := binary.Uvarint(b)
	if n <= 0 || l > uint64(len(b)-n) {
		return "", nil, fmt.Errorf("%w: bad string", errCorruptRecord)
	}
	return string(b[n : n+int(l)]), b[n+int(l):], nil
}

func readUvarint(b []byte) (int, []byte, error) {
	v, n := binary.Uvarint(b)
	if n <= 0 || v > 1<<62 {
		return 0, nil, fmt.Errorf("%w: bad integer", errCorruptRecord)
	}
	return int(v), b[n:], nil
}

func readVarint(b []byte) (int64, []byte, error) {
	v, n := binary.Varint(b)
	if n <= 0 {
		return 0, nil, fmt.Errorf("%w: bad integer", errCorruptRecord)
	}
	return v, b[n:], nil
}

func encodeWrittenRecord(r WrittenRecord) []byte {
	b := make([]byte, 0, 16+len(r.ShardID)+len(r.SequenceNumber)+len(r.PartitionKey)+len(r.ExplicitHashKey))
	b = append(b, resultCoderVersion)
	for _, s := range []string{r.ShardID, r.SequenceNumber, r.PartitionKey, r.ExplicitHashKey} {
		b = appendString(b, s)
	}
	b = binary.AppendUvarint(b, uint64(r.Size))
	return binary.AppendUvarint(b, uint64(r.Attempts))
}

func decodeWrittenRecord(b []byte) (WrittenRecord, error) {
	var r WrittenRecord
	if len(b) < 1 || b[0] != resultCoderVersion {
		return r, fmt.Errorf("%w: bad written record version", errCorruptRecord)
	}
	b = b[1:]
	var err error
	for _, dst := range []*string{&r.ShardID, &r.SequenceNumber, &r.PartitionKey, &r.ExplicitHashKey} {
		if *dst, b, err = readString(b); err != nil {
			return r, err
		}
	}
	if r.Size, b, err = readUvarint(b); err != nil {
		return r, err
	}
	if r.Attempts, b, err = readUvarint(b); err != nil {
		return r, err
	}
	if len(b) != 0 {
		return r, fmt.Errorf("%w: %d trailing bytes", errCorruptRecord, len(b))
	}
	return r, nil
}

func encodeFailedRecord(r FailedRecord) []byte {
	rec := encodeRecord(r.Record)
	b := make([]byte, 0, 16+len(r.ErrorCode)+len(r.ErrorMessage)+len(rec))
	b = append(b, resultCoderVersion)
	b = appendString(b, r.ErrorCode)
	b = appendString(b, r.ErrorMessage)
	b = binary.AppendUvarint(b, uint64(r.Attempts))
	return append(b, rec...)
}

func decodeFailedRecord(b []byte) (FailedRecord, error) {
	var r FailedRecord
	if len(b) < 1 || b[0] != resultCoderVersion {
		return r, fmt.Errorf("%w: bad failed record version", errCorruptRecord)
	}
	b = b[1:]
	var err error
	if r.ErrorCode, b, err = readString(b); err != nil {
		return r, err
	}
	if r.ErrorMessage, b, err = readString(b); err != nil {
		return r, err
	}
	if r.Attempts, b, err = readUvarint(b); err != nil {
		return r, err
	}
	r.Record, err = decodeRecord(b)
	return r, err
}
