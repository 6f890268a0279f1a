package writer_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/kinesisio/beam-kinesis/internal/awsclient"
	"github.com/kinesisio/beam-kinesis/internal/backoff"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/writer"
	"github.com/kinesisio/beam-kinesis/testing/emulators"
	"github.com/kinesisio/beam-kinesis/testing/kinesistest"
)

// BenchmarkWriterCore compares Write's batching core (the Writer), without Beam, with
// a bare PutRecords loop on kinesalite: the difference is what batching,
// lanes and bookkeeping cost, apart from the runner. Run it with:
//
//	go test -run '^$' -bench WriterCore -benchtime 3x ./kinesisio/internal/writer/
func BenchmarkWriterCore(b *testing.B) {
	emu := emulators.Require(b, emulators.Kinesalite)
	client := kinesistest.NewClient(emu.Endpoint)
	ctx := context.Background()
	const n, keys = 100000, 64
	recs := make([]writer.Record, n)
	for i := range recs {
		k := fmt.Sprintf("bench-k%d", i%keys)
		recs[i] = writer.Record{PartitionKey: k, Data: fmt.Appendf(nil, "%s/%06d/%0*d", k, i/keys, 80, 0)}
	}
	newStream := func() string {
		name := kinesistest.StreamName(b)
		if _, err := kinesistest.CreateStream(ctx, client, name, 4); err != nil {
			b.Fatal(err)
		}
		return name
	}
	bare := func() time.Duration {
		stream := newStream()
		start := time.Now()
		for lo := 0; lo < n; lo += writer.MaxBatchRecords {
			var entries []types.PutRecordsRequestEntry
			for _, r := range recs[lo:min(lo+writer.MaxBatchRecords, n)] {
				entries = append(entries, types.PutRecordsRequestEntry{Data: r.Data, PartitionKey: aws.String(r.PartitionKey)})
			}
			out, err := client.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: entries})
			if err != nil || aws.ToInt32(out.FailedRecordCount) != 0 {
				b.Fatalf("bare loop: %v, %d failed", err, aws.ToInt32(out.FailedRecordCount))
			}
		}
		return time.Since(start)
	}
	writer := func(lanes int) time.Duration {
		cfg := writer.Config{
			Stream: awsclient.Stream{Name: newStream()}, MaxAttempts: 10,
			Backoff: backoff.Policy{Base: 10 * time.Millisecond, Max: time.Second}, EmitFailed: true, Lanes: lanes,
			MaxRecordBytes: writer.DefaultMaxRecordBytes, MaxBatchBytes: writer.DefaultMaxBatchBytes,
		}
		w := writer.New(cfg, client)
		start := time.Now()
		w.Start(ctx)
		written := 0
		for _, r := range recs {
			if err := w.Add(0, r); err != nil {
				b.Fatal(err)
			}
			written += len(w.TakeResults())
		}
		if err := w.Finish(); err != nil {
			b.Fatal(err)
		}
		written += len(w.TakeResults())
		if written != n {
			b.Fatalf("writer reported %d records, want %d", written, n)
		}
		return time.Since(start)
	}
	rate := func(d time.Duration) float64 { return n / d.Seconds() }
	for i := 0; i < b.N; i++ {
		tb, t4, t1 := bare(), writer(4), writer(1)
		b.ReportMetric(rate(tb), "bare-rec/s")
		b.ReportMetric(rate(t4), "core4-rec/s")
		b.ReportMetric(rate(t1), "core1-rec/s")
		b.Logf("%d records of ~100 B, %d keys, 4 shards: bare loop %v (%.0f rec/s); writer core, 4 lanes %v (%.0f rec/s, ratio %.2f); 1 lane %v (%.0f rec/s, ratio %.2f)",
			n, keys, tb.Round(time.Millisecond), rate(tb), t4.Round(time.Millisecond), rate(t4), rate(t4)/rate(tb), t1.Round(time.Millisecond), rate(t1), rate(t1)/rate(tb))
	}
}
