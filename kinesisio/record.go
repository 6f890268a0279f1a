package kinesisio

import (
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Record is one Kinesis record: what Read emits and what Write takes.
type Record struct {
	// Stream is the name of the stream the record was read from.
	Stream string
	// ShardID is the shard the record was read from.
	ShardID string
	// SequenceNumber is the record's sequence number: a decimal string of
	// up to 129 digits, unique and increasing within a shard.
	SequenceNumber string
	// SubSequenceNumber orders user records that a producer aggregated
	// into one Kinesis record; 0 for plain records.
	SubSequenceNumber int64
	// PartitionKey is the key the producer gave the record; Kinesis routes
	// a record to the shard whose hash key range holds the key's MD5 hash.
	PartitionKey string
	// ExplicitHashKey, when set on a record given to Write, routes it by
	// this decimal 128-bit hash key instead of the partition key's hash.
	// Read leaves it empty: Kinesis does not return it.
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
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	b = binary.AppendVarint(b, r.SubSequenceNumber)
	if r.ApproximateArrivalTimestamp.IsZero() {
		b = append(b, 0)
	} else {
		b = append(b, 1)
		b = binary.AppendVarint(b, r.ApproximateArrivalTimestamp.UnixNano())
	}
	b = binary.AppendUvarint(b, uint64(len(r.Data)))
	return append(b, r.Data...)
}

func decodeRecord(b []byte) (Record, error) {
	var r Record
	if len(b) < 1 || b[0] != recordCoderVersion {
		return r, fmt.Errorf("%w: bad version", errCorruptRecord)
	}
	b = b[1:]
	for _, dst := range []*string{&r.Stream, &r.ShardID, &r.SequenceNumber, &r.PartitionKey, &r.ExplicitHashKey} {
		l, n := binary.Uvarint(b)
		if n <= 0 || l > uint64(len(b)-n) {
			return r, fmt.Errorf("%w: bad string", errCorruptRecord)
		}
		*dst = string(b[n : n+int(l)])
		b = b[n+int(l):]
	}
	v, n := binary.Varint(b)
	if n <= 0 || len(b) < n+1 {
		return r, fmt.Errorf("%w: bad sub-sequence number", errCorruptRecord)
	}
	r.SubSequenceNumber = v
	b = b[n:]
	hasTime := b[0]
	b = b[1:]
	switch hasTime {
	case 0:
	case 1:
		ns, n := binary.Varint(b)
		if n <= 0 {
			return r, fmt.Errorf("%w: bad timestamp", errCorruptRecord)
		}
		r.ApproximateArrivalTimestamp = time.Unix(0, ns).UTC()
		b = b[n:]
	default:
		return r, fmt.Errorf("%w: bad timestamp flag", errCorruptRecord)
	}
	l, n := binary.Uvarint(b)
	if n <= 0 || l != uint64(len(b)-n) {
		return r, fmt.Errorf("%w: bad data length", errCorruptRecord)
	}
	if l > 0 {
		r.Data = append([]byte(nil), b[n:]...)
	}
	return r, nil
}
