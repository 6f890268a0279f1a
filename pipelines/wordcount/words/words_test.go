package words

import (
	"context"
	"errors"
	"fmt"
	"math"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/google/go-cmp/cmp"
	"github.com/kinesisio/beam-kinesis/testing/emulators"
	"github.com/kinesisio/beam-kinesis/testing/fakekinesis"
	"github.com/kinesisio/beam-kinesis/testing/kinesistest"
)

func TestMain(m *testing.M) {
	emulators.UseTestCredentials()
	os.Exit(m.Run())
}

func TestVocabulary(t *testing.T) {
	if len(Vocabulary) != 50 {
		t.Errorf("%d words, want 50", len(Vocabulary))
	}
	seen := map[string]bool{}
	for _, w := range Vocabulary {
		if seen[w] {
			t.Errorf("%q twice", w)
		}
		seen[w] = true
		if got := Split([]byte(w)); len(got) != 1 || got[0] != w {
			t.Errorf("Split(%q) = %q", w, got)
		}
	}
}

func TestSplit(t *testing.T) {
	for in, want := range map[string][]string{
		"the of and":                 {"the", "of", "and"},
		"  The, OF;and\n":            {"the", "of", "and"},
		"don't stop-me now 42 times": {"don't", "stop", "me", "now", "42", "times"},
		"":                           nil,
		"... !":                      nil,
		"héllo wörld":                {"héllo", "wörld"},
	} {
		if got := Split([]byte(in)); !slices.Equal(got, want) {
			t.Errorf("Split(%q) = %q, want %q", in, got, want)
		}
	}
	ws := []string{"the", "of", "a"}
	if got := Split(Join(ws)); !slices.Equal(got, ws) {
		t.Errorf("Split(Join(%q)) = %q", ws, got)
	}
}

func TestNewProducerChecksConfig(t *testing.T) {
	c := &fakeAPI{}
	ok := Config{Stream: "s", Rate: 10, WordsPerRecord: 1}
	for name, mod := range map[string]func(*Config){
		"no stream":      func(c *Config) { c.Stream = "" },
		"zero rate":      func(c *Config) { c.Rate = 0 },
		"negative rate":  func(c *Config) { c.Rate = -1 },
		"no words":       func(c *Config) { c.WordsPerRecord = 0 },
		"huge records":   func(c *Config) { c.WordsPerRecord = 1 << 20 },
		"negative count": func(c *Config) { c.Count = -1 },
		"negative time":  func(c *Config) { c.Duration = -time.Second },
		"negative tries": func(c *Config) { c.MaxAttempts = -1 },
		"infinite rate":  func(c *Config) { c.Rate = math.Inf(1) },
		"NaN rate":       func(c *Config) { c.Rate = math.NaN() },
	} {
		cfg := ok
		mod(&cfg)
		if _, err := NewProducer(c, cfg); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
	if _, err := NewProducer(nil, ok); err == nil {
		t.Error("nil client: no error")
	}
	if _, err := NewProducer(c, ok); err != nil {
		t.Errorf("valid config: %v", err)
	}
}

func TestTarget(t *testing.T) {
	for _, tc := range []struct {
		cfg  Config
		want int64
	}{
		{Config{Rate: 100, Duration: 10 * time.Second}, 1000},
		{Config{Rate: 2.5, Duration: 3 * time.Second}, 7},
		{Config{Rate: 100, Count: 30}, 30},
		{Config{Rate: 100, Count: 30, Duration: 10 * time.Second}, 30},
		{Config{Rate: 100, Count: 3000, Duration: 10 * time.Second}, 1000},
		{Config{Rate: 100}, -1},
	} {
		tc.cfg.Stream, tc.cfg.WordsPerRecord = "s", 1
		p, err := NewProducer(&fakeAPI{}, tc.cfg)
		if err != nil {
			t.Fatal(err)
		}
		if got := p.Target(); got != tc.want {
			t.Errorf("Target of %+v = %d, want %d", tc.cfg, got, tc.want)
		}
	}
}

// fakeAPI stores records in memory and fails the entries fail says to.
type fakeAPI struct {
	mu     sync.Mutex
	calls  int
	stored [][]byte
	keys   []string
	// fail reports whether the i-th entry of call number call (from 1)
	// fails.
	fail func(call, i int) bool
	// err, when set, fails every call as a whole.
	err error
}

func (f *fakeAPI) PutRecords(ctx context.Context, in *kinesis.PutRecordsInput, _ ...func(*kinesis.Options)) (*kinesis.PutRecordsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.calls++
	if f.err != nil {
		return nil, f.err
	}
	if len(in.Records) > maxBatchRecords {
		return nil, fmt.Errorf("%d records in one call", len(in.Records))
	}
	out := &kinesis.PutRecordsOutput{}
	for i, e := range in.Records {
		if f.fail != nil && f.fail(f.calls, i) {
			out.Records = append(out.Records, types.PutRecordsResultEntry{ErrorCode: aws.String("ProvisionedThroughputExceededException"), ErrorMessage: aws.String("slow down")})
			out.FailedRecordCount = aws.Int32(aws.ToInt32(out.FailedRecordCount) + 1)
			continue
		}
		f.stored = append(f.stored, e.Data)
		f.keys = append(f.keys, aws.ToString(e.PartitionKey))
		out.Records = append(out.Records, types.PutRecordsResultEntry{ShardId: aws.String("shardId-000000000000"), SequenceNumber: aws.String(fmt.Sprint(len(f.stored)))})
	}
	return out, nil
}

// countStored counts the words of the records f stored.
func (f *fakeAPI) countStored() map[string]int64 {
	f.mu.Lock()
	defer f.mu.Unlock()
	counts := map[string]int64{}
	for _, d := range f.stored {
		for _, w := range Split(d) {
			counts[w]++
		}
	}
	return counts
}

func TestProducerRetriesFailedEntries(t *testing.T) {
	// Every third entry of the odd calls fails.
	api := &fakeAPI{fail: func(call, i int) bool { return call%2 == 1 && i%3 == 0 }}
	p, err := NewProducer(api, Config{Stream: "s", Rate: 2000, WordsPerRecord: 4, Count: 1200, Seed: 3})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := p.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Records != 1200 || len(api.stored) != 1200 {
		t.Fatalf("%d records acknowledged, %d stored; want 1200", res.Records, len(api.stored))
	}
	if res.Retried == 0 {
		t.Error("no entry was retried")
	}
	if diff := cmp.Diff(api.countStored(), res.Words); diff != "" {
		t.Errorf("Words differ from what was stored (-stored +reported):\n%s", diff)
	}
	if got := res.TotalWords(); got != 4800 {
		t.Errorf("TotalWords = %d, want 4800", got)
	}
	if s := p.Stats(); s.Records != 1200 || s.Words != 4800 || s.Retried != res.Retried {
		t.Errorf("Stats = %+v", s)
	}
}

func TestProducerGivesUp(t *testing.T) {
	api := &fakeAPI{fail: func(call, i int) bool { return i == 0 }} // the first entry always fails
	p, err := NewProducer(api, Config{Stream: "s", Rate: 100, WordsPerRecord: 1, Count: 5, MaxAttempts: 3})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := p.Run(ctx)
	if err == nil || !strings.Contains(err.Error(), "after 3 attempts") {
		t.Fatalf("err = %v, want a give-up after 3 attempts", err)
	}
	if res.Records != int64(len(api.stored)) || res.TotalWords() != int64(len(api.stored)) {
		t.Errorf("reported %d records, %d words; %d stored", res.Records, res.TotalWords(), len(api.stored))
	}
}

func TestProducerCallFailure(t *testing.T) {
	api := &fakeAPI{err: errors.New("connection refused")}
	p, err := NewProducer(api, Config{Stream: "s", Rate: 100, WordsPerRecord: 1, Count: 5})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	res, err := p.Run(ctx)
	if err == nil || !errors.Is(err, api.err) {
		t.Fatalf("err = %v, want it to wrap %v", err, api.err)
	}
	if res.Records != 0 || res.Uncertain == 0 {
		t.Errorf("Records = %d, Uncertain = %d; want 0 and > 0", res.Records, res.Uncertain)
	}
}

func TestProducerDeterministic(t *testing.T) {
	run := func(seed uint64) *fakeAPI {
		api := &fakeAPI{}
		p, err := NewProducer(api, Config{Stream: "s", Rate: 10000, WordsPerRecord: 3, Count: 300, Seed: seed})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := p.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		return api
	}
	a, b, c := run(1), run(1), run(2)
	if !cmp.Equal(a.stored, b.stored) || !cmp.Equal(a.keys, b.keys) {
		t.Error("the same seed put different records")
	}
	if cmp.Equal(a.stored, c.stored) {
		t.Error("different seeds put the same records")
	}
	// Zipf-like: "the" is the most frequent word.
	counts := a.countStored()
	for w, n := range counts {
		if n > counts["the"] {
			t.Errorf("%q (%d) more frequent than \"the\" (%d)", w, n, counts["the"])
		}
	}
}

func TestProducerPacesAndStops(t *testing.T) {
	api := &fakeAPI{}
	p, err := NewProducer(api, Config{Stream: "s", Rate: 400, WordsPerRecord: 2, Duration: 500 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	res, err := p.Run(context.Background())
	elapsed := time.Since(start)
	if err != nil {
		t.Fatal(err)
	}
	if res.Records != 200 {
		t.Errorf("%d records, want 200", res.Records)
	}
	if elapsed < 450*time.Millisecond || elapsed > 3*time.Second {
		t.Errorf("ran %v, want about 500ms", elapsed)
	}
	if api.calls < 4 {
		t.Errorf("%d PutRecords calls: not paced over time", api.calls)
	}
	if _, err := p.Run(context.Background()); err == nil {
		t.Error("second Run: no error")
	}
}

func TestProducerCancelled(t *testing.T) {
	api := &fakeAPI{}
	p, err := NewProducer(api, Config{Stream: "s", Rate: 1000, WordsPerRecord: 1}) // no limit
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	res, err := p.Run(ctx)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want the context's", err)
	}
	if res.Records == 0 || res.Records != int64(len(api.stored)) {
		t.Errorf("Records = %d, stored %d", res.Records, len(api.stored))
	}
}

// TestProducerOnThrottledServer puts faster than one shard accepts (1000
// records/s on the fake server with quotas): entries fail with
// ProvisionedThroughputExceededException and are retried until every
// record is on the stream exactly once.
func TestProducerOnThrottledServer(t *testing.T) {
	srv, err := fakekinesis.NewServer(fakekinesis.WithQuotas(true))
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	client, err := NewClient(ctx, "us-east-1", srv.Endpoint())
	if err != nil {
		t.Fatal(err)
	}
	shards, err := EnsureStream(ctx, client, "words", 1)
	if err != nil || shards != 1 {
		t.Fatalf("EnsureStream = %d, %v", shards, err)
	}
	if shards, err := EnsureStream(ctx, client, "words", 3); err != nil || shards != 1 {
		t.Fatalf("EnsureStream of an existing stream = %d, %v; want its 1 shard", shards, err)
	}
	p, err := NewProducer(client, Config{Stream: "words", Rate: 5000, WordsPerRecord: 2, Count: 1800, Seed: 5})
	if err != nil {
		t.Fatal(err)
	}
	res, err := p.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if res.Retried == 0 {
		t.Error("no entry was throttled and retried")
	}
	all, err := kinesistest.ReadAll(ctx, kinesistest.NewClient(srv.Endpoint()), "words")
	if err != nil {
		t.Fatal(err)
	}
	stored := map[string]int64{}
	n := 0
	for _, recs := range all {
		for _, r := range recs {
			n++
			for _, w := range Split(r.Data) {
				stored[w]++
			}
		}
	}
	if n != 1800 || res.Records != 1800 {
		t.Errorf("%d records on the stream, %d reported; want 1800", n, res.Records)
	}
	if diff := cmp.Diff(stored, res.Words); diff != "" {
		t.Errorf("Words differ from the stream (-stream +reported):\n%s", diff)
	}
	t.Logf("1800 records in %.1fs, %d entries retried", res.Elapsed.Seconds(), res.Retried)
}
