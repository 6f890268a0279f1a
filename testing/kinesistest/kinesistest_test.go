package kinesistest_test

import (
	"bytes"
	"context"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/google/go-cmp/cmp"

	"github.com/kinesisio/beam-kinesis/testing/emulators"
	"github.com/kinesisio/beam-kinesis/testing/kinesistest"
)

var validName = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,128}$`)

func TestStreamName(t *testing.T) {
	seen := map[string]bool{}
	check := func(t *testing.T) {
		for range 3 {
			n := kinesistest.StreamName(t)
			if !validName.MatchString(n) {
				t.Errorf("StreamName = %q, not a valid stream name", n)
			}
			if seen[n] {
				t.Errorf("StreamName returned %q twice", n)
			}
			seen[n] = true
		}
	}
	check(t)
	t.Run("sub test/with:odd chars ü", check)
	t.Run(strings.Repeat("long", 60), check)
	if n := kinesistest.StreamName(t); !strings.HasPrefix(n, "TestStreamName-") {
		t.Errorf("StreamName = %q, want prefix TestStreamName-", n)
	}
}

// newStream creates a stream on the shared kinesalite and returns a
// client for endpoint (the emulator's when empty) and the stream's name.
func newStream(t *testing.T, shards int32) (*kinesis.Client, string, *emulators.Emulator) {
	t.Helper()
	e := emulators.Require(t, emulators.Kinesalite)
	c := kinesistest.NewClient(e.Endpoint)
	name := kinesistest.StreamName(t)
	arn, err := kinesistest.CreateStream(t.Context(), c, name, shards)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasSuffix(arn, ":stream/"+name) {
		t.Errorf("CreateStream ARN = %q, want a stream ARN ending in %s", arn, name)
	}
	return c, name, e
}

func TestCreateStreamAndShards(t *testing.T) {
	t.Parallel()
	c, name, _ := newStream(t, 4)
	out, err := c.DescribeStreamSummary(t.Context(), &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	if s := out.StreamDescriptionSummary.StreamStatus; s != types.StreamStatusActive {
		t.Errorf("status = %s, want ACTIVE", s)
	}
	shards, err := kinesistest.Shards(t.Context(), c, name)
	if err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, s := range shards {
		ids[aws.ToString(s.ShardId)] = true
	}
	if len(shards) != 4 || len(ids) != 4 {
		t.Errorf("Shards returned %d shards (%d distinct), want 4", len(shards), len(ids))
	}
}

// payloads returns n distinct payloads of about size bytes.
func payloads(prefix string, n, size int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		head := fmt.Sprintf("%s-%d-", prefix, i)
		out[i] = append([]byte(head), bytes.Repeat([]byte{'x'}, max(0, size-len(head)))...)
	}
	return out
}

// asPuts turns what ReadAll got into Puts, dropping arrival times after
// checking that they are set.
func asPuts(t *testing.T, got map[string][]kinesistest.Got) map[string][]kinesistest.Put {
	t.Helper()
	out := map[string][]kinesistest.Put{}
	for shard, rs := range got {
		for _, r := range rs {
			if r.ShardID != shard {
				t.Errorf("record %s filed under %s has ShardID %s", r.SequenceNumber, shard, r.ShardID)
			}
			if r.Arrival.IsZero() {
				t.Errorf("record %s has no arrival time", r.SequenceNumber)
			}
			out[shard] = append(out[shard], kinesistest.Put{ShardID: r.ShardID, SequenceNumber: r.SequenceNumber, PartitionKey: r.PartitionKey, Data: r.Data})
		}
	}
	return out
}

// checkReadAll checks that ReadAll of the stream name gives want.
func checkReadAll(t *testing.T, c *kinesis.Client, name string, want map[string][]kinesistest.Put) {
	t.Helper()
	got, err := kinesistest.ReadAll(t.Context(), c, name)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, asPuts(t, got)); diff != "" {
		t.Errorf("ReadAll differs from what was put (-put +read):\n%s", diff)
	}
}

// newProxiedStream returns a new stream of one shard and a proxy in
// front of its emulator, closed when the test ends.
func newProxiedStream(t *testing.T) (string, *kinesistest.Proxy) {
	t.Helper()
	_, name, e := newStream(t, 1)
	p, err := kinesistest.NewProxy(e.Endpoint)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	return name, p
}

func TestPutToShardThenReadAll(t *testing.T) {
	t.Parallel()
	c, name, _ := newStream(t, 4)
	shards, err := kinesistest.Shards(t.Context(), c, name)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]kinesistest.Put{}
	// Shard 0 stays empty; the last shard gets more than one batch.
	counts := []int{0, 3, 40, 1203}
	for i, s := range shards {
		id := aws.ToString(s.ShardId)
		data := payloads(id, counts[i], 100)
		puts, err := kinesistest.PutToShard(t.Context(), c, name, id, data)
		if err != nil {
			t.Fatalf("PutToShard(%s): %v", id, err)
		}
		if len(puts) != len(data) {
			t.Fatalf("PutToShard(%s) returned %d results, want %d", id, len(puts), len(data))
		}
		for j, p := range puts {
			if p.ShardID != id || !bytes.Equal(p.Data, data[j]) || p.SequenceNumber == "" || p.PartitionKey == "" {
				t.Fatalf("PutToShard(%s)[%d] = %+v", id, j, p)
			}
		}
		if len(puts) > 0 {
			want[id] = puts
		}
	}
	checkReadAll(t, c, name, want)
}

func TestPutToShardUnknownShard(t *testing.T) {
	t.Parallel()
	c, name, _ := newStream(t, 1)
	_, err := kinesistest.PutToShard(t.Context(), c, name, "shardId-000000000009", [][]byte{[]byte("x")})
	if err == nil || !strings.Contains(err.Error(), "no shard") {
		t.Errorf("PutToShard on a missing shard: error = %v", err)
	}
}

func TestPutRecordsSpreadsAndReadAll(t *testing.T) {
	t.Parallel()
	c, name, _ := newStream(t, 4)
	data := payloads("spread", 400, 50)
	puts, err := kinesistest.PutRecords(t.Context(), c, name, data)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string][]kinesistest.Put{}
	for i, p := range puts {
		if !bytes.Equal(p.Data, data[i]) {
			t.Fatalf("PutRecords result %d is for %q, want %q", i, p.Data, data[i])
		}
		want[p.ShardID] = append(want[p.ShardID], p)
	}
	if len(want) < 2 {
		t.Errorf("400 records with random keys landed on %d shard(s), want several", len(want))
	}
	checkReadAll(t, c, name, want)
}

func TestReadAllEmptyStream(t *testing.T) {
	t.Parallel()
	c, name, _ := newStream(t, 2)
	got, err := kinesistest.ReadAll(t.Context(), c, name)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 0 {
		t.Errorf("ReadAll of an empty stream = %v", got)
	}
}

func TestProxyCountsBatches(t *testing.T) {
	t.Parallel()
	name, p := newProxiedStream(t)
	if !strings.HasPrefix(p.Endpoint(), "http://127.0.0.1:") {
		t.Errorf("Endpoint = %s", p.Endpoint())
	}
	c := kinesistest.NewClient(p.Endpoint())
	shards, err := kinesistest.Shards(t.Context(), c, name)
	if err != nil {
		t.Fatal(err)
	}
	if n := p.Count("ListShards"); n != 1 {
		t.Errorf("Count(ListShards) = %d, want 1", n)
	}
	id := aws.ToString(shards[0].ShardId)

	// 1,001 small records: batches of 500, 500, 1 (+1 ListShards).
	if _, err := kinesistest.PutToShard(t.Context(), c, name, id, payloads("small", 1001, 10)); err != nil {
		t.Fatal(err)
	}
	if n := p.Count("PutRecords"); n != 3 {
		t.Errorf("after 1,001 small records Count(PutRecords) = %d, want 3", n)
	}
	// 11 records of 1,000 KiB: at most 5 fit in 5 MiB, so 3 batches.
	big := payloads("big", 11, 1000<<10)
	if _, err := kinesistest.PutRecords(t.Context(), c, name, big); err != nil {
		t.Fatal(err)
	}
	if n := p.Count("PutRecords"); n != 6 {
		t.Errorf("after 11 big records Count(PutRecords) = %d, want 6", n)
	}
	if n := p.Count("ListShards"); n != 2 {
		t.Errorf("Count(ListShards) = %d, want 2", n)
	}
	if n := p.Count("GetRecords"); n != 0 {
		t.Errorf("Count(GetRecords) = %d before any read", n)
	}
	got, err := kinesistest.ReadAll(t.Context(), c, name)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(got[id]); n != 1012 {
		t.Errorf("ReadAll returned %d records, want 1012", n)
	}
	if p.Count("GetRecords") < 2 {
		t.Errorf("Count(GetRecords) = %d, want at least 2", p.Count("GetRecords"))
	}
}

func TestProxyWaitFor(t *testing.T) {
	t.Parallel()
	name, p := newProxiedStream(t)
	c := kinesistest.NewClient(p.Endpoint())

	// Already reached: returns at once.
	if err := p.WaitFor(t.Context(), "DescribeStreamSummary", 0); err != nil {
		t.Errorf("WaitFor(0) = %v", err)
	}
	// Reached later by calls made concurrently.
	errc := make(chan error, 1)
	go func() {
		for range 3 {
			if _, err := c.DescribeStreamSummary(t.Context(), &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)}); err != nil {
				errc <- err
				return
			}
			time.Sleep(20 * time.Millisecond)
		}
		errc <- nil
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 10*time.Second)
	defer cancel()
	if err := p.WaitFor(ctx, "DescribeStreamSummary", 3); err != nil {
		t.Errorf("WaitFor(3) = %v", err)
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	// Never reached: fails when ctx ends.
	short, cancelShort := context.WithTimeout(t.Context(), 100*time.Millisecond)
	defer cancelShort()
	if err := p.WaitFor(short, "GetRecords", 1); err == nil || !strings.Contains(err.Error(), "saw 0") {
		t.Errorf("WaitFor(GetRecords) = %v, want a deadline error", err)
	}
}

func TestNewProxyBadTarget(t *testing.T) {
	for _, target := range []string{"127.0.0.1:1234", "://x", ""} {
		if p, err := kinesistest.NewProxy(target); err == nil {
			p.Close()
			t.Errorf("NewProxy(%q) succeeded", target)
		}
	}
}
