package kinesisio_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"math/big"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/google/go-cmp/cmp"
	"github.com/kinesisio/beam-kinesis/kinesisio"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/hashkey"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/kpl"
	"github.com/kinesisio/beam-kinesis/testing/emulators"
	"github.com/kinesisio/beam-kinesis/testing/fakekinesis"
	"github.com/kinesisio/beam-kinesis/testing/kinesistest"
)

func init() {
	register.DoFn2x0[[]byte, func(beam.EventTime, kinesisio.Record)](&aggGenFn{})
}

// aggSpec describes the user records of an aggregation test: record i
// has partition key Prefix-k(i%Keys) and data "key/seq/" padded with 'x'
// to Size bytes (data + key), seq counting the key's records; the records
// of every seventh key carry an explicit hash key (the MD5 of "ehk-" and
// the key), so that they share a shard too.
type aggSpec struct {
	Prefix  string
	N, Keys int
	Size    int
}

func (g aggSpec) records() []kinesisio.Record {
	recs := make([]kinesisio.Record, g.N)
	for i := range recs {
		k := i % g.Keys
		key := fmt.Sprintf("%s-k%d", g.Prefix, k)
		data := fmt.Appendf(nil, "%s/%06d/", key, i/g.Keys)
		if pad := g.Size - len(data) - len(key); pad > 0 {
			data = append(data, bytes.Repeat([]byte{'x'}, pad)...)
		}
		recs[i] = kinesisio.Record{PartitionKey: key, Data: data}
		if k%7 == 3 {
			sum := md5.Sum([]byte("ehk-" + key))
			recs[i].ExplicitHashKey = new(big.Int).SetBytes(sum[:]).String()
		}
	}
	return recs
}

// gates let a test pause an aggGenFn half-way (to reshard the stream).
var gates sync.Map // key -> *gate

type gate struct {
	reached, resume chan struct{}
	once            sync.Once
}

func gateFor(key string) *gate {
	v, _ := gates.LoadOrStore(key, &gate{reached: make(chan struct{}), resume: make(chan struct{})})
	return v.(*gate)
}

// aggGenFn emits Spec's records in order from one element. With Gate set,
// after PauseAt records it signals the gate and waits (at most a minute)
// until the test lets it go on; then it emits the rest in 20 slices, 20 ms
// apart, so that the Write sees the stream's new shards while it writes.
type aggGenFn struct {
	Spec    aggSpec
	Gate    string
	PauseAt int
}

func (f *aggGenFn) ProcessElement(_ []byte, emit func(beam.EventTime, kinesisio.Record)) {
	recs := f.Spec.records()
	for i, r := range recs {
		if f.Gate != "" && i == f.PauseAt {
			g := gateFor(f.Gate)
			g.once.Do(func() { close(g.reached) })
			select {
			case <-g.resume:
			case <-time.After(time.Minute):
			}
		}
		if f.Gate != "" && i > f.PauseAt && (i-f.PauseAt)%max(1, (len(recs)-f.PauseAt)/20) == 0 {
			time.Sleep(20 * time.Millisecond)
		}
		emit(0, r)
	}
}

// userGot is one user record read back from a stream.
type userGot struct {
	shard, seq string
	sub        int64
	pk, ehk    string
	data       string
	aggregated bool
}

// readUsers reads every shard of e's stream from TRIM_HORIZON with
// GetRecords and de-aggregates what it finds, in shard order.
func readUsers(t *testing.T, e *env) []userGot {
	t.Helper()
	var out []userGot
	for shard, recs := range e.readBack(t) {
		for _, r := range recs {
			if !kpl.IsAggregate(r.Data) {
				out = append(out, userGot{shard: shard, seq: r.SequenceNumber, pk: r.PartitionKey, data: string(r.Data)})
				continue
			}
			users, err := kpl.Decode(r.Data)
			if err != nil {
				t.Fatalf("record %s of %s: %v", r.SequenceNumber, shard, err)
			}
			for i, u := range users {
				out = append(out, userGot{shard: shard, seq: r.SequenceNumber, sub: int64(i), pk: u.PartitionKey, ehk: u.ExplicitHashKey, data: string(u.Data), aggregated: true})
			}
		}
	}
	sort.Slice(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.shard != b.shard {
			return a.shard < b.shard
		}
		if a.seq != b.seq {
			return seqLess(a.seq, b.seq)
		}
		return a.sub < b.sub
	})
	return out
}

// hashRanges returns the hash key range of every shard of e's stream.
func hashRanges(t *testing.T, e *env) map[string]hashkey.Range {
	t.Helper()
	shards, err := kinesistest.Shards(context.Background(), e.client, e.stream)
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]hashkey.Range{}
	for _, s := range shards {
		r, err := hashkey.ParseRange(aws.ToString(s.ShardId), aws.ToString(s.HashKeyRange.StartingHashKey), aws.ToString(s.HashKeyRange.EndingHashKey))
		if err != nil {
			t.Fatal(err)
		}
		m[r.ShardID] = r
	}
	return m
}

// hashOf is the hash key Kinesis routes r by.
func hashOf(t *testing.T, r kinesisio.Record) hashkey.Key {
	t.Helper()
	h, err := hashkey.Effective(r.PartitionKey, r.ExplicitHashKey)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

// checkUsers checks that e's stream holds exactly the user records want,
// each key's records in input order by sequence and sub-sequence number
// within a shard, each on the shard its hash key maps to (unless
// anyShard: after a reshard), and that written reports each one with
// exactly the shard, sequence number and sub-sequence number it was read
// back with. It returns what it read.
func checkUsers(t *testing.T, e *env, want []kinesisio.Record, written []kinesisio.WrittenRecord, anyShard bool) []userGot {
	t.Helper()
	got := readUsers(t, e)
	byData := map[string]kinesisio.Record{}
	for _, r := range want {
		byData[string(r.Data)] = r
	}
	// The exact multiset of (key, data); explicit hash keys where the
	// stream keeps them (inside aggregates).
	var gotSet, wantSet []string
	for _, g := range got {
		gotSet = append(gotSet, g.pk+"|"+g.data)
		if w, ok := byData[g.data]; ok && g.aggregated && g.ehk != w.ExplicitHashKey {
			t.Errorf("record %.24q: explicit hash key %q in its aggregate, want %q", g.data, g.ehk, w.ExplicitHashKey)
		}
	}
	for _, r := range want {
		wantSet = append(wantSet, r.PartitionKey+"|"+string(r.Data))
	}
	sort.Strings(gotSet)
	sort.Strings(wantSet)
	if diff := cmp.Diff(wantSet, gotSet); diff != "" {
		t.Fatalf("user records in the stream (-want +got):\n%s", diff)
	}
	ranges := hashRanges(t, e)
	type pos struct {
		shard, seq string
		sub        int64
	}
	where := map[pos]userGot{}
	last := map[[2]string]int{} // shard, key -> last number read
	keyShards := map[string]map[string]bool{}
	for _, g := range got {
		where[pos{g.shard, g.seq, g.sub}] = g
		var n int
		fmt.Sscanf(g.data[len(g.pk)+1:], "%06d", &n)
		k := [2]string{g.shard, g.pk}
		if prev, ok := last[k]; ok && n <= prev {
			t.Errorf("shard %s, key %s: record %d read after record %d", g.shard, g.pk, n, prev)
		}
		last[k] = n
		if keyShards[g.pk] == nil {
			keyShards[g.pk] = map[string]bool{}
		}
		keyShards[g.pk][g.shard] = true
		if !anyShard {
			h, r := hashOf(t, byData[g.data]), ranges[g.shard]
			if !r.Contains(h) {
				t.Errorf("record %.24q with hash key %s landed on %s [%s, %s]", g.data, h, g.shard, r.Start, r.End)
			}
		}
	}
	if !anyShard {
		for k, s := range keyShards {
			if len(s) != 1 {
				t.Errorf("key %s on shards %v", k, s)
			}
		}
	}
	if written == nil {
		return got
	}
	if len(written) != len(got) {
		t.Errorf("Written has %d records for %d user records in the stream", len(written), len(got))
	}
	for _, w := range written {
		p := pos{w.ShardID, w.SequenceNumber, w.SubSequenceNumber}
		g, ok := where[p]
		if !ok {
			t.Fatalf("Written reports %+v: no such user record in the stream (or reported twice)", w)
		}
		delete(where, p)
		in := byData[g.data]
		if w.PartitionKey != g.pk || w.ExplicitHashKey != in.ExplicitHashKey || w.Size != len(g.data)+len(g.pk) || w.Attempts < 1 {
			t.Fatalf("Written reports %+v for %+v (input explicit hash key %q)", w, g, in.ExplicitHashKey)
		}
	}
	return got
}

func aggregatedCount(got []userGot) int {
	n := 0
	for _, g := range got {
		if g.aggregated {
			n++
		}
	}
	return n
}

// TestWriteAggregationLandsOnPredictedShards writes 6,000 user records of
// 100 B with 64 keys to 4 shards, on kinesalite and the in-process
// server, with the default bounds and with small aggregates: read back
// raw and de-aggregated, they are exactly the input, each on the shard
// its hash key maps to, each key's in order, and Written says exactly
// where each is.
func TestWriteAggregationLandsOnPredictedShards(t *testing.T) {
	for _, kind := range []string{string(emulators.Kinesalite), "fakekinesis"} {
		for _, a := range []kinesisio.Aggregation{{}, {MaxBytes: 8 << 10, MaxRecords: 50}} {
			t.Run(fmt.Sprintf("%s/%d-%d", kind, a.MaxBytes, a.MaxRecords), func(t *testing.T) {
				e := envOn(t, kind, 4)
				spec := aggSpec{Prefix: "agg", N: 6000, Keys: 64, Size: 100}
				p, s := beam.NewPipelineWithRoot()
				in := beam.ParDo(s, &aggGenFn{Spec: spec}, beam.Impulse(s))
				res := kinesisio.Write(s, e.stream, in, e.writeOpts("", a)...)
				got := results(t, s, res)
				pr := run(t, p)
				if f := got().failed; len(f) > 0 {
					t.Fatalf("%d failed, e.g. %+v", len(f), f[0])
				}
				users := checkUsers(t, e, spec.records(), got().written, false)
				aggregated := aggregatedCount(users)
				if aggregated < spec.N-4 {
					t.Errorf("%d of %d user records aggregated", aggregated, spec.N)
				}
				checkCounter(t, pr, "write_records", int64(spec.N))
				aggs, inAggs := counter(pr, "write_aggregates"), counter(pr, "write_aggregated_records")
				if inAggs != int64(aggregated) || aggs < 4 || (a.MaxRecords == 50 && aggs < int64(spec.N/50)) {
					t.Errorf("write_aggregates = %d, write_aggregated_records = %d; want %d records aggregated", aggs, inAggs, aggregated)
				}
				d := distribution(pr, "write_batch_size")
				t.Logf("%d user records in %d aggregates, %d PutRecords calls", spec.N, aggs, d.Count)
			})
		}
	}
}

// TestWriteAggregationReshard splits a shard of the in-process server
// while a Write with aggregation runs (the generator pauses half-way for
// it): every user record is written once, nothing is lost, Written says
// exactly where each landed, and each key's records are in order within
// each shard. Records grouped by the old map may land on the child of
// another's hash key (the reader gets them all the same).
func TestWriteAggregationReshard(t *testing.T) {
	defer kinesisio.SetShardMapMinAge(10 * time.Millisecond)()
	e := newFakeEnv(t, 2)
	spec := aggSpec{Prefix: "split", N: 8000, Keys: 40, Size: 100}
	gateKey := t.Name() + fmt.Sprint(time.Now().UnixNano())
	p, s := beam.NewPipelineWithRoot()
	in := beam.ParDo(s, &aggGenFn{Spec: spec, Gate: gateKey, PauseAt: 3000}, beam.Impulse(s))
	res := kinesisio.Write(s, e.stream, in, e.writeOpts("", kinesisio.Aggregation{MaxBytes: 4 << 10})...)
	got := results(t, s, res)
	done := runAsync(p)
	g := gateFor(gateKey)
	select {
	case <-g.reached:
	case err := <-done:
		t.Fatalf("pipeline ended before the split: %v", err)
	case <-time.After(2 * time.Minute):
		t.Fatal("the generator did not reach the split within 2 minutes")
	}
	e.split(t)
	listed := e.srv.Calls("ListShards") // the split's own listings included
	close(g.resume)
	if err := await(t, done, 3*time.Minute); err != nil {
		t.Fatal(err)
	}
	if f := got().failed; len(f) > 0 {
		t.Fatalf("%d failed, e.g. %+v", len(f), f[0])
	}
	users := checkUsers(t, e, spec.records(), got().written, true)
	perShard := map[string]int{}
	for _, u := range users {
		perShard[u.shard]++
	}
	if len(perShard) < 3 {
		t.Errorf("user records per shard %v: want the parent, its children and the other shard", perShard)
	}
	if n := e.srv.Calls("ListShards"); n <= listed {
		t.Errorf("ListShards called %d times, %d by the time of the split: the Write did not list the shards again", n, listed)
	}
	t.Logf("user records per shard %v", perShard)
}

// TestWriteAggregationKeepsKeyOrder: with 200 keys, PutRecords entries
// failing (throttled by the server's fault hook, InternalFailure through
// a proxy) and whole calls failing (throttled, 500), aggregates are
// retried whole, before anything newer of their shard: every user record
// is written once, and read back by sequence then sub-sequence number each
// key's records are in input order.
func TestWriteAggregationKeepsKeyOrder(t *testing.T) {
	e := newFakeEnv(t, 4)
	shards := e.shardIDs(t)
	e.srv.Inject(fakekinesis.Fault{Op: "PutRecords", Shard: shards[1], Kind: fakekinesis.PartialPutFailure, Times: 6})
	e.srv.Inject(fakekinesis.Fault{Op: "PutRecords", Kind: fakekinesis.PartialPutFailure, Times: 6})
	e.srv.Inject(fakekinesis.Fault{Op: "PutRecords", Kind: fakekinesis.Throttle, Times: 3})
	e.srv.Inject(fakekinesis.Fault{Op: "PutRecords", Kind: fakekinesis.ServerError500, Times: 2})
	proxy := newPutProxy(t, e.endpoint)
	proxy.FailEntries(func(n, i int, _ string, _ map[string]bool) string {
		if n < 30 && (n+i)%4 == 1 {
			return "InternalFailure"
		}
		return ""
	})
	spec := aggSpec{Prefix: "order", N: 10000, Keys: 200, Size: 100}
	p, s := beam.NewPipelineWithRoot()
	in := beam.ParDo(s, &aggGenFn{Spec: spec}, beam.Impulse(s))
	// One lane: calls carry the aggregates of all four shards, one each.
	res := kinesisio.Write(s, e.stream, in, e.writeOpts(proxy.Endpoint(), kinesisio.WithRetries(30, 0, 0), kinesisio.WithMaxInFlight(1),
		kinesisio.Aggregation{MaxBytes: 3 << 10})...)
	got := results(t, s, res)
	pr := run(t, p)
	if f := got().failed; len(f) > 0 {
		t.Fatalf("%d failed, e.g. %+v", len(f), f[0])
	}
	checkUsers(t, e, spec.records(), got().written, false)
	failedEntries := 0
	for _, c := range proxy.PutCalls() {
		failedEntries += c.Failed
	}
	retried := 0
	for _, w := range got().written {
		if w.Attempts > 1 {
			retried++
		}
	}
	if failedEntries == 0 || retried == 0 || counter(pr, "write_retries") == 0 || counter(pr, "write_throttled") == 0 {
		t.Errorf("faults did not bite: %d entries failed by the proxy, %d user records retried, write_retries %d, write_throttled %d",
			failedEntries, retried, counter(pr, "write_retries"), counter(pr, "write_throttled"))
	}
}

// TestWriteAggregationPartialFailures: when every entry routed to one
// shard keeps failing, each user record of its aggregates is reported in
// Failed (WithFailedRecords) with the error and attempts, the others are
// written; by default the job fails, with the count of records and the
// aggregate's record count.
func TestWriteAggregationPartialFailures(t *testing.T) {
	spec := aggSpec{Prefix: "doomed", N: 3000, Keys: 50, Size: 100}
	build := func(e *env, extra ...kinesisio.WriteOption) (*beam.Pipeline, func() *resultSink) {
		p, s := beam.NewPipelineWithRoot()
		in := beam.ParDo(s, &aggGenFn{Spec: spec}, beam.Impulse(s))
		opts := append([]kinesisio.WriteOption{kinesisio.WithRetries(3, 0, 0), kinesisio.Aggregation{MaxBytes: 8 << 10}}, extra...)
		res := kinesisio.Write(s, e.stream, in, e.writeOpts("", opts...)...)
		return p, results(t, s, res)
	}
	doom := func(t *testing.T) (*env, map[string]bool) {
		e := newFakeEnv(t, 4)
		shard := e.shardIDs(t)[2]
		e.srv.Inject(fakekinesis.Fault{Op: "PutRecords", Shard: shard, Kind: fakekinesis.PartialPutFailure})
		r := hashRanges(t, e)[shard]
		lost := map[string]bool{}
		for _, rec := range spec.records() {
			if r.Contains(hashOf(t, rec)) {
				lost[string(rec.Data)] = true
			}
		}
		if len(lost) == 0 || len(lost) == spec.N {
			t.Fatalf("%d of %d records on the doomed shard", len(lost), spec.N)
		}
		return e, lost
	}
	t.Run("EmitFailed", func(t *testing.T) {
		e, lost := doom(t)
		p, got := build(e, kinesisio.WithFailedRecords())
		pr := run(t, p)
		var kept []kinesisio.Record
		for _, r := range spec.records() {
			if !lost[string(r.Data)] {
				kept = append(kept, r)
			}
		}
		checkUsers(t, e, kept, got().written, false)
		failed := map[string]bool{}
		for _, f := range got().failed {
			if f.ErrorCode != "ProvisionedThroughputExceededException" || f.Attempts != 3 || !lost[string(f.Record.Data)] || failed[string(f.Record.Data)] {
				t.Errorf("Failed record %+v (on the doomed shard: %v, reported before: %v)", f, lost[string(f.Record.Data)], failed[string(f.Record.Data)])
			}
			failed[string(f.Record.Data)] = true
		}
		if len(failed) != len(lost) {
			t.Errorf("Failed has %d user records, want the %d of the doomed shard", len(failed), len(lost))
		}
		checkCounter(t, pr, "write_failures", int64(len(lost)))
	})
	t.Run("FailBundle", func(t *testing.T) {
		e, lost := doom(t)
		p, _ := build(e)
		_, err := ptest.RunWithMetrics(p)
		if err == nil {
			t.Fatal("the job succeeded although records could not be written")
		}
		for _, want := range []string{fmt.Sprintf("%d record(s) could not be written", len(lost)), "ProvisionedThroughputExceededException after 3 attempt(s) (an aggregated record of", "user records"} {
			if !strings.Contains(err.Error(), want) {
				t.Errorf("error %q does not mention %q", err, want)
			}
		}
	})
}

// TestWriteAggregationOptions: Aggregation's bounds are checked when
// the pipeline is built, and it refuses WithStrictOrdering.
func TestWriteAggregationOptions(t *testing.T) {
	for _, tc := range []struct {
		opts []kinesisio.WriteOption
		want string
	}{
		{[]kinesisio.WriteOption{kinesisio.Aggregation{MaxBytes: -1}}, "MaxBytes -1 is negative"},
		{[]kinesisio.WriteOption{kinesisio.Aggregation{MaxRecords: -1}}, "MaxRecords -1 is negative"},
		{[]kinesisio.WriteOption{kinesisio.Aggregation{MaxDelay: -time.Second}}, "MaxDelay -1s is negative"},
		{[]kinesisio.WriteOption{kinesisio.Aggregation{MaxBytes: 1<<20 + 1}}, "larger than the maximum record size 1048576"},
		// The bound follows WithMaxRecordSize, in whatever order.
		{[]kinesisio.WriteOption{kinesisio.Aggregation{MaxBytes: 2 << 20}, kinesisio.WithMaxRecordSize(1 << 20)}, "WithMaxRecordSize"},
		{[]kinesisio.WriteOption{kinesisio.Aggregation{}, kinesisio.WithStrictOrdering()}, "cannot be combined with WithStrictOrdering"},
		{[]kinesisio.WriteOption{kinesisio.WithStrictOrdering(), kinesisio.Aggregation{}}, "cannot be combined with WithStrictOrdering"},
	} {
		_, s := beam.NewPipelineWithRoot()
		col := beam.Create(s, kinesisio.Record{PartitionKey: "k"})
		_, err := kinesisio.TryWrite(s, "s", col, append(tc.opts, kinesisio.Connection{Region: "us-east-1"})...)
		if !errors.Is(err, kinesisio.ErrInvalidOption) || !strings.Contains(err.Error(), "Aggregation") || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want ErrInvalidOption naming Aggregation and %q", err, tc.want)
		}
	}
	for _, opts := range [][]kinesisio.WriteOption{
		{kinesisio.Aggregation{}},
		{kinesisio.Aggregation{MaxBytes: 4 << 20, MaxRecords: 10, MaxDelay: time.Second}, kinesisio.WithMaxRecordSize(4 << 20)},
		{kinesisio.WithMaxRecordSize(4 << 20), kinesisio.Aggregation{MaxBytes: 4 << 20}, kinesisio.WithShardRateLimit()},
	} {
		_, s := beam.NewPipelineWithRoot()
		if _, err := kinesisio.TryWrite(s, "s", beam.Create(s, kinesisio.Record{PartitionKey: "k"}), append(opts, kinesisio.Connection{Region: "us-east-1"})...); err != nil {
			t.Errorf("valid options refused: %v", err)
		}
	}
}
