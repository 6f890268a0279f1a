package fetcher

import (
	"context"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/kinesisio/beam-kinesis/internal/awsclient"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/restriction"
	"github.com/kinesisio/beam-kinesis/testing/fakekinesis"
	"github.com/kinesisio/beam-kinesis/testing/kinesistest"
)

// TestFanOutBufferIsBoundedUnderASlowConsumer puts 12 MiB on a shard and
// reads it with enhanced fan-out into a 1 MiB buffer: while nobody
// consumes, the fetcher stops reading events (flow control holds the
// server) and its buffer stays within the bound plus one event; a slow
// consumer then gets every record once, in order.
func TestFanOutBufferIsBoundedUnderASlowConsumer(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	_, c, consumerARN := newConsumerStream(ctx, t, "slow", fakekinesis.WithSubscriptionHeartbeat(100*time.Millisecond))
	const n, size = 240, 50 << 10 // 12 MiB
	var data [][]byte
	for i := range n {
		b := make([]byte, size)
		copy(b, fmt.Sprintf("%04d", i))
		data = append(data, b)
	}
	for i := 0; i < n; i += 80 { // 4 MiB per call, within PutRecords' 5 MiB
		if _, err := kinesistest.PutToShard(ctx, c, "slow", "shardId-000000000000", data[i:i+80]); err != nil {
			t.Fatal(err)
		}
	}
	runtime.GC()
	var before runtime.MemStats
	runtime.ReadMemStats(&before)

	const bound = 1 << 20
	f := Start(Config{
		Stream: awsclient.Stream{Name: "slow"}, ShardID: "shardId-000000000000", Start: restriction.Position{Kind: restriction.TrimHorizon},
		ConsumerARN: consumerARN, MaxBufferedBytes: bound,
	}, c, nil)
	defer f.Close()
	// One event is at most 1 MiB on the in-process server (Kinesis sends
	// about one second's worth of the shard's 2 MiB/s): the buffer may
	// overshoot the bound by one event, as with one GetRecords call.
	limit := int64(bound + (1 << 20) + size)
	maxBuffered, peakHeap := int64(0), uint64(0)
	sample := func() {
		maxBuffered = max(maxBuffered, f.Buffered())
		var m runtime.MemStats
		runtime.ReadMemStats(&m)
		peakHeap = max(peakHeap, m.HeapInuse)
	}
	for deadline := time.Now().Add(1500 * time.Millisecond); time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		sample()
	}
	if maxBuffered > limit {
		t.Errorf("%d bytes buffered with nobody consuming, bound %d", maxBuffered, limit)
	}
	if maxBuffered == 0 {
		t.Fatalf("nothing fetched in 1.5 s: %v", f.Err())
	}
	stalled := f.Stats().Events
	// Only the events that fill the buffer (and one the SDK decoded ahead)
	// were read, of the 12 the data takes; the process (server and client
	// together, with the server's event being written and the SDK's one
	// decoded ahead: 5-9 MiB measured) holds less than the 12 MiB put,
	// which a reader that kept decoding events would hold on top.
	if stalled > 4 {
		t.Errorf("%d events read while nobody consumed", stalled)
	}
	runtime.GC()
	var held runtime.MemStats
	runtime.ReadMemStats(&held)
	heldMiB := float64(int64(held.HeapInuse)-int64(before.HeapInuse)) / (1 << 20)
	if heldMiB >= 12 && !raceEnabled {
		t.Errorf("%.1f MiB more heap in use while stalled", heldMiB)
	}
	got := 0
	for deadline := time.Now().Add(30 * time.Second); got < n && time.Now().Before(deadline); {
		b := f.Next()
		if b == nil {
			time.Sleep(5 * time.Millisecond)
			continue
		}
		for ; b.Next < len(b.Records) && b.Next < 8; b.Next++ { // a slow consumer: 8 records at a time
			r := b.Records[b.Next]
			if want := fmt.Sprintf("%04d", got); string(r.Data[:4]) != want {
				t.Fatalf("record %d: got %q", got, r.Data[:4])
			}
			got++
		}
		f.Return(b)
		sample()
		time.Sleep(2 * time.Millisecond)
	}
	if got != n {
		t.Fatalf("consumed %d of %d records: %v", got, n, f.Err())
	}
	if maxBuffered > limit {
		t.Errorf("%d bytes buffered under a slow consumer, bound %d", maxBuffered, limit)
	}
	st := f.Stats()
	t.Logf("12 MiB through a 1 MiB buffer: at most %d bytes buffered; heap in use %.1f MiB above the start while stalled (after a GC), at most %.1f MiB while consuming (garbage included); %d events while stalled, %d in all, %d subscription(s)",
		maxBuffered, heldMiB, float64(int64(peakHeap)-int64(before.HeapInuse))/(1<<20), stalled, st.Events, st.Subscriptions)
}

// TestFanOutConfirmsShardEndWithoutChildShards: the in-process server
// behaves as kinesis-mock does after a split: the parent's subscription
// never ends and sends no ChildShards, only empty events. The parent's
// fetcher confirms the end with GetRecords once its subscription has been
// quiet past the last record, and ends with the children named, every
// record once and in order. The fetcher of an open child that went idle
// does not end, and checks at most once per EndCheckInterval.
func TestFanOutConfirmsShardEndWithoutChildShards(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	srv, c, consumerARN := newConsumerStream(ctx, t, "split", fakekinesis.WithSubscriptionHeartbeat(50*time.Millisecond), fakekinesis.WithoutSubscriptionShardEnd())
	const parent = "shardId-000000000000"
	put := func(shard, prefix string, n int) {
		t.Helper()
		var data [][]byte
		for i := range n {
			data = append(data, fmt.Appendf(nil, "%s%02d", prefix, i))
		}
		if _, err := kinesistest.PutToShard(ctx, c, "split", shard, data); err != nil {
			t.Fatal(err)
		}
	}
	const interval = 300 * time.Millisecond
	start := func(shard string) *Fetcher {
		return Start(Config{
			Stream: awsclient.Stream{Name: "split"}, ShardID: shard, Start: restriction.Position{Kind: restriction.TrimHorizon},
			ConsumerARN: consumerARN, EndCheckInterval: interval,
		}, c, nil)
	}
	// drain consumes f's records until the shard's end or d, whichever
	// comes first, and returns them with the last batch.
	drain := func(f *Fetcher, d time.Duration) ([]string, *Batch) {
		var got []string
		for deadline := time.Now().Add(d); time.Now().Before(deadline); {
			b := f.Next()
			if b == nil {
				time.Sleep(10 * time.Millisecond)
				continue
			}
			for ; b.Next < len(b.Records); b.Next++ {
				got = append(got, string(b.Records[b.Next].Data))
			}
			f.Return(b)
			if b.ShardEnd {
				return got, b
			}
		}
		return got, nil
	}

	put(parent, "p", 10)
	pf := start(parent)
	defer pf.Close()
	got, _ := drain(pf, 300*time.Millisecond)
	put(parent, "q", 10)
	if _, err := c.SplitShard(ctx, &kinesis.SplitShardInput{StreamName: aws.String("split"), ShardToSplit: aws.String(parent), NewStartingHashKey: aws.String("1000")}); err != nil {
		t.Fatal(err)
	}
	rest, end := drain(pf, 20*time.Second)
	got = append(got, rest...)
	var want []string
	for _, p := range []string{"p", "q"} {
		for i := range 10 {
			want = append(want, fmt.Sprintf("%s%02d", p, i))
		}
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("parent: read %v, want %v", got, want)
	}
	if end == nil {
		t.Fatalf("the parent's read did not end within 20 s of the split (%d events, %d subscriptions): %v", pf.Stats().Events, pf.Stats().Subscriptions, pf.Err())
	}
	if len(end.ChildShards) != 2 {
		t.Errorf("the parent's end names %d children, want 2", len(end.ChildShards))
	}
	if st := pf.Stats(); st.EndsConfirmed != 1 || st.EndChecks < 1 {
		t.Errorf("parent: %d end checks, %d ends confirmed, want 1 confirmed", st.EndChecks, st.EndsConfirmed)
	}

	child := aws.ToString(end.ChildShards[0].ShardId)
	put(child, "c", 5)
	cf := start(child)
	defer cf.Close()
	began := time.Now()
	got, end = drain(cf, 2*time.Second)
	elapsed := time.Since(began)
	if len(got) != 5 || end != nil || cf.Stats().EndsConfirmed != 0 {
		t.Errorf("open child: read %d records of 5, ended: %v (%d ends confirmed)", len(got), end != nil, cf.Stats().EndsConfirmed)
	}
	// One GetRecords per interval at most on a quiet open shard (the
	// first after one interval without records).
	calls := srv.CallsByShard("GetRecords", child)
	if limit := int(elapsed/interval) + 1; calls > limit {
		t.Errorf("%d GetRecords calls on a quiet open shard in %v, at most %d allowed", calls, elapsed, limit)
	}
	t.Logf("parent ended by a GetRecords check; open child: %d GetRecords and %d GetShardIterator calls in %v", calls, srv.CallsByShard("GetShardIterator", child), elapsed)
}

// newConsumerStream starts an in-process server with opts (closed when
// the test ends), creates the one-shard stream name on it and registers a
// consumer of it, whose ARN it returns with the server and a client.
func newConsumerStream(ctx context.Context, t *testing.T, name string, opts ...fakekinesis.Option) (*fakekinesis.Server, *kinesis.Client, string) {
	t.Helper()
	srv, err := fakekinesis.NewServer(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	c := kinesistest.NewClient(srv.Endpoint())
	arn, err := kinesistest.CreateStream(ctx, c, name, 1)
	if err != nil {
		t.Fatal(err)
	}
	reg, err := c.RegisterStreamConsumer(ctx, &kinesis.RegisterStreamConsumerInput{StreamARN: aws.String(arn), ConsumerName: aws.String(name)})
	if err != nil {
		t.Fatal(err)
	}
	return srv, c, aws.ToString(reg.Consumer.ConsumerARN)
}
