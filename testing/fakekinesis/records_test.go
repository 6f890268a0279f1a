package fakekinesis

import (
	"crypto/md5"
	"fmt"
	"math/big"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

func TestRoutingByMD5(t *testing.T) {
	_, c := newServer(t)
	mustCreate(t, c, "s", 4)
	shards := listAll(t, c, "s")
	if len(shards) != 4 {
		t.Fatalf("got %d shards, want 4", len(shards))
	}
	owner := func(h *big.Int) string {
		for _, sh := range shards {
			lo, _ := new(big.Int).SetString(*sh.HashKeyRange.StartingHashKey, 10)
			hi, _ := new(big.Int).SetString(*sh.HashKeyRange.EndingHashKey, 10)
			if lo.Cmp(h) <= 0 && h.Cmp(hi) <= 0 {
				return *sh.ShardId
			}
		}
		return ""
	}
	for i := range 200 {
		key := "key-" + strconv.Itoa(i)
		sum := md5.Sum([]byte(key))
		want := owner(new(big.Int).SetBytes(sum[:]))
		out, err := c.PutRecord(ctx(t), &kinesis.PutRecordInput{StreamName: aws.String("s"), PartitionKey: aws.String(key), Data: []byte("x")})
		if err != nil {
			t.Fatal(err)
		}
		if got := aws.ToString(out.ShardId); got != want {
			t.Fatalf("key %s went to %s, want %s", key, got, want)
		}
	}
	for hk, want := range map[string]string{"0": "shardId-000000000000", maxHashKey.String(): "shardId-000000000003"} {
		out, err := c.PutRecord(ctx(t), &kinesis.PutRecordInput{StreamName: aws.String("s"), PartitionKey: aws.String("k"), ExplicitHashKey: aws.String(hk), Data: []byte("x")})
		if err != nil {
			t.Fatal(err)
		}
		if got := aws.ToString(out.ShardId); got != want {
			t.Errorf("ExplicitHashKey %s went to %s, want %s", hk, got, want)
		}
	}
	_, err := c.PutRecord(ctx(t), &kinesis.PutRecordInput{StreamName: aws.String("s"), PartitionKey: aws.String("k"), ExplicitHashKey: aws.String(new(big.Int).Add(maxHashKey, big.NewInt(1)).String()), Data: []byte("x")})
	wantErr[*types.InvalidArgumentException](t, err)
}

func TestUniformRangesMatchAWS(t *testing.T) {
	r := uniformRanges(3)
	if got, want := r[0][1].String(), "113427455640312821154458202477256070484"; got != want {
		t.Errorf("3 shards: shard 0 ends at %s, want %s", got, want)
	}
	if r[2][1].Cmp(maxHashKey) != 0 {
		t.Errorf("last shard ends at %s", r[2][1])
	}
}

func TestSequenceNumbers(t *testing.T) {
	_, c := newServer(t)
	mustCreate(t, c, "s", 3)
	res := putN(t, c, "s", "k", 600)
	last := map[string]*big.Int{}
	seen := map[string]bool{}
	for _, r := range res {
		seq := aws.ToString(r.SequenceNumber)
		if len(seq) != 56 || !seqPattern.MatchString(seq) {
			t.Fatalf("sequence number %q is not a 56-digit decimal", seq)
		}
		if seen[seq] {
			t.Fatalf("duplicate sequence number %s", seq)
		}
		seen[seq] = true
		v, _ := new(big.Int).SetString(seq, 10)
		if p := last[*r.ShardId]; p != nil && p.Cmp(v) >= 0 {
			t.Fatalf("sequence numbers not increasing on %s: %s then %s", *r.ShardId, p, v)
		}
		last[*r.ShardId] = v
	}
	if len(last) != 3 {
		t.Errorf("records went to %d shards, want 3", len(last))
	}
}

func TestGetRecordsPositions(t *testing.T) {
	_, c := newServer(t)
	mustCreate(t, c, "s", 1)
	const sh = "shardId-000000000000"
	before := time.Now()
	res := putN(t, c, "s", "a", 30)
	recs, last := readShard(t, c, iter(t, c, "s", sh, types.ShardIteratorTypeTrimHorizon, nil))
	if len(recs) != 30 || last.NextShardIterator == nil {
		t.Fatalf("TRIM_HORIZON read %d records, want 30 (next %v)", len(recs), last.NextShardIterator)
	}
	for i, r := range recs {
		if want := fmt.Sprintf("data-a-%d", i); string(r.Data) != want || *r.SequenceNumber != *res[i].SequenceNumber {
			t.Fatalf("record %d = %q %s, want %q %s", i, r.Data, *r.SequenceNumber, want, *res[i].SequenceNumber)
		}
		if r.ApproximateArrivalTimestamp.Before(before.Add(-time.Second)) {
			t.Fatalf("arrival %v before the put", r.ApproximateArrivalTimestamp)
		}
	}
	out, err := c.GetRecords(ctx(t), &kinesis.GetRecordsInput{ShardIterator: aws.String(iter(t, c, "s", sh, types.ShardIteratorTypeTrimHorizon, nil)), Limit: aws.Int32(7)})
	if err != nil || len(out.Records) != 7 {
		t.Fatalf("Limit 7: %d records, %v", len(out.Records), err)
	}
	if aws.ToInt64(out.MillisBehindLatest) < 0 {
		t.Errorf("MillisBehindLatest %d", aws.ToInt64(out.MillisBehindLatest))
	}
	at, _ := readShard(t, c, iter(t, c, "s", sh, types.ShardIteratorTypeAtSequenceNumber, res[10].SequenceNumber))
	after, _ := readShard(t, c, iter(t, c, "s", sh, types.ShardIteratorTypeAfterSequenceNumber, res[10].SequenceNumber))
	if len(at) != 20 || len(after) != 19 || *at[0].SequenceNumber != *res[10].SequenceNumber {
		t.Errorf("AT_SEQUENCE_NUMBER read %d, AFTER read %d; want 20 and 19", len(at), len(after))
	}
	latest := iter(t, c, "s", sh, types.ShardIteratorTypeLatest, nil)
	putN(t, c, "s", "b", 2)
	if got, _ := readShard(t, c, latest); len(got) != 2 {
		t.Errorf("LATEST read %d records, want 2", len(got))
	}
	ts, err := c.GetShardIterator(ctx(t), &kinesis.GetShardIteratorInput{StreamName: aws.String("s"), ShardId: aws.String(sh), ShardIteratorType: types.ShardIteratorTypeAtTimestamp, Timestamp: aws.Time(time.Now().Add(time.Hour))})
	if err != nil {
		t.Fatal(err)
	}
	if got, _ := readShard(t, c, *ts.ShardIterator); len(got) != 0 {
		t.Errorf("AT_TIMESTAMP in the future read %d records", len(got))
	}
	_, err = c.GetShardIterator(ctx(t), &kinesis.GetShardIteratorInput{StreamName: aws.String("s"), ShardId: aws.String(sh), ShardIteratorType: types.ShardIteratorTypeAtSequenceNumber, StartingSequenceNumber: aws.String("12345")})
	wantErr[*types.InvalidArgumentException](t, err)
	_, err = c.GetRecords(ctx(t), &kinesis.GetRecordsInput{ShardIterator: aws.String("garbage")})
	wantErr[*types.InvalidArgumentException](t, err)
}

func TestMillisBehindLatest(t *testing.T) {
	_, c := newServer(t)
	mustCreate(t, c, "s", 1)
	putN(t, c, "s", "a", 3)
	time.Sleep(50 * time.Millisecond)
	out, err := c.GetRecords(ctx(t), &kinesis.GetRecordsInput{ShardIterator: aws.String(iter(t, c, "s", "shardId-000000000000", types.ShardIteratorTypeTrimHorizon, nil)), Limit: aws.Int32(1)})
	if err != nil {
		t.Fatal(err)
	}
	if ms := aws.ToInt64(out.MillisBehindLatest); ms < 40 {
		t.Errorf("MillisBehindLatest = %d with records waiting 50 ms, want >= 40", ms)
	}
}

func TestIteratorExpiry(t *testing.T) {
	_, c := newServer(t, WithIteratorTTL(100*time.Millisecond))
	mustCreate(t, c, "s", 1)
	it := iter(t, c, "s", "shardId-000000000000", types.ShardIteratorTypeTrimHorizon, nil)
	time.Sleep(150 * time.Millisecond)
	_, err := c.GetRecords(ctx(t), &kinesis.GetRecordsInput{ShardIterator: aws.String(it)})
	wantErr[*types.ExpiredIteratorException](t, err)
}

func TestPutValidation(t *testing.T) {
	_, c := newServer(t)
	mustCreate(t, c, "s", 1)
	_, err := c.PutRecord(ctx(t), &kinesis.PutRecordInput{StreamName: aws.String("nope"), PartitionKey: aws.String("k"), Data: []byte("x")})
	wantErr[*types.ResourceNotFoundException](t, err)
	_, err = c.PutRecord(ctx(t), &kinesis.PutRecordInput{StreamName: aws.String("s"), PartitionKey: aws.String("k"), Data: make([]byte, maxRecordBytes)})
	wantErr[*types.ValidationException](t, err)
	entries := make([]types.PutRecordsRequestEntry, 501)
	for i := range entries {
		entries[i] = types.PutRecordsRequestEntry{PartitionKey: aws.String("k"), Data: []byte("x")}
	}
	_, err = c.PutRecords(ctx(t), &kinesis.PutRecordsInput{StreamName: aws.String("s"), Records: entries})
	wantErr[*types.ValidationException](t, err)
}
