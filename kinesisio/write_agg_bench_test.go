package kinesisio_test

import (
	"context"
	"flag"
	"fmt"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/kinesisio/beam-kinesis/kinesisio"
	"github.com/kinesisio/beam-kinesis/testing/fakekinesis"
	"github.com/kinesisio/beam-kinesis/testing/kinesistest"
)

var (
	benchAggPlain   = flag.Int("bench.agg.plain", 40000, "user records written without aggregation by BenchmarkWriteAggregation (about 10 s at the quota on 4 shards)")
	benchAggRecords = flag.Int("bench.agg.records", 400000, "user records written with aggregation by BenchmarkWriteAggregation")
	benchAggShards  = flag.Int("bench.agg.shards", 4, "shards for BenchmarkWriteAggregation")
	benchAggSize    = flag.Int("bench.agg.size", 100, "user record size (data + partition key) for BenchmarkWriteAggregation")
	benchAggKeys    = flag.Int("bench.agg.keys", 1024, "partition keys for BenchmarkWriteAggregation")
)

// BenchmarkWriteAggregation measures what Aggregation buys against
// Kinesis's per-shard write quota: kinesisio.Write on Prism writes user
// records of 100 B to 4 shards of the in-process server with its write
// quotas on (1,000 records and 1 MiB per second per shard), without
// aggregation and with it, each with and without WithShardRateLimit, each
// to a fresh stream, in one run. It reports user records per second per
// shard, from the first to the last record reported written, and the
// ratio of aggregated to plain. Each run starts with full quota buckets
// (one second's worth), which flatters a run of 10 s by about a tenth,
// aggregated or not. Run it with:
//
//	go test -run '^$' -bench WriteAggregation -benchtime 1x ./kinesisio/
func BenchmarkWriteAggregation(b *testing.B) {
	srv, err := fakekinesis.NewServer(fakekinesis.WithQuotas(true))
	if err != nil {
		b.Fatal(err)
	}
	defer srv.Close()
	type runSpec struct {
		name string
		n    int
		opts []kinesisio.WriteOption
	}
	runs := []runSpec{
		{"plain", *benchAggPlain, nil},
		{"plain+ratelimit", *benchAggPlain, []kinesisio.WriteOption{kinesisio.WithShardRateLimit()}},
		{"agg", *benchAggRecords, []kinesisio.WriteOption{kinesisio.Aggregation{}}},
		{"agg+ratelimit", *benchAggRecords, []kinesisio.WriteOption{kinesisio.Aggregation{}, kinesisio.WithShardRateLimit()}},
		{"agg256KiB", *benchAggRecords, []kinesisio.WriteOption{kinesisio.Aggregation{MaxBytes: 256 << 10}}},
		{"agg256KiB+ratelimit", *benchAggRecords, []kinesisio.WriteOption{kinesisio.Aggregation{MaxBytes: 256 << 10}, kinesisio.WithShardRateLimit()}},
	}
	shards := *benchAggShards
	for i := 0; i < b.N; i++ {
		rates := map[string]float64{}
		for _, r := range runs {
			e := newFakeEnvOn(b, srv, int32(shards))
			spec := aggSpec{Prefix: "bench", N: r.n, Keys: *benchAggKeys, Size: *benchAggSize}
			key := fmt.Sprintf("%s-%s-%d", e.stream, r.name, i)
			p, s := beam.NewPipelineWithRoot()
			in := beam.ParDo(s, &aggGenFn{Spec: spec}, beam.Impulse(s))
			opts := append([]kinesisio.WriteOption{kinesisio.Connection{Endpoint: e.endpoint, Region: "us-east-1"},
				kinesisio.WithRetries(1000, 0, 0), kinesisio.WithRetries(0, 10*time.Millisecond, time.Second)}, r.opts...)
			res := kinesisio.Write(s, e.stream, in, opts...)
			beam.ParDo0(s, &countWrittenFn{Key: key}, res.Written)
			srv.SetQuotas(true) // full buckets: every run starts alike
			start := time.Now()
			pr, err := ptest.RunWithMetrics(p)
			if err != nil {
				b.Fatalf("%s: %v", r.name, err)
			}
			wall := time.Since(start)
			v, _ := counts.Load(key)
			c, _ := v.(*benchCount)
			if c == nil || int(c.n.Load()) != r.n {
				b.Fatalf("%s: %v records reported written, want %d", r.name, c, r.n)
			}
			span := time.Duration(c.last.Load() - c.first.Load())
			rate := float64(r.n) / span.Seconds() / float64(shards)
			rates[r.name] = rate
			calls, throttled := counter(pr, "write_calls"), counter(pr, "write_throttled")
			aggs, inAggs := counter(pr, "write_aggregates"), counter(pr, "write_aggregated_records")
			mean := 0.0
			if aggs > 0 {
				mean = float64(inAggs) / float64(aggs)
			}
			b.ReportMetric(rate, r.name+"-rec/s/shard")
			b.Logf("%-20s %7d user records of %d B on %d shards: %6.0f user rec/s/shard (first to last written %v, job %v); %d PutRecords calls, %d user records throttled, %d aggregates of %.0f user records on average",
				r.name, r.n, *benchAggSize, shards, rate, span.Round(time.Millisecond), wall.Round(time.Millisecond), calls, throttled, aggs, mean)
		}
		for _, pair := range [][2]string{{"agg", "plain"}, {"agg+ratelimit", "plain+ratelimit"}, {"agg256KiB", "plain"}, {"agg256KiB+ratelimit", "plain+ratelimit"}} {
			ratio := rates[pair[0]] / rates[pair[1]]
			b.ReportMetric(ratio, "ratio-"+pair[0])
			b.Logf("%s / %s: %.2f", pair[0], pair[1], ratio)
		}
	}
}

// newFakeEnvOn creates a fresh stream on srv.
func newFakeEnvOn(tb testing.TB, srv *fakekinesis.Server, shards int32) *env {
	tb.Helper()
	e := &env{kind: "fakekinesis", endpoint: srv.Endpoint(), srv: srv, client: kinesistest.NewClient(srv.Endpoint()), stream: kinesistest.StreamName(tb)}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	arn, err := kinesistest.CreateStream(ctx, e.client, e.stream, shards)
	if err != nil {
		tb.Fatal(err)
	}
	e.arn = arn
	return e
}
