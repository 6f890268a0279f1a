package kinesisio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"

	"github.com/kinesisio/beam-kinesis/internal/binenc"
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
