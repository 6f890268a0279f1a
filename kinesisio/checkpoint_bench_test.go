package kinesisio_test

import (
	"context"
	"fmt"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/kinesisio/beam-kinesis/kinesisio"
	"github.com/kinesisio/beam-kinesis/testing/emulators"
	"github.com/kinesisio/beam-kinesis/testing/kinesistest"
)

// BenchmarkFirstRecordWithCheckpoints measures how long after a job's
// start its first record reaches the sink, without a checkpoint store (the
// baseline, in the same run), with a directory and with a DynamoDB table
// on dynalite, resuming from checkpoints of 4 shards each time. It reports
// the median over b.N jobs per case and the ratio to the baseline:
//
//	go test -run '^$' -bench FirstRecordWithCheckpoints -benchtime 10x ./kinesisio/
func BenchmarkFirstRecordWithCheckpoints(b *testing.B) {
	emu := emulators.Require(b, emulators.Kinesalite)
	client := kinesistest.NewClient(emu.Endpoint)
	name := kinesistest.StreamName(b)
	ctx := context.Background()
	if _, err := kinesistest.CreateStream(ctx, client, name, 4); err != nil {
		b.Fatal(err)
	}
	e := &env{kind: emulators.Kinesalite, endpoint: emu.Endpoint, client: client, stream: name}
	stores := map[string]kinesisio.CheckpointStore{
		"dir": kinesisio.LocalDirectory(b.TempDir()),
	}
	dyn := emulators.Require(b, emulators.Dynalite)
	stores["dynamodb"] = kinesisio.DynamoDBTable("bench-first-record", kinesisio.Connection{Endpoint: dyn.Endpoint, Region: kinesistest.Region})
	medians := map[string]time.Duration{}
	for _, c := range []string{"none", "dir", "dynamodb"} {
		var lat []time.Duration
		for i := 0; i < b.N; i++ {
			// One new record per shard, so each job resumes and reads 4;
			// the baseline starts at them by explicit positions.
			at := map[string]kinesisio.Position{}
			for _, id := range shardIDsOf(b, e) {
				puts, err := kinesistest.PutToShard(ctx, client, name, id, [][]byte{[]byte(fmt.Sprintf("%s-%d", c, i))})
				if err != nil {
					b.Fatal(err)
				}
				at[id] = kinesisio.AtSequenceNumber(puts[0].SequenceNumber)
			}
			opts := e.opts(kinesisio.WithMaxRecords(4), kinesisio.WithMaxReadTime(30*time.Second))
			if c != "none" {
				opts = append(opts, kinesisio.WithCheckpoints("first-record", stores[c]))
			} else {
				opts = append(opts, kinesisio.WithShardPositions(at))
			}
			p, s := beam.NewPipelineWithRoot()
			key := fmt.Sprintf("first-%s-%d-%d", c, i, time.Now().UnixNano())
			beam.ParDo0(s, &countFn{Key: key}, kinesisio.Read(s, name, opts...))
			start := time.Now()
			if _, err := ptest.RunWithMetrics(p); err != nil {
				b.Fatal(err)
			}
			v, ok := counts.Load(key)
			if !ok {
				b.Fatalf("%s: no record read", c)
			}
			lat = append(lat, time.Unix(0, v.(*benchCount).first.Load()).Sub(start))
		}
		sort.Slice(lat, func(i, j int) bool { return lat[i] < lat[j] })
		medians[c] = lat[len(lat)/2]
		b.ReportMetric(float64(medians[c].Microseconds())/1000, c+"-ms/first-record")
	}
	var parts []string
	for _, c := range []string{"dir", "dynamodb"} {
		if base := medians["none"]; base > 0 {
			b.ReportMetric(float64(medians[c])/float64(base), c+"/none")
		}
		parts = append(parts, fmt.Sprintf("%s %v", c, medians[c]))
	}
	b.Logf("first record after the job's start (median of %d): none %v, %s", b.N, medians["none"], strings.Join(parts, ", "))
}

func shardIDsOf(b *testing.B, e *env) []string {
	shards, err := kinesistest.Shards(context.Background(), e.client, e.stream)
	if err != nil {
		b.Fatal(err)
	}
	var ids []string
	for _, s := range shards {
		ids = append(ids, *s.ShardId)
	}
	return ids
}
