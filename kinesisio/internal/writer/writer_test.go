package writer

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
	"github.com/google/go-cmp/cmp"
	"github.com/kinesisio/beam-kinesis/internal/awsclient"
	"github.com/kinesisio/beam-kinesis/internal/backoff"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/ratelimit"
)

// fakeWriteAPI is an in-memory stream of one shard. Its hooks decide
// which calls and entries fail; what succeeds is appended to log in the
// order the fake "commits" it.
type fakeWriteAPI struct {
	mu    sync.Mutex
	calls []callRecord
	log   []types.PutRecordsRequestEntry
	seq   int
	// callErr, if set, may fail call n (0-based) as a whole.
	callErr func(n int) error
	// entryErr, if set, may fail entry i of call n with an error code.
	// failedKeys holds the keys that already failed earlier in the call.
	entryErr func(n, i int, e types.PutRecordsRequestEntry, failedKeys map[string]bool) string
	// recordErr, if set, may fail try (0-based) of a PutRecord call.
	recordErr func(in *kinesis.PutRecordInput, try int) error
	tries     map[string]int
	// lastByKey, for PutRecord, checks the chaining.
	lastByKey   map[string]string
	badChaining []string
	// refuse, if set, may refuse a PutRecords call as a whole before any
	// of it is applied, as the SDK's validation or the service does for a
	// malformed request.
	refuse func(*kinesis.PutRecordsInput) error
}

type callRecord struct {
	entries int
	bytes   int
}

func (f *fakeWriteAPI) PutRecords(ctx context.Context, in *kinesis.PutRecordsInput, _ ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := len(f.calls)
	size := 0
	for _, e := range in.Records {
		size += len(e.Data) + len(aws.ToString(e.PartitionKey))
	}
	f.calls = append(f.calls, callRecord{entries: len(in.Records), bytes: size})
	if f.refuse != nil {
		if err := f.refuse(in); err != nil {
			return nil, err
		}
	}
	if f.callErr != nil {
		if err := f.callErr(n); err != nil {
			return nil, err
		}
	}
	out := &kinesis.PutRecordsOutput{}
	failedKeys := map[string]bool{}
	for i, e := range in.Records {
		if f.entryErr != nil {
			if code := f.entryErr(n, i, e, failedKeys); code != "" {
				failedKeys[aws.ToString(e.PartitionKey)] = true
				out.Records = append(out.Records, types.PutRecordsResultEntry{ErrorCode: aws.String(code), ErrorMessage: aws.String("injected")})
				out.FailedRecordCount = aws.Int32(aws.ToInt32(out.FailedRecordCount) + 1)
				continue
			}
		}
		f.seq++
		f.log = append(f.log, e)
		out.Records = append(out.Records, types.PutRecordsResultEntry{ShardId: aws.String("shardId-000000000000"), SequenceNumber: aws.String(strconv.Itoa(f.seq))})
	}
	return out, nil
}

func (f *fakeWriteAPI) PutRecord(ctx context.Context, in *kinesis.PutRecordInput, _ ...func(*kinesis.Options)) (*kinesis.PutRecordOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	n := len(f.calls)
	f.calls = append(f.calls, callRecord{entries: 1, bytes: len(in.Data) + len(aws.ToString(in.PartitionKey))})
	key := aws.ToString(in.PartitionKey)
	if got, want := aws.ToString(in.SequenceNumberForOrdering), f.lastByKey[key]; got != want {
		f.badChaining = append(f.badChaining, fmt.Sprintf("key %s: SequenceNumberForOrdering %q, want %q", key, got, want))
	}
	if f.callErr != nil {
		if err := f.callErr(n); err != nil {
			return nil, err
		}
	}
	if f.recordErr != nil {
		if f.tries == nil {
			f.tries = map[string]int{}
		}
		try := f.tries[string(in.Data)]
		f.tries[string(in.Data)]++
		if err := f.recordErr(in, try); err != nil {
			return nil, err
		}
	}
	f.seq++
	seq := strconv.Itoa(f.seq)
	if f.lastByKey == nil {
		f.lastByKey = map[string]string{}
	}
	f.lastByKey[key] = seq
	f.log = append(f.log, types.PutRecordsRequestEntry{Data: in.Data, PartitionKey: in.PartitionKey})
	return &kinesis.PutRecordOutput{ShardId: aws.String("shardId-000000000000"), SequenceNumber: aws.String(seq)}, nil
}

func (f *fakeWriteAPI) ListShards(context.Context, *kinesis.ListShardsInput, ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error) {
	return &kinesis.ListShardsOutput{Shards: []types.Shard{{
		ShardId:             aws.String("shardId-000000000000"),
		HashKeyRange:        &types.HashKeyRange{StartingHashKey: aws.String("0"), EndingHashKey: aws.String("340282366920938463463374607431768211455")},
		SequenceNumberRange: &types.SequenceNumberRange{StartingSequenceNumber: aws.String("1")},
	}}}, nil
}

func testWriterConfig(lanes int) writerConfig {
	return writerConfig{
		stream:         awsclient.Stream{Name: "s"},
		settings:       awsclient.Settings{Region: "us-east-1"},
		maxAttempts:    5,
		backoff:        backoff.Policy{Base: time.Microsecond, Max: time.Millisecond},
		emitFailed:     true,
		lanes:          lanes,
		maxRecordBytes: DefaultMaxRecordBytes,
		maxBatchBytes:  DefaultMaxBatchBytes,
		explain:        testExplain,
	}
}

// testExplain stands for kinesisio's explain, which turns a permanent
// error into one that says what to fix (tested in package kinesisio).
func testExplain(err error) error { return fmt.Errorf("explained: %w", err) }

// runWriter writes recs as one bundle and returns the results and the
// bundle's error.
func runWriter(t *testing.T, cfg writerConfig, api API, recs []Record) ([]Result, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	w := newWriter(cfg, api)
	w.Start(ctx)
	var res []Result
	for i, r := range recs {
		if err := w.Add(mtime.Time(i), r); err != nil {
			w.Abort()
			return append(res, w.TakeResults()...), err
		}
		res = append(res, w.TakeResults()...)
	}
	err := w.Finish()
	return append(res, w.TakeResults()...), err
}

// keyed returns n records spread over keys, with data "key/i" where i
// counts the records of the key.
func keyed(n, keys int) []Record {
	count := map[string]int{}
	var recs []Record
	for i := range n {
		k := fmt.Sprintf("key-%d", i%keys)
		recs = append(recs, Record{PartitionKey: k, Data: fmt.Appendf(nil, "%s/%06d", k, count[k])})
		count[k]++
	}
	return recs
}

// checkKeyOrder checks that log holds each key's records in order, with
// none missing or repeated.
func checkKeyOrder(t *testing.T, log []types.PutRecordsRequestEntry, want []Record) {
	t.Helper()
	got := map[string][]string{}
	for _, e := range log {
		got[aws.ToString(e.PartitionKey)] = append(got[aws.ToString(e.PartitionKey)], string(e.Data))
	}
	exp := map[string][]string{}
	for _, r := range want {
		exp[r.PartitionKey] = append(exp[r.PartitionKey], string(r.Data))
	}
	if diff := cmp.Diff(exp, got); diff != "" {
		t.Errorf("records per key in the stream differ (-want +got):\n%s", diff)
	}
}

func TestWriterSplitsCallsAtTheLimits(t *testing.T) {
	api := &fakeWriteAPI{}
	// 1,201 small records, then 11 records of 1000 KiB, then 5 of exactly
	// 1 MiB (data + key), which fit one 5 MiB call.
	recs := keyed(1201, 1)
	for i := range 11 {
		recs = append(recs, Record{PartitionKey: "big", Data: bytes.Repeat([]byte{byte(i)}, 1000<<10)})
	}
	for i := range 5 {
		recs = append(recs, Record{PartitionKey: "max", Data: bytes.Repeat([]byte{byte(i)}, 1<<20-3)})
	}
	res, err := runWriter(t, testWriterConfig(1), api, recs)
	if err != nil {
		t.Fatal(err)
	}
	if len(res) != len(recs) {
		t.Fatalf("%d results for %d records", len(res), len(recs))
	}
	var sizes []int
	for _, c := range api.calls {
		if c.entries > 500 || c.bytes > 5<<20 {
			t.Errorf("call of %d records and %d bytes exceeds the limits", c.entries, c.bytes)
		}
		sizes = append(sizes, c.entries)
	}
	// 500, 500, then 201 small + 5 big (a 6th would pass 5 MiB), 5 big,
	// 1 big + 4 max, 1 max.
	want := []int{500, 500, 206, 5, 5, 1}
	if diff := cmp.Diff(want, sizes); diff != "" {
		t.Errorf("call sizes (-want +got):\n%s", diff)
	}
	checkKeyOrder(t, api.log, recs)
}

func TestWriterRetriesOnlyFailedEntriesInKeyOrder(t *testing.T) {
	// In the first 6 calls, an entry fails with a probability of 1/4, and
	// once an entry of a key failed, the key's later entries in the call
	// fail too (as when a shard runs out of quota).
	api := &fakeWriteAPI{entryErr: func(n, i int, e types.PutRecordsRequestEntry, failed map[string]bool) string {
		if n >= 6 {
			return ""
		}
		if failed[aws.ToString(e.PartitionKey)] || (i*7+n)%4 == 0 {
			return "ProvisionedThroughputExceededException"
		}
		return ""
	}}
	recs := keyed(3000, 7)
	cfg := testWriterConfig(4)
	cfg.maxAttempts = 10 // more than the failing calls: none runs out
	res, err := runWriter(t, cfg, api, recs)
	if err != nil {
		t.Fatal(err)
	}
	written := 0
	for _, r := range res {
		if r.OK() {
			written++
		}
	}
	if written != len(recs) {
		t.Errorf("%d of %d records written", written, len(recs))
	}
	checkKeyOrder(t, api.log, recs)
	total := 0
	for _, c := range api.calls {
		total += c.entries
	}
	if total <= len(recs) || len(api.calls) <= 6 {
		t.Errorf("%d entries in %d calls: no retries", total, len(api.calls))
	}
}

func TestWriterAttemptsExhausted(t *testing.T) {
	newAPI := func() *fakeWriteAPI {
		return &fakeWriteAPI{entryErr: func(_, _ int, e types.PutRecordsRequestEntry, _ map[string]bool) string {
			if aws.ToString(e.PartitionKey) == "bad" {
				return "InternalFailure"
			}
			return ""
		}}
	}
	recs := append(keyed(100, 3), Record{PartitionKey: "bad", Data: []byte("x")}, Record{PartitionKey: "bad", Data: []byte("y")})

	// EmitFailed: the two records fail after 5 attempts; the rest is
	// written.
	api := newAPI()
	res, err := runWriter(t, testWriterConfig(2), api, recs)
	if err != nil {
		t.Fatal(err)
	}
	var failed []Failed
	for _, r := range res {
		if !r.OK() {
			failed = append(failed, *r.Failed)
		}
	}
	if len(failed) != 2 || len(res) != len(recs) {
		t.Fatalf("got %d results, %d failed; want %d, 2", len(res), len(failed), len(recs))
	}
	for _, f := range failed {
		if f.ErrorCode != "InternalFailure" || f.Attempts != 5 || f.Record.PartitionKey != "bad" {
			t.Errorf("failed record %+v", f)
		}
	}
	checkKeyOrder(t, api.log, recs[:100])

	// FailBundle: the bundle fails after the rest was written.
	cfg := testWriterConfig(2)
	cfg.emitFailed = false
	api = newAPI()
	res, err = runWriter(t, cfg, api, recs)
	if err == nil || !strings.Contains(err.Error(), "2 record(s) could not be written") || !strings.Contains(err.Error(), "InternalFailure after 5 attempt(s)") {
		t.Errorf("FailBundle error = %v", err)
	}
	if len(api.log) != 100 || len(res) != 100 {
		t.Errorf("FailBundle wrote %d records and emitted %d, want 100", len(api.log), len(res))
	}
}

func TestWriterWholeCallErrors(t *testing.T) {
	// Transient errors are retried, counted as attempts.
	fails := []error{
		&types.ProvisionedThroughputExceededException{Message: aws.String("slow down")},
		&types.InternalFailureException{Message: aws.String("oops")},
		fmt.Errorf("read: %w", errors.New("connection reset by peer")),
	}
	api := &fakeWriteAPI{callErr: func(n int) error {
		if n < len(fails) {
			return fails[n]
		}
		return nil
	}}
	recs := keyed(10, 2)
	cfg := testWriterConfig(1)
	w := newWriter(cfg, api)
	w.Start(context.Background())
	for _, r := range recs {
		if err := w.Add(0, r); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Finish(); err != nil {
		t.Fatal(err)
	}
	res := w.TakeResults()
	if len(res) != 10 || !res[0].OK() || res[0].Written.Attempts != 4 {
		t.Errorf("results %+v", res[:1])
	}
	if n := w.stats.Retries.Load(); n != 30 {
		t.Errorf("retries = %d, want 30 (10 records x 3 failed calls)", n)
	}
	if n := w.stats.Throttled.Load(); n != 10 {
		t.Errorf("throttled = %d, want 10", n)
	}
	checkKeyOrder(t, api.log, recs)

	// Exhausted on whole-call errors: the code of the last call.
	api = &fakeWriteAPI{callErr: func(int) error {
		return &types.ProvisionedThroughputExceededException{Message: aws.String("slow down")}
	}}
	res, err := runWriter(t, cfg, api, recs[:1])
	if err != nil || len(res) != 1 || res[0].Failed.ErrorCode != "ProvisionedThroughputExceededException" || res[0].Failed.Attempts != 5 {
		t.Errorf("exhausted: %+v, %v", res, err)
	}

	// Permanent errors fail the bundle at once, saying what to do.
	api = &fakeWriteAPI{callErr: func(int) error { return &types.AccessDeniedException{Message: aws.String("denied")} }}
	_, err = runWriter(t, cfg, api, keyed(1200, 3))
	var denied *types.AccessDeniedException
	if !errors.As(err, &denied) || !strings.Contains(err.Error(), "explained") {
		t.Errorf("access denied: error %v", err)
	}
	if len(api.calls) != 1 {
		t.Errorf("access denied: %d calls, want 1", len(api.calls))
	}
	api = &fakeWriteAPI{callErr: func(int) error { return &types.ResourceNotFoundException{Message: aws.String("no")} }}
	_, err = runWriter(t, cfg, api, keyed(3, 3))
	var notFound *types.ResourceNotFoundException
	if !errors.As(err, &notFound) || !strings.Contains(err.Error(), "explained") {
		t.Errorf("not found: error %v", err)
	}
}

func TestWriterRefusesInvalidRecords(t *testing.T) {
	api := &fakeWriteAPI{}
	recs := []Record{
		{PartitionKey: "ok", Data: []byte("a")},
		{PartitionKey: "", Data: []byte("b")},
		{PartitionKey: strings.Repeat("k", 257), Data: []byte("c")},
		{PartitionKey: strings.Repeat("é", 256), Data: []byte("d")}, // 256 characters, 512 bytes: valid
		{PartitionKey: strings.Repeat("😀", 129), Data: []byte("e")},
		{PartitionKey: "\xff", Data: []byte("f")},
		{PartitionKey: "ok", ExplicitHashKey: "340282366920938463463374607431768211456", Data: []byte("g")},
		{PartitionKey: "ok", ExplicitHashKey: "-1", Data: []byte("h")},
		{PartitionKey: "ok", ExplicitHashKey: "340282366920938463463374607431768211455", Data: []byte("i")},
		{PartitionKey: "ok", Data: make([]byte, 1<<20-2)},  // exactly 1 MiB with the key: valid
		{PartitionKey: "ok!", Data: make([]byte, 1<<20-2)}, // 1 MiB + 1
	}
	res, err := runWriter(t, testWriterConfig(1), api, recs)
	if err != nil {
		t.Fatal(err)
	}
	codes := map[string]string{}
	for _, r := range res {
		if r.OK() {
			codes[string(api.logData(r.Written.SequenceNumber))] = "written"
		} else {
			d := string(r.Failed.Record.Data)
			if len(d) > 1 {
				d = fmt.Sprintf("%d bytes", len(r.Failed.Record.Data)+len(r.Failed.Record.PartitionKey))
			}
			codes[d] = r.Failed.ErrorCode
			if r.Failed.Attempts != 0 {
				t.Errorf("invalid record %q sent %d times", d, r.Failed.Attempts)
			}
		}
	}
	want := map[string]string{
		"a": "written", "b": ErrCodeInvalidPartitionKey, "c": ErrCodeInvalidPartitionKey, "d": "written",
		"e": ErrCodeInvalidPartitionKey, "f": ErrCodeInvalidPartitionKey, "g": ErrCodeInvalidExplicitHashKey,
		"h": ErrCodeInvalidExplicitHashKey, "i": "written", fmt.Sprint(1 << 20): "written", fmt.Sprintf("%d bytes", 1<<20+1): ErrCodeRecordTooLarge,
	}
	if diff := cmp.Diff(want, codes); diff != "" {
		t.Errorf("outcomes (-want +got):\n%s", diff)
	}
}

// logData returns the data of the record with sequence number seq.
func (f *fakeWriteAPI) logData(seq string) []byte {
	n, _ := strconv.Atoi(seq)
	d := f.log[n-1].Data
	if len(d) > 1 {
		return []byte(fmt.Sprint(len(d) + len(aws.ToString(f.log[n-1].PartitionKey))))
	}
	return d
}

func TestWriterStrictOrderingChainsSequenceNumbers(t *testing.T) {
	// Every record ending in 1 or 7 is throttled twice before it passes.
	api := &fakeWriteAPI{recordErr: func(in *kinesis.PutRecordInput, try int) error {
		if d := in.Data[len(in.Data)-1]; (d == '1' || d == '7') && try < 2 {
			return &types.ProvisionedThroughputExceededException{Message: aws.String("slow down")}
		}
		return nil
	}}
	cfg := testWriterConfig(3)
	cfg.strict = true
	recs := keyed(300, 5)
	res, err := runWriter(t, cfg, api, recs)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range res {
		if !r.OK() {
			t.Errorf("failed: %+v", r.Failed)
		}
	}
	if len(res) != 300 || len(api.calls) != 300+2*60 {
		t.Errorf("%d results in %d calls, want 300 in 420", len(res), len(api.calls))
	}
	if len(api.badChaining) > 0 {
		t.Errorf("sequence numbers not chained: %v", api.badChaining[:min(5, len(api.badChaining))])
	}
	checkKeyOrder(t, api.log, recs)
}

func TestWriterShardRateLimit(t *testing.T) {
	api := &fakeWriteAPI{}
	cfg := testWriterConfig(1)
	cfg.limits = &shardLimits{shards: &streamShards{stream: cfg.stream}, lim: ratelimit.NewLimiter(1000, 1<<20)}
	cfg.shards = cfg.limits.shards
	start := time.Now()
	// 1,000 records pass at once (the burst); 500 more wait half a second.
	if _, err := runWriter(t, cfg, api, keyed(1500, 10)); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 400*time.Millisecond || d > 5*time.Second {
		t.Errorf("1,500 records on one shard took %v, want about 500ms", d)
	}
	if cfg.shards.m == nil || cfg.shards.m.Len() != 1 {
		t.Errorf("shard map not loaded")
	}
	// A record landing elsewhere than predicted marks the map stale.
	cfg.shards.observe("shardId-000000000000", "shardId-000000000001")
	if !cfg.shards.isStale() {
		t.Error("map not stale after an unexpected shard")
	}
}

func TestBackoffIsBoundedFullJitter(t *testing.T) {
	w := newWriter(writerConfig{backoff: backoff.Policy{Base: 10 * time.Millisecond, Max: 300 * time.Millisecond}, lanes: 1}, nil)
	for round := 1; round <= 100; round++ {
		ceiling := 300 * time.Millisecond
		if round < 10 {
			ceiling = min(ceiling, 10*time.Millisecond<<(round-1))
		}
		for range 20 {
			if d := w.cfg.backoff.Delay(round); d < 0 || d > ceiling {
				t.Fatalf("backoff(%d) = %v, want within [0, %v]", round, d, ceiling)
			}
		}
	}
}

// TestWriterOneBadRecordNeverFailsItsCall: a call refused as malformed as
// a whole (the SDK's validation, as for a nil Data, or the service's) that
// names the record at fault fails that record at once with the call's
// error and sends the others again at once, charged one attempt; a
// refusal that names no record fails the bundle. A nil Data (what the
// Record coder decodes empty data to) is sent as empty.
func TestWriterOneBadRecordNeverFailsItsCall(t *testing.T) {
	// sdkRefusal refuses a call as the SDK's validation does: nil Data,
	// and (standing for any other field it checks) data "sdk-poison".
	sdkRefusal := func(in *kinesis.PutRecordsInput) error {
		params := smithy.InvalidParamsError{Context: "PutRecordsInput"}
		for i, e := range in.Records {
			if e.Data == nil || string(e.Data) == "sdk-poison" {
				params.Add(smithy.NewErrParamRequired(fmt.Sprintf("Records[%d].Data", i)))
			}
		}
		if params.Len() > 0 {
			return &smithy.OperationError{ServiceID: "Kinesis", OperationName: "PutRecords", Err: params}
		}
		return nil
	}
	// serviceRefusal refuses it as Kinesis (and kinesalite) word it.
	serviceRefusal := func(in *kinesis.PutRecordsInput) error {
		for i, e := range in.Records {
			if string(e.Data) == "poison" {
				return &smithy.GenericAPIError{Code: "ValidationException", Message: fmt.Sprintf("1 validation error detected: Value at 'records.%d.member.data' failed to satisfy constraint", i)}
			}
		}
		return nil
	}
	for _, tc := range []struct {
		name     string
		refuse   func(*kinesis.PutRecordsInput) error
		bad      Record
		wantFail string // error code of the bad record, "" if it is written
	}{
		{"nil data", sdkRefusal, Record{PartitionKey: "k"}, ""},
		{"refused by the SDK", sdkRefusal, Record{PartitionKey: "k", Data: []byte("sdk-poison")}, "InvalidParameter"},
		{"refused by the service", serviceRefusal, Record{PartitionKey: "k", Data: []byte("poison")}, "ValidationException"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			api := &fakeWriteAPI{refuse: tc.refuse}
			recs := keyed(499, 7)
			recs = append(recs[:200], append([]Record{tc.bad}, recs[200:]...)...)
			cfg := testWriterConfig(1)
			cfg.maxAttempts = 3
			res, err := runWriter(t, cfg, api, recs)
			if err != nil {
				t.Fatal(err)
			}
			var written, failed int
			for _, r := range res {
				if r.OK() {
					written++
					if r.Written.Attempts != 1 {
						t.Errorf("record of key %s written after %d attempts, want 1", r.Written.PartitionKey, r.Written.Attempts)
					}
					continue
				}
				failed++
				if r.Failed.ErrorCode != tc.wantFail || r.Failed.Attempts != 1 {
					t.Errorf("failed record %q: code %q after %d attempts, want %q after 1", r.Failed.Record.Data, r.Failed.ErrorCode, r.Failed.Attempts, tc.wantFail)
				}
			}
			wantWritten, wantFailed, wantCalls := 500, 0, 1
			if tc.wantFail != "" {
				wantWritten, wantFailed, wantCalls = 499, 1, 2
			}
			if written != wantWritten || failed != wantFailed {
				t.Errorf("written %d, failed %d; want %d and %d", written, failed, wantWritten, wantFailed)
			}
			if n := callCount(api); n != wantCalls {
				t.Errorf("%d calls, want %d", n, wantCalls)
			}
			want := recs
			if tc.wantFail != "" {
				want = append(recs[:200:200], recs[201:]...)
			}
			checkKeyOrder(t, api.log, want)
		})
	}

	// A refusal naming no record is the call's: the bundle fails at once.
	api := &fakeWriteAPI{refuse: func(*kinesis.PutRecordsInput) error {
		return &types.InvalidArgumentException{Message: aws.String("StreamARN has an invalid format")}
	}}
	_, err := runWriter(t, testWriterConfig(1), api, keyed(500, 7))
	if err == nil || !strings.Contains(err.Error(), "StreamARN has an invalid format") {
		t.Errorf("call refused without naming a record: error %v, want the bundle failed with the refusal", err)
	}
	if n := callCount(api); n != 1 {
		t.Errorf("call refused without naming a record: %d calls, want 1", n)
	}
}

func callCount(api *fakeWriteAPI) int {
	api.mu.Lock()
	defer api.mu.Unlock()
	return len(api.calls)
}

func TestWriterLargeRecordStreams(t *testing.T) {
	// As WithMaxRecordSize(4 MiB) configures it (write_option_internal_test.go).
	cfg := testWriterConfig(1)
	cfg.maxRecordBytes, cfg.maxBatchBytes = 4<<20, LargeMaxBatchBytes
	api := &fakeWriteAPI{}
	recs := []Record{
		{PartitionKey: "a", Data: make([]byte, 3<<20)},
		{PartitionKey: "a", Data: make([]byte, 3<<20)},
		{PartitionKey: "a", Data: make([]byte, 3<<20)},
		{PartitionKey: "a", Data: make([]byte, 3<<20)},
		{PartitionKey: "a", Data: make([]byte, 5<<20)},
	}
	res, err := runWriter(t, cfg, api, recs)
	if err != nil {
		t.Fatal(err)
	}
	var sizes []int
	for _, c := range api.calls {
		sizes = append(sizes, c.entries)
	}
	written, tooLarge := 0, 0
	for _, r := range res {
		if r.OK() {
			written++
		} else if r.Failed.ErrorCode == ErrCodeRecordTooLarge {
			tooLarge++
		}
	}
	if written != 4 || tooLarge != 1 {
		t.Errorf("%d written and %d too large, want 4 and 1 (the 5 MiB record)", written, tooLarge)
	}
	if fmt.Sprint(sizes) != "[3 1]" {
		t.Errorf("calls of %v records, want [3 1] (10 MiB per call)", sizes)
	}
}
