package kinesistest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"regexp"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kinesisio/beam-kinesis/internal/awsclient"
)

const (
	// createTimeout bounds CreateStream, including the wait for ACTIVE.
	createTimeout = 30 * time.Second
	// statusPoll is the pause between DescribeStreamSummary calls.
	statusPoll = 50 * time.Millisecond
	// shardsTimeout bounds Shards.
	shardsTimeout = time.Minute
	// maxStreamName is the longest stream name Kinesis accepts.
	maxStreamName = 128
)

// CreateStream creates a provisioned stream with shards shards, waits
// (at most 30 s) until it is ACTIVE and returns its ARN.
func CreateStream(ctx context.Context, c *kinesis.Client, name string, shards int32) (arn string, err error) {
	ctx, cancel := context.WithTimeout(ctx, createTimeout)
	defer cancel()
	if _, err := c.CreateStream(ctx, &kinesis.CreateStreamInput{
		StreamName: aws.String(name),
		ShardCount: aws.Int32(shards),
	}); err != nil {
		return "", fmt.Errorf("kinesistest: create stream %s: %w", name, err)
	}
	for {
		out, err := c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
		if err != nil {
			return "", fmt.Errorf("kinesistest: describe stream %s: %w", name, err)
		}
		if s := out.StreamDescriptionSummary; s != nil && s.StreamStatus == types.StreamStatusActive {
			return aws.ToString(s.StreamARN), nil
		}
		select {
		case <-ctx.Done():
			return "", fmt.Errorf("kinesistest: stream %s not ACTIVE: %w", name, ctx.Err())
		case <-time.After(statusPoll):
		}
	}
}

var (
	invalidNameChars = regexp.MustCompile(`[^a-zA-Z0-9_.-]+`)
	nameSeq          atomic.Uint64
)

// StreamName returns a valid stream name, unique across calls and test
// processes, made of t.Name() (invalid characters replaced by "-",
// shortened to fit 128 characters) and a random suffix.
func StreamName(t testing.TB) string {
	suffix := fmt.Sprintf("-%08x-%d", rand.Uint32(), nameSeq.Add(1))
	base := invalidNameChars.ReplaceAllString(t.Name(), "-")
	if limit := maxStreamName - len(suffix); len(base) > limit {
		base = base[:limit]
	}
	return base + suffix
}

// Shards lists every shard of stream, open and closed, following
// ListShards pages (bounded to 1 minute).
func Shards(ctx context.Context, c *kinesis.Client, stream string) ([]types.Shard, error) {
	return listShards(ctx, c, stream, 0)
}

// listShards is Shards with a page size; 0 leaves it to the service.
func listShards(ctx context.Context, c *kinesis.Client, stream string, pageSize int32) ([]types.Shard, error) {
	ctx, cancel := context.WithTimeout(ctx, shardsTimeout)
	defer cancel()
	st, err := awsclient.ParseStream(stream)
	if err != nil {
		return nil, fmt.Errorf("kinesistest: %w", err)
	}
	shards, err := awsclient.ListShards(ctx, c, st, nil, pageSize)
	if err != nil {
		return nil, fmt.Errorf("kinesistest: list shards of %s: %w", stream, err)
	}
	return shards, nil
}

// shardByID returns the shard of stream with the given id.
func shardByID(ctx context.Context, c *kinesis.Client, stream, shardID string) (types.Shard, error) {
	shards, err := Shards(ctx, c, stream)
	if err != nil {
		return types.Shard{}, err
	}
	for _, s := range shards {
		if aws.ToString(s.ShardId) == shardID {
			return s, nil
		}
	}
	return types.Shard{}, fmt.Errorf("kinesistest: stream %s has no shard %s", stream, shardID)
}
