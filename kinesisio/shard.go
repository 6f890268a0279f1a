package kinesisio

import (
	"crypto/rand"
	"encoding/hex"
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
var newRunID = func() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

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
