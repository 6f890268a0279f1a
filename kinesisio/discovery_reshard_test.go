package kinesisio_test

import (
	"context"
	"fmt"
	"math/big"
	"sync"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/kinesisio/beam-kinesis/kinesisio"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/fetcher"
	"github.com/kinesisio/beam-kinesis/testing/emulators"
	"github.com/kinesisio/beam-kinesis/testing/kinesistest"
)

// waitActive waits until the stream is ACTIVE again after a reshard.
func (e *env) waitActive(t *testing.T) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		out, err := e.client.DescribeStreamSummary(context.Background(), &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(e.stream)})
		if err == nil && out.StreamDescriptionSummary.StreamStatus == types.StreamStatusActive {
			return
		}
	}
	t.Fatal("stream not ACTIVE within 30 s")
}

// openShards returns the open shards, ordered by hash key.
func (e *env) openShards(t *testing.T) []types.Shard {
	t.Helper()
	all, err := kinesistest.Shards(context.Background(), e.client, e.stream)
	if err != nil {
		t.Fatal(err)
	}
	var open []types.Shard
	for _, s := range all {
		if s.SequenceNumberRange.EndingSequenceNumber == nil {
			open = append(open, s)
		}
	}
	hash := func(s types.Shard) *big.Int {
		n, _ := new(big.Int).SetString(*s.HashKeyRange.StartingHashKey, 10)
		return n
	}
	for i := 1; i < len(open); i++ {
		for j := i; j > 0 && hash(open[j]).Cmp(hash(open[j-1])) < 0; j-- {
			open[j], open[j-1] = open[j-1], open[j]
		}
	}
	return open
}

func (e *env) split(t *testing.T) {
	t.Helper()
	s := e.openShards(t)[0]
	lo, _ := new(big.Int).SetString(*s.HashKeyRange.StartingHashKey, 10)
	hi, _ := new(big.Int).SetString(*s.HashKeyRange.EndingHashKey, 10)
	mid := new(big.Int).Rsh(new(big.Int).Add(lo, hi), 1)
	if _, err := e.client.SplitShard(context.Background(), &kinesis.SplitShardInput{StreamName: aws.String(e.stream), ShardToSplit: s.ShardId, NewStartingHashKey: aws.String(mid.String())}); err != nil {
		t.Fatalf("SplitShard: %v", err)
	}
	e.waitActive(t)
}

func (e *env) merge(t *testing.T) {
	t.Helper()
	open := e.openShards(t)
	if _, err := e.client.MergeShards(context.Background(), &kinesis.MergeShardsInput{StreamName: aws.String(e.stream), ShardToMerge: open[0].ShardId, AdjacentShardToMerge: open[1].ShardId}); err != nil {
		t.Fatalf("MergeShards: %v", err)
	}
	e.waitActive(t)
}

func (e *env) updateShardCount(t *testing.T, n int32) {
	t.Helper()
	if _, err := e.client.UpdateShardCount(context.Background(), &kinesis.UpdateShardCountInput{StreamName: aws.String(e.stream), TargetShardCount: aws.Int32(n), ScalingType: types.ScalingTypeUniformScaling}); err != nil {
		t.Fatalf("UpdateShardCount(%d): %v", n, err)
	}
	e.waitActive(t)
	if got := len(e.openShards(t)); got != int(n) {
		t.Fatalf("%d open shards after UpdateShardCount(%d)", got, n)
	}
}

// produce puts batches of records with random partition keys every 50 ms
// and runs the reshard steps at the given batch numbers, all while the
// pipeline reads. It returns what it put.
func (e *env) produce(t *testing.T, batches, perBatch int, steps map[int]func()) []kinesistest.Put {
	t.Helper()
	var puts []kinesistest.Put
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for b := 0; b < batches; b++ {
		if step, ok := steps[b]; ok {
			step()
		}
		var data [][]byte
		for i := 0; i < perBatch; i++ {
			data = append(data, []byte(fmt.Sprintf("b%03d-%03d", b, i)))
		}
		p, err := kinesistest.PutRecords(ctx, e.client, e.stream, data)
		if err != nil {
			t.Fatal(err)
		}
		puts = append(puts, p...)
		time.Sleep(50 * time.Millisecond)
	}
	return puts
}

// reshardCase reads while a producer writes and reshards, then checks
// exactly-once delivery, per-shard order, parents before children and an
// exact windowed count.
func reshardCase(t *testing.T, kind emulators.Kind, shards int32, batches, perBatch int, steps func(e *env) map[int]func()) {
	reshardCaseEvery(t, kind, 200*time.Millisecond, shards, batches, perBatch, steps)
}

func reshardCaseEvery(t *testing.T, kind emulators.Kind, interval time.Duration, shards int32, batches, perBatch int, steps func(e *env) map[int]func()) {
	reshardCaseOn(t, newEnv(t, kind, shards), interval, batches, perBatch, steps)
}

// reshardCaseOn is reshardCase on e, reading with the extra options.
func reshardCaseOn(t *testing.T, e *env, interval time.Duration, batches, perBatch int, steps func(e *env) map[int]func(), extra ...kinesisio.ReadOption) beam.PipelineResult {
	total := batches * perBatch
	p, s := beam.NewPipelineWithRoot()
	recs := kinesisio.Read(s, e.stream, e.opts(append([]kinesisio.ReadOption{
		kinesisio.WithMaxRecords(int64(total)),
		kinesisio.WithMaxReadTime(3 * time.Minute),
		kinesisio.WithShardDiscoveryInterval(interval)}, extra...)...)...)
	got := collectTimed(s, recs)
	counted := countWindows(t, s, recs)

	start := time.Now()
	done, result := runAsyncResult(p)
	// Sample how many shards are read at once (fetchers running).
	stopSampling := make(chan struct{})
	var maxFetchers int64
	var sampling sync.WaitGroup
	sampling.Add(1)
	go func() {
		defer sampling.Done()
		for {
			select {
			case <-stopSampling:
				return
			case <-time.After(20 * time.Millisecond):
				maxFetchers = max(maxFetchers, fetcher.Running())
			}
		}
	}()
	reshardedAt := map[int]time.Time{}
	stepFns := steps(e)
	for b, f := range stepFns {
		stepFns[b] = func() { f(); reshardedAt[b] = time.Now() }
	}
	puts := e.produce(t, batches, perBatch, stepFns)
	if err := await(t, done, 4*time.Minute); err != nil {
		t.Fatal(err)
	}
	close(stopSampling)
	sampling.Wait()
	t.Logf("read %d records across the reshard in %v; at most %d shards read at once", total, time.Since(start), maxFetchers)
	read, at := got()
	logChildLatency(t, e, read, at, reshardedAt)
	checkExactlyOnce(t, read, puts)
	checkParentsFirst(t, e, read)

	have, _ := counted()
	checkWindowCounts(t, read, have, arrivalTime)
	return *result
}

// logChildLatency logs, for each reshard, the time from the reshard call
// returning to the first record of a new shard reaching the sink.
func logChildLatency(t *testing.T, e *env, read []kinesisio.Record, at []time.Time, reshardedAt map[int]time.Time) {
	all, err := kinesistest.Shards(context.Background(), e.client, e.stream)
	if err != nil {
		t.Fatal(err)
	}
	children := map[string]bool{}
	for _, s := range all {
		if s.ParentShardId != nil {
			children[*s.ShardId] = true
		}
	}
	firstChild := map[string]time.Time{}
	for i, r := range read {
		if _, ok := firstChild[r.ShardID]; !ok && children[r.ShardID] {
			firstChild[r.ShardID] = at[i]
		}
	}
	for b, when := range reshardedAt {
		best := time.Duration(-1)
		for _, first := range firstChild {
			if d := first.Sub(when); d >= 0 && (best < 0 || d < best) {
				best = d
			}
		}
		t.Logf("reshard at batch %d: first record of a new shard %v later", b, best)
	}
}

// checkParentsFirst checks that no record of a child shard was emitted
// before the last record of each of its parents.
func checkParentsFirst(t *testing.T, e *env, read []kinesisio.Record) {
	t.Helper()
	all, err := kinesistest.Shards(context.Background(), e.client, e.stream)
	if err != nil {
		t.Fatal(err)
	}
	first, last := map[string]int{}, map[string]int{}
	for i, r := range read {
		if _, ok := first[r.ShardID]; !ok {
			first[r.ShardID] = i
		}
		last[r.ShardID] = i
	}
	for _, s := range all {
		child, ok := first[*s.ShardId]
		if !ok {
			continue
		}
		for _, p := range []*string{s.ParentShardId, s.AdjacentParentShardId} {
			if p == nil {
				continue
			}
			if l, ok := last[*p]; ok && l > child {
				t.Errorf("shard %s: first record emitted at %d, before the last record of parent %s at %d", *s.ShardId, child, *p, l)
			}
		}
	}
}

func TestReshardSplitWhileReading(t *testing.T) {
	for _, kind := range []emulators.Kind{emulators.KinesisMock, emulators.Kinesalite} {
		t.Run(string(kind), func(t *testing.T) {
			reshardCase(t, kind, 2, 40, 10, func(e *env) map[int]func() {
				return map[int]func(){15: func() { e.split(t) }}
			})
		})
	}
}

// TestReshardFoundLateKeepsWatermark splits a shard while listings are 7 s
// apart: longer than a finished parent holds the watermark, so only the
// discovery step's own watermark (the last listing) keeps the children's
// first records from being late.
func TestReshardFoundLateKeepsWatermark(t *testing.T) {
	reshardCaseEvery(t, emulators.Kinesalite, 7*time.Second, 2, 60, 5, func(e *env) map[int]func() {
		return map[int]func(){10: func() { e.split(t) }}
	})
}

func TestReshardMergeWhileReading(t *testing.T) {
	for _, kind := range []emulators.Kind{emulators.KinesisMock, emulators.Kinesalite} {
		t.Run(string(kind), func(t *testing.T) {
			reshardCase(t, kind, 3, 40, 10, func(e *env) map[int]func() {
				return map[int]func(){15: func() { e.merge(t) }}
			})
		})
	}
}

func TestReshardUpdateShardCountWhileReading(t *testing.T) {
	// kinesis-mock alone implements UpdateShardCount.
	reshardCase(t, emulators.KinesisMock, 2, 60, 10, func(e *env) map[int]func() {
		return map[int]func(){
			// Kinesis scales at most x2 or /2 per call: 2 -> 4 -> 8 -> 4 -> 3.
			10: func() { e.updateShardCount(t, 4) },
			20: func() { e.updateShardCount(t, 8) },
			35: func() { e.updateShardCount(t, 4) },
			45: func() { e.updateShardCount(t, 3) },
		}
	})
}

func TestTrimHorizonReadsParentsClosedBeforeTheJob(t *testing.T) {
	for _, kind := range []emulators.Kind{emulators.KinesisMock, emulators.Kinesalite} {
		t.Run(string(kind), func(t *testing.T) {
			e := newEnv(t, kind, 2)
			puts := e.produce(t, 20, 10, map[int]func(){5: func() { e.split(t) }, 12: func() { e.merge(t) }})
			p, s := beam.NewPipelineWithRoot()
			got := collect(s, kinesisio.Read(s, e.stream, e.opts(kinesisio.WithStopAtLatest())...))
			run(t, p)
			read := got()
			checkExactlyOnce(t, read, puts)
			checkParentsFirst(t, e, read)
		})
	}
}

func TestShardListingPages(t *testing.T) {
	e := newEnv(t, emulators.KinesisMock, 12)
	puts := e.putPerShard(t, 3, "page")
	proxy, err := kinesistest.NewProxy(e.endpoint)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	p, s := beam.NewPipelineWithRoot()
	opts := append(e.opts(kinesisio.WithStopAtLatest(), kinesisio.WithShardListPageSize(5)), kinesisio.Connection{Endpoint: proxy.Endpoint()})
	got := collect(s, kinesisio.Read(s, e.stream, opts...))
	run(t, p)
	checkExactlyOnce(t, got(), puts)
	if n := proxy.Count("ListShards"); n != 3 {
		t.Errorf("%d ListShards calls for 12 shards in pages of 5, want 3", n)
	}
}

// TestChildShardsTriggerListing: kinesis-mock names a closed shard's
// children in its last GetRecords response; discovery lists them at once
// instead of waiting out an interval of an hour (without the trigger the
// children would never be read before the job's two-minute bound and the
// exactly-once check would fail).
func TestChildShardsTriggerListing(t *testing.T) {
	e := newEnv(t, emulators.KinesisMock, 2)
	proxy, err := kinesistest.NewProxy(e.endpoint)
	if err != nil {
		t.Fatal(err)
	}
	defer proxy.Close()
	const batches, perBatch = 30, 10
	p, s := beam.NewPipelineWithRoot()
	opts := append(e.opts(kinesisio.WithMaxRecords(batches*perBatch), kinesisio.WithMaxReadTime(2*time.Minute),
		kinesisio.WithShardDiscoveryInterval(time.Hour)), kinesisio.Connection{Endpoint: proxy.Endpoint()})
	got := collect(s, kinesisio.Read(s, e.stream, opts...))
	start := time.Now()
	done := runAsync(p)
	puts := e.produce(t, batches, perBatch, map[int]func(){10: func() { e.split(t) }})
	if err := await(t, done, 4*time.Minute); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, got(), puts)
	if n := proxy.Count("ListShards"); n < 2 {
		t.Errorf("%d ListShards calls: the children were not listed when the parent ended", n)
	}
	t.Logf("job took %v with an hour between listings", time.Since(start))
}

// TestAtTimestampBeforeReshardKeepsChildrenOnTime: a job started with
// AtTimestamp(t) after a split that came after t reads the parent and the
// children from t, with watermarks that hold every child record on time
// in a windowed count. The first listing once asked for the shards open
// at t (ShardFilter AT_TIMESTAMP), leaving the children to a later
// listing that stamped them with the job's start, after their records:
// 40 of 60 records were dropped as late on the in-process server, which
// implements AT_TIMESTAMP as AWS documents it. (Here kinesis-mock passed
// before the fix too, and kinesalite ignores ShardFilter; both stay as
// proof on third-party servers.)
func TestAtTimestampBeforeReshardKeepsChildrenOnTime(t *testing.T) {
	for _, kind := range []string{"fakekinesis", string(emulators.KinesisMock), string(emulators.Kinesalite)} {
		t.Run(kind, func(t *testing.T) {
			e := envOn(t, kind, 1)
			at := time.Now()
			time.Sleep(100 * time.Millisecond)
			puts := e.putPerShard(t, 20, "parent")
			e.split(t)
			puts = append(puts, e.putToChildren(t, 20)...)
			time.Sleep(3 * time.Second)
			p, s := beam.NewPipelineWithRoot()
			recs := kinesisio.Read(s, e.stream, e.opts(
				kinesisio.WithStartAtTimestamp(at),
				kinesisio.WithMaxRecords(int64(len(puts))),
				kinesisio.WithMaxReadTime(time.Minute),
				kinesisio.WithShardDiscoveryInterval(200*time.Millisecond))...)
			got := collect(s, recs)
			windows := countWindows(t, s, recs)
			run(t, p)
			read := got()
			checkExactlyOnce(t, read, puts)
			checkParentsFirst(t, e, read)
			have, _ := windows()
			checkWindowCounts(t, read, have, arrivalTime)
		})
	}
}

// TestResumeFromPositionsReadsChildren: a new job resuming from the
// position a previous job reached in a shard that has since been split
// reads the rest of the parent and every record of the children, which
// descend from the resumed shard, although the default position for
// other shards is LATEST. Children once started at LATEST: 5 of 25 read
// on kinesis-mock (kinesalite stamps a new child's first records up to
// 1 s ahead, so LATEST happened to catch them there). A position for a
// shard the stream does not have is counted.
func TestResumeFromPositionsReadsChildren(t *testing.T) {
	for _, kind := range []emulators.Kind{emulators.KinesisMock, emulators.Kinesalite} {
		t.Run(string(kind), func(t *testing.T) {
			e := newEnv(t, kind, 1)
			parent := e.putPerShard(t, 10, "parent")
			e.split(t)
			want := append(parent[5:], e.putToChildren(t, 10)...)
			start := kinesisio.WithShardPositions(map[string]kinesisio.Position{
				parent[4].ShardID:      kinesisio.AfterSequenceNumber(parent[4].SequenceNumber),
				"shardId-000000000999": kinesisio.AfterSequenceNumber("1"),
			})
			p, s := beam.NewPipelineWithRoot()
			got := collect(s, kinesisio.Read(s, e.stream, e.opts(start, kinesisio.WithStartAtLatest(), kinesisio.WithStopAtLatest())...))
			res := run(t, p)
			read := got()
			checkExactlyOnce(t, read, want)
			checkParentsFirst(t, e, read)
			checkCounter(t, res, "read_unknown_shard_positions", 1)
		})
	}
}

// putToChildren puts n records on each child of the first shard, split
// from it, and returns what was put.
func (e *env) putToChildren(t *testing.T, n int) []kinesistest.Put {
	t.Helper()
	var puts []kinesistest.Put
	for _, id := range e.shardIDs(t)[1:] {
		var data [][]byte
		for i := range n {
			data = append(data, fmt.Appendf(nil, "child/%s/%02d", id, i))
		}
		p, err := kinesistest.PutToShard(context.Background(), e.client, e.stream, id, data)
		if err != nil {
			t.Fatal(err)
		}
		puts = append(puts, p...)
	}
	return puts
}
