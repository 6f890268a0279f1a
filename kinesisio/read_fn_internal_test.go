package kinesisio

import (
	"context"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/fetcher"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/restriction"
)

// blockedAPI never answers: a fetcher on it makes no progress.
type blockedAPI struct{ fetcher.API }

func (blockedAPI) GetShardIterator(ctx context.Context, _ *kinesis.GetShardIteratorInput, _ ...func(*kinesis.Options)) (*kinesis.GetShardIteratorOutput, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// Reporting a ProcessElement call's metrics allocates nothing when there
// is nothing to report: at 1,024 shards a call runs thousands of times a
// second, most of them on idle shards.
func TestMetricsReportDoesNotAllocate(t *testing.T) {
	f := fetcher.Start(fetcher.Config{ShardID: "s", Start: restriction.Position{Kind: restriction.TrimHorizon}}, blockedAPI{}, nil)
	defer f.Close()
	m := newReadMetrics()
	ctx := context.Background()
	if n := testing.AllocsPerRun(100, func() { m.report(ctx, "s", f) }); n != 0 {
		t.Fatalf("%v allocations per report, want 0", n)
	}
}
