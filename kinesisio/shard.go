package kinesisio

import (
	"encoding/binary"
	"fmt"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/restriction"
)

const trimHorizonKind = restriction.TrimHorizon

// shardDesc is the element the discovery step emits for each shard to
// read: everything the read of that shard needs that was decided when the
// job started or the shard was found.
type shardDesc struct {
	// RunID names the run of the read that found the shard (see
	// discovery.Restriction.RunID).
	RunID       string
	ShardID     string
	ParentIDs   []string
	StartKind   int
	StartSeq    string
	StartMillis int64
	// TimestampMillis is the element's timestamp: no record of the shard
	// is older, so the shard's watermark starts there.
	TimestampMillis int64
	// EndSeq is a closed shard's ending sequence number, "" when open.
	EndSeq string
	// StopAtMillis > 0 bounds the read at the tip seen at this time.
	StopAtMillis int64
	// DeadlineMillis > 0 ends the read at this time.
	DeadlineMillis int64
}

// runScope names one run of the read readID, for the state kept per run
// in a worker process (watermark entries, fetchers, the record budget, the
// child-shard signal): a pipeline run twice in one process shares its read
// IDs but not its runs.
func runScope(readID, runID string) string { return readID + "@" + runID }

// newRunID returns a random run ID. Tests replace it to follow a run's
// watermarks.
var newRunID = randomID

func (d shardDesc) start() restriction.Position {
	return restriction.Position{Kind: restriction.Kind(d.StartKind), Seq: d.StartSeq, Millis: d.StartMillis}
}

// startEventTime is the oldest event time a shard read from its start
// position can have: its AT_TIMESTAMP (less delay, how far event times
// may trail arrival times), else the beginning of time.
func (d shardDesc) startEventTime(delay time.Duration) mtime.Time {
	if restriction.Kind(d.StartKind) == restriction.AtTimestamp {
		return mtime.FromMilliseconds(d.StartMillis - delay.Milliseconds())
	}
	return mtime.MinTimestamp
}

// The shard element's coder is a versioned binary layout, like Record's,
// so that a later release adding a field still decodes the elements in
// this one's checkpoints (Beam's schema coder refuses a struct whose
// field count changed).
const shardDescCoderVersion = 1

func encodeShardDesc(d shardDesc) []byte {
	b := []byte{shardDescCoderVersion}
	b = appendString(b, d.RunID)
	b = appendString(b, d.ShardID)
	b = binary.AppendUvarint(b, uint64(len(d.ParentIDs)))
	for _, p := range d.ParentIDs {
		b = appendString(b, p)
	}
	b = binary.AppendVarint(b, int64(d.StartKind))
	b = appendString(b, d.StartSeq)
	b = binary.AppendVarint(b, d.StartMillis)
	b = binary.AppendVarint(b, d.TimestampMillis)
	b = appendString(b, d.EndSeq)
	b = binary.AppendVarint(b, d.StopAtMillis)
	return binary.AppendVarint(b, d.DeadlineMillis)
}

func decodeShardDesc(b []byte) (shardDesc, error) {
	var d shardDesc
	if len(b) < 1 || b[0] != shardDescCoderVersion {
		return d, fmt.Errorf("%w: bad shard element version", errCorruptRecord)
	}
	b = b[1:]
	var err error
	if d.RunID, b, err = readString(b); err != nil {
		return d, err
	}
	if d.ShardID, b, err = readString(b); err != nil {
		return d, err
	}
	var parents int
	if parents, b, err = readUvarint(b); err != nil {
		return d, err
	}
	if parents > 2 {
		return d, fmt.Errorf("%w: %d parents", errCorruptRecord, parents)
	}
	for range parents {
		var p string
		if p, b, err = readString(b); err != nil {
			return d, err
		}
		d.ParentIDs = append(d.ParentIDs, p)
	}
	var kind int64
	if kind, b, err = readVarint(b); err != nil {
		return d, err
	}
	d.StartKind = int(kind)
	if d.StartSeq, b, err = readString(b); err != nil {
		return d, err
	}
	for _, dst := range []*int64{&d.StartMillis, &d.TimestampMillis} {
		if *dst, b, err = readVarint(b); err != nil {
			return d, err
		}
	}
	if d.EndSeq, b, err = readString(b); err != nil {
		return d, err
	}
	for _, dst := range []*int64{&d.StopAtMillis, &d.DeadlineMillis} {
		if *dst, b, err = readVarint(b); err != nil {
			return d, err
		}
	}
	if len(b) != 0 {
		return d, fmt.Errorf("%w: %d trailing bytes", errCorruptRecord, len(b))
	}
	return d, nil
}
