package main

import (
	"context"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/kinesisio/beam-kinesis/kinesisio"
	"github.com/kinesisio/beam-kinesis/testing/beamtest"
	"github.com/kinesisio/beam-kinesis/testing/emulators"
	"github.com/kinesisio/beam-kinesis/testing/kinesistest"
	"github.com/kinesisio/beam-kinesis/transforms/dedup"
)

// A producer's retried puts (the same partition key and data written
// again) are counted once with --dedup_by=partition_key, the demo's
// default: every window holds exactly the words of the original puts.
func TestCountWordsDropsRetriedPuts(t *testing.T) {
	emu := emulators.Require(t, emulators.Kinesalite)
	sc := newScenario(t, emu.Endpoint)
	res := sc.produceWhile(t, func() error { return nil })
	want := sc.expected(t, res) // before the retries

	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	all, err := kinesistest.ReadAll(ctx, sc.client, sc.stream)
	if err != nil {
		t.Fatal(err)
	}
	var again []types.PutRecordsRequestEntry
	for _, recs := range all {
		for _, r := range recs[:10] { // the first 10 of each shard, once more
			again = append(again, types.PutRecordsRequestEntry{Data: r.Data, PartitionKey: aws.String(r.PartitionKey)})
		}
	}
	out, err := sc.client.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String(sc.stream), Records: again})
	if err != nil || aws.ToInt32(out.FailedRecordCount) != 0 {
		t.Fatalf("putting %d records again: %v (%d failed)", len(again), err, aws.ToInt32(out.FailedRecordCount))
	}

	*dedupBy = "" // the demo's default
	dd, err := dedupOptions("partition_key")
	if err != nil {
		t.Fatal(err)
	}
	tp := newTap()
	defer tp.unregister()
	opts := append(sc.readOptions(), kinesisio.WithMaxRecords(int64(testRecords+len(again))))
	p, err := buildPipeline(sc.stream, opts, dd, testWindow, "", tp.name)
	if err != nil {
		t.Fatal(err)
	}
	pr, err := ptest.RunWithMetrics(p)
	if err != nil {
		t.Fatal(err)
	}
	printed, _ := tp.snapshot()
	var windows []WindowCounts
	for _, w := range printed {
		windows = append(windows, w.counts)
	}
	checkWindows(t, want, fromWindows(t, windows))
	// dedup dropped the records put again, and only them.
	beamtest.CheckCounter(t, pr, dedup.MetricsNamespace, "duplicates", int64(len(again)))
}
