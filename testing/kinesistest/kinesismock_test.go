package kinesistest

import (
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/google/go-cmp/cmp"

	"github.com/kinesisio/beam-kinesis/testing/emulators"
)

// These tests use kinesis-mock, which pages ListShards and reports real
// MillisBehindLatest, unlike kinesalite.

func TestShardsFollowsPagesOnKinesisMock(t *testing.T) {
	t.Parallel()
	e := emulators.Require(t, emulators.KinesisMock)
	p, err := NewProxy(e.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	c := NewClient(p.Endpoint())
	name := StreamName(t)
	if _, err := CreateStream(t.Context(), c, name, 5); err != nil {
		t.Fatal(err)
	}
	paged, err := listShards(t.Context(), c, name, 2)
	if err != nil {
		t.Fatal(err)
	}
	if n := p.Count("ListShards"); n != 3 {
		t.Errorf("5 shards in pages of 2 took %d ListShards calls, want 3", n)
	}
	whole, err := Shards(t.Context(), c, name)
	if err != nil {
		t.Fatal(err)
	}
	var pagedIDs, wholeIDs []string
	for _, s := range paged {
		pagedIDs = append(pagedIDs, aws.ToString(s.ShardId))
	}
	for _, s := range whole {
		wholeIDs = append(wholeIDs, aws.ToString(s.ShardId))
	}
	if len(wholeIDs) != 5 {
		t.Errorf("Shards returned %d shards, want 5", len(wholeIDs))
	}
	if diff := cmp.Diff(wholeIDs, pagedIDs); diff != "" {
		t.Errorf("paged listing differs (-whole +paged):\n%s", diff)
	}
}

func TestPutAndReadAllOnKinesisMock(t *testing.T) {
	t.Parallel()
	e := emulators.Require(t, emulators.KinesisMock)
	c := NewClient(e.Endpoint)
	name := StreamName(t)
	if _, err := CreateStream(t.Context(), c, name, 2); err != nil {
		t.Fatal(err)
	}
	shards, err := Shards(t.Context(), c, name)
	if err != nil {
		t.Fatal(err)
	}
	data := make([][]byte, 60)
	for i := range data {
		data[i] = []byte{byte(i), 'm'}
	}
	want := map[string][]Put{}
	onLast, err := PutToShard(t.Context(), c, name, aws.ToString(shards[1].ShardId), data[:20])
	if err != nil {
		t.Fatal(err)
	}
	spread, err := PutRecords(t.Context(), c, name, data[20:])
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range append(onLast, spread...) {
		want[p.ShardID] = append(want[p.ShardID], p)
	}
	got, err := ReadAll(t.Context(), c, name)
	if err != nil {
		t.Fatal(err)
	}
	gotPuts := map[string][]Put{}
	for shard, rs := range got {
		for _, r := range rs {
			gotPuts[shard] = append(gotPuts[shard], Put{ShardID: r.ShardID, SequenceNumber: r.SequenceNumber, PartitionKey: r.PartitionKey, Data: r.Data})
		}
	}
	if diff := cmp.Diff(want, gotPuts); diff != "" {
		t.Errorf("ReadAll differs from what was put (-put +read):\n%s", diff)
	}
}
