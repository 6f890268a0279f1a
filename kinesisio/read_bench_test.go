package kinesisio_test

import (
	"context"
	"flag"
	"fmt"
	"sync"
	"sync/atomic"
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
	benchRecords = flag.Int("bench.records", 100000, "records put for the read throughput benchmark")
	benchSize    = flag.Int("bench.size", 100, "record size in bytes for the read throughput benchmark")
	benchShards  = flag.Int("bench.shards", 4, "shards for the read throughput benchmark")
)

func init() {
	register.DoFn1x0[kinesisio.Record](&countFn{})
}

var counts sync.Map // key -> *benchCount

type benchCount struct {
	n, bytes    atomic.Int64
	first, last atomic.Int64 // unix nanos
}

type countFn struct{ Key string }

func (f *countFn) ProcessElement(r kinesisio.Record) { count(f.Key, len(r.Data)) }

// count counts, in counts under key, one record of size bytes that
// reached a sink now.
func count(key string, size int) {
	v, _ := counts.LoadOrStore(key, &benchCount{})
	c := v.(*benchCount)
	now := time.Now().UnixNano()
	c.first.CompareAndSwap(0, now)
	c.last.Store(now)
	c.n.Add(1)
	c.bytes.Add(int64(size))
}

// BenchmarkReadThroughput reads the same kinesalite stream with a bare
// aws-sdk-go-v2 GetRecords loop (one goroutine per shard, no pacing) and
// with kinesisio.Read on Prism, and reports both and their ratio. Run it
// with:
//
//	go test -run '^$' -bench ReadThroughput -benchtime 1x ./kinesisio/
func BenchmarkReadThroughput(b *testing.B) {
	emu := emulators.Require(b, emulators.Kinesalite)
	client := kinesistest.NewClient(emu.Endpoint)
	ctx := context.Background()
	stream := kinesistest.StreamName(b)
	if _, err := kinesistest.CreateStream(ctx, client, stream, int32(*benchShards)); err != nil {
		b.Fatal(err)
	}
	data := make([][]byte, *benchRecords)
	for i := range data {
		data[i] = []byte(fmt.Sprintf("%0*d", *benchSize, i))
	}
	putStart := time.Now()
	if _, err := kinesistest.PutRecords(ctx, client, stream, data); err != nil {
		b.Fatal(err)
	}
	b.Logf("put %d records of %d B on %d shards in %v", len(data), *benchSize, *benchShards, time.Since(putStart))
	shards, err := kinesistest.Shards(ctx, client, stream)
	if err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		// Baseline: the bare SDK loop.
		start := time.Now()
		var n, size atomic.Int64
		var wg sync.WaitGroup
		for _, sh := range shards {
			wg.Add(1)
			go func(id string) {
				defer wg.Done()
				it, err := client.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(stream), ShardId: aws.String(id), ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
				if err != nil {
					b.Error(err)
					return
				}
				iter := it.ShardIterator
				for iter != nil {
					out, err := client.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter})
					if err != nil {
						b.Error(err)
						return
					}
					for _, r := range out.Records {
						size.Add(int64(len(r.Data)))
					}
					n.Add(int64(len(out.Records)))
					if len(out.Records) == 0 {
						return // kinesalite: empty means caught up
					}
					iter = out.NextShardIterator
				}
			}(*sh.ShardId)
		}
		wg.Wait()
		bare := time.Since(start)
		if int(n.Load()) != len(data) {
			b.Fatalf("bare loop read %d records, want %d", n.Load(), len(data))
		}

		// kinesisio.Read on Prism, bounded at the tip.
		key := fmt.Sprintf("%s-%d", stream, i)
		p, s := beam.NewPipelineWithRoot()
		beam.ParDo0(s, &countFn{Key: key}, kinesisio.Read(s, stream, kinesisio.Connection{Endpoint: emu.Endpoint, Region: kinesistest.Region}, kinesisio.WithStopAtLatest()))
		start = time.Now()
		if err := ptest.Run(p); err != nil {
			b.Fatal(err)
		}
		total := time.Since(start)
		v, _ := counts.Load(key)
		c := v.(*benchCount)
		if int(c.n.Load()) != len(data) {
			b.Fatalf("Read emitted %d records, want %d", c.n.Load(), len(data))
		}
		firstRecord := time.Duration(c.first.Load() - start.UnixNano())
		steady := time.Duration(c.last.Load() - c.first.Load())
		rate := func(d time.Duration) float64 { return float64(len(data)) / d.Seconds() }
		mb := func(d time.Duration) float64 { return float64(size.Load()) / 1e6 / d.Seconds() }
		b.ReportMetric(rate(bare), "bare-rec/s")
		b.ReportMetric(rate(total), "read-rec/s")
		b.ReportMetric(rate(total)/rate(bare), "ratio")
		b.ReportMetric(firstRecord.Seconds()*1000, "first-record-ms")
		b.ReportMetric(rate(steady), "read-steady-rec/s")
		b.Logf("bare loop: %v, %.0f rec/s, %.2f MB/s", bare, rate(bare), mb(bare))
		b.Logf("kinesisio.Read on Prism: %v in all (first record after %v), %.0f rec/s, %.2f MB/s; ratio %.2f; first to last record %.0f rec/s",
			total, firstRecord, rate(total), mb(total), rate(total)/rate(bare), rate(steady))
	}
}
