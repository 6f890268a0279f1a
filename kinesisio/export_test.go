package kinesisio

import (
	"context"
	"time"

	"github.com/kinesisio/beam-kinesis/internal/checkpoint"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/writer"
)

// WithShardListPageSize sets the ListShards page size, for tests of
// paging.
var WithShardListPageSize = withShardListPageSize

// SetClock replaces the clock start positions are checked against when a
// pipeline is built, and returns a function that restores it.
func SetClock(now func() time.Time) (restore func()) {
	prev := clock
	clock = now
	return func() { clock = prev }
}

// WithStartupTimeout replaces the 30 s a job waits for Kinesis and its
// checkpoint store when it starts, for tests.
var WithStartupTimeout = withStartupTimeout

// WithLeaseTimeout sets how long a checkpoint lease lives without a
// heartbeat, for tests.
var WithLeaseTimeout = withLeaseTimeout

// WithSinkGrace sets how long a read with WithCommitsAfterSink waits for
// CommitWhenDone's mark after its first record, for tests.
var WithSinkGrace = withSinkGrace

// SetMaxRecordsPerCall bounds the records one ProcessElement call of a
// read emits (0: no bound), so that the runner checkpoints after every n
// records, and returns a function that restores the bound.
func SetMaxRecordsPerCall(n int) (restore func()) {
	prev := maxRecordsPerCall
	maxRecordsPerCall = n
	return func() { maxRecordsPerCall = prev }
}

// SetShardMapMinAge sets the least time between two listings of a Write's
// shard map (5 s), for tests of resharding, and returns a function that
// restores it.
func SetShardMapMinAge(d time.Duration) (restore func()) {
	return writer.SetShardMapMinAge(d)
}

// SetSubscribeSpacing replaces the 5 s Read waits between two
// subscriptions to one shard (what Kinesis requires), for tests against
// the in-process server, and returns a function that restores it.
func SetSubscribeSpacing(d time.Duration) (restore func()) {
	prev := subscribeSpacing
	subscribeSpacing = d
	return func() { subscribeSpacing = prev }
}

// SetEndCheckInterval replaces the 5 s a subscription goes without
// records before Read asks GetRecords whether the shard ended (and the
// least time between two such checks), for tests against the in-process
// server, and returns a function that restores it.
func SetEndCheckInterval(d time.Duration) (restore func()) {
	prev := endCheckInterval
	endCheckInterval = d
	return func() { endCheckInterval = prev }
}

// writeSharedEntries counts the streams Write holds a shard map (and rate
// limit) of in this process.
func writeSharedEntries() int { return writer.Shared() }

// WrapCheckpointStores makes every checkpoint store the read's DoFns and
// CommitWhenDone open in this process go through wrap (to count its
// calls), and returns a function that restores the plain stores.
func WrapCheckpointStores(wrap func(checkpoint.Store) checkpoint.Store) (restore func()) {
	prev := openCheckpointStore
	openCheckpointStore = func(ctx context.Context, spec checkpoint.Spec) (checkpoint.Store, error) {
		st, err := prev(ctx, spec)
		if err != nil {
			return nil, err
		}
		return wrap(st), nil
	}
	return func() { openCheckpointStore = prev }
}
