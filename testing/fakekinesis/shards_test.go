package fakekinesis

import (
	"math/big"
	"slices"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// shardIDs returns the IDs of shards.
func shardIDs(shards []types.Shard) []string {
	var ids []string
	for _, s := range shards {
		ids = append(ids, aws.ToString(s.ShardId))
	}
	return ids
}

func TestSplitAndMerge(t *testing.T) {
	_, c := newServer(t)
	mustCreate(t, c, "s", 2)
	putN(t, c, "s", "before", 20)
	parent := listAll(t, c, "s")[0]
	lo, _ := new(big.Int).SetString(*parent.HashKeyRange.StartingHashKey, 10)
	hi, _ := new(big.Int).SetString(*parent.HashKeyRange.EndingHashKey, 10)
	mid := new(big.Int).Rsh(new(big.Int).Add(lo, hi), 1)
	if _, err := c.SplitShard(ctx(t), &kinesis.SplitShardInput{StreamName: aws.String("s"), ShardToSplit: parent.ShardId, NewStartingHashKey: aws.String(mid.String())}); err != nil {
		t.Fatal(err)
	}
	shards := listAll(t, c, "s")
	if got, want := shardIDs(shards), []string{"shardId-000000000000", "shardId-000000000001", "shardId-000000000002", "shardId-000000000003"}; !slices.Equal(got, want) {
		t.Fatalf("shards %v, want %v", got, want)
	}
	if shards[0].SequenceNumberRange.EndingSequenceNumber == nil {
		t.Error("split parent has no EndingSequenceNumber")
	}
	c2, c3 := shards[2], shards[3]
	if aws.ToString(c2.ParentShardId) != "shardId-000000000000" || aws.ToString(c3.ParentShardId) != "shardId-000000000000" {
		t.Errorf("children parents %v %v", c2.ParentShardId, c3.ParentShardId)
	}
	if *c2.HashKeyRange.StartingHashKey != lo.String() || *c3.HashKeyRange.StartingHashKey != mid.String() ||
		*c2.HashKeyRange.EndingHashKey != new(big.Int).Sub(mid, big.NewInt(1)).String() || *c3.HashKeyRange.EndingHashKey != hi.String() {
		t.Errorf("children ranges %v %v", c2.HashKeyRange, c3.HashKeyRange)
	}
	// The parent's end gives a nil iterator and the children.
	_, last := readShard(t, c, iter(t, c, "s", "shardId-000000000000", types.ShardIteratorTypeTrimHorizon, nil))
	if last.NextShardIterator != nil || len(last.ChildShards) != 2 {
		t.Fatalf("end of closed shard: next %v, children %d", last.NextShardIterator, len(last.ChildShards))
	}
	if !slices.Equal(last.ChildShards[0].ParentShards, []string{"shardId-000000000000"}) {
		t.Errorf("child parents %v", last.ChildShards[0].ParentShards)
	}
	// Splitting a closed shard fails; merging non-adjacent shards fails.
	_, err := c.SplitShard(ctx(t), &kinesis.SplitShardInput{StreamName: aws.String("s"), ShardToSplit: parent.ShardId, NewStartingHashKey: aws.String(mid.String())})
	wantErr[*types.InvalidArgumentException](t, err)
	_, err = c.MergeShards(ctx(t), &kinesis.MergeShardsInput{StreamName: aws.String("s"), ShardToMerge: aws.String("shardId-000000000002"), AdjacentShardToMerge: aws.String("shardId-000000000001")})
	wantErr[*types.InvalidArgumentException](t, err)
	_, err = c.MergeShards(ctx(t), &kinesis.MergeShardsInput{StreamName: aws.String("s"), ShardToMerge: aws.String("shardId-000000000002"), AdjacentShardToMerge: aws.String("shardId-000000000009")})
	wantErr[*types.ResourceNotFoundException](t, err)
	if _, err := c.MergeShards(ctx(t), &kinesis.MergeShardsInput{StreamName: aws.String("s"), ShardToMerge: aws.String("shardId-000000000003"), AdjacentShardToMerge: aws.String("shardId-000000000001")}); err != nil {
		t.Fatal(err)
	}
	shards = listAll(t, c, "s")
	m := shards[4]
	if aws.ToString(m.ParentShardId) != "shardId-000000000003" || aws.ToString(m.AdjacentParentShardId) != "shardId-000000000001" ||
		*m.HashKeyRange.StartingHashKey != mid.String() || *m.HashKeyRange.EndingHashKey != maxHashKey.String() {
		t.Errorf("merged shard %+v", m)
	}
	// New records go to the open shards only.
	for _, r := range putN(t, c, "s", "after", 50) {
		if id := *r.ShardId; id != "shardId-000000000002" && id != "shardId-000000000004" {
			t.Fatalf("record went to closed shard %s", id)
		}
	}
}

func TestUpdateShardCount(t *testing.T) {
	_, c := newServer(t)
	mustCreate(t, c, "s", 3)
	for _, target := range []int32{5, 3, 2, 4} {
		if _, err := c.UpdateShardCount(ctx(t), &kinesis.UpdateShardCountInput{StreamName: aws.String("s"), TargetShardCount: aws.Int32(target), ScalingType: types.ScalingTypeUniformScaling}); err != nil {
			t.Fatalf("to %d: %v", target, err)
		}
		out, err := c.ListShards(ctx(t), &kinesis.ListShardsInput{StreamName: aws.String("s"), ShardFilter: &types.ShardFilter{Type: types.ShardFilterTypeAtLatest}})
		if err != nil {
			t.Fatal(err)
		}
		want := uniformRanges(int(target))
		if len(out.Shards) != int(target) {
			t.Fatalf("to %d: %d open shards", target, len(out.Shards))
		}
		slices.SortFunc(out.Shards, func(a, b types.Shard) int {
			x, _ := new(big.Int).SetString(*a.HashKeyRange.StartingHashKey, 10)
			y, _ := new(big.Int).SetString(*b.HashKeyRange.StartingHashKey, 10)
			return x.Cmp(y)
		})
		for i, sh := range out.Shards {
			if *sh.HashKeyRange.StartingHashKey != want[i][0].String() || *sh.HashKeyRange.EndingHashKey != want[i][1].String() {
				t.Errorf("to %d: shard %d range %s-%s", target, i, *sh.HashKeyRange.StartingHashKey, *sh.HashKeyRange.EndingHashKey)
			}
			if sh.ParentShardId == nil {
				t.Errorf("to %d: %s has no parent", target, *sh.ShardId)
			}
		}
	}
	_, err := c.UpdateShardCount(ctx(t), &kinesis.UpdateShardCountInput{StreamName: aws.String("s"), TargetShardCount: aws.Int32(100), ScalingType: types.ScalingTypeUniformScaling})
	wantErr[*types.InvalidArgumentException](t, err)
}

func TestListShardsPagingAndFilters(t *testing.T) {
	_, c := newServer(t)
	mustCreate(t, c, "s", 5)
	var ids []string
	in := &kinesis.ListShardsInput{StreamName: aws.String("s"), MaxResults: aws.Int32(2)}
	for range 10 {
		out, err := c.ListShards(ctx(t), in)
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, shardIDs(out.Shards)...)
		if out.NextToken == nil {
			break
		}
		in = &kinesis.ListShardsInput{NextToken: out.NextToken, MaxResults: aws.Int32(2)}
	}
	if len(ids) != 5 {
		t.Fatalf("paged %v", ids)
	}
	first, err := c.ListShards(ctx(t), &kinesis.ListShardsInput{StreamName: aws.String("s"), MaxResults: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.ListShards(ctx(t), &kinesis.ListShardsInput{StreamName: aws.String("s"), NextToken: first.NextToken})
	wantErr[*types.InvalidArgumentException](t, err)

	created := time.Now()
	time.Sleep(10 * time.Millisecond)
	if _, err := c.SplitShard(ctx(t), &kinesis.SplitShardInput{StreamName: aws.String("s"), ShardToSplit: aws.String("shardId-000000000000"), NewStartingHashKey: aws.String("1000")}); err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		f    types.ShardFilter
		want int
	}{
		{types.ShardFilter{Type: types.ShardFilterTypeAtLatest}, 6},
		{types.ShardFilter{Type: types.ShardFilterTypeAtTrimHorizon}, 5},
		{types.ShardFilter{Type: types.ShardFilterTypeFromTrimHorizon}, 7},
		{types.ShardFilter{Type: types.ShardFilterTypeAfterShardId, ShardId: aws.String("shardId-000000000004")}, 2},
		{types.ShardFilter{Type: types.ShardFilterTypeAtTimestamp, Timestamp: aws.Time(created)}, 5},
		{types.ShardFilter{Type: types.ShardFilterTypeFromTimestamp, Timestamp: aws.Time(created)}, 7},
		{types.ShardFilter{Type: types.ShardFilterTypeFromTimestamp, Timestamp: aws.Time(time.Now().Add(time.Second))}, 6},
	}
	for _, tc := range cases {
		out, err := c.ListShards(ctx(t), &kinesis.ListShardsInput{StreamName: aws.String("s"), ShardFilter: &tc.f})
		if err != nil {
			t.Fatalf("%s: %v", tc.f.Type, err)
		}
		if len(out.Shards) != tc.want {
			t.Errorf("%s: %d shards %v, want %d", tc.f.Type, len(out.Shards), shardIDs(out.Shards), tc.want)
		}
	}
}

func TestStreamOpsAndARN(t *testing.T) {
	_, c := newServer(t, WithRegion("eu-west-1"), WithAccountID("123456789012"))
	mustCreate(t, c, "s", 2)
	_, err := c.CreateStream(ctx(t), &kinesis.CreateStreamInput{StreamName: aws.String("s"), ShardCount: aws.Int32(1)})
	wantErr[*types.ResourceInUseException](t, err)
	if _, err := c.CreateStream(ctx(t), &kinesis.CreateStreamInput{StreamName: aws.String("od"), StreamModeDetails: &types.StreamModeDetails{StreamMode: types.StreamModeOnDemand}}); err != nil {
		t.Fatal(err)
	}
	sum, err := c.DescribeStreamSummary(ctx(t), &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("od")})
	if err != nil {
		t.Fatal(err)
	}
	d := sum.StreamDescriptionSummary
	if d.StreamStatus != types.StreamStatusActive || aws.ToInt32(d.OpenShardCount) != 4 || d.StreamModeDetails.StreamMode != types.StreamModeOnDemand {
		t.Errorf("summary %+v", d)
	}
	arn := "arn:aws:kinesis:eu-west-1:123456789012:stream/s"
	out, err := c.ListShards(ctx(t), &kinesis.ListShardsInput{StreamARN: aws.String(arn)})
	if err != nil || len(out.Shards) != 2 {
		t.Fatalf("ListShards by ARN: %v %v", err, out)
	}
	if _, err := c.PutRecord(ctx(t), &kinesis.PutRecordInput{StreamARN: aws.String(arn), PartitionKey: aws.String("k"), Data: []byte("x")}); err != nil {
		t.Fatal(err)
	}
	ds, err := c.DescribeStream(ctx(t), &kinesis.DescribeStreamInput{StreamARN: aws.String(arn), Limit: aws.Int32(1)})
	if err != nil || !aws.ToBool(ds.StreamDescription.HasMoreShards) || aws.ToString(ds.StreamDescription.StreamARN) != arn {
		t.Fatalf("DescribeStream: %v %+v", err, ds)
	}
	if !ds.StreamDescription.StreamCreationTimestamp.After(time.Now().Add(-time.Minute)) {
		t.Errorf("creation time %v", ds.StreamDescription.StreamCreationTimestamp)
	}
	_, err = c.DescribeStreamSummary(ctx(t), &kinesis.DescribeStreamSummaryInput{StreamARN: aws.String("arn:aws:kinesis:us-east-1:123456789012:stream/s")})
	wantErr[*types.ResourceNotFoundException](t, err)
	ls, err := c.ListStreams(ctx(t), &kinesis.ListStreamsInput{Limit: aws.Int32(1)})
	if err != nil || len(ls.StreamNames) != 1 || !aws.ToBool(ls.HasMoreStreams) || ls.NextToken == nil {
		t.Fatalf("ListStreams: %v %+v", err, ls)
	}
	ls, err = c.ListStreams(ctx(t), &kinesis.ListStreamsInput{NextToken: ls.NextToken})
	if err != nil || !slices.Equal(ls.StreamNames, []string{"s"}) {
		t.Fatalf("ListStreams page 2: %v %+v", err, ls)
	}
	if _, err := c.DeleteStream(ctx(t), &kinesis.DeleteStreamInput{StreamName: aws.String("s")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DescribeStreamSummary(ctx(t), &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("s")})
	wantErr[*types.ResourceNotFoundException](t, err)
}

func TestShardLimit(t *testing.T) {
	_, c := newServer(t, WithShardLimit(3))
	mustCreate(t, c, "a", 2)
	_, err := c.CreateStream(ctx(t), &kinesis.CreateStreamInput{StreamName: aws.String("b"), ShardCount: aws.Int32(2)})
	wantErr[*types.LimitExceededException](t, err)
}

func TestConsumers(t *testing.T) {
	_, c := newServer(t)
	mustCreate(t, c, "s", 1)
	arn := "arn:aws:kinesis:us-east-1:000000000000:stream/s"
	reg, err := c.RegisterStreamConsumer(ctx(t), &kinesis.RegisterStreamConsumerInput{StreamARN: aws.String(arn), ConsumerName: aws.String("c1")})
	if err != nil {
		t.Fatal(err)
	}
	if reg.Consumer.ConsumerStatus != types.ConsumerStatusActive {
		t.Errorf("status %s", reg.Consumer.ConsumerStatus)
	}
	_, err = c.RegisterStreamConsumer(ctx(t), &kinesis.RegisterStreamConsumerInput{StreamARN: aws.String(arn), ConsumerName: aws.String("c1")})
	wantErr[*types.ResourceInUseException](t, err)
	d, err := c.DescribeStreamConsumer(ctx(t), &kinesis.DescribeStreamConsumerInput{ConsumerARN: reg.Consumer.ConsumerARN})
	if err != nil || aws.ToString(d.ConsumerDescription.StreamARN) != arn {
		t.Fatalf("describe: %v %+v", err, d)
	}
	l, err := c.ListStreamConsumers(ctx(t), &kinesis.ListStreamConsumersInput{StreamARN: aws.String(arn)})
	if err != nil || len(l.Consumers) != 1 {
		t.Fatalf("list: %v %+v", err, l)
	}
	if _, err := c.DeregisterStreamConsumer(ctx(t), &kinesis.DeregisterStreamConsumerInput{StreamARN: aws.String(arn), ConsumerName: aws.String("c1")}); err != nil {
		t.Fatal(err)
	}
	_, err = c.DescribeStreamConsumer(ctx(t), &kinesis.DescribeStreamConsumerInput{ConsumerARN: reg.Consumer.ConsumerARN})
	wantErr[*types.ResourceNotFoundException](t, err)
}
