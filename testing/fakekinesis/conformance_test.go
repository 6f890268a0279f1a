package fakekinesis

import (
	"errors"
	"fmt"
	"maps"
	"math/big"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/kinesisio/beam-kinesis/testing/emulators"
	"github.com/kinesisio/beam-kinesis/testing/kinesistest"
)

// capability is a feature some implementations lack.
type capability int

const (
	capARN capability = iota
	capShardFilter
	capPaging
	capChildShards
	capBadIterator400 // a garbage iterator gives InvalidArgumentException
	capAWSHashRanges  // initial shards split the hash key space as AWS does
)

// target is one Kinesis implementation under test.
type target struct {
	name   string
	client *kinesis.Client
	has    map[capability]bool
}

// targets returns this server and the emulators that can start.
func targets(t *testing.T) []target {
	s, c := newServer(t)
	_ = s
	out := []target{{"fakekinesis", c, map[capability]bool{capARN: true, capShardFilter: true, capPaging: true, capChildShards: true, capBadIterator400: true, capAWSHashRanges: true}}}
	for _, k := range []emulators.Kind{emulators.Kinesalite, emulators.KinesisMock} {
		var emu *emulators.Emulator
		ok := t.Run("start-"+string(k), func(t *testing.T) { emu = emulators.Require(t, k) })
		if !ok || emu == nil {
			continue
		}
		has := map[capability]bool{capBadIterator400: true, capAWSHashRanges: true}
		if k == emulators.KinesisMock {
			has = map[capability]bool{capARN: true, capShardFilter: true, capPaging: true, capChildShards: true}
		}
		out = append(out, target{string(k), newClient(emu.Endpoint, false), has})
	}
	return out
}

// scenario runs against one target and returns a comparable result.
type scenario struct {
	name  string
	needs []capability
	run   func(t *testing.T, c *kinesis.Client, stream string) any
}

// errCode returns the API error code of err, or "" for nil.
func errCode(err error) string {
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode()
	}
	if err != nil {
		return "non-API error: " + err.Error()
	}
	return ""
}

// shardView is a shard without sequence numbers, which differ between
// implementations.
type shardView struct {
	ID, Parent, Adjacent, Start, End string
	Closed                           bool
}

func viewShards(shards []types.Shard) []shardView {
	var out []shardView
	for _, s := range shards {
		out = append(out, shardView{
			ID: aws.ToString(s.ShardId), Parent: aws.ToString(s.ParentShardId), Adjacent: aws.ToString(s.AdjacentParentShardId),
			Start: aws.ToString(s.HashKeyRange.StartingHashKey), End: aws.ToString(s.HashKeyRange.EndingHashKey),
			Closed: s.SequenceNumberRange.EndingSequenceNumber != nil,
		})
	}
	return out
}

// create makes stream with n shards and waits until it is ACTIVE.
func create(t *testing.T, c *kinesis.Client, stream string, n int32) {
	t.Helper()
	if _, err := kinesistest.CreateStream(ctx(t), c, stream, n); err != nil {
		t.Fatal(err)
	}
}

// dataOf returns the payloads of records.
func dataOf(recs []types.Record) []string {
	out := []string{}
	for _, r := range recs {
		out = append(out, string(r.Data))
	}
	return out
}

var scenarios = []scenario{
	{name: "create-and-list", run: func(t *testing.T, c *kinesis.Client, stream string) any {
		create(t, c, stream, 3)
		sum, err := c.DescribeStreamSummary(ctx(t), &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(stream)})
		if err != nil {
			t.Fatal(err)
		}
		return []any{viewShards(listAll(t, c, stream)), aws.ToInt32(sum.StreamDescriptionSummary.OpenShardCount), sum.StreamDescriptionSummary.StreamStatus}
	}},
	{name: "put-routes-by-md5", run: func(t *testing.T, c *kinesis.Client, stream string) any {
		create(t, c, stream, 4)
		routes := map[string]string{}
		last := map[string]*big.Int{}
		increasing := true
		for i, r := range putN(t, c, stream, "key", 40) {
			routes[fmt.Sprint(i)] = aws.ToString(r.ShardId)
			v, _ := new(big.Int).SetString(aws.ToString(r.SequenceNumber), 10)
			if p := last[*r.ShardId]; p != nil && p.Cmp(v) >= 0 {
				increasing = false
			}
			last[*r.ShardId] = v
		}
		out, err := c.PutRecord(ctx(t), &kinesis.PutRecordInput{StreamName: aws.String(stream), PartitionKey: aws.String("x"), ExplicitHashKey: aws.String("0"), Data: []byte("x")})
		if err != nil {
			t.Fatal(err)
		}
		return []any{routes, increasing, aws.ToString(out.ShardId)}
	}},
	{name: "iterators", run: func(t *testing.T, c *kinesis.Client, stream string) any {
		create(t, c, stream, 1)
		const sh = "shardId-000000000000"
		res := putN(t, c, stream, "k", 10)
		all, _ := readShard(t, c, iter(t, c, stream, sh, types.ShardIteratorTypeTrimHorizon, nil))
		at, _ := readShard(t, c, iter(t, c, stream, sh, types.ShardIteratorTypeAtSequenceNumber, res[4].SequenceNumber))
		after, _ := readShard(t, c, iter(t, c, stream, sh, types.ShardIteratorTypeAfterSequenceNumber, res[4].SequenceNumber))
		latest := iter(t, c, stream, sh, types.ShardIteratorTypeLatest, nil)
		putN(t, c, stream, "late", 1)
		l, _ := readShard(t, c, latest)
		lim, err := c.GetRecords(ctx(t), &kinesis.GetRecordsInput{ShardIterator: aws.String(iter(t, c, stream, sh, types.ShardIteratorTypeTrimHorizon, nil)), Limit: aws.Int32(3)})
		if err != nil {
			t.Fatal(err)
		}
		return [][]string{dataOf(all), dataOf(at), dataOf(after), dataOf(l), dataOf(lim.Records)}
	}},
	{name: "split-and-merge", run: func(t *testing.T, c *kinesis.Client, stream string) any {
		create(t, c, stream, 2)
		if _, err := c.SplitShard(ctx(t), &kinesis.SplitShardInput{StreamName: aws.String(stream), ShardToSplit: aws.String("shardId-000000000000"), NewStartingHashKey: aws.String("85070591730234615865843651857942052864")}); err != nil {
			t.Fatal(err)
		}
		waitActive(t, c, stream)
		if _, err := c.MergeShards(ctx(t), &kinesis.MergeShardsInput{StreamName: aws.String(stream), ShardToMerge: aws.String("shardId-000000000003"), AdjacentShardToMerge: aws.String("shardId-000000000001")}); err != nil {
			t.Fatal(err)
		}
		waitActive(t, c, stream)
		_, notAdjacent := c.MergeShards(ctx(t), &kinesis.MergeShardsInput{StreamName: aws.String(stream), ShardToMerge: aws.String("shardId-000000000002"), AdjacentShardToMerge: aws.String("shardId-000000000002")})
		return []any{viewShards(listAll(t, c, stream)), errCode(notAdjacent) != ""}
	}},
	{name: "errors", run: func(t *testing.T, c *kinesis.Client, stream string) any {
		_, missing := c.DescribeStreamSummary(ctx(t), &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(stream)})
		create(t, c, stream, 1)
		_, dup := c.CreateStream(ctx(t), &kinesis.CreateStreamInput{StreamName: aws.String(stream), ShardCount: aws.Int32(1)})
		_, noShard := c.GetShardIterator(ctx(t), &kinesis.GetShardIteratorInput{StreamName: aws.String(stream), ShardId: aws.String("shardId-000000000009"), ShardIteratorType: types.ShardIteratorTypeLatest})
		return []string{errCode(missing), errCode(dup), errCode(noShard)}
	}},
	{name: "bad-iterator", needs: []capability{capBadIterator400}, run: func(t *testing.T, c *kinesis.Client, stream string) any {
		_, err := c.GetRecords(ctx(t), &kinesis.GetRecordsInput{ShardIterator: aws.String("AAAAAAAAAAGarbage")})
		return errCode(err)
	}},
	{name: "list-shards-paging", needs: []capability{capPaging}, run: func(t *testing.T, c *kinesis.Client, stream string) any {
		create(t, c, stream, 5)
		var ids []string
		in := &kinesis.ListShardsInput{StreamName: aws.String(stream), MaxResults: aws.Int32(2)}
		var first *string
		for range 10 {
			out, err := c.ListShards(ctx(t), in)
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range out.Shards {
				ids = append(ids, aws.ToString(s.ShardId))
			}
			if first == nil {
				first = out.NextToken
			}
			if out.NextToken == nil {
				break
			}
			in = &kinesis.ListShardsInput{NextToken: out.NextToken, MaxResults: aws.Int32(2)}
		}
		_, both := c.ListShards(ctx(t), &kinesis.ListShardsInput{StreamName: aws.String(stream), NextToken: first})
		return []any{ids, errCode(both)}
	}},
	{name: "stream-arn-and-filter", needs: []capability{capARN, capShardFilter}, run: func(t *testing.T, c *kinesis.Client, stream string) any {
		arn, err := kinesistest.CreateStream(ctx(t), c, stream, 2)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c.SplitShard(ctx(t), &kinesis.SplitShardInput{StreamARN: aws.String(arn), ShardToSplit: aws.String("shardId-000000000001"), NewStartingHashKey: aws.String("200000000000000000000000000000000000000")}); err != nil {
			t.Fatal(err)
		}
		waitActive(t, c, stream)
		var res []any
		// AT_TRIM_HORIZON is left out: kinesis-mock returns every shard,
		// fakekinesis the shards open at the trim horizon (see the
		// package doc).
		for _, f := range []types.ShardFilterType{types.ShardFilterTypeAtLatest, types.ShardFilterTypeFromTrimHorizon} {
			out, err := c.ListShards(ctx(t), &kinesis.ListShardsInput{StreamARN: aws.String(arn), ShardFilter: &types.ShardFilter{Type: f}})
			if err != nil {
				t.Fatalf("%s: %v", f, err)
			}
			res = append(res, viewShards(out.Shards))
		}
		return res
	}},
	{name: "child-shards", needs: []capability{capChildShards}, run: func(t *testing.T, c *kinesis.Client, stream string) any {
		create(t, c, stream, 1)
		putN(t, c, stream, "k", 3)
		if _, err := c.SplitShard(ctx(t), &kinesis.SplitShardInput{StreamName: aws.String(stream), ShardToSplit: aws.String("shardId-000000000000"), NewStartingHashKey: aws.String("1000")}); err != nil {
			t.Fatal(err)
		}
		waitActive(t, c, stream)
		it := iter(t, c, stream, "shardId-000000000000", types.ShardIteratorTypeTrimHorizon, nil)
		var recs []types.Record
		for range 20 {
			out, err := c.GetRecords(ctx(t), &kinesis.GetRecordsInput{ShardIterator: aws.String(it)})
			if err != nil {
				t.Fatal(err)
			}
			recs = append(recs, out.Records...)
			if out.NextShardIterator == nil {
				var children []string
				for _, ch := range out.ChildShards {
					children = append(children, aws.ToString(ch.ShardId))
				}
				return []any{dataOf(recs), children}
			}
			it = aws.ToString(out.NextShardIterator)
		}
		t.Fatal("closed shard never ended")
		return nil
	}},
}

// waitActive waits (bounded) until the stream is ACTIVE again after
// resharding.
func waitActive(t *testing.T, c *kinesis.Client, stream string) {
	t.Helper()
	for range 600 {
		out, err := c.DescribeStreamSummary(ctx(t), &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(stream)})
		if err != nil {
			t.Fatal(err)
		}
		if out.StreamDescriptionSummary.StreamStatus == types.StreamStatusActive {
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("stream %s not ACTIVE after 30 s", stream)
}

// TestConformance runs each scenario against this server, kinesalite and
// kinesis-mock (those that start) and requires the emulators that
// implement the scenario's features to agree with this server.
func TestConformance(t *testing.T) {
	all := targets(t)
	for _, sc := range scenarios {
		t.Run(sc.name, func(t *testing.T) {
			var want any
			for _, tg := range all {
				supported := true
				for _, n := range sc.needs {
					supported = supported && tg.has[n]
				}
				if !supported {
					continue
				}
				t.Run(tg.name, func(t *testing.T) {
					got := sc.run(t, tg.client, kinesistest.StreamName(t))
					if want == nil {
						want = got
						return
					}
					var opts []cmp.Option
					if !tg.has[capAWSHashRanges] {
						opts = append(opts, cmpopts.IgnoreFields(shardView{}, "Start", "End"))
					}
					if diff := cmp.Diff(want, got, opts...); diff != "" {
						t.Errorf("%s differs from fakekinesis (-fake +%s):\n%s", tg.name, tg.name, diff)
					}
				})
			}
		})
	}
}

// limitProbe is one put at the edge of Kinesis's record limits.
type limitProbe struct {
	name string
	key  string
	data int  // bytes of data
	many bool // PutRecords of ["ok"/1 byte, this entry] rather than PutRecord
}

// limitProbes puts partition keys of 1, 256 and 257 characters, ASCII
// and multi-byte (é: 2 bytes in UTF-8, € 3, an emoji 4 bytes and 2
// UTF-16 code units), and data up to 1 MiB with the key and over, each
// with PutRecord and in a PutRecords call next to a valid entry.
func limitProbes() []limitProbe {
	const mib = 1 << 20
	emoji := "\U0001F600"
	single := []limitProbe{
		{name: "key empty", key: ""},
		{name: "key 1 ASCII", key: "a"},
		{name: "key 256 ASCII", key: strings.Repeat("a", 256)},
		{name: "key 257 ASCII", key: strings.Repeat("a", 257)},
		{name: "key 255 é (510 bytes)", key: strings.Repeat("é", 255)},
		{name: "key 256 é (512 bytes)", key: strings.Repeat("é", 256)},
		{name: "key 257 é", key: strings.Repeat("é", 257)},
		{name: "key 256 € (768 bytes)", key: strings.Repeat("€", 256)},
		{name: "key 257 €", key: strings.Repeat("€", 257)},
		{name: "key 128 emoji (256 UTF-16 units, 512 bytes)", key: strings.Repeat(emoji, 128)},
		{name: "key 129 emoji (258 UTF-16 units)", key: strings.Repeat(emoji, 129)},
		{name: "data 1 MiB incl. key a", key: "a", data: mib - 1},
		{name: "data 1 MiB incl. key é", key: "é", data: mib - 2},
		{name: "data 1 MiB incl. key emoji", key: emoji, data: mib - 4},
		{name: "data 1 MiB incl. key 256 a", key: strings.Repeat("a", 256), data: mib - 256},
		{name: "data 1 MiB + key a", key: "a", data: mib},
		{name: "data 1 MiB - 1 + key é", key: "é", data: mib - 1},
		{name: "data 1 MiB + 1 + key a", key: "a", data: mib + 1},
	}
	var out []limitProbe
	for _, p := range single {
		out = append(out, p)
		p.many = true
		out = append(out, p)
	}
	return out
}

// probeLimits runs the probes against c and returns each outcome: "ok",
// the error code of a refused call, or "entry " and the error code of a
// PutRecords entry that failed alone. It checks that every record put
// reads back with its key and data length.
func probeLimits(t *testing.T, c *kinesis.Client, stream string) map[string]string {
	create(t, c, stream, 1)
	type stored struct {
		key string
		n   int
	}
	var want []stored
	out := map[string]string{}
	for _, p := range limitProbes() {
		name := p.name + " (PutRecord)"
		if !p.many {
			_, err := c.PutRecord(ctx(t), &kinesis.PutRecordInput{StreamName: aws.String(stream), PartitionKey: aws.String(p.key), Data: make([]byte, p.data)})
			out[name] = "ok"
			if err != nil {
				out[name] = errCode(err)
			}
			if err == nil {
				want = append(want, stored{p.key, p.data})
			}
			continue
		}
		name = p.name + " (PutRecords)"
		res, err := c.PutRecords(ctx(t), &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: []types.PutRecordsRequestEntry{
			{PartitionKey: aws.String("ok"), Data: []byte("x")},
			{PartitionKey: aws.String(p.key), Data: make([]byte, p.data)},
		}})
		switch {
		case err != nil:
			out[name] = errCode(err)
		case len(res.Records) != 2 || res.Records[0].ErrorCode != nil:
			t.Fatalf("%s: PutRecords answered %+v", name, res.Records)
		case res.Records[1].ErrorCode != nil:
			out[name] = "entry " + aws.ToString(res.Records[1].ErrorCode)
			want = append(want, stored{"ok", 1})
		default:
			out[name] = "ok"
			want = append(want, stored{"ok", 1}, stored{p.key, p.data})
		}
	}
	recs, _ := readShard(t, c, iter(t, c, stream, "shardId-000000000000", types.ShardIteratorTypeTrimHorizon, nil))
	var got []stored
	for _, r := range recs {
		got = append(got, stored{aws.ToString(r.PartitionKey), len(r.Data)})
	}
	if !slices.Equal(want, got) {
		t.Errorf("%d records read back differ from the %d put", len(got), len(want))
	}
	return out
}

// TestRecordLimits puts records at the edge of the key and data limits
// into this server, kinesalite and kinesis-mock, and requires each to
// answer as recorded here: this server as Kinesis documents, the
// emulators with their known differences.
//
// All three count a partition key's length in UTF-16 code units, as Java
// and JavaScript strings do (an emoji counts 2), not in bytes: 256 é or
// 128 emoji are accepted, 257 é or 129 emoji refused, and a refused key
// refuses the whole PutRecords call. This server counts a record's size
// as data plus partition key in bytes, as Kinesis documents its 1 MiB
// limit; both emulators count the data alone. Over 1 MiB of data,
// kinesis-mock refuses with InvalidArgumentException, and fails only the
// entry in PutRecords.
func TestRecordLimits(t *testing.T) {
	want := map[string]string{}
	for _, p := range limitProbes() {
		api := " (PutRecord)"
		if p.many {
			api = " (PutRecords)"
		}
		want[p.name+api] = "ok"
	}
	for _, name := range []string{"key empty", "key 257 ASCII", "key 257 é", "key 257 €", "key 129 emoji (258 UTF-16 units)", "data 1 MiB + key a", "data 1 MiB - 1 + key é", "data 1 MiB + 1 + key a"} {
		want[name+" (PutRecord)"] = errValidation
		want[name+" (PutRecords)"] = errValidation
	}
	byTarget := map[string]map[string]string{
		"fakekinesis":  want,
		"kinesalite":   maps.Clone(want),
		"kinesis-mock": maps.Clone(want),
	}
	for _, tg := range []string{"kinesalite", "kinesis-mock"} {
		// The data alone counts.
		for _, name := range []string{"data 1 MiB + key a", "data 1 MiB - 1 + key é"} {
			byTarget[tg][name+" (PutRecord)"] = "ok"
			byTarget[tg][name+" (PutRecords)"] = "ok"
		}
	}
	for name, code := range byTarget["kinesis-mock"] {
		if code == errValidation {
			byTarget["kinesis-mock"][name] = errInvalidArgument
		}
	}
	byTarget["kinesis-mock"]["data 1 MiB + 1 + key a (PutRecords)"] = "entry " + errInvalidArgument
	for _, tg := range targets(t) {
		t.Run(tg.name, func(t *testing.T) {
			got := probeLimits(t, tg.client, kinesistest.StreamName(t))
			if diff := cmp.Diff(byTarget[tg.name], got); diff != "" {
				t.Errorf("%s answers differ (-want +got):\n%s", tg.name, diff)
			}
		})
	}
}
