package kinesisio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/kinesisio/beam-kinesis/internal/binenc"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/writer"
)

// Record is one Kinesis record, or one user record of a KPL aggregate:
// what Read emits (it de-aggregates) and what Write takes.
type Record struct {
	// Stream is the name of the stream the record was read from.
	Stream string
	// ShardID is the shard the record was read from.
	ShardID string
	// SequenceNumber is the record's sequence number: a decimal string of
	// up to 129 digits, unique and increasing within a shard.
	SequenceNumber string
	// SubSequenceNumber orders the user records of a KPL aggregate, which
	// share its SequenceNumber: 0, 1, ... in the aggregate; 0 for plain
	// records. (SequenceNumber, SubSequenceNumber) is unique in a shard.
	SubSequenceNumber int64
	// PartitionKey is the key the producer gave the record; Kinesis routes
	// a record to the shard whose hash key range holds the key's MD5 hash.
	PartitionKey string
	// ExplicitHashKey, when set on a record given to Write, routes it by
	// this decimal 128-bit hash key instead of the partition key's hash.
	// Read sets it for the user records of KPL aggregates that carry one;
	// Kinesis does not return it for plain records.
	ExplicitHashKey string
	// ApproximateArrivalTimestamp is when Kinesis accepted the record.
	ApproximateArrivalTimestamp time.Time
	// Data is the record's payload.
	Data []byte
}

// The Record coder is a versioned binary layout (Beam's default coders
// would go through JSON or a schema and copy time.Time awkwardly).
const recordCoderVersion = 1

var errCorruptRecord = errors.New("kinesisio: corrupt record encoding")

func encodeRecord(r Record) []byte {
	b := make([]byte, 0, 48+len(r.Stream)+len(r.ShardID)+len(r.SequenceNumber)+len(r.PartitionKey)+len(r.ExplicitHashKey)+len(r.Data))
	b = append(b, recordCoderVersion)
	for _, s := range []string{r.Stream, r.ShardID, r.SequenceNumber, r.PartitionKey, r.ExplicitHashKey} {
		b = binenc.AppendString(b, s)
	}
	b = binary.AppendVarint(b, r.SubSequenceNumber)
	b = binenc.AppendBool(b, !r.ApproximateArrivalTimestamp.IsZero())
	if !r.ApproximateArrivalTimestamp.IsZero() {
		b = binary.AppendVarint(b, r.ApproximateArrivalTimestamp.UnixNano())
	}
	return binenc.AppendBytes(b, r.Data)
}

func decodeRecord(b []byte) (Record, error) {
	var r Record
	d := binenc.NewDecoder(b, errCorruptRecord)
	if d.Byte("version") != recordCoderVersion {
		return r, fmt.Errorf("%w: bad version", errCorruptRecord)
	}
	for _, dst := range []*string{&r.Stream, &r.ShardID, &r.SequenceNumber, &r.PartitionKey, &r.ExplicitHashKey} {
		*dst = d.String("string")
	}
	r.SubSequenceNumber = d.Varint("sub-sequence number")
	if d.Bool("timestamp flag") {
		r.ApproximateArrivalTimestamp = time.Unix(0, d.Varint("timestamp")).UTC()
	}
	r.Data = d.Bytes("data")
	return r, d.Err()
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
	ErrCodeRecordTooLarge = writer.ErrCodeRecordTooLarge
	// ErrCodeInvalidPartitionKey: the partition key is empty, longer than
	// 256 characters, or not valid UTF-8. Characters are counted as UTF-16
	// code units, as kinesalite and kinesis-mock count them, not bytes: one
	// outside the Basic Multilingual Plane (an emoji, say) counts twice,
	// any other once (256 'é' are accepted, 129 emoji refused).
	ErrCodeInvalidPartitionKey = writer.ErrCodeInvalidPartitionKey
	// ErrCodeInvalidExplicitHashKey: the explicit hash key is not a
	// decimal integer in [0, 2^128-1].
	ErrCodeInvalidExplicitHashKey = writer.ErrCodeInvalidExplicitHashKey
	// ErrCodeRequestFailed: the last attempt's call failed without an
	// answer from Kinesis (connection reset, timeout).
	ErrCodeRequestFailed = writer.ErrCodeRequestFailed
)

// WrittenRecord is emitted for each record Write wrote. With
// Aggregation, for each user record: the Kinesis record it went in
// may be an aggregate of several.
type WrittenRecord struct {
	// ShardID is the shard the record landed on.
	ShardID string
	// SequenceNumber is the sequence number Kinesis gave the record (with
	// Aggregation, to the aggregate the record is in).
	SequenceNumber string
	// SubSequenceNumber is the record's index in its aggregate, from 0;
	// 0 for a record written as a plain Kinesis record. Consumers that
	// de-aggregate report it with the sequence number.
	SubSequenceNumber int64
	// PartitionKey is the record's partition key.
	PartitionKey string
	// ExplicitHashKey is the record's explicit hash key, if it had one.
	ExplicitHashKey string
	// Size is the record's data + partition key, in bytes.
	Size int
	// Attempts is how many times the record was sent (1 unless retried).
	Attempts int
}

// FailedRecord is emitted, with WithFailedRecords, for each
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

// The result coders are versioned binary layouts, like Record's. Version
// 2 of WrittenRecord adds the sub-sequence number after the attempts;
// version 1 (no sub-sequence number, read as 0) is still decoded.
const (
	resultCoderVersion        = 1 // FailedRecord
	writtenCoderVersion       = 2
	writtenCoderVersionNoSubs = 1
)

func encodeWrittenRecord(r WrittenRecord) []byte {
	b := make([]byte, 0, 24+len(r.ShardID)+len(r.SequenceNumber)+len(r.PartitionKey)+len(r.ExplicitHashKey))
	b = append(b, writtenCoderVersion)
	for _, s := range []string{r.ShardID, r.SequenceNumber, r.PartitionKey, r.ExplicitHashKey} {
		b = binenc.AppendString(b, s)
	}
	b = binary.AppendUvarint(b, uint64(r.Size))
	b = binary.AppendUvarint(b, uint64(r.Attempts))
	return binary.AppendVarint(b, r.SubSequenceNumber)
}

func decodeWrittenRecord(b []byte) (WrittenRecord, error) {
	var r WrittenRecord
	d := binenc.NewDecoder(b, errCorruptRecord)
	v := d.Byte("version")
	if v != writtenCoderVersion && v != writtenCoderVersionNoSubs {
		return r, fmt.Errorf("%w: bad written record version", errCorruptRecord)
	}
	for _, dst := range []*string{&r.ShardID, &r.SequenceNumber, &r.PartitionKey, &r.ExplicitHashKey} {
		*dst = d.String("string")
	}
	r.Size = d.Int("size")
	r.Attempts = d.Int("attempts")
	if v == writtenCoderVersion {
		r.SubSequenceNumber = d.Varint("sub-sequence number")
	}
	return r, d.Err()
}

func encodeFailedRecord(r FailedRecord) []byte {
	rec := encodeRecord(r.Record)
	b := make([]byte, 0, 16+len(r.ErrorCode)+len(r.ErrorMessage)+len(rec))
	b = append(b, resultCoderVersion)
	b = binenc.AppendString(b, r.ErrorCode)
	b = binenc.AppendString(b, r.ErrorMessage)
	b = binary.AppendUvarint(b, uint64(r.Attempts))
	return append(b, rec...)
}

func decodeFailedRecord(b []byte) (FailedRecord, error) {
	var r FailedRecord
	d := binenc.NewDecoder(b, errCorruptRecord)
	if d.Byte("version") != resultCoderVersion {
		return r, fmt.Errorf("%w: bad failed record version", errCorruptRecord)
	}
	r.ErrorCode = d.String("error code")
	r.ErrorMessage = d.String("error message")
	r.Attempts = d.Int("attempts")
	rest := d.Rest()
	if err := d.Err(); err != nil {
		return r, err
	}
	var err error
	r.Record, err = decodeRecord(rest)
	return r, err
}
