package kinesisio

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/google/go-cmp/cmp"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/restriction"
)

func shardOf(id string, parents ...string) types.Shard {
	s := types.Shard{ShardId: aws.String(id)}
	if len(parents) > 0 {
		s.ParentShardId = aws.String(parents[0])
	}
	if len(parents) > 1 {
		s.AdjacentParentShardId = aws.String(parents[1])
	}
	return s
}

// TestFirstRoundStartsDescendantsOfResumedShardsAtTheirBeginning: with
// FromShardPositions, a shard whose ancestor has a position starts at
// TRIM_HORIZON (its records all follow the ancestor's); the default
// position is for shards with no resumed ancestor.
func TestFirstRoundStartsDescendantsOfResumedShardsAtTheirBeginning(t *testing.T) {
	// 0 splits into 1 and 2; 2 splits into 3 and 4; 3 merges with 5 into
	// 6. 5 and 7 descend from nothing named; 8's parent aged out.
	shards := []types.Shard{
		shardOf("shardId-000000000000"),
		shardOf("shardId-000000000001", "shardId-000000000000"),
		shardOf("shardId-000000000002", "shardId-000000000000"),
		shardOf("shardId-000000000003", "shardId-000000000002"),
		shardOf("shardId-000000000004", "shardId-000000000002"),
		shardOf("shardId-000000000005"),
		shardOf("shardId-000000000006", "shardId-000000000005", "shardId-000000000003"),
		shardOf("shardId-000000000007", "shardId-000000000005"),
		shardOf("shardId-000000000008", "shardId-000000000099"),
	}
	start := FromShardPositions(map[string]ShardPosition{
		"shardId-000000000000": AfterSequenceNumber("100"),
		"shardId-000000000004": AtSequenceNumber("200"),
		"shardId-000000000099": AfterSequenceNumber("300"),
		"shardId-000000000042": AfterSequenceNumber("400"),
	}, Latest())
	c := discoverySettings{Stream: "s", Start: start.spec()}
	now := time.UnixMilli(1_700_000_000_000)
	got := map[string]restriction.Position{}
	for _, d := range c.firstRound(context.Background(), shards, now, "run") {
		got[d.ShardID] = d.start()
		if d.RunID != "run" {
			t.Errorf("%s: run ID %q", d.ShardID, d.RunID)
		}
	}
	trim := restriction.Position{Kind: restriction.TrimHorizon}
	latest := restriction.Position{Kind: restriction.AtTimestamp, Millis: now.UnixMilli()}
	want := map[string]restriction.Position{
		"shardId-000000000000": restriction.After("100"),
		"shardId-000000000001": trim,
		"shardId-000000000002": trim,
		"shardId-000000000003": trim,
		"shardId-000000000004": {Kind: restriction.AtSequence, Seq: "200"},
		"shardId-000000000005": latest,
		"shardId-000000000006": trim, // one of its parents descends from 0
		"shardId-000000000007": latest,
		"shardId-000000000008": trim, // its parent, named, aged out
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("start positions (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"shardId-000000000042", "shardId-000000000099"}, c.Start.unknownShards(shards)); diff != "" {
		t.Errorf("unknown shards (-want +got):\n%s", diff)
	}
}

// TestFirstListingAtTimestampIncludesLaterShards: the first listing of an
// AtTimestamp read asks for the shards open at the timestamp and those
// created since (FROM_TIMESTAMP), not only those open at it.
func TestFirstListingAtTimestampIncludesLaterShards(t *testing.T) {
	at := time.UnixMilli(1_700_000_000_000)
	f := discoverySettings{Start: AtTimestamp(at).spec()}.filter(at.Add(time.Hour))
	if f == nil || f.Type != types.ShardFilterTypeFromTimestamp || !aws.ToTime(f.Timestamp).Equal(at) {
		t.Errorf("filter %+v, want FROM_TIMESTAMP at %v", f, at)
	}
}
