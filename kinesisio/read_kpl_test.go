package kinesisio_test

import (
	"bytes"
	"context"
	"fmt"
	"math/big"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/kinesisio/beam-kinesis/kinesisio"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/hashkey"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/kpl"
	"github.com/kinesisio/beam-kinesis/testing/emulators"
	"github.com/kinesisio/beam-kinesis/testing/kplagg"
)

// userRec is what the KPL tests compare: a user record where it landed.
type userRec struct {
	Shard, Seq string
	Sub        int64
	PK, EHK    string
	Data       []byte
}

func userRecs(recs []kinesisio.Record) []userRec {
	out := make([]userRec, len(recs))
	for i, r := range recs {
		out[i] = userRec{r.ShardID, r.SequenceNumber, r.SubSequenceNumber, r.PartitionKey, r.ExplicitHashKey, r.Data}
	}
	return out
}

// sortUserRecs orders by shard, sequence, sub-sequence number.
func sortUserRecs(rs []userRec) {
	slices.SortFunc(rs, func(a, b userRec) int {
		if a.Shard != b.Shard {
			return strings.Compare(a.Shard, b.Shard)
		}
		if a.Seq != b.Seq {
			if seqLess(a.Seq, b.Seq) {
				return -1
			}
			return 1
		}
		return int(a.Sub - b.Sub)
	})
}

// checkOrderPerShard checks that each shard's user records were emitted
// in (sequence, sub-sequence) order.
func checkOrderPerShard(t *testing.T, got []kinesisio.Record) {
	t.Helper()
	last := map[string]kinesisio.Record{}
	for _, r := range got {
		if p, ok := last[r.ShardID]; ok {
			if !(seqLess(p.SequenceNumber, r.SequenceNumber) || p.SequenceNumber == r.SequenceNumber && p.SubSequenceNumber < r.SubSequenceNumber) {
				t.Errorf("shard %s: %s/%d emitted after %s/%d", r.ShardID, r.SequenceNumber, r.SubSequenceNumber, p.SequenceNumber, p.SubSequenceNumber)
				return
			}
		}
		last[r.ShardID] = r
	}
}

// put puts one Kinesis record and returns where it landed.
func (e *env) put(t *testing.T, pk, ehk string, data []byte) (shard, seq string) {
	t.Helper()
	in := &kinesis.PutRecordInput{StreamName: aws.String(e.stream), PartitionKey: aws.String(pk), Data: data}
	if ehk != "" {
		in.ExplicitHashKey = aws.String(ehk)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	out, err := e.client.PutRecord(ctx, in)
	if err != nil {
		t.Fatalf("PutRecord: %v", err)
	}
	return aws.ToString(out.ShardId), aws.ToString(out.SequenceNumber)
}

// outside reports whether a user record hashes outside shard's range.
func outside(t *testing.T, sh types.Shard, pk, ehk string) bool {
	t.Helper()
	r, err1 := hashkey.ParseRange(aws.ToString(sh.ShardId), aws.ToString(sh.HashKeyRange.StartingHashKey), aws.ToString(sh.HashKeyRange.EndingHashKey))
	h, err2 := hashkey.Effective(pk, ehk)
	if err1 != nil || err2 != nil {
		t.Fatalf("bad hash keys: %v %v", err1, err2)
	}
	return !r.Contains(h)
}

func (e *env) shardByID(t *testing.T) map[string]types.Shard {
	t.Helper()
	m := map[string]types.Shard{}
	for _, s := range e.openShards(t) {
		m[aws.ToString(s.ShardId)] = s
	}
	return m
}

// kplUserRecords returns n user records with varied partition keys (none
// that looks like a small number: aws-kinesis-agg mis-encodes those),
// some explicit hash keys, empty and binary data, and sizes up to size.
func kplUserRecords(rng *rand.Rand, tag string, n, size int) []kplagg.UserRecord {
	out := make([]kplagg.UserRecord, n)
	for i := range out {
		data := make([]byte, rng.IntN(size+1))
		for j := range data {
			data[j] = byte(rng.IntN(256))
		}
		if i%17 == 0 {
			data = []byte{}
		}
		out[i] = kplagg.UserRecord{PartitionKey: fmt.Sprintf("%s-user-%d-%x", tag, i%23, rng.Uint32()%4), Data: data}
		if i%9 == 0 {
			var k [16]byte
			for j := range k {
				k[j] = byte(rng.IntN(256))
			}
			out[i].ExplicitHashKey = new(big.Int).SetBytes(k[:]).String()
		}
	}
	return out
}

// TestReadsAggregatesOfAWSAggregator is the cross-check with AWS's own
// implementation: user records aggregated by aws-kinesis-agg (npm, the
// awslabs library) and put into kinesalite, between plain records and a
// corrupt aggregate, come out of Read as exactly those user records, with
// their partition keys, explicit hash keys and sub-sequence numbers, in
// order per shard; the corrupt aggregate passes through whole. The KPL
// counters are exact, outside-the-shard user records included (an
// aggregate lands where its first user record hashes; the others hash
// anywhere).
func TestReadsAggregatesOfAWSAggregator(t *testing.T) {
	kplagg.Require(t)
	e := newEnv(t, emulators.Kinesalite, 2)
	shards := e.shardByID(t)
	rng := rand.New(rand.NewPCG(1, 2))
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()

	var want []userRec
	var aggregates, users, outsideShard int64
	putAggregates := func(recs []kplagg.UserRecord) {
		agg, err := kplagg.Aggregate(ctx, recs)
		if err != nil {
			t.Fatal(err)
		}
		i := 0
		for _, a := range agg {
			got, err := kpl.Decode(a.Data)
			if err != nil {
				t.Fatalf("the library's aggregate does not decode: %v", err)
			}
			shard, seq := e.put(t, a.PartitionKey, a.ExplicitHashKey, a.Data)
			aggregates++
			for sub, u := range got {
				in := recs[i]
				i++
				if u.PartitionKey != in.PartitionKey || !bytes.Equal(u.Data, in.Data) {
					t.Fatalf("aggregate %s user record %d is %q, not the input's %q", seq, sub, u.PartitionKey, in.PartitionKey)
				}
				want = append(want, userRec{shard, seq, int64(sub), in.PartitionKey, in.ExplicitHashKey, in.Data})
				users++
				if outside(t, shards[shard], in.PartitionKey, in.ExplicitHashKey) {
					outsideShard++
				}
			}
		}
		if i != len(recs) {
			t.Fatalf("the library's aggregates hold %d user records of %d", i, len(recs))
		}
	}
	putPlain := func(pk string, data []byte) {
		shard, seq := e.put(t, pk, "", data)
		want = append(want, userRec{shard, seq, 0, pk, "", data})
	}

	putPlain("plain-first", []byte("a plain record"))
	putAggregates(kplUserRecords(rng, "big", 600, 8000)) // ~2.4 MB: several aggregates
	putPlain("plain-between", []byte("another plain record"))
	putAggregates(kplUserRecords(rng, "small", 30, 100))
	putAggregates([]kplagg.UserRecord{{PartitionKey: "single-user", Data: []byte("alone")}})
	corrupt := kpl.Encode([]kpl.Record{{PartitionKey: "c", Data: []byte("corrupt")}})
	corrupt[len(corrupt)-1] ^= 0xff
	putPlain("corrupt-aggregate", corrupt)
	putPlain("plain-last", []byte{})
	if aggregates < 5 {
		t.Fatalf("only %d aggregates put: the test wants several per aggregation", aggregates)
	}

	p, s := beam.NewPipelineWithRoot()
	got := collect(s, kinesisio.Read(s, e.stream, e.opts(kinesisio.WithStopAtLatest())...))
	res := run(t, p)
	recs := got()
	checkOrderPerShard(t, recs)
	gotU := userRecs(recs)
	sortUserRecs(gotU)
	sortUserRecs(want)
	if diff := cmp.Diff(want, gotU, cmpopts.EquateEmpty()); diff != "" {
		t.Fatalf("user records read (-want +got):\n%s", diff)
	}
	for _, r := range recs {
		if r.ApproximateArrivalTimestamp.IsZero() {
			t.Fatalf("record %s/%d without arrival time", r.SequenceNumber, r.SubSequenceNumber)
		}
	}
	for name, want := range map[string]int64{
		"read_kpl_aggregates":    aggregates,
		"read_kpl_user_records":  users,
		"read_kpl_corrupt":       1,
		"read_kpl_outside_shard": outsideShard,
		"read_records":           int64(len(want)),
	} {
		checkCounter(t, res, name, want)
	}
	t.Logf("%d aggregates holding %d user records (%d outside their shard), %d records read", aggregates, users, outsideShard, len(recs))
}

// kplStream puts, on a one-shard stream, aggregates of 10 user records
// (our own encoding) with a plain record after each, and returns what
// Read must emit, in order.
func kplStream(t *testing.T, e *env, aggregates int) []userRec {
	t.Helper()
	var want []userRec
	for a := range aggregates {
		var recs []kpl.Record
		for i := range 10 {
			recs = append(recs, kpl.Record{PartitionKey: fmt.Sprintf("k%d", i%3), Data: fmt.Appendf(nil, "agg%d/%d", a, i)})
		}
		recs[4].ExplicitHashKey = "12345678901234567890"
		shard, seq := e.put(t, "aggregate", "", kpl.Encode(recs))
		for i, r := range recs {
			want = append(want, userRec{shard, seq, int64(i), r.PartitionKey, r.ExplicitHashKey, r.Data})
		}
		pk := fmt.Sprintf("plain%d", a)
		shard, seq = e.put(t, pk, "", []byte(pk))
		want = append(want, userRec{shard, seq, 0, pk, "", []byte(pk)})
	}
	return want
}

// TestResumeInsideAggregate resumes reads inside KPL aggregates, at the
// end of one and after a plain record, in the three ways a read resumes:
// the runner's checkpoints (every 3 records, wherever they fall), an
// explicit position (AfterSubSequenceNumber of the last record read), and
// a checkpoint store. Every user record comes out exactly once, in order.
func TestResumeInsideAggregate(t *testing.T) {
	e := newEnv(t, emulators.Kinesalite, 1)
	want := kplStream(t, e, 3) // 33 user records: 10 aggregated, 1 plain, ...

	t.Run("runner checkpoints", func(t *testing.T) {
		defer kinesisio.SetMaxRecordsPerCall(3)()
		p, s := beam.NewPipelineWithRoot()
		got := collect(s, kinesisio.Read(s, e.stream, e.opts(kinesisio.WithStopAtLatest())...))
		run(t, p)
		if diff := cmp.Diff(want, userRecs(got()), cmpopts.EquateEmpty()); diff != "" {
			t.Fatalf("(-want +got):\n%s", diff)
		}
	})

	// Stopping points: inside the second aggregate, at the end of the
	// first aggregate, and after the first plain record.
	for _, first := range []int{14, 10, 11} {
		t.Run(fmt.Sprintf("explicit position after %d", first), func(t *testing.T) {
			p, s := beam.NewPipelineWithRoot()
			got1 := collect(s, kinesisio.Read(s, e.stream, e.opts(kinesisio.WithMaxRecords(int64(first)))...))
			run(t, p)
			part1 := got1()
			if len(part1) != first {
				t.Fatalf("first read: %d records, want %d", len(part1), first)
			}
			last := part1[len(part1)-1]
			p, s = beam.NewPipelineWithRoot()
			pos := map[string]kinesisio.Position{last.ShardID: kinesisio.AfterSubSequenceNumber(last.SequenceNumber, last.SubSequenceNumber)}
			got2 := collect(s, kinesisio.Read(s, e.stream, e.opts(kinesisio.WithShardPositions(pos), kinesisio.WithStopAtLatest())...))
			run(t, p)
			if diff := cmp.Diff(want, userRecs(append(part1, got2()...)), cmpopts.EquateEmpty()); diff != "" {
				t.Fatalf("both reads (-want +got):\n%s", diff)
			}
		})
		t.Run(fmt.Sprintf("checkpoint store after %d", first), func(t *testing.T) {
			store := kinesisio.LocalDirectory(t.TempDir())
			var all []kinesisio.Record
			for i, bound := range []kinesisio.ReadOption{kinesisio.WithMaxRecords(int64(first)), kinesisio.WithStopAtLatest()} {
				p, s := beam.NewPipelineWithRoot()
				got := collect(s, kinesisio.Read(s, e.stream, e.opts(kinesisio.WithCheckpoints("kpl", store), bound, kinesisio.WithMaxReadTime(20*time.Second))...))
				run(t, p)
				part := got()
				if i == 0 && len(part) != first {
					t.Fatalf("first run: %d records, want %d", len(part), first)
				}
				all = append(all, part...)
			}
			if diff := cmp.Diff(want, userRecs(all), cmpopts.EquateEmpty()); diff != "" {
				t.Fatalf("both runs (-want +got):\n%s", diff)
			}
		})
	}
}

// TestAggregateAcrossReshardDeliversAll puts an aggregate whose user
// records hash over the whole key space into one child of a split: every
// user record is read (KCL drops the whole aggregate), and those outside
// the child's range are counted.
func TestAggregateAcrossReshardDeliversAll(t *testing.T) {
	e := newEnv(t, emulators.Kinesalite, 1)
	e.split(t)
	low := e.openShards(t)[0]
	var recs []kpl.Record
	var wantOutside int64
	for i := range 50 {
		r := kpl.Record{PartitionKey: fmt.Sprintf("spread-%d", i), Data: fmt.Appendf(nil, "user %d", i)}
		recs = append(recs, r)
		if outside(t, low, r.PartitionKey, "") {
			wantOutside++
		}
	}
	if wantOutside == 0 || wantOutside == 50 {
		t.Fatalf("%d of 50 keys outside the low child: the test wants some of each", wantOutside)
	}
	shard, seq := e.put(t, "spread", aws.ToString(low.HashKeyRange.StartingHashKey), kpl.Encode(recs))
	if shard != aws.ToString(low.ShardId) {
		t.Fatalf("aggregate landed on %s, want the low child %s", shard, aws.ToString(low.ShardId))
	}
	var want []userRec
	for i, r := range recs {
		want = append(want, userRec{shard, seq, int64(i), r.PartitionKey, "", r.Data})
	}
	p, s := beam.NewPipelineWithRoot()
	got := collect(s, kinesisio.Read(s, e.stream, e.opts(kinesisio.WithStopAtLatest())...))
	res := run(t, p)
	if diff := cmp.Diff(want, userRecs(got()), cmpopts.EquateEmpty()); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
	checkCounter(t, res, "read_kpl_outside_shard", wantOutside)
}

// TestAWSAggregatorReadsWriteAggregates is the cross-check in the other
// direction: what Write aggregates into kinesalite (4 shards, 64 keys) is
// read raw with GetRecords and de-aggregated by aws-kinesis-agg's
// deaggregateSync (checksums on), which must return exactly the user
// records written, with sub-sequence numbers 0.. within each aggregate.
// The records carry no explicit hash key: the library's deaggregateSync
// gives a user record without one the table's first (testing/kplagg).
func TestAWSAggregatorReadsWriteAggregates(t *testing.T) {
	kplagg.Require(t)
	e := newEnv(t, emulators.Kinesalite, 4)
	var in []kinesisio.Record
	for i := range 3000 {
		in = append(in, kinesisio.Record{PartitionKey: fmt.Sprintf("node-key-%d", i%64), Data: fmt.Appendf(nil, "record %d of the cross-check", i)})
	}
	p, s := beam.NewPipelineWithRoot()
	res := kinesisio.Write(s, e.stream, beam.CreateList(s, in), e.writeOpts("", kinesisio.Aggregation{})...)
	got := results(t, s, res)
	run(t, p)
	if f := got().failed; len(f) > 0 {
		t.Fatalf("%d records failed, e.g. %+v", len(f), f[0])
	}

	var raw []kplagg.ReadRecord
	for _, recs := range e.readBack(t) {
		for _, r := range recs {
			raw = append(raw, kplagg.ReadRecord{PartitionKey: r.PartitionKey, SequenceNumber: r.SequenceNumber, Data: r.Data})
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	users, err := kplagg.DeaggregateAll(ctx, raw)
	if err != nil {
		t.Fatalf("aws-kinesis-agg refuses what Write aggregated: %v", err)
	}
	type user struct{ PK, Data string }
	var want, gotUsers []user
	for _, r := range in {
		want = append(want, user{r.PartitionKey, string(r.Data)})
	}
	aggregated, nextSub := 0, map[string]int64{}
	for _, u := range users {
		gotUsers = append(gotUsers, user{u.PartitionKey, string(u.Data)})
		if u.ExplicitHashKey != "" {
			t.Errorf("user record %s/%d has explicit hash key %s; none was written", u.SequenceNumber, u.SubSequenceNumber, u.ExplicitHashKey)
		}
		if !u.Aggregated {
			continue
		}
		aggregated++
		if u.SubSequenceNumber != nextSub[u.SequenceNumber] {
			t.Errorf("record %s: sub-sequence number %d, want %d", u.SequenceNumber, u.SubSequenceNumber, nextSub[u.SequenceNumber])
		}
		nextSub[u.SequenceNumber]++
	}
	less := func(a, b user) int { return strings.Compare(a.PK+"\x00"+a.Data, b.PK+"\x00"+b.Data) }
	slices.SortFunc(want, less)
	slices.SortFunc(gotUsers, less)
	if diff := cmp.Diff(want, gotUsers); diff != "" {
		t.Fatalf("user records as aws-kinesis-agg de-aggregates them (-want +got):\n%s", diff)
	}
	if aggregated < len(in)-4 || len(nextSub) < 4 {
		t.Errorf("%d of %d user records in %d aggregates; want nearly all aggregated, at least one aggregate per shard", aggregated, len(in), len(nextSub))
	}
	t.Logf("%d Kinesis records, %d aggregates holding %d user records", len(raw), len(nextSub), aggregated)
}
