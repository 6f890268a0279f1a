package kinesisio_test

import (
	"context"
	"fmt"
	"sort"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/kinesisio/beam-kinesis/kinesisio"
	"github.com/kinesisio/beam-kinesis/testing/beamtest"
	"github.com/kinesisio/beam-kinesis/testing/emulators"
	"github.com/kinesisio/beam-kinesis/testing/fakekinesis"
	"github.com/kinesisio/beam-kinesis/testing/kinesistest"
)

// collect adds a sink to col and returns a function giving what it got.
func collect(s beam.Scope, col beam.PCollection) func() []kinesisio.Record {
	return beamtest.CollectValues[kinesisio.Record](s, col)
}

// collectTimed is collect, also giving when each record reached the sink.
func collectTimed(s beam.Scope, col beam.PCollection) func() ([]kinesisio.Record, []time.Time) {
	got := beamtest.Collect[kinesisio.Record](s, col)
	return func() ([]kinesisio.Record, []time.Time) {
		var recs []kinesisio.Record
		var at []time.Time
		for _, c := range got() {
			recs, at = append(recs, c.Value), append(at, c.Arrived)
		}
		return recs, at
	}
}

// env is one emulator with a client and a fresh stream.
type env struct {
	kind     emulators.Kind
	endpoint string
	client   *kinesis.Client
	stream   string
	arn      string
	// srv is the in-process server of a newFakeEnv, nil on an emulator.
	srv *fakekinesis.Server
}

func newEnv(t *testing.T, kind emulators.Kind, shards int32) *env {
	t.Helper()
	e := emulators.Require(t, kind)
	c := kinesistest.NewClient(e.Endpoint)
	name := kinesistest.StreamName(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	arn, err := kinesistest.CreateStream(ctx, c, name, shards)
	if err != nil {
		t.Fatalf("creating stream on %s: %v", kind, err)
	}
	return &env{kind: kind, endpoint: e.Endpoint, client: c, stream: name, arn: arn}
}

// newFakeEnv is newEnv on a new in-process server (testing/fakekinesis),
// closed when the test ends.
func newFakeEnv(t *testing.T, shards int32, opts ...fakekinesis.Option) *env {
	t.Helper()
	srv, err := fakekinesis.NewServer(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { srv.Close() })
	c := kinesistest.NewClient(srv.Endpoint())
	name := kinesistest.StreamName(t)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	arn, err := kinesistest.CreateStream(ctx, c, name, shards)
	if err != nil {
		t.Fatalf("creating stream on the in-process server: %v", err)
	}
	return &env{kind: "fakekinesis", endpoint: srv.Endpoint(), client: c, stream: name, arn: arn, srv: srv}
}

// envOn is newFakeEnv for kind "fakekinesis", else newEnv on the
// emulator of that kind.
func envOn(t *testing.T, kind string, shards int32) *env {
	t.Helper()
	if kind == "fakekinesis" {
		return newFakeEnv(t, shards)
	}
	return newEnv(t, emulators.Kind(kind), shards)
}

func (e *env) shardIDs(t *testing.T) []string {
	t.Helper()
	shards, err := kinesistest.Shards(context.Background(), e.client, e.stream)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, s := range shards {
		ids = append(ids, *s.ShardId)
	}
	return ids
}

// putPerShard puts n records on each shard, named shard/i, and returns
// what was put.
func (e *env) putPerShard(t *testing.T, n int, tag string) []kinesistest.Put {
	t.Helper()
	var all []kinesistest.Put
	for _, id := range e.shardIDs(t) {
		var data [][]byte
		for i := 0; i < n; i++ {
			data = append(data, []byte(fmt.Sprintf("%s/%s/%04d", tag, id, i)))
		}
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		puts, err := kinesistest.PutToShard(ctx, e.client, e.stream, id, data)
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		all = append(all, puts...)
	}
	return all
}

func (e *env) opts(extra ...kinesisio.ReadOption) []kinesisio.ReadOption {
	return append([]kinesisio.ReadOption{kinesisio.Connection{Endpoint: e.endpoint, Region: kinesistest.Region}, kinesisio.Polling{IdleInterval: 50 * time.Millisecond}}, extra...)
}

// run runs p on the default runner (Prism) and fails the test on error.
func run(t *testing.T, p *beam.Pipeline) beam.PipelineResult { return beamtest.Run(t, p) }

// runAsync starts p on the default runner (Prism) and returns a channel
// that gets the run's error when it ends.
func runAsync(p *beam.Pipeline) <-chan error {
	done := make(chan error, 1)
	go func() { _, err := ptest.RunWithMetrics(p); done <- err }()
	return done
}

// runAsyncResult is runAsync that also keeps the run's result (with its
// metrics), to read once the channel gave the run's error.
func runAsyncResult(p *beam.Pipeline) (<-chan error, *beam.PipelineResult) {
	done := make(chan error, 1)
	res := new(beam.PipelineResult)
	go func() {
		var err error
		*res, err = ptest.RunWithMetrics(p)
		done <- err
	}()
	return done, res
}

// await returns the error of a run started with runAsync, and fails the
// test if the run has not ended within d.
func await(t *testing.T, done <-chan error, d time.Duration) error {
	t.Helper()
	select {
	case err := <-done:
		return err
	case <-time.After(d):
		t.Fatalf("pipeline did not end within %v", d)
		return nil
	}
}

// checkExactlyOnce compares what was read with what was put: the same
// records, each once, in sequence order within each shard.
func checkExactlyOnce(t *testing.T, got []kinesisio.Record, want []kinesistest.Put) {
	t.Helper()
	type key struct{ shard, seq string }
	seen := map[key]int{}
	byShard := map[string][]kinesisio.Record{}
	for _, r := range got {
		seen[key{r.ShardID, r.SequenceNumber}]++
		byShard[r.ShardID] = append(byShard[r.ShardID], r)
	}
	missing, dups := 0, 0
	for _, p := range want {
		k := key{p.ShardID, p.SequenceNumber}
		switch seen[k] {
		case 0:
			missing++
		case 1:
		default:
			dups++
		}
		delete(seen, k)
	}
	if missing > 0 || dups > 0 || len(seen) > 0 {
		perShard := map[string]int{}
		for _, p := range want {
			if _, ok := seen[key{p.ShardID, p.SequenceNumber}]; !ok {
				perShard[p.ShardID]++
			}
		}
		readPerShard := map[string]int{}
		for _, r := range got {
			readPerShard[r.ShardID]++
		}
		t.Logf("put per shard %v; read per shard %v", perShard, readPerShard)
		t.Errorf("read %d records for %d put: %d missing, %d duplicated, %d unexpected", len(got), len(want), missing, dups, len(seen))
	}
	wantData := map[key]string{}
	for _, p := range want {
		wantData[key{p.ShardID, p.SequenceNumber}] = string(p.Data)
	}
	for shard, recs := range byShard {
		for i, r := range recs {
			if w, ok := wantData[key{shard, r.SequenceNumber}]; ok && w != string(r.Data) {
				t.Errorf("shard %s seq %s: data %q, want %q", shard, r.SequenceNumber, r.Data, w)
			}
			if i > 0 && !seqLess(recs[i-1].SequenceNumber, r.SequenceNumber) {
				t.Errorf("shard %s: record %s emitted after %s: sequence order broken", shard, r.SequenceNumber, recs[i-1].SequenceNumber)
				break
			}
		}
	}
}

func seqLess(a, b string) bool {
	if len(a) != len(b) {
		return len(a) < len(b)
	}
	return a < b
}

func sortedData(recs []kinesisio.Record) []string {
	var s []string
	for _, r := range recs {
		s = append(s, string(r.Data))
	}
	sort.Strings(s)
	return s
}

// counter sums a kinesisio counter over all steps of a finished pipeline.
func counter(res beam.PipelineResult, name string) int64 {
	var n int64
	for _, c := range res.Metrics().AllMetrics().Counters() {
		if c.Namespace() == kinesisio.MetricsNamespace && c.Name() == name {
			n += c.Result()
		}
	}
	return n
}

// checkCounter checks a kinesisio counter of a finished pipeline with
// beamtest.CheckCounter: exact where Prism does not lose counter updates.
func checkCounter(t *testing.T, res beam.PipelineResult, name string, want int64) {
	t.Helper()
	beamtest.CheckCounter(t, res, kinesisio.MetricsNamespace, name, want)
}

// gauges returns the kinesisio gauges by name.
func gauges(res beam.PipelineResult) map[string]int64 {
	m := map[string]int64{}
	for _, g := range res.Metrics().AllMetrics().Gauges() {
		if g.Key.Namespace == kinesisio.MetricsNamespace {
			m[g.Key.Name] = g.Result().Value
		}
	}
	return m
}

// readToEnd reads e's stream with e.opts(extra...) in a pipeline of its
// own, run to its end, and returns what it read and the run's result.
func (e *env) readToEnd(t *testing.T, extra ...kinesisio.ReadOption) ([]kinesisio.Record, beam.PipelineResult) {
	t.Helper()
	p, s := beam.NewPipelineWithRoot()
	got := collect(s, kinesisio.Read(s, e.stream, e.opts(extra...)...))
	res := run(t, p)
	return got(), res
}
