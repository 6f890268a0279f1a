package kinesisio

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/kinesisio/beam-kinesis/internal/binenc"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/restriction"
)

// shardDesc is the element the discovery step emits for each shard to
// read: everything the read of that shard needs that was decided when the
// job started or the shard was found.
type shardDesc struct {
	// RunID names the run of the read that found the shard (see
	// discovery.Restriction.RunID).
	RunID     string
	ShardID   string
	ParentIDs []string
	// Start is where the shard's read starts (LATEST already pinned).
	Start restriction.Position
	// TimestampMillis is the element's timestamp: no record of the shard
	// is older, so the shard's watermark starts there.
	TimestampMillis int64
	// EndSeq is a closed shard's ending sequence number, "" when open.
	EndSeq string
	// StopAtMillis > 0 bounds the read at the tip seen at this time.
	StopAtMillis int64
	// DeadlineMillis > 0 ends the read at this time.
	DeadlineMillis int64
	// HashKeyStart and HashKeyEnd are the shard's hash key range
	// (decimal), "" when unknown: user records of KPL aggregates outside
	// it are counted (and delivered).
	HashKeyStart, HashKeyEnd string
}

// newRunID returns a random run ID. Tests replace it to follow a run's
// watermarks.
var newRunID = randomID

// startEventTime is the oldest event time a shard read from its start
// position can have: its AT_TIMESTAMP (less delay, how far event times
// may trail arrival times), else the beginning of time.
func (d shardDesc) startEventTime(delay time.Duration) mtime.Time {
	if d.Start.Kind == restriction.AtTimestamp {
		return mtime.FromMilliseconds(d.Start.Millis - delay.Milliseconds())
	}
	return mtime.MinTimestamp
}

// The shard element's coder is a versioned binary layout, like Record's,
// so that a later release adding a field still decodes the elements in
// this one's checkpoints (Beam's schema coder refuses a struct whose
// field count changed). Version 2 appends the start's sub-sequence
// number and the hash key range; version 1 decodes with them zero.
const shardDescCoderVersion = 2

func encodeShardDesc(d shardDesc) []byte {
	b := []byte{shardDescCoderVersion}
	b = binenc.AppendString(b, d.RunID)
	b = binenc.AppendString(b, d.ShardID)
	b = binary.AppendUvarint(b, uint64(len(d.ParentIDs)))
	for _, p := range d.ParentIDs {
		b = binenc.AppendString(b, p)
	}
	b = binary.AppendVarint(b, int64(d.Start.Kind))
	b = binenc.AppendString(b, d.Start.Seq)
	b = binary.AppendVarint(b, d.Start.Millis)
	b = binary.AppendVarint(b, d.TimestampMillis)
	b = binenc.AppendString(b, d.EndSeq)
	b = binary.AppendVarint(b, d.StopAtMillis)
	b = binary.AppendVarint(b, d.DeadlineMillis)
	b = binary.AppendVarint(b, d.Start.Sub)
	b = binenc.AppendString(b, d.HashKeyStart)
	return binenc.AppendString(b, d.HashKeyEnd)
}

func decodeShardDesc(b []byte) (shardDesc, error) {
	var d shardDesc
	if len(b) < 1 || b[0] < 1 || b[0] > shardDescCoderVersion {
		return d, fmt.Errorf("%w: bad shard element version", errCorruptRecord)
	}
	version := b[0]
	r := binenc.NewDecoder(b[1:], errCorruptRecord)
	d.RunID = r.String("run ID")
	d.ShardID = r.String("shard ID")
	parents := r.Int("parent count")
	if parents > 2 {
		return d, fmt.Errorf("%w: %d parents", errCorruptRecord, parents)
	}
	for range parents {
		d.ParentIDs = append(d.ParentIDs, r.String("parent ID"))
	}
	kind := r.Varint("start kind")
	if kind < 0 || kind > 255 {
		return d, fmt.Errorf("%w: start kind %d", errCorruptRecord, kind)
	}
	d.Start.Kind = restriction.Kind(kind)
	d.Start.Seq = r.String("start sequence number")
	d.Start.Millis = r.Varint("start timestamp")
	d.TimestampMillis = r.Varint("timestamp")
	d.EndSeq = r.String("end sequence number")
	d.StopAtMillis = r.Varint("stop time")
	d.DeadlineMillis = r.Varint("deadline")
	if version >= 2 {
		d.Start.Sub = r.Varint("start sub-sequence number")
		d.HashKeyStart = r.String("hash key range start")
		d.HashKeyEnd = r.String("hash key range end")
	}
	return d, r.Err()
}
