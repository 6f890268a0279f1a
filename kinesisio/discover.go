package kinesisio

import (
	"context"
	"fmt"
	"math/rand/v2"
	"sort"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/awsclient"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/discovery"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/restriction"
)

// discoverySettings is what both discovery DoFns carry.
type discoverySettings struct {
	ReadID            string
	Stream            string
	Client            awsclient.Settings
	Start             startSpec
	StopAtLatest      bool
	MaxReadTimeMillis int64
	PageSize          int32
	// EventDelay is how far event times may trail arrival times
	// (WithTimestampFn): the timestamps of shard elements, which bound
	// the event times of their records, trail arrival time by it.
	EventDelay time.Duration
}

// firstRound turns the shards listed when the job starts (at now) into
// shard elements, parents first.
//
// A shard without a position of its own that descends from a shard with
// one starts at TRIM_HORIZON, as KCL starts the children of a checkpointed
// shard: its records all come after the resumed position of its ancestor.
// A shard that a shard with a position descends from is not read at all.
// The start position's default applies to the others (startSpec.lineage
// has the rules). Positions named for shards that
// are not listed (aged out of retention, or a typo) are logged with the
// shards that exist and counted in unknown_shard_positions.
func (c discoverySettings) firstRound(ctx context.Context, shards []types.Shard, now time.Time, runID string) []shardDesc {
	descs := make([]shardDesc, 0, len(shards))
	ids := make([]string, len(shards))
	for i, s := range shards {
		ids[i] = aws.ToString(s.ShardId)
	}
	unknown := c.Start.unknownShards(ids)
	descendants, ancestors := c.Start.lineage(shards, unknown)
	for _, s := range shards {
		id := aws.ToString(s.ShardId)
		if ancestors[id] {
			continue
		}
		pos := c.Start.resolve(id, now)
		if descendants[id] {
			pos = restriction.Position{Kind: restriction.TrimHorizon}
		}
		d := c.desc(s, now, runID)
		d.StartKind, d.StartSeq, d.StartMillis = int(pos.Kind), pos.Seq, pos.Millis
		d.TimestampMillis = int64(d.startEventTime(c.EventDelay))
		descs = append(descs, d)
	}
	if len(unknown) > 0 {
		log.Warnf(ctx, "kinesisio: the start position names %d shard(s) that stream %s does not have: %v (ignored; they may have aged out of retention). Its shards: %v", len(unknown), c.Stream, unknown, ids)
		beam.NewCounter(MetricsNamespace, "unknown_shard_positions").Inc(ctx, int64(len(unknown)))
	}
	return descs
}

// laterRound turns shards created since the last round into shard
// elements read from their start. They carry the time of the previous
// listing as their timestamp: they were created after it, so none of their
// records is older.
func (c discoverySettings) laterRound(shards []types.Shard, r discovery.Restriction, skew time.Duration) []shardDesc {
	var descs []shardDesc
	for _, s := range shards {
		if !r.After(aws.ToString(s.ShardId)) {
			continue
		}
		d := c.desc(s, time.UnixMilli(r.StartMillis), r.RunID)
		d.StartKind = int(trimHorizonKind)
		d.TimestampMillis = r.LastListMillis - (skew + c.EventDelay).Milliseconds()
		descs = append(descs, d)
	}
	return descs
}

func (c discoverySettings) desc(s types.Shard, start time.Time, runID string) shardDesc {
	d := shardDesc{RunID: runID, ShardID: aws.ToString(s.ShardId)}
	for _, p := range []*string{s.ParentShardId, s.AdjacentParentShardId} {
		if p != nil && *p != "" {
			d.ParentIDs = append(d.ParentIDs, *p)
		}
	}
	if s.SequenceNumberRange != nil {
		d.EndSeq = aws.ToString(s.SequenceNumberRange.EndingSequenceNumber)
	}
	if c.StopAtLatest {
		d.StopAtMillis = start.UnixMilli()
	}
	if c.MaxReadTimeMillis > 0 {
		d.DeadlineMillis = start.UnixMilli() + c.MaxReadTimeMillis
	}
	return d
}

// filter is the ShardFilter of the first listing: only shards that can
// hold records at the start position (kinesalite ignores it; reading a
// shard closed before the start position just ends at once).
func (c discoverySettings) filter(now time.Time) *types.ShardFilter {
	switch startKind(c.Start.Kind) {
	case startLatest:
		return &types.ShardFilter{Type: types.ShardFilterTypeAtLatest}
	case startAtTimestamp:
		// FROM_TIMESTAMP, not AT_TIMESTAMP: the shards open at the
		// timestamp and every shard created since (the children of a
		// reshard after it), which all hold records at or after it.
		// AT_TIMESTAMP leaves the children out; found later, they were
		// stamped with a later time than their records.
		return &types.ShardFilter{Type: types.ShardFilterTypeFromTimestamp, Timestamp: aws.Time(time.UnixMilli(c.Start.Millis))}
	}
	return nil
}

// discoverFn lists the shards once, when the job starts, and emits one
// element per shard with LATEST pinned to that moment. It serves reads
// bounded at the start (WithStopAtLatest) and the direct runner, which
// cannot run the periodic watchShardsFn.
type discoverFn struct {
	Settings discoverySettings

	stream awsclient.Stream
	client awsclient.Kinesis
}

func (fn *discoverFn) Setup(ctx context.Context) error {
	var err error
	fn.stream, fn.client, err = newClient(ctx, fn.Settings.Stream, fn.Settings.Client)
	return err
}

func (fn *discoverFn) ProcessElement(ctx context.Context, _ []byte, emit func(beam.EventTime, shardDesc)) error {
	now := time.Now()
	shards, err := listShards(ctx, fn.client, fn.stream, fn.Settings, fn.Settings.filter(now), true)
	if err != nil {
		return err
	}
	for _, d := range fn.Settings.firstRound(ctx, shards, now, newRunID()) {
		emit(mtime.Time(d.TimestampMillis), d)
	}
	return nil
}

// listShards lists the shards of the stream, parents first, paging
// correctly (NextToken without the stream name: apache/beam#33478 and
// others). With retry set, transient errors are retried with backoff until
// ctx ends; permanent ones are returned with what to fix.
func listShards(ctx context.Context, api awsclient.Kinesis, stream awsclient.Stream, c discoverySettings, filter *types.ShardFilter, retry bool) ([]types.Shard, error) {
	for attempt := 0; ; attempt++ {
		shards, err := listShardsOnce(ctx, api, stream, filter, c.PageSize)
		if err == nil {
			sort.Slice(shards, func(i, j int) bool {
				a, b := aws.ToString(shards[i].ShardId), aws.ToString(shards[j].ShardId)
				return len(a) < len(b) || len(a) == len(b) && a < b
			})
			return shards, nil
		}
		switch awsclient.Classify(err) {
		case awsclient.Permanent:
			return nil, explain(err, stream, c.Client, readAccess)
		case awsclient.Canceled:
			return nil, err
		}
		if !retry {
			return nil, err
		}
		d := time.Duration(rand.Int64N(int64(min(100*time.Millisecond<<min(attempt, 8), 10*time.Second))))
		log.Warnf(ctx, "kinesisio: listing shards of %v failed (attempt %d, retrying in %v): %v", stream, attempt+1, d, err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(d):
		}
	}
}

func listShardsOnce(ctx context.Context, api awsclient.Kinesis, stream awsclient.Stream, filter *types.ShardFilter, pageSize int32) ([]types.Shard, error) {
	name, arn := stream.Ref()
	in := &kinesis.ListShardsInput{StreamName: name, StreamARN: arn, ShardFilter: filter}
	if pageSize > 0 {
		in.MaxResults = aws.Int32(pageSize)
	}
	var shards []types.Shard
	for pages := 0; ; pages++ {
		out, err := api.ListShards(ctx, in)
		if err != nil {
			return nil, err
		}
		shards = append(shards, out.Shards...)
		if out.NextToken == nil || *out.NextToken == "" {
			return shards, nil
		}
		if pages > 100000 {
			return nil, fmt.Errorf("kinesisio: ListShards of %v did not end after %d pages", stream, pages)
		}
		// Follow-up pages carry the token alone: AWS rejects it together
		// with the stream name or a filter.
		in = &kinesis.ListShardsInput{NextToken: out.NextToken, MaxResults: in.MaxResults}
	}
}

// newClient parses the stream and builds a client for it on a worker.
func newClient(ctx context.Context, raw string, s awsclient.Settings) (awsclient.Stream, awsclient.Kinesis, error) {
	stream, err := awsclient.ParseStream(raw)
	if err != nil {
		return stream, nil, fmt.Errorf("kinesisio: %w", err)
	}
	if s, err = streamSettings(stream, s); err != nil {
		return stream, nil, err
	}
	c, err := awsclient.New(ctx, s)
	if err != nil {
		return stream, nil, err
	}
	return stream, c, nil
}
