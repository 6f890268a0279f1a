package fakekinesis

import (
	"fmt"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// benchRecord is the payload size of the benchmarks.
const benchRecord = 100

// BenchmarkPutRecords puts batches of 500 100-byte records through the
// SDK client and reports records/s.
func BenchmarkPutRecords(b *testing.B) {
	_, c := newServer(b)
	mustCreate(b, c, "s", 4)
	entries := benchEntries()
	b.ResetTimer()
	for b.Loop() {
		if _, err := c.PutRecords(ctx(b), &kinesis.PutRecordsInput{StreamName: aws.String("s"), Records: entries}); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(entries))/b.Elapsed().Seconds(), "records/s")
}

// BenchmarkGetRecords reads 10,000 100-byte records per GetRecords call
// through the SDK client and reports records/s.
func BenchmarkGetRecords(b *testing.B) {
	_, c := newServer(b)
	mustCreate(b, c, "s", 1)
	entries := benchEntries()
	for range 20 {
		if _, err := c.PutRecords(ctx(b), &kinesis.PutRecordsInput{StreamName: aws.String("s"), Records: entries}); err != nil {
			b.Fatal(err)
		}
	}
	it := iter(b, c, "s", "shardId-000000000000", types.ShardIteratorTypeTrimHorizon, nil)
	n := 0
	b.ResetTimer()
	for b.Loop() {
		out, err := c.GetRecords(ctx(b), &kinesis.GetRecordsInput{ShardIterator: aws.String(it)})
		if err != nil {
			b.Fatal(err)
		}
		n += len(out.Records)
	}
	b.ReportMetric(float64(n)/b.Elapsed().Seconds(), "records/s")
}

// benchEntries is one PutRecords call's worth of entries: 500 records of
// benchRecord bytes, each with a key of its own.
func benchEntries() []types.PutRecordsRequestEntry {
	entries := make([]types.PutRecordsRequestEntry, 500)
	for i := range entries {
		entries[i] = types.PutRecordsRequestEntry{PartitionKey: aws.String(fmt.Sprint(i)), Data: make([]byte, benchRecord)}
	}
	return entries
}
