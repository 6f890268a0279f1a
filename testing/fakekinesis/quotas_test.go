package fakekinesis

import (
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

func TestGetRecordsCallQuota(t *testing.T) {
	_, c := newServer(t, WithQuotas(true))
	mustCreate(t, c, "s", 1)
	it := iter(t, c, "s", "shardId-000000000000", types.ShardIteratorTypeTrimHorizon, nil)
	var throttled int
	for range 8 {
		_, err := c.GetRecords(ctx(t), &kinesis.GetRecordsInput{ShardIterator: aws.String(it)})
		if err != nil {
			wantErr[*types.ProvisionedThroughputExceededException](t, err)
			throttled++
		}
	}
	if throttled < 2 {
		t.Errorf("%d of 8 immediate GetRecords calls throttled, want >= 2", throttled)
	}
}

func TestIteratorQuota(t *testing.T) {
	_, c := newServer(t, WithQuotas(true))
	mustCreate(t, c, "s", 1)
	var throttled int
	for range 8 {
		_, err := c.GetShardIterator(ctx(t), &kinesis.GetShardIteratorInput{StreamName: aws.String("s"), ShardId: aws.String("shardId-000000000000"), ShardIteratorType: types.ShardIteratorTypeLatest})
		if err != nil {
			wantErr[*types.ProvisionedThroughputExceededException](t, err)
			throttled++
		}
	}
	if throttled < 2 {
		t.Errorf("%d of 8 GetShardIterator calls throttled, want >= 2", throttled)
	}
}

func TestWriteQuotas(t *testing.T) {
	_, c := newServer(t, WithQuotas(true))
	mustCreate(t, c, "s", 1)
	entries := make([]types.PutRecordsRequestEntry, 500)
	for i := range entries {
		entries[i] = types.PutRecordsRequestEntry{PartitionKey: aws.String(fmt.Sprint(i)), Data: []byte("x")}
	}
	failed := 0
	start := time.Now()
	for range 3 {
		out, err := c.PutRecords(ctx(t), &kinesis.PutRecordsInput{StreamName: aws.String("s"), Records: entries})
		if err != nil {
			t.Fatal(err)
		}
		failed += int(aws.ToInt32(out.FailedRecordCount))
		for _, r := range out.Records {
			if r.ErrorCode != nil && *r.ErrorCode != "ProvisionedThroughputExceededException" {
				t.Fatalf("entry error %s", *r.ErrorCode)
			}
		}
	}
	// 1,000 records at once plus 1,000/s refill.
	maxOK := 1000 + int(time.Since(start).Seconds()*1000) + 1
	if failed == 0 || 1500-failed > maxOK {
		t.Errorf("%d of 1500 records failed; at most %d may succeed", failed, maxOK)
	}
	big := make([]byte, 600<<10)
	mustCreate(t, c, "b", 1)
	out, err := c.PutRecords(ctx(t), &kinesis.PutRecordsInput{StreamName: aws.String("b"), Records: []types.PutRecordsRequestEntry{
		{PartitionKey: aws.String("k"), Data: big}, {PartitionKey: aws.String("k"), Data: big},
	}})
	if err != nil {
		t.Fatal(err)
	}
	if out.Records[0].ErrorCode != nil || aws.ToString(out.Records[1].ErrorCode) != "ProvisionedThroughputExceededException" {
		t.Errorf("1.2 MB in one call: results %+v %+v", out.Records[0], out.Records[1])
	}
}

func TestReadBytePenalty(t *testing.T) {
	s, c := newServer(t)
	mustCreate(t, c, "s", 1)
	data := make([]byte, 1000<<10)
	for range 10 {
		if _, err := c.PutRecord(ctx(t), &kinesis.PutRecordInput{StreamName: aws.String("s"), PartitionKey: aws.String("k"), Data: data}); err != nil {
			t.Fatal(err)
		}
	}
	s.SetQuotas(true)
	it := iter(t, c, "s", "shardId-000000000000", types.ShardIteratorTypeTrimHorizon, nil)
	start := time.Now()
	out, err := c.GetRecords(ctx(t), &kinesis.GetRecordsInput{ShardIterator: aws.String(it)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Records) != 10 {
		t.Fatalf("got %d records, want all 10 (under 10 MiB)", len(out.Records))
	}
	_, err = c.GetRecords(ctx(t), &kinesis.GetRecordsInput{ShardIterator: out.NextShardIterator})
	// The debt (about 7.8 MiB over the 2 MiB a second's quota grants) is
	// paid off 3.9 s after the first call: a slower first call (the race
	// detector on a loaded machine took over 4 s for these 10 MiB) leaves
	// nothing to check.
	if elapsed := time.Since(start); err == nil && elapsed > 3500*time.Millisecond {
		t.Logf("the first call took %v, past the penalty: not checked", elapsed)
	} else {
		wantErr[*types.ProvisionedThroughputExceededException](t, err)
	}
	// A new quota period pays off the debt.
	s.SetQuotas(true)
	if _, err := c.GetRecords(ctx(t), &kinesis.GetRecordsInput{ShardIterator: out.NextShardIterator}); err != nil {
		t.Fatalf("GetRecords after SetQuotas(true): %v", err)
	}
}

func TestBucket(t *testing.T) {
	var q shardQuotas
	t0 := time.Unix(1000, 0)
	if !q.allowGetRecords(t0) {
		t.Fatal("first call refused")
	}
	q.chargeRead(10 << 20) // a 10 MiB response: 8 MiB of debt at 2 MiB/s
	for _, tc := range []struct {
		after time.Duration
		ok    bool
	}{{time.Second, false}, {3900 * time.Millisecond, false}, {4100 * time.Millisecond, true}} {
		q2 := q
		if got := q2.allowGetRecords(t0.Add(tc.after)); got != tc.ok {
			t.Errorf("%v after a 10 MiB read: allowed %v, want %v", tc.after, got, tc.ok)
		}
	}
}
