package kinesisio_test

import (
	"context"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/kinesisio/beam-kinesis/kinesisio"
	"github.com/kinesisio/beam-kinesis/testing/emulators"
	"github.com/kinesisio/beam-kinesis/testing/fakekinesis"
	"github.com/kinesisio/beam-kinesis/testing/kinesistest"
)

// fanOutServer is the in-process server with subscriptions that end
// every subscription (so renewals come every few seconds) and heartbeat
// events every 100 ms.
func fanOutServer(subscription time.Duration, extra ...fakekinesis.Option) []fakekinesis.Option {
	return append([]fakekinesis.Option{
		fakekinesis.WithSubscriptionDuration(subscription),
		fakekinesis.WithSubscriptionHeartbeat(100 * time.Millisecond),
	}, extra...)
}

// fastSubscribes lets Read subscribe again 200 ms after a subscription
// (Kinesis: 5 s), for tests against the in-process server.
func fastSubscribes(t *testing.T) {
	t.Cleanup(kinesisio.SetSubscribeSpacing(200 * time.Millisecond))
}

// TestFanOutRenewalsAndFaultsLoseNothing reads 4 shards with enhanced
// fan-out while subscriptions end every 1.5 s, every second subscribe is
// refused with ResourceInUseException, and open subscriptions are reset
// mid-stream every 700 ms: every record once, in order per shard.
func TestFanOutRenewalsAndFaultsLoseNothing(t *testing.T) {
	fastSubscribes(t)
	// No end checks: a shard starved by the faults for 5 s on a loaded
	// machine would make one (a GetRecords call), which is not what this
	// test is about.
	t.Cleanup(kinesisio.SetEndCheckInterval(time.Hour))
	e := newFakeEnv(t, 4, fanOutServer(1500*time.Millisecond, fakekinesis.WithResubscribeInterval(0))...)
	e.srv.Inject(fakekinesis.Fault{Op: "SubscribeToShard", Kind: fakekinesis.ResourceInUse, Every: 2, For: time.Minute})
	const batches, perBatch = 60, 20
	total := batches * perBatch
	p, s := beam.NewPipelineWithRoot()
	got := collect(s, kinesisio.Read(s, e.stream, e.opts(
		kinesisio.WithEnhancedFanOut("fanout-test"),
		kinesisio.WithMaxRecords(int64(total)),
		kinesisio.WithMaxReadTime(2*time.Minute))...))
	done, result := runAsyncResult(p)
	stop := make(chan struct{})
	var resets atomic.Int64
	go func() {
		tick := time.NewTicker(700 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-stop:
				return
			case <-tick.C:
				resets.Add(int64(e.srv.ResetSubscriptions("")))
			}
		}
	}()
	puts := e.produce(t, batches, perBatch, nil)
	err := await(t, done, 3*time.Minute)
	close(stop)
	if err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, got(), puts)
	res := *result
	subs, renewals, inUse, events := counter(res, "read_subscriptions"), counter(res, "read_subscription_renewals"), counter(res, "read_subscribe_in_use"), counter(res, "read_events")
	t.Logf("%d subscriptions, %d renewals, %d refused as in use, %d resets, %d retries, %d events", subs, renewals, inUse, resets.Load(), counter(res, "read_retries"), events)
	if renewals < 1 || inUse < 1 || resets.Load() < 1 || subs < 4+inUse/2 || events < subs {
		t.Errorf("faults not exercised: %d subscriptions, %d renewals, %d in use, %d resets, %d events", subs, renewals, inUse, resets.Load(), events)
	}
	if n := e.srv.Calls("GetRecords"); n != 0 {
		t.Errorf("%d GetRecords calls with enhanced fan-out", n)
	}
}

// TestFanOutSplitAndMergeWhileSubscribed splits and merges shards while
// they are subscribed: exact multiset, order per shard, parents first, and
// an exact windowed count (nothing late).
func TestFanOutSplitAndMergeWhileSubscribed(t *testing.T) {
	fastSubscribes(t)
	// The ChildShards path alone: no end check by GetRecords.
	t.Cleanup(kinesisio.SetEndCheckInterval(time.Hour))
	e := newFakeEnv(t, 2, fanOutServer(3*time.Second)...)
	res := reshardCaseOn(t, e, 200*time.Millisecond, 50, 10, func(e *env) map[int]func() {
		return map[int]func(){12: func() { e.split(t) }, 30: func() { e.merge(t) }}
	}, kinesisio.WithEnhancedFanOut("reshard-test"))
	if n := e.srv.Calls("GetRecords"); n != 0 {
		t.Errorf("%d GetRecords calls with enhanced fan-out", n)
	}
	t.Logf("%d subscriptions, %d renewals", counter(res, "read_subscriptions"), counter(res, "read_subscription_renewals"))
}

// TestFanOutEndsShardsWithoutChildShardsEvent is
// TestFanOutSplitAndMergeWhileSubscribed on a server that behaves as
// kinesis-mock does (no ChildShards event, the parents' subscriptions go
// on with empty events), with a checkpoint store, whose children wait for
// their parents through the store: every parent is ended by a GetRecords
// check of its end, and every record is read once, parents first.
func TestFanOutEndsShardsWithoutChildShardsEvent(t *testing.T) {
	fastSubscribes(t)
	t.Cleanup(kinesisio.SetEndCheckInterval(300 * time.Millisecond))
	e := newFakeEnv(t, 2, fanOutServer(3*time.Second, fakekinesis.WithoutSubscriptionShardEnd())...)
	res := reshardCaseOn(t, e, 200*time.Millisecond, 50, 10, func(e *env) map[int]func() {
		return map[int]func(){12: func() { e.split(t) }, 30: func() { e.merge(t) }}
	}, kinesisio.WithEnhancedFanOut("reshard-test"),
		kinesisio.WithCheckpoints("no-child-shards-event", kinesisio.LocalDirectory(t.TempDir())))
	confirmed := counter(res, "read_ends_confirmed")
	t.Logf("%d subscriptions, %d end checks, %d ends confirmed, %d GetRecords calls", counter(res, "read_subscriptions"), counter(res, "read_end_checks"), confirmed, e.srv.Calls("GetRecords"))
	if confirmed < 3 {
		t.Errorf("%d shard ends confirmed by GetRecords, want 3", confirmed)
	}
}

// TestFanOutConsumer registers a consumer by name once (a second read
// reuses it), waits for it to become ACTIVE, refuses a missing consumer
// ARN with a clear error, and deregisters it with DeregisterConsumer.
func TestFanOutConsumer(t *testing.T) {
	fastSubscribes(t)
	e := newFakeEnv(t, 1, fanOutServer(time.Minute, fakekinesis.WithConsumerActivation(time.Second))...)
	puts := e.putPerShard(t, 20, "c")
	read := func(c string) ([]kinesisio.Record, error) {
		p, s := beam.NewPipelineWithRoot()
		got := collect(s, kinesisio.Read(s, e.stream, e.opts(kinesisio.WithEnhancedFanOut(c), kinesisio.WithStopAtLatest())...))
		_, err := ptest.RunWithMetrics(p)
		return got(), err
	}
	for i := range 2 {
		start := time.Now()
		got, err := read("app")
		if err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
		checkExactlyOnce(t, got, puts)
		t.Logf("read %d with a consumer name took %v", i, time.Since(start))
	}
	out, err := e.client.ListStreamConsumers(context.Background(), &kinesis.ListStreamConsumersInput{StreamARN: aws.String(e.arn)})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Consumers) != 1 || aws.ToString(out.Consumers[0].ConsumerName) != "app" {
		t.Fatalf("consumers after two reads: %+v", out.Consumers)
	}
	arn := aws.ToString(out.Consumers[0].ConsumerARN)
	if got, err := read(arn); err != nil {
		t.Fatalf("read with a consumer ARN: %v", err)
	} else {
		checkExactlyOnce(t, got, puts)
	}

	if err := kinesisio.DeregisterConsumer(context.Background(), e.stream, "app", kinesisio.Connection{Endpoint: e.endpoint, Region: kinesistest.Region}); err != nil {
		t.Fatalf("DeregisterConsumer: %v", err)
	}
	if err := kinesisio.DeregisterConsumer(context.Background(), e.stream, "app", kinesisio.Connection{Endpoint: e.endpoint, Region: kinesistest.Region}); err != nil {
		t.Errorf("DeregisterConsumer of a consumer that is gone: %v", err)
	}
	_, err = read(arn)
	if err == nil || !strings.Contains(err.Error(), "does not exist: register it") {
		t.Errorf("read with a deregistered consumer ARN: %v", err)
	}
}

// TestFanOutOptionsAreChecked refuses bad consumers when the pipeline is
// built.
func TestFanOutOptionsAreChecked(t *testing.T) {
	for _, tc := range []struct {
		stream string
		c      string
		want   string
	}{
		{"s", "", "no consumer"},
		{"s", "a b", "invalid consumer name"},
		{"s", "arn:aws:kinesis:us-east-1:123456789012:stream/s", "not a consumer ARN"},
		{"other", "arn:aws:kinesis:us-east-1:123456789012:stream/s/consumer/c:1", "not a consumer of stream other"},
		{"arn:aws:kinesis:eu-west-1:123456789012:stream/s", "arn:aws:kinesis:us-east-1:123456789012:stream/s/consumer/c:1", "not a consumer of stream"},
	} {
		_, s := beam.NewPipelineWithRoot()
		_, err := kinesisio.TryRead(s, tc.stream, kinesisio.WithEnhancedFanOut(tc.c))
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s with %v: %v, want %q", tc.stream, tc.c, err, tc.want)
		}
	}
	_, s := beam.NewPipelineWithRoot()
	if _, err := kinesisio.TryRead(s, "s", kinesisio.WithEnhancedFanOut("arn:aws:kinesis:us-east-1:123456789012:stream/s/consumer/c:1")); err != nil {
		t.Errorf("a consumer ARN of the stream: %v", err)
	}
}

// TestFanOutOnKinesisMock reads 4 shards of kinesis-mock with a consumer
// registered beforehand (it sends no initial-response frame, unlike
// Kinesis), then switches to polling and back across restarts from
// explicit positions: each read gets exactly the records put since the
// last one.
func TestFanOutOnKinesisMock(t *testing.T) {
	e := newEnv(t, emulators.KinesisMock, 4)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	reg, err := e.client.RegisterStreamConsumer(ctx, &kinesis.RegisterStreamConsumerInput{StreamARN: aws.String(e.arn), ConsumerName: aws.String("mock-app")})
	if err != nil {
		t.Fatalf("RegisterStreamConsumer: %v", err)
	}
	consumer := kinesisio.WithEnhancedFanOut(aws.ToString(reg.Consumer.ConsumerARN))
	positions := map[string]kinesisio.Position{}
	read := func(name string, opts ...kinesisio.ReadOption) []kinesisio.Record {
		p, s := beam.NewPipelineWithRoot()
		opts = append(opts, kinesisio.WithStopAtLatest())
		if len(positions) > 0 {
			opts = append(opts, kinesisio.WithShardPositions(positions))
		}
		got := collect(s, kinesisio.Read(s, e.stream, e.opts(opts...)...))
		start := time.Now()
		res := run(t, p)
		recs := got()
		t.Logf("%s: %d records in %v, %d subscriptions", name, len(recs), time.Since(start), counter(res, "read_subscriptions"))
		return recs
	}
	advance := func(recs []kinesisio.Record) {
		last := map[string]kinesisio.Record{}
		for _, r := range recs {
			if l, ok := last[r.ShardID]; !ok || seqLess(l.SequenceNumber, r.SequenceNumber) {
				last[r.ShardID] = r
			}
		}
		for shard, r := range last {
			positions[shard] = kinesisio.AfterSubSequenceNumber(r.SequenceNumber, r.SubSequenceNumber)
		}
	}
	for _, step := range []struct {
		name string
		opts []kinesisio.ReadOption
	}{
		{"fan-out from TRIM_HORIZON", []kinesisio.ReadOption{consumer}},
		{"polling from fan-out's positions", nil},
		{"fan-out from polling's positions", []kinesisio.ReadOption{consumer}},
	} {
		puts := e.putPerShard(t, 25, step.name[:7])
		got := read(step.name, step.opts...)
		checkExactlyOnce(t, got, puts)
		advance(got)
	}
}

// TestFanOutSplitAndMergeOnKinesisMock splits and merges shards of
// kinesis-mock while they are subscribed. kinesis-mock never sends a
// split or merged parent's subscribers a ChildShards event: its
// subscription goes on with empty events. Read confirms the parent's end
// with GetRecords once the subscription has been quiet past the last
// record, so the children are read after their parents: every record
// exactly once, parents first, an exact windowed count.
func TestFanOutSplitAndMergeOnKinesisMock(t *testing.T) {
	e := newEnv(t, emulators.KinesisMock, 2)
	res := reshardCaseOn(t, e, 200*time.Millisecond, 50, 10, func(e *env) map[int]func() {
		return map[int]func(){12: func() { e.split(t) }, 30: func() { e.merge(t) }}
	}, kinesisio.WithEnhancedFanOut("reshard-mock"))
	confirmed := counter(res, "read_ends_confirmed")
	t.Logf("%d subscriptions, %d renewals, %d events, %d end checks, %d ends confirmed, %d calls", counter(res, "read_subscriptions"), counter(res, "read_subscription_renewals"),
		counter(res, "read_events"), counter(res, "read_end_checks"), confirmed, counter(res, "read_calls"))
	// One split parent and two merge parents, all ended by a check.
	if confirmed < 3 {
		t.Errorf("%d shard ends confirmed by GetRecords, want 3 (kinesis-mock sends no ChildShards event)", confirmed)
	}
}
