package kinesisio_test

import (
	"context"
	"flag"
	"fmt"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/kinesisio/beam-kinesis/kinesisio"
	"github.com/kinesisio/beam-kinesis/testing/emulators"
	"github.com/kinesisio/beam-kinesis/testing/kinesistest"
)

var (
	benchWriteRecords = flag.Int("bench.write.records", 100000, "records written by the write throughput benchmark")
	benchWriteSize    = flag.Int("bench.write.size", 100, "record size in bytes for the write throughput benchmark")
	benchWriteKeys    = flag.Int("bench.write.keys", 64, "partition keys for the write throughput benchmark")
	benchWriteShards  = flag.Int("bench.write.shards", 4, "shards for the write throughput benchmark")
)

func init() {
	register.DoFn1x0[kinesisio.WrittenRecord](&countWrittenFn{})
}

// countWrittenFn counts Written records.
type countWrittenFn struct{ Key string }

func (f *countWrittenFn) ProcessElement(r kinesisio.WrittenRecord) { count(f.Key, r.Size) }

// BenchmarkWriteThroughput writes the same records to a kinesalite stream
// (a fresh stream each) with a bare aws-sdk-go-v2 PutRecords loop (one goroutine, batches of
// 500, failed entries resent) and with kinesisio.Write on Prism (default
// options: 4 requests in flight; and WithMaxInFlight(1), the loop's
// concurrency), and reports records per second and the ratios. Run it
// with:
//
//	go test -run '^$' -bench WriteThroughput -benchtime 1x ./kinesisio/
func BenchmarkWriteThroughput(b *testing.B) {
	emu := emulators.Require(b, emulators.Kinesalite)
	client := kinesistest.NewClient(emu.Endpoint)
	ctx := context.Background()
	// Each measurement writes a fresh stream: kinesalite slows down as a
	// stream fills, which would favour whatever runs first.
	newStream := func() string {
		stream := kinesistest.StreamName(b)
		if _, err := kinesistest.CreateStream(ctx, client, stream, int32(*benchWriteShards)); err != nil {
			b.Fatal(err)
		}
		return stream
	}
	spec := genSpec{Prefix: "bench", N: *benchWriteRecords, Keys: *benchWriteKeys, Size: *benchWriteSize}
	recs := spec.records()
	rate := func(d time.Duration) float64 { return float64(len(recs)) / d.Seconds() }
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Baseline: the bare SDK loop.
		stream := newStream()
		start := time.Now()
		for lo := 0; lo < len(recs); lo += 500 {
			var entries []types.PutRecordsRequestEntry
			for _, r := range recs[lo:min(lo+500, len(recs))] {
				entries = append(entries, types.PutRecordsRequestEntry{Data: r.Data, PartitionKey: aws.String(r.PartitionKey)})
			}
			for attempt := 0; len(entries) > 0; attempt++ {
				if attempt == 10 {
					b.Fatal("bare loop: entries still failing after 10 attempts")
				}
				out, err := client.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: entries})
				if err != nil {
					b.Fatal(err)
				}
				var failed []types.PutRecordsRequestEntry
				for j, res := range out.Records {
					if res.ErrorCode != nil {
						failed = append(failed, entries[j])
					}
				}
				entries = failed
			}
		}
		bare := time.Since(start)

		write := func(name string, opts ...kinesisio.WriteOption) time.Duration {
			stream := newStream()
			key := fmt.Sprintf("%s-%s-%d", stream, name, i)
			p, s := beam.NewPipelineWithRoot()
			opts = append([]kinesisio.WriteOption{kinesisio.Connection{Endpoint: emu.Endpoint, Region: kinesistest.Region}}, opts...)
			res := kinesisio.Write(s, stream, generate(s, spec), opts...)
			beam.ParDo0(s, &countWrittenFn{Key: key}, res.Written)
			start := time.Now()
			if err := ptest.Run(p); err != nil {
				b.Fatal(err)
			}
			total := time.Since(start)
			v, _ := counts.Load(key)
			c, _ := v.(*benchCount)
			if c == nil || int(c.n.Load()) != len(recs) {
				b.Fatalf("Write (%s) reported %v records written, want %d", name, c, len(recs))
			}
			return total
		}
		total4 := write("default")
		total1 := write("inflight1", kinesisio.WithMaxInFlight(1))
		b.ReportMetric(rate(bare), "bare-rec/s")
		b.ReportMetric(rate(total4), "write-rec/s")
		b.ReportMetric(rate(total4)/rate(bare), "ratio")
		b.ReportMetric(rate(total1), "write1-rec/s")
		b.ReportMetric(rate(total1)/rate(bare), "ratio1")
		b.Logf("%d records of %d B, %d keys, %d shards: bare PutRecords loop (1 goroutine, 500/call) %v, %.0f rec/s; Write on Prism (job start included), 4 in flight %v, %.0f rec/s, ratio %.2f; 1 in flight %v, %.0f rec/s, ratio %.2f",
			len(recs), *benchWriteSize, *benchWriteKeys, *benchWriteShards, bare.Round(time.Millisecond), rate(bare),
			total4.Round(time.Millisecond), rate(total4), rate(total4)/rate(bare), total1.Round(time.Millisecond), rate(total1), rate(total1)/rate(bare))
	}
}
