package kinesisio

import (
	"context"
	"math"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/google/go-cmp/cmp"
	"github.com/kinesisio/beam-kinesis/internal/checkpoint"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/restriction"
)

func idsOf(shards []types.Shard) []string {
	var ids []string
	for _, s := range shards {
		ids = append(ids, aws.ToString(s.ShardId))
	}
	return ids
}

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
// WithShardPositions, a shard whose ancestor has a position starts at
// TRIM_HORIZON (its records all follow the ancestor's), as does one whose
// ancestry aged out while a named shard did too; a shard that a named one
// descends from is not read; the default position is for the others.
func TestFirstRoundStartsDescendantsOfResumedShardsAtTheirBeginning(t *testing.T) {
	// 0 splits into 1 and 2; 2 splits into 3 and 4; 3 merges with 5 into
	// 6; 5 also has child 7. 8's parent (named) aged out, 9's (not named)
	// too. 10 has no parent; 11 splits into 12 (named) and 13.
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
		shardOf("shardId-000000000009", "shardId-000000000077"),
		shardOf("shardId-000000000010"),
		shardOf("shardId-000000000011"),
		shardOf("shardId-000000000012", "shardId-000000000011"),
		shardOf("shardId-000000000013", "shardId-000000000011"),
	}
	c := readSpec{Conn: connection{Stream: "s"}, Start: startSpec{Default: restriction.Position{Kind: restriction.Latest}, Shards: map[string]restriction.Position{
		"shardId-000000000000": restriction.After("100"),
		"shardId-000000000004": {Kind: restriction.AtSequence, Seq: "200"},
		"shardId-000000000012": restriction.After("500"),
		"shardId-000000000099": restriction.After("300"),
		"shardId-000000000042": restriction.After("400"),
	}}}
	now := time.UnixMilli(1_700_000_000_000)
	got := map[string]restriction.Position{}
	for _, d := range mustFirstRound(t, c, shards, now, nil) {
		got[d.ShardID] = d.Start
		if d.RunID != "run" {
			t.Errorf("%s: run ID %q", d.ShardID, d.RunID)
		}
	}
	trim := restriction.Position{Kind: restriction.TrimHorizon}
	latest := restriction.Position{Kind: restriction.AtTimestamp, Millis: now.UnixMilli()}
	want := map[string]restriction.Position{
		"shardId-000000000000": restriction.After("100"),
		"shardId-000000000001": trim,
		// 2 is not read: 4, named, descends from it.
		"shardId-000000000003": trim,
		"shardId-000000000004": {Kind: restriction.AtSequence, Seq: "200"},
		"shardId-000000000005": latest,
		"shardId-000000000006": trim, // one of its parents descends from 0
		"shardId-000000000007": latest,
		"shardId-000000000008": trim, // its parent, named, aged out
		"shardId-000000000009": trim, // its parent aged out, as named ones did
		"shardId-000000000010": latest,
		// 11 is not read: 12, named, descends from it.
		"shardId-000000000012": restriction.After("500"),
		"shardId-000000000013": latest, // its parent is not named
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("start positions (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff([]string{"shardId-000000000042", "shardId-000000000099"}, c.Start.unknownShards(idsOf(shards))); diff != "" {
		t.Errorf("unknown shards (-want +got):\n%s", diff)
	}

	// With every named shard listed, a shard whose parent aged out is not
	// taken for a descendant.
	c = readSpec{Conn: connection{Stream: "s"}, Start: startSpec{Default: restriction.Position{Kind: restriction.Latest}, Shards: map[string]restriction.Position{"shardId-000000000000": restriction.After("100")}}}
	for _, d := range mustFirstRound(t, c, shards[:10], now, nil) {
		if d.ShardID == "shardId-000000000009" && d.Start != latest {
			t.Errorf("shard 9 starts at %v, want %v", d.Start, latest)
		}
	}
}

// TestFirstListingAtTimestampIncludesLaterShards: the first listing of an
// AtTimestamp read asks for the shards open at the timestamp and those
// created since (FROM_TIMESTAMP), not only those open at it.
func TestFirstListingAtTimestampIncludesLaterShards(t *testing.T) {
	at := time.UnixMilli(1_700_000_000_000)
	f := startSpec{Default: restriction.Position{Kind: restriction.AtTimestamp, Millis: at.UnixMilli()}}.filter()
	if f == nil || f.Type != types.ShardFilterTypeFromTimestamp || !aws.ToTime(f.Timestamp).Equal(at) {
		t.Errorf("filter %+v, want FROM_TIMESTAMP at %v", f, at)
	}
}

var shardDescSamples = []shardDesc{
	{},
	{RunID: "0123456789abcdef", ShardID: "shardId-000000000006", ParentIDs: []string{"shardId-000000000003", "shardId-000000000005"},
		Start:           restriction.Position{Kind: restriction.AfterSequence, Seq: "49590338271490256608559692538361571095921575989136588898", Millis: -5},
		TimestampMillis: -9223372036854775, EndSeq: "49590338271490256608559692538361571095921575989136588999", StopAtMillis: 1_700_000_000_000, DeadlineMillis: 1_700_000_060_000},
}

func TestShardDescCoderRoundTrip(t *testing.T) {
	for _, d := range shardDescSamples {
		got, err := decodeShardDesc(encodeShardDesc(d))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(d, got); diff != "" {
			t.Errorf("round trip (-want +got):\n%s", diff)
		}
	}
	full := encodeShardDesc(shardDescSamples[1])
	for _, bad := range [][]byte{nil, {9}, full[:20], append(full, 1)} {
		if _, err := decodeShardDesc(bad); err == nil {
			t.Errorf("decodeShardDesc(%x) accepted corrupt input", bad)
		}
	}
}

func FuzzShardDescCoder(f *testing.F) {
	for _, d := range shardDescSamples {
		f.Add(encodeShardDesc(d))
	}
	f.Fuzz(func(t *testing.T, b []byte) { checkStableDecode(t, b, decodeShardDesc, encodeShardDesc) })
}

// TestFirstRoundResumesFromCheckpoints: a shard with a checkpoint resumes
// after it, a shard read to its end is skipped and its children start at
// their beginning (after every parent the run reads), and others take the
// start position; a checkpoint wins over WithShardPositions.
func TestFirstRoundResumesFromCheckpoints(t *testing.T) {
	// 0 (finished) split into 1 (checkpointed) and 2 (nothing); 3 is
	// unrelated; 1 and 3 merged into 4.
	shards := []types.Shard{
		shardOf("shardId-000000000000"),
		shardOf("shardId-000000000001", "shardId-000000000000"),
		shardOf("shardId-000000000002", "shardId-000000000000"),
		shardOf("shardId-000000000003"),
		shardOf("shardId-000000000004", "shardId-000000000001", "shardId-000000000003"),
	}
	cps := []checkpoint.Checkpoint{
		{ShardID: "shardId-000000000000", Seq: "10", Finished: true},
		{ShardID: "shardId-000000000001", Seq: "20"},
	}
	c := readSpec{Conn: connection{Stream: "s"}, Checkpoints: checkpointSpec{App: "a"}, Start: startSpec{Default: restriction.Position{Kind: restriction.Latest}, Shards: map[string]restriction.Position{
		"shardId-000000000001": restriction.After("15"),
	}}}
	now := time.UnixMilli(1_700_000_000_000)
	type got struct {
		start   restriction.Position
		parents []string
	}
	out := map[string]got{}
	for _, d := range mustFirstRound(t, c, shards, now, cps) {
		out[d.ShardID] = got{d.Start, d.ParentIDs}
	}
	latest := restriction.Position{Kind: restriction.AtTimestamp, Millis: now.UnixMilli()}
	want := map[string]got{
		// Right after the checkpoint's user record (20, 0): an
		// AT_SEQUENCE_NUMBER iterator skipping it, exact whether 20 is
		// a plain record or a KPL aggregate.
		"shardId-000000000001": {restriction.Position{Kind: restriction.AtSequence, Seq: "20", Sub: 1}, []string{}},
		"shardId-000000000002": {restriction.Position{Kind: restriction.TrimHorizon}, []string{}},
		"shardId-000000000003": {latest, nil},
		"shardId-000000000004": {restriction.Position{Kind: restriction.TrimHorizon}, []string{"shardId-000000000001", "shardId-000000000003"}},
	}
	if diff := cmp.Diff(want, out, cmp.AllowUnexported(got{}), cmp.Comparer(func(a, b []string) bool { return len(a) == len(b) && (len(a) == 0 || cmp.Equal(a, b)) })); diff != "" {
		t.Errorf("first round (-want +got):\n%s", diff)
	}
	if f := c.firstFilter(cps); f != nil {
		t.Errorf("first listing with checkpoints filtered by %v, want every shard", f)
	}
}

// mustFirstRound is readSpec.firstRound of a run "run", which must succeed.
func mustFirstRound(t *testing.T, c readSpec, shards []types.Shard, now time.Time, cps []checkpoint.Checkpoint) []shardDesc {
	t.Helper()
	descs, err := c.firstRound(context.Background(), shards, now, "run", cps)
	if err != nil {
		t.Fatalf("firstRound: %v", err)
	}
	return descs
}

// TestCheckpointWithoutANextUserRecordIsAnError: a checkpoint store
// holding sub-sequence number math.MaxInt64 (no user record follows it)
// or a negative one (a corrupt store) fails the first round, naming the
// number, instead of resuming at the committed record again.
func TestCheckpointWithoutANextUserRecordIsAnError(t *testing.T) {
	shards := []types.Shard{shardOf("shardId-000000000000")}
	c := readSpec{Conn: connection{Stream: "s"}, Checkpoints: checkpointSpec{App: "a"}}
	for _, sub := range []int64{math.MaxInt64, -1} {
		cps := []checkpoint.Checkpoint{{ShardID: "shardId-000000000000", Seq: "20", SubSeq: sub}}
		descs, err := c.firstRound(context.Background(), shards, time.UnixMilli(1_700_000_000_000), "run", cps)
		if want := strconv.FormatInt(sub, 10); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("sub %d: firstRound = %v, %v; want an error naming %s", sub, descs, err, want)
		}
	}
}
