package words

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kinesisio/beam-kinesis/internal/awsclient"
	"github.com/kinesisio/beam-kinesis/internal/backoff"
)

const (
	// ensureTimeout bounds EnsureStream, including the wait for ACTIVE.
	ensureTimeout = 2 * time.Minute
	// statusPoll is the pause between DescribeStreamSummary calls.
	statusPoll = 250 * time.Millisecond
)

// NewClient returns a Kinesis client with credentials from the AWS
// default chain (environment, shared config and credentials files, SSO,
// web identity, IMDS). An empty region is taken from that chain too
// (AWS_REGION, the profile); a non-empty endpoint replaces the region's
// AWS endpoint, for emulators such as kinesalite.
func NewClient(ctx context.Context, region, endpoint string) (*kinesis.Client, error) {
	// The connector's configuration loader and HTTP client, whose request
	// bodies hide WriteTo: without that, about one call in 750 against a
	// fast server fails after it was applied, and the SDK's retry of the
	// call stores its records twice.
	cfg, err := awsclient.LoadConfig(ctx, awsclient.Settings{Region: region})
	if err != nil {
		return nil, fmt.Errorf("words: %w", err)
	}
	return kinesis.NewFromConfig(cfg, func(o *kinesis.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
	}), nil
}

// EnsureStream creates the provisioned stream name with shards shards
// unless it exists, waits (at most 2 minutes) until it is ACTIVE, and
// returns its number of open shards.
func EnsureStream(ctx context.Context, c *kinesis.Client, name string, shards int32) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, ensureTimeout)
	defer cancel()
	_, err := c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
	var notFound *types.ResourceNotFoundException
	switch {
	case errors.As(err, &notFound):
		if _, err := c.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(shards)}); err != nil {
			var inUse *types.ResourceInUseException
			if !errors.As(err, &inUse) { // created meanwhile by someone else
				return 0, fmt.Errorf("words: create stream %s: %w", name, err)
			}
		}
	case err != nil:
		return 0, fmt.Errorf("words: describe stream %s: %w", name, err)
	}
	for {
		out, err := c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
		if err != nil {
			return 0, fmt.Errorf("words: describe stream %s: %w", name, err)
		}
		if s := out.StreamDescriptionSummary; s != nil && s.StreamStatus == types.StreamStatusActive {
			return int(aws.ToInt32(s.OpenShardCount)), nil
		}
		if err := backoff.Sleep(ctx, statusPoll); err != nil {
			return 0, fmt.Errorf("words: stream %s not ACTIVE: %w", name, err)
		}
	}
}
