package kinesisio_test

import (
	"context"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/transforms/stats"
	"github.com/kinesisio/beam-kinesis/internal/checkpoint"
	"github.com/kinesisio/beam-kinesis/kinesisio"
	"github.com/kinesisio/beam-kinesis/testing/emulators"
	"github.com/kinesisio/beam-kinesis/testing/kinesistest"
)

// storeCalls counts the calls of the checkpoint stores a test's jobs open
// (kinesisio.WrapCheckpointStores).
type storeCalls struct {
	acquire, load, get atomic.Int64
}

type countingStore struct {
	checkpoint.Store
	n *storeCalls
}

func (s countingStore) Acquire(ctx context.Context, want checkpoint.Lease, now time.Time) (checkpoint.Lease, error) {
	s.n.acquire.Add(1)
	return s.Store.Acquire(ctx, want, now)
}

func (s countingStore) Load(ctx context.Context, app, stream string) ([]checkpoint.Checkpoint, error) {
	s.n.load.Add(1)
	return s.Store.Load(ctx, app, stream)
}

func (s countingStore) Get(ctx context.Context, app, stream string, shardIDs []string) (map[string]checkpoint.Checkpoint, error) {
	s.n.get.Add(1)
	return s.Store.Get(ctx, app, stream, shardIDs)
}

// countStoreCalls counts the calls of the checkpoint stores opened until
// the test ends.
func countStoreCalls(t *testing.T) *storeCalls {
	t.Helper()
	n := &storeCalls{}
	t.Cleanup(kinesisio.WrapCheckpointStores(func(st checkpoint.Store) checkpoint.Store { return countingStore{st, n} }))
	return n
}

// logLine is one line of the connector at a level, as the runner logged it.
type logLine struct {
	at  time.Time
	msg string
}

// levelHandler passes records on and keeps the connector's lines at level.
type levelHandler struct {
	slog.Handler
	level slog.Level
	mu    *sync.Mutex
	seen  *[]logLine
}

func (h levelHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level == h.level && strings.Contains(r.Message, "kinesisio: ") {
		h.mu.Lock()
		*h.seen = append(*h.seen, logLine{at: time.Now(), msg: r.Message})
		h.mu.Unlock()
	}
	return h.Handler.Handle(ctx, r)
}

func (h levelHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return levelHandler{h.Handler.WithAttrs(as), h.level, h.mu, h.seen}
}

func (h levelHandler) WithGroup(g string) slog.Handler {
	return levelHandler{h.Handler.WithGroup(g), h.level, h.mu, h.seen}
}

// captureLog keeps the connector's lines at level that contain every one
// of about until the test ends (as captureWarnings, at any level).
func captureLog(t *testing.T, level slog.Level, about ...string) func() []logLine {
	t.Helper()
	prev := slog.Default()
	var mu sync.Mutex
	var seen []logLine
	slog.SetDefault(slog.New(levelHandler{prev.Handler(), level, &mu, &seen}))
	t.Cleanup(func() { slog.SetDefault(prev) })
	return func() []logLine {
		mu.Lock()
		defer mu.Unlock()
		var out []logLine
	next:
		for _, l := range seen {
			for _, a := range about {
				if !strings.Contains(l.msg, a) {
					continue next
				}
			}
			out = append(out, l)
		}
		return out
	}
}

// TestCheckpointsStartOnceWhileKinesisUnreachable: a job with
// WithCheckpoints whose Kinesis does not answer for its first seconds
// takes the lease and loads the checkpoints once (not on every wake of
// its discovery step while the first listing fails), logs that the
// application was reset once, spaces its listings by the backoff, and
// reads once Kinesis answers. On both stores.
func TestCheckpointsStartOnceWhileKinesisUnreachable(t *testing.T) {
	const (
		app    = "startonce"
		outage = 3 * time.Second
	)
	for _, kind := range []string{"dir", "dynamodb"} {
		t.Run(kind, func(t *testing.T) {
			e := newEnv(t, emulators.Kinesalite, 1)
			st := newStoreEnv(t, kind)
			// A lease reset before the job starts: the job logs it.
			ctx := context.Background()
			s0 := st.open(t)
			if _, err := s0.Acquire(ctx, checkpoint.Lease{App: app, Stream: e.stream, Owner: "earlier", StaleAfter: 10 * time.Second}, time.Now()); err != nil {
				t.Fatal(err)
			}
			if err := s0.Reset(ctx, app); err != nil {
				t.Fatal(err)
			}
			s0.Close()
			puts := e.putPerShard(t, 5, "startonce")

			proxy, err := kinesistest.NewProxy(e.endpoint)
			if err != nil {
				t.Fatal(err)
			}
			defer proxy.Close()
			calls := countStoreCalls(t)
			resets := captureLog(t, slog.LevelInfo, "was reset", e.stream)
			proxy.ResetFor("", outage)
			listedDuring := make(chan int, 1)
			go func() {
				time.Sleep(outage)
				listedDuring <- proxy.Count("ListShards")
			}()
			p, s := beam.NewPipelineWithRoot()
			got := collect(s, kinesisio.Read(s, e.stream, kinesisio.Connection{Endpoint: proxy.Endpoint(), Region: kinesistest.Region},
				kinesisio.Polling{IdleInterval: 50 * time.Millisecond}, kinesisio.WithCheckpoints(app, st.store),
				kinesisio.WithMaxRecords(int64(len(puts))), kinesisio.WithStartupTimeout(30*time.Second)))
			run(t, p)
			checkExactlyOnce(t, got(), puts)

			acquired, loaded, listed := calls.acquire.Load(), calls.load.Load(), <-listedDuring
			t.Logf("Kinesis unreachable for %v at the start: %d Acquire, %d Load, %d ListShards during it, %d \"was reset\" lines", outage, acquired, loaded, listed, len(resets()))
			if acquired != 1 || loaded != 1 {
				t.Errorf("the store got %d Acquire and %d Load calls, want 1 each (the lease taken and the checkpoints loaded once per run)", acquired, loaded)
			}
			if n := len(resets()); n != 1 {
				t.Errorf("%d lines say the application was reset, want 1", n)
			}
			// Backoff from 100 ms doubling (up to 5 s): about 6 listings in
			// 3 s; waking every 200 ms without it would make about 15.
			if listed > 9 {
				t.Errorf("%d ListShards calls in an outage of %v at the start: the listing backoff is not respected", listed, outage)
			}
		})
	}
}

// TestCheckpointsStoreTroubleLogBounded: the children of a split shard
// wait for their parent through the store; while the store does not
// answer them (DynamoDB behind a proxy that fails BatchGetItem for 3 s,
// and the parent slowed by GetRecords failing as long), the job logs a
// bounded number of lines about it (the first, then one per 10 s for
// the run's readers), not one per child per poll, and reads everything
// once the store answers.
func TestCheckpointsStoreTroubleLogBounded(t *testing.T) {
	const outage = 3 * time.Second
	e := newEnv(t, emulators.Kinesalite, 1)
	before := e.putPerShard(t, 5, "parent")
	e.split(t)
	after := e.putToChildren(t, 3)
	kp, err := kinesistest.NewProxy(e.endpoint)
	if err != nil {
		t.Fatal(err)
	}
	defer kp.Close()
	store, dp := dynamoBehindProxy(t)
	asked := captureLog(t, slog.LevelWarn, "whether its parents")
	kp.FailFor("GetRecords", outage, 500, "InternalFailure")
	dp.FailFor("BatchGetItem", outage, 500, "InternalServerError")
	p, s := beam.NewPipelineWithRoot()
	all := append(before, after...)
	got := collect(s, kinesisio.Read(s, e.stream, kinesisio.Connection{Endpoint: kp.Endpoint(), Region: kinesistest.Region},
		kinesisio.Polling{IdleInterval: 50 * time.Millisecond}, kinesisio.WithCheckpoints("storetrouble", store),
		kinesisio.WithMaxRecords(int64(len(all))), kinesisio.WithMaxReadTime(time.Minute)))
	run(t, p)
	checkExactlyOnce(t, got(), all)
	lines := asked()
	t.Logf("the store failed BatchGetItem for %v (%d calls): %d WARN lines about the children's parents", outage, dp.Count("BatchGetItem"), len(lines))
	for _, l := range lines {
		t.Logf("  %s %.200s", l.at.Format("15:04:05.000"), l.msg)
	}
	if dp.Count("BatchGetItem") < 4 {
		t.Fatalf("%d BatchGetItem calls: the children did not wait through the outage", dp.Count("BatchGetItem"))
	}
	if len(lines) == 0 || len(lines) > 2 {
		t.Errorf("%d WARN lines about the children's parents in an outage of %v, want 1 or 2 (the first, then one per 10 s)", len(lines), outage)
	}
}

// TestCommitWhenDoneStoreTroubleLogBounded: while the store does not
// answer CommitWhenDone (DynamoDB behind a proxy that fails BatchGetItem
// for the whole run), each window of each shard finds its commit failing;
// the job logs a bounded number of lines about it (the first, then one
// per 10 s), not one per window per shard.
func TestCommitWhenDoneStoreTroubleLogBounded(t *testing.T) {
	e := newEnv(t, emulators.Kinesalite, 2)
	var puts []kinesistest.Put
	for i := range 12 {
		puts = append(puts, e.putPerShard(t, 1, fmt.Sprintf("w%02d", i))...)
		time.Sleep(150 * time.Millisecond)
	}
	store, dp := dynamoBehindProxy(t)
	lines := captureLog(t, slog.LevelWarn, "CommitWhenDone: reading shard")
	dp.FailFor("BatchGetItem", 5*time.Minute, 500, "InternalServerError")
	p, s := beam.NewPipelineWithRoot()
	recs := kinesisio.Read(s, e.stream, e.opts(kinesisio.WithCheckpoints("sinktrouble", store), kinesisio.WithCommitsAfterSink(),
		kinesisio.WithMaxRecords(int64(len(puts))), kinesisio.WithMaxReadTime(30*time.Second))...)
	got := collect(s, recs)
	windowed := beam.WindowInto(s, window.NewFixedWindows(100*time.Millisecond), recs)
	done := beam.ParDo(s, emitShard, stats.Count(s, beam.ParDo(s, shardOf, windowed)))
	if err := kinesisio.CommitWhenDone(s, "sinktrouble", store, windowed, done); err != nil {
		t.Fatal(err)
	}
	run(t, p)
	checkExactlyOnce(t, got(), puts)
	t.Logf("%d BatchGetItem calls failed: %d WARN lines about them", dp.Count("BatchGetItem"), len(lines()))
	if dp.Count("BatchGetItem") < 4 {
		t.Fatalf("%d BatchGetItem calls: too few windows committed to tell", dp.Count("BatchGetItem"))
	}
	if n := len(lines()); n == 0 || n > 2 {
		t.Errorf("%d WARN lines about CommitWhenDone's failed reads, want 1 or 2 (the first, then one per 10 s)", n)
	}
}
