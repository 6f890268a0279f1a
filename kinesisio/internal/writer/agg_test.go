package writer

import (
	"context"
	"crypto/md5"
	"errors"
	"fmt"
	"math/big"
	"regexp"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/google/go-cmp/cmp"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/hashkey"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/kpl"
)

// shardedWriteAPI is an in-memory stream of several shards that routes
// PutRecords entries by hash key as Kinesis does, can split a shard, and
// fails entries or calls as its hooks say.
type shardedWriteAPI struct {
	mu       sync.Mutex
	open     []hashkey.Range
	ranges   map[string]hashkey.Range // every shard, open or closed
	nextID   int
	seq      int
	stored   []storedRecord // in commit order
	calls    []int          // entries per PutRecords call
	dupShard []string       // calls that carried two entries routed to one shard
	listings int
	// callErr, if set, may fail call n (0-based) as a whole.
	callErr func(n int) error
	// entryErr, if set, may fail entry i of call n, routed to shard.
	entryErr func(n, i int, shard string) string
	// listErr, if set, may fail listing n (0-based).
	listErr func(n int) error
}

type storedRecord struct {
	shard, seq string
	pk, ehk    string
	data       []byte
}

var hashSpace = new(big.Int).Lsh(big.NewInt(1), 128)

func keyOf(n *big.Int) hashkey.Key {
	var h hashkey.Key
	n.FillBytes(h[:])
	return h
}

func newShardedWriteAPI(shards int) *shardedWriteAPI {
	f := &shardedWriteAPI{ranges: map[string]hashkey.Range{}}
	step := new(big.Int).Div(hashSpace, big.NewInt(int64(shards)))
	for i := range shards {
		lo := new(big.Int).Mul(step, big.NewInt(int64(i)))
		hi := new(big.Int).Sub(new(big.Int).Mul(step, big.NewInt(int64(i+1))), big.NewInt(1))
		if i == shards-1 {
			hi = new(big.Int).Sub(hashSpace, big.NewInt(1))
		}
		f.addShard(keyOf(lo), keyOf(hi))
	}
	return f
}

func (f *shardedWriteAPI) addShard(lo, hi hashkey.Key) {
	r := hashkey.Range{ShardID: fmt.Sprintf("shardId-%012d", f.nextID), Start: lo, End: hi}
	f.nextID++
	f.open = append(f.open, r)
	f.ranges[r.ShardID] = r
}

// split splits open shard i (in hash key order) in two halves.
func (f *shardedWriteAPI) split(i int) {
	f.mu.Lock()
	defer f.mu.Unlock()
	sort.Slice(f.open, func(a, b int) bool { return f.open[a].Start.String() < f.open[b].Start.String() })
	m := hashkey.NewShardMap(f.open)
	r := m.At(i)
	lo, _ := new(big.Int).SetString(r.Start.String(), 10)
	hi, _ := new(big.Int).SetString(r.End.String(), 10)
	mid := new(big.Int).Rsh(new(big.Int).Add(lo, hi), 1)
	var open []hashkey.Range
	for _, o := range f.open {
		if o.ShardID != r.ShardID {
			open = append(open, o)
		}
	}
	f.open = open
	f.addShard(r.Start, keyOf(mid))
	f.addShard(keyOf(new(big.Int).Add(mid, big.NewInt(1))), r.End)
}

func (f *shardedWriteAPI) PutRecords(_ context.Context, in *kinesis.PutRecordsInput, _ ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := len(f.calls)
	f.calls = append(f.calls, len(in.Records))
	if f.callErr != nil {
		if err := f.callErr(n); err != nil {
			return nil, err
		}
	}
	m := hashkey.NewShardMap(f.open)
	out := &kinesis.PutRecordsOutput{}
	seen := map[string]bool{}
	for i, e := range in.Records {
		r := Record{PartitionKey: aws.ToString(e.PartitionKey), ExplicitHashKey: aws.ToString(e.ExplicitHashKey), Data: e.Data}
		shard, ok := m.Lookup(effectiveHashKey(r))
		if !ok {
			return nil, fmt.Errorf("no shard for entry %d", i)
		}
		if seen[shard] {
			f.dupShard = append(f.dupShard, fmt.Sprintf("call %d: two entries for %s", n, shard))
		}
		seen[shard] = true
		if f.entryErr != nil {
			if code := f.entryErr(n, i, shard); code != "" {
				out.Records = append(out.Records, types.PutRecordsResultEntry{ErrorCode: aws.String(code), ErrorMessage: aws.String("injected")})
				continue
			}
		}
		f.seq++
		seq := fmt.Sprintf("%020d", f.seq)
		f.stored = append(f.stored, storedRecord{shard: shard, seq: seq, pk: r.PartitionKey, ehk: r.ExplicitHashKey, data: e.Data})
		out.Records = append(out.Records, types.PutRecordsResultEntry{ShardId: aws.String(shard), SequenceNumber: aws.String(seq)})
	}
	return out, nil
}

func (f *shardedWriteAPI) PutRecord(context.Context, *kinesis.PutRecordInput, ...func(*kinesis.Options)) (*kinesis.PutRecordOutput, error) {
	return nil, errors.New("PutRecord is not expected")
}

func (f *shardedWriteAPI) ListShards(context.Context, *kinesis.ListShardsInput, ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := f.listings
	f.listings++
	if f.listErr != nil {
		if err := f.listErr(n); err != nil {
			return nil, err
		}
	}
	out := &kinesis.ListShardsOutput{}
	for _, r := range f.open {
		out.Shards = append(out.Shards, types.Shard{
			ShardId:             aws.String(r.ShardID),
			HashKeyRange:        &types.HashKeyRange{StartingHashKey: aws.String(r.Start.String()), EndingHashKey: aws.String(r.End.String())},
			SequenceNumberRange: &types.SequenceNumberRange{StartingSequenceNumber: aws.String("1")},
		})
	}
	return out, nil
}

func (f *shardedWriteAPI) listingCount() int {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.listings
}

// landed is one user record as read back from the fake stream.
type landed struct {
	shard, seq string
	sub        int64
	pk, ehk    string
	data       string
	aggregated bool
}

// userRecords de-aggregates what the stream holds, in commit order.
func (f *shardedWriteAPI) userRecords(t *testing.T) []landed {
	t.Helper()
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []landed
	for _, s := range f.stored {
		if !kpl.IsAggregate(s.data) {
			out = append(out, landed{shard: s.shard, seq: s.seq, pk: s.pk, ehk: s.ehk, data: string(s.data)})
			continue
		}
		users, err := kpl.Decode(s.data)
		if err != nil {
			t.Fatalf("record %s of %s: %v", s.seq, s.shard, err)
		}
		for i, u := range users {
			out = append(out, landed{shard: s.shard, seq: s.seq, sub: int64(i), pk: u.PartitionKey, ehk: u.ExplicitHashKey, data: string(u.Data), aggregated: true})
		}
	}
	return out
}

// aggWriterConfig is testWriterConfig with aggregation over api's shards.
func aggWriterConfig(lanes int, a aggConfig) writerConfig {
	cfg := testWriterConfig(lanes)
	cfg.agg = &a
	cfg.shards = &streamShards{stream: cfg.stream}
	return cfg
}

// mixedRecords returns n records of 100 bytes spread over keys, data
// "key/seq/" padded, every seventh with an explicit hash key (spread over
// the hash key space).
func mixedRecords(n, keys int) []Record {
	count := map[string]int{}
	var recs []Record
	for i := range n {
		k := fmt.Sprintf("key-%d", i%keys)
		d := fmt.Appendf(nil, "%s/%06d/", k, count[k])
		count[k]++
		d = append(d, strings.Repeat("x", 100-len(d)-len(k))...)
		r := Record{PartitionKey: k, Data: d}
		if i%keys%7 == 3 {
			// The key's records share their explicit hash key, so that
			// they share a shard and an order.
			sum := md5.Sum([]byte("ehk-" + k))
			r.ExplicitHashKey = new(big.Int).SetBytes(sum[:]).String()
		}
		recs = append(recs, r)
	}
	return recs
}

// checkAggregated checks that the stream holds exactly recs, each user
// record on the shard its hash key maps to (unless anyShard), each key's
// records in order, and that written reports each one with where it
// landed.
func checkAggregated(t *testing.T, f *shardedWriteAPI, recs []Record, written []Written, anyShard bool) []landed {
	t.Helper()
	got := f.userRecords(t)
	var gotSet, wantSet []string
	for _, l := range got {
		gotSet = append(gotSet, l.pk+"|"+l.ehk+"|"+l.data)
	}
	for _, r := range recs {
		wantSet = append(wantSet, r.PartitionKey+"|"+r.ExplicitHashKey+"|"+string(r.Data))
	}
	sort.Strings(gotSet)
	sort.Strings(wantSet)
	if diff := cmp.Diff(wantSet, gotSet); diff != "" {
		t.Fatalf("user records in the stream (-want +got):\n%s", diff)
	}
	// Each key's records in commit order are the input order.
	next := map[string]int{}
	for _, l := range got {
		var n int
		fmt.Sscanf(l.data[len(l.pk)+1:], "%06d", &n)
		if n != next[l.pk] {
			t.Errorf("key %s: record %d follows record %d in the stream", l.pk, n, next[l.pk]-1)
		}
		next[l.pk] = n + 1
		if !anyShard {
			h := effectiveHashKey(Record{PartitionKey: l.pk, ExplicitHashKey: l.ehk})
			r := f.ranges[l.shard]
			if cmpKey(h, r.Start) < 0 || cmpKey(h, r.End) > 0 {
				t.Errorf("record %.20q with hash key %s landed on %s [%s, %s]", l.data, h, l.shard, r.Start, r.End)
			}
		}
	}
	type pos struct {
		shard, seq string
		sub        int64
	}
	where := map[pos]landed{}
	for _, l := range got {
		where[pos{l.shard, l.seq, l.sub}] = l
	}
	if len(written) != len(got) {
		t.Errorf("%d written results for %d user records in the stream", len(written), len(got))
	}
	for _, w := range written {
		l, ok := where[pos{w.ShardID, w.SequenceNumber, w.SubSequenceNumber}]
		if !ok || l.pk != w.PartitionKey || l.ehk != w.ExplicitHashKey || w.Size != len(l.data)+len(l.pk) {
			t.Fatalf("written %+v: in the stream %v as %+v", w, ok, l)
		}
		delete(where, pos{w.ShardID, w.SequenceNumber, w.SubSequenceNumber})
	}
	if len(f.dupShard) > 0 {
		t.Errorf("calls carried two records of one shard: %v", f.dupShard[:min(3, len(f.dupShard))])
	}
	return got
}

func cmpKey(a, b hashkey.Key) int { return strings.Compare(string(a[:]), string(b[:])) }

func writtenOf(t *testing.T, res []Result) (written []Written, failed []Failed) {
	t.Helper()
	for _, r := range res {
		if r.OK() {
			written = append(written, r.Written)
		} else {
			failed = append(failed, *r.Failed)
		}
	}
	return written, failed
}

// TestAggregationFlushBounds: an aggregate is sent when the next record
// would take it over MaxBytes (each as full as the bound allows) or
// MaxRecords, once MaxDelay has passed since its first record, and at the
// end of the bundle; an aggregate of one record goes plain, and so does
// a record too large to share one.
func TestAggregationFlushBounds(t *testing.T) {
	// aggregates returns the user records of each Kinesis record stored,
	// with the size Kinesis counts.
	aggregates := func(f *shardedWriteAPI) (sizes, counts []int) {
		for _, s := range f.stored {
			n := 1
			if kpl.IsAggregate(s.data) {
				u, _ := kpl.Decode(s.data)
				n = len(u)
			}
			sizes = append(sizes, len(s.data)+len(s.pk))
			counts = append(counts, n)
		}
		return sizes, counts
	}
	t.Run("size", func(t *testing.T) {
		f := newShardedWriteAPI(1)
		recs := mixedRecords(300, 5)
		res, err := runWriter(t, aggWriterConfig(1, aggConfig{maxBytes: 2000, maxRecords: 1 << 20, maxDelay: time.Hour}), f, recs)
		if err != nil {
			t.Fatal(err)
		}
		written, _ := writtenOf(t, res)
		checkAggregated(t, f, recs, written, false)
		sizes, counts := aggregates(f)
		// Every aggregate within the bound, and every one but the last
		// as full as it allows: its records and the next would not fit.
		i := 0
		for j, n := range counts {
			if sizes[j] > 2000 {
				t.Errorf("aggregate %d is %d bytes, over 2000", j, sizes[j])
			}
			if j < len(counts)-1 {
				var us []kpl.Record
				for _, r := range recs[i : i+n+1] {
					us = append(us, kpl.Record{PartitionKey: r.PartitionKey, ExplicitHashKey: r.ExplicitHashKey, Data: r.Data})
				}
				if size := len(kpl.Encode(us)) + len(recs[i].PartitionKey); size <= 2000 {
					t.Errorf("aggregate %d of %d records sent although the next fitted (%d bytes)", j, n, size)
				}
			}
			i += n
		}
		if len(counts) < 10 {
			t.Errorf("300 records of 100 B in %d aggregates of at most 2,000 B", len(counts))
		}
	})
	t.Run("count", func(t *testing.T) {
		f := newShardedWriteAPI(1)
		recs := mixedRecords(100, 3)
		res, err := runWriter(t, aggWriterConfig(2, aggConfig{maxBytes: 1 << 20, maxRecords: 7, maxDelay: time.Hour}), f, recs)
		if err != nil {
			t.Fatal(err)
		}
		written, _ := writtenOf(t, res)
		checkAggregated(t, f, recs, written, false)
		_, counts := aggregates(f)
		want := make([]int, 14)
		for i := range want {
			want[i] = 7
		}
		want = append(want, 2)
		if diff := cmp.Diff(want, counts); diff != "" {
			t.Errorf("user records per aggregate (-want +got):\n%s", diff)
		}
	})
	t.Run("delay", func(t *testing.T) {
		f := newShardedWriteAPI(1)
		w := newWriter(aggWriterConfig(1, aggConfig{maxBytes: 1 << 20, maxRecords: 1 << 20, maxDelay: time.Second}), f)
		now := time.Unix(1000, 0)
		w.clock = func() time.Time { return now }
		w.Start(context.Background())
		recs := mixedRecords(9, 1)
		add := func(rs ...Record) {
			for _, r := range rs {
				if err := w.Add(0, r); err != nil {
					t.Fatal(err)
				}
			}
		}
		add(recs[:3]...)
		now = now.Add(999 * time.Millisecond)
		add(recs[3])                    // not due yet: joins the first aggregate
		now = now.Add(time.Millisecond) // the first aggregate is due
		add(recs[4:6]...)               // sends it, then opens the second
		now = now.Add(time.Second)
		add(recs[6]) // sends the second, opens a third of one record
		if err := w.Finish(); err != nil {
			t.Fatal(err)
		}
		written, _ := writtenOf(t, w.TakeResults())
		checkAggregated(t, f, recs[:7], written, false)
		if _, counts := aggregates(f); fmt.Sprint(counts) != "[4 2 1]" {
			t.Errorf("user records per Kinesis record %v, want [4 2 1] (the last plain, at the end of the bundle)", counts)
		}
	})
	t.Run("plain", func(t *testing.T) {
		f := newShardedWriteAPI(1)
		// Seven records of one key, the fourth of 3,005 bytes.
		var recs []Record
		for i := range 7 {
			size := 100
			if i == 3 {
				size = 3005
			}
			d := fmt.Appendf(nil, "key-0/%06d/", i)
			recs = append(recs, Record{PartitionKey: "key-0", Data: append(d, strings.Repeat("x", size-len(d)-5)...)})
		}
		res, err := runWriter(t, aggWriterConfig(1, aggConfig{maxBytes: 1000, maxRecords: 1 << 20, maxDelay: time.Hour}), f, recs)
		if err != nil {
			t.Fatal(err)
		}
		written, failed := writtenOf(t, res)
		if len(failed) > 0 {
			t.Fatalf("failed: %+v", failed)
		}
		checkAggregated(t, f, recs, written, false)
		sizes, counts := aggregates(f)
		if fmt.Sprint(counts) != "[3 1 3]" || sizes[1] != 3005 || kpl.IsAggregate(f.stored[1].data) {
			t.Errorf("Kinesis records of %v user records, %v bytes; want [3 1 3] with the 3,005-byte record plain between", counts, sizes)
		}
		for _, w := range written {
			if w.Size == 3005 && w.SubSequenceNumber != 0 {
				t.Errorf("plain record reported with sub-sequence number %d", w.SubSequenceNumber)
			}
		}
	})
}

// TestAggregationLandsOnPredictedShards: over 4 shards, with as many
// lanes and with fewer, each aggregate lands on the shard of its user
// records, at most one per shard per call, and the results say where each
// user record is.
func TestAggregationLandsOnPredictedShards(t *testing.T) {
	for _, lanes := range []int{4, 3, 1} {
		t.Run(fmt.Sprint("lanes=", lanes), func(t *testing.T) {
			f := newShardedWriteAPI(4)
			recs := mixedRecords(6000, 61)
			cfg := aggWriterConfig(lanes, aggConfig{maxBytes: 8 << 10, maxRecords: 4096, maxDelay: time.Hour})
			w := newWriter(cfg, f)
			w.Start(context.Background())
			var res []Result
			for i, r := range recs {
				if err := w.Add(0, r); err != nil {
					t.Fatal(err)
				}
				if i%100 == 0 {
					res = append(res, w.TakeResults()...)
				}
			}
			if err := w.Finish(); err != nil {
				t.Fatal(err)
			}
			res = append(res, w.TakeResults()...)
			written, _ := writtenOf(t, res)
			got := checkAggregated(t, f, recs, written, false)
			shards := map[string]bool{}
			aggregated := 0
			for _, l := range got {
				shards[l.shard] = true
				if l.aggregated {
					aggregated++
				}
			}
			if len(shards) != 4 || aggregated < len(recs)-8 {
				t.Errorf("records on %d shards, %d of %d aggregated", len(shards), aggregated, len(recs))
			}
			if a, n := w.stats.Aggregates.Load(), w.stats.Aggregated.Load(); a < 4 || int(n) != aggregated || w.stats.Records.Load() != int64(len(recs)) {
				t.Errorf("stats: %d aggregates of %d records, %d records; want %d aggregated of %d", a, n, w.stats.Records.Load(), aggregated, len(recs))
			}
			if f.listingCount() != 1 {
				t.Errorf("%d listings, want 1", f.listingCount())
			}
		})
	}
}

// TestAggregationPartialFailures: aggregates that fail (throttled,
// internal failure, whole calls) are retried whole, before anything newer
// of their shard: every user record is written once and in order. When
// they run out of attempts, every user record of theirs is reported.
func TestAggregationPartialFailures(t *testing.T) {
	cfg := aggWriterConfig(2, aggConfig{maxBytes: 4 << 10, maxRecords: 4096, maxDelay: time.Hour})
	cfg.maxAttempts = 20
	t.Run("retried", func(t *testing.T) {
		f := newShardedWriteAPI(4)
		f.entryErr = func(n, i int, shard string) string {
			switch {
			case n >= 40:
				return ""
			case (n+i)%3 == 0:
				return "ProvisionedThroughputExceededException"
			case (n*7+i)%5 == 0:
				return "InternalFailure"
			}
			return ""
		}
		f.callErr = func(n int) error {
			if n%9 == 4 && n < 40 {
				return &types.ProvisionedThroughputExceededException{Message: aws.String("slow down")}
			}
			return nil
		}
		recs := mixedRecords(3000, 23)
		res, err := runWriter(t, cfg, f, recs)
		if err != nil {
			t.Fatal(err)
		}
		written, failed := writtenOf(t, res)
		if len(failed) > 0 {
			t.Fatalf("%d failed, e.g. %+v", len(failed), failed[0])
		}
		checkAggregated(t, f, recs, written, false)
		retried := 0
		for _, w := range written {
			if w.Attempts > 1 {
				retried++
			}
		}
		if retried == 0 {
			t.Error("no record was retried")
		}
	})
	// Aggregates of one shard always fail: each of their user records is
	// reported (EmitFailed) or counted in the bundle's error (FailBundle).
	doomed := func(f *shardedWriteAPI) string {
		shard := f.open[2].ShardID
		f.entryErr = func(_, _ int, s string) string {
			if s == shard {
				return "InternalFailure"
			}
			return ""
		}
		return shard
	}
	recs := mixedRecords(2000, 23)
	t.Run("EmitFailed", func(t *testing.T) {
		f := newShardedWriteAPI(4)
		doomed(f)
		cfg := cfg
		cfg.maxAttempts = 3
		res, err := runWriter(t, cfg, f, recs)
		if err != nil {
			t.Fatal(err)
		}
		written, failed := writtenOf(t, res)
		var ok []Record
		failedData := map[string]bool{}
		for _, fr := range failed {
			if fr.ErrorCode != "InternalFailure" || fr.Attempts != 3 {
				t.Errorf("failed %+v", fr)
			}
			failedData[string(fr.Record.Data)] = true
		}
		for _, r := range recs {
			if !failedData[string(r.Data)] {
				ok = append(ok, r)
			}
		}
		if len(failed) == 0 || len(failed)+len(written) != len(recs) || len(failedData) != len(failed) {
			t.Fatalf("%d failed (%d distinct), %d written, of %d", len(failed), len(failedData), len(written), len(recs))
		}
		checkAggregated(t, f, ok, written, false)
	})
	t.Run("FailBundle", func(t *testing.T) {
		f := newShardedWriteAPI(4)
		doomed(f)
		cfg := cfg
		cfg.maxAttempts, cfg.emitFailed = 3, false
		res, err := runWriter(t, cfg, f, recs)
		written, _ := writtenOf(t, res)
		lost := len(recs) - len(written)
		if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("%d record(s) could not be written", lost)) ||
			!regexp.MustCompile(`InternalFailure after 3 attempt\(s\) \(an aggregated record of \d+ user records`).MatchString(err.Error()) {
			t.Errorf("FailBundle error = %v; want %d records counted and the aggregate's record count", err, lost)
		}
	})
}

// TestAggregationReshard: after a split, aggregates made with the old map
// still land (on a child); the record that lands off its predicted shard
// marks the map stale, the shards are listed again, and what was sent
// with the old map is settled before anything goes out with the new one.
func TestAggregationReshard(t *testing.T) {
	// No listing while the records of the old map land (so that the test
	// does not depend on when their answers come), then at once.
	defer SetShardMapMinAge(time.Hour)()
	f := newShardedWriteAPI(2)
	cfg := aggWriterConfig(2, aggConfig{maxBytes: 4 << 10, maxRecords: 4096, maxDelay: time.Hour})
	w := newWriter(cfg, f)
	w.Start(context.Background())
	recs := mixedRecords(3000, 31)
	add := func(rs []Record) {
		for _, r := range rs {
			if err := w.Add(0, r); err != nil {
				t.Fatal(err)
			}
		}
	}
	add(recs[:1000])
	if err := w.flush(); err != nil {
		t.Fatal(err)
	}
	f.split(0)
	add(recs[1000:1200]) // grouped by the old map, landing on the children
	if err := w.flush(); err != nil {
		t.Fatal(err)
	}
	if !cfg.shards.isStale() {
		t.Error("the map is not stale after records landed off their shard")
	}
	SetShardMapMinAge(0)
	add(recs[1200:])
	if err := w.Finish(); err != nil {
		t.Fatal(err)
	}
	written, failed := writtenOf(t, w.TakeResults())
	if len(failed) > 0 {
		t.Fatalf("failed: %+v", failed[0])
	}
	got := checkAggregated(t, f, recs, written, true)
	if n := f.listingCount(); n != 2 {
		t.Errorf("%d listings, want 2 (the first, and after the split)", n)
	}
	// With the new map, every user record lands in its shard's range.
	parent := "shardId-000000000000"
	offRange, children := 0, 0
	for _, l := range got {
		var n int
		fmt.Sscanf(l.data[len(l.pk)+1:], "%06d", &n)
		r := f.ranges[l.shard]
		h := effectiveHashKey(Record{PartitionKey: l.pk, ExplicitHashKey: l.ehk})
		if cmpKey(h, r.Start) < 0 || cmpKey(h, r.End) > 0 {
			offRange++
		}
		if l.shard != parent && l.shard != "shardId-000000000001" {
			children++
		}
	}
	if children == 0 {
		t.Error("no record landed on a child shard")
	}
	// Only records of the 200 sent with the old map can be off range.
	if offRange > 200 {
		t.Errorf("%d records landed outside their shard's range, want at most the 200 grouped by the old map", offRange)
	}
	t.Logf("%d records on children, %d off their shard's range (grouped by the old map)", children, offRange)
}

// TestAggregationWithoutShardMap: when the shards cannot be listed for a
// transient reason, records go out plain until a listing succeeds; a
// permanent refusal fails the bundle, saying what to grant.
func TestAggregationWithoutShardMap(t *testing.T) {
	defer SetShardMapMinAge(time.Hour)()
	f := newShardedWriteAPI(2)
	f.listErr = func(int) error { return &types.LimitExceededException{Message: aws.String("slow down")} }
	recs := mixedRecords(500, 7)
	res, err := runWriter(t, aggWriterConfig(2, aggConfig{maxBytes: 4 << 10, maxRecords: 4096, maxDelay: time.Hour}), f, recs)
	if err != nil {
		t.Fatal(err)
	}
	written, _ := writtenOf(t, res)
	f.dupShard = nil // plain records are batched as without aggregation
	got := checkAggregated(t, f, recs, written, false)
	for _, l := range got {
		if l.aggregated {
			t.Fatal("a record was aggregated without a shard map")
		}
	}

	f = newShardedWriteAPI(2)
	f.listErr = func(int) error { return &types.AccessDeniedException{Message: aws.String("no")} }
	_, err = runWriter(t, aggWriterConfig(2, aggConfig{maxBytes: 4 << 10, maxRecords: 4096, maxDelay: time.Hour}), f, recs)
	if err == nil || !strings.Contains(err.Error(), "explained") || !strings.Contains(err.Error(), "Aggregation") {
		t.Errorf("access denied to ListShards: error %v", err)
	}
}
