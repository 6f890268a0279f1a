package kinesisio_test

import (
	"context"
	"flag"
	"fmt"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/kinesisio/beam-kinesis/kinesisio"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/kpl"
	"github.com/kinesisio/beam-kinesis/testing/bench"
	"github.com/kinesisio/beam-kinesis/testing/emulators"
	"github.com/kinesisio/beam-kinesis/testing/kinesistest"
)

var (
	benchKPLRecords = flag.Int("bench.kpl.records", 40000, "user records per stream for the KPL read benchmark")
	benchKPLPerAgg  = flag.Int("bench.kpl.per", 1000, "user records per aggregate for the KPL read benchmark")
)

// BenchmarkReadKPL reads the same user records (100 B each, 4 shards,
// kinesalite) put as plain records and as KPL aggregates, with
// kinesisio.Read on Prism, and reports the CPU time of this process (the
// emulator runs in its own) per user record for each and their ratio:
//
//	go test -run '^$' -bench ReadKPL -benchtime 1x ./kinesisio/
func BenchmarkReadKPL(b *testing.B) {
	emu := emulators.Require(b, emulators.Kinesalite)
	client := kinesistest.NewClient(emu.Endpoint)
	ctx := context.Background()
	n, per := *benchKPLRecords, *benchKPLPerAgg
	user := func(i int) []byte { return fmt.Appendf(nil, "%0100d", i) }

	plain := kinesistest.StreamName(b) + "-plain"
	agg := kinesistest.StreamName(b) + "-agg"
	for _, s := range []string{plain, agg} {
		if _, err := kinesistest.CreateStream(ctx, client, s, 4); err != nil {
			b.Fatal(err)
		}
	}
	data := make([][]byte, n)
	for i := range data {
		data[i] = user(i)
	}
	if _, err := kinesistest.PutRecords(ctx, client, plain, data); err != nil {
		b.Fatal(err)
	}
	for start := 0; start < n; start += per {
		var recs []kpl.Record
		for i := start; i < min(start+per, n); i++ {
			recs = append(recs, kpl.Record{PartitionKey: fmt.Sprintf("key-%d", start), Data: data[i]})
		}
		if _, err := client.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String(agg), PartitionKey: aws.String(fmt.Sprintf("key-%d", start)), Data: kpl.Encode(recs)}); err != nil {
			b.Fatal(err)
		}
	}
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		read := func(stream string) (cpu, wall time.Duration) {
			key := fmt.Sprintf("%s-%d", stream, i)
			p, s := beam.NewPipelineWithRoot()
			beam.ParDo0(s, &countFn{Key: key}, kinesisio.Read(s, stream, kinesisio.Connection{Endpoint: emu.Endpoint, Region: kinesistest.Region}, kinesisio.WithStopAtLatest(), kinesisio.Polling{Unpaced: true}))
			cpu0, start := bench.CPUTime(), time.Now()
			if err := ptest.Run(p); err != nil {
				b.Fatal(err)
			}
			cpu, wall = bench.CPUTime()-cpu0, time.Since(start)
			v, _ := counts.Load(key)
			if got := v.(*benchCount).n.Load(); int(got) != n {
				b.Fatalf("Read of %s emitted %d user records, want %d", stream, got, n)
			}
			return cpu, wall
		}
		plainCPU, plainWall := read(plain)
		aggCPU, aggWall := read(agg)
		us := func(d time.Duration) float64 { return float64(d.Microseconds()) / float64(n) }
		b.ReportMetric(us(plainCPU), "plain-cpu-µs/rec")
		b.ReportMetric(us(aggCPU), "kpl-cpu-µs/rec")
		b.ReportMetric(us(aggCPU)/us(plainCPU), "cpu-ratio")
		b.ReportMetric(float64(n)/aggWall.Seconds()/(float64(n)/plainWall.Seconds()), "throughput-ratio")
		b.Logf("%d user records of 100 B on 4 shards; plain: %v wall, %.2f µs CPU/record; KPL (%d per aggregate): %v wall, %.2f µs CPU/record; CPU ratio %.2f",
			n, plainWall.Round(time.Millisecond), us(plainCPU), per, aggWall.Round(time.Millisecond), us(aggCPU), us(aggCPU)/us(plainCPU))
	}
}
