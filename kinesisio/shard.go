package kinesisio

import (
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/restriction"
)

// shardDesc is the element the discovery step emits for each shard to
// read: everything the read of that shard needs that was decided when the
// job started.
type shardDesc struct {
	ShardID     string
	StartKind   int
	StartSeq    string
	StartMillis int64
	// EndSeq is a closed shard's ending sequence number, "" when open.
	EndSeq string
	// StopAtMillis > 0 bounds the read at the tip seen at this time.
	StopAtMillis int64
	// DeadlineMillis > 0 ends the read at this time.
	DeadlineMillis int64
}

func (d shardDesc) start() restriction.Position {
	return restriction.Position{Kind: restriction.Kind(d.StartKind), Seq: d.StartSeq, Millis: d.StartMillis}
}

// eventTime is the timestamp of the shard's element, and so the watermark
// the shard starts from: no record read from it can be older.
func (d shardDesc) eventTime() mtime.Time {
	if restriction.Kind(d.StartKind) == restriction.AtTimestamp {
		return mtime.FromMilliseconds(d.StartMillis)
	}
	return mtime.MinTimestamp
}
