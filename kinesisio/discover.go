package kinesisio

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/awsclient"
)

// discoverFn lists the shards of the stream when the job starts and emits
// one shardDesc per shard, with LATEST pinned to that moment.
type discoverFn struct {
	Stream            string
	Client            awsclient.Settings
	Start             startSpec
	StopAtLatest      bool
	MaxReadTimeMillis int64

	stream awsclient.Stream
	client awsclient.Kinesis
}

func (fn *discoverFn) Setup(ctx context.Context) error {
	var err error
	fn.stream, fn.client, err = newClient(ctx, fn.Stream, fn.Client)
	return err
}

func (fn *discoverFn) ProcessElement(ctx context.Context, _ []byte, emit func(beam.EventTime, shardDesc)) error {
	now := time.Now()
	shards, err := listShards(ctx, fn.client, fn.stream, fn.Client)
	if err != nil {
		return err
	}
	for _, s := range shards {
		id := aws.ToString(s.ShardId)
		pos := fn.Start.resolve(id, now)
		d := shardDesc{ShardID: id, StartKind: int(pos.Kind), StartSeq: pos.Seq, StartMillis: pos.Millis}
		if s.SequenceNumberRange != nil {
			d.EndSeq = aws.ToString(s.SequenceNumberRange.EndingSequenceNumber)
		}
		if fn.StopAtLatest {
			d.StopAtMillis = now.UnixMilli()
		}
		if fn.MaxReadTimeMillis > 0 {
			d.DeadlineMillis = now.UnixMilli() + fn.MaxReadTimeMillis
		}
		emit(d.eventTime(), d)
	}
	return nil
}

// listShards lists every shard of the stream, paging correctly (NextToken
// without the stream name: apache/beam#33478 and others). Transient errors
// are retried with backoff until ctx ends; permanent ones are returned
// with what to fix.
func listShards(ctx context.Context, api awsclient.Kinesis, stream awsclient.Stream, s awsclient.Settings) ([]types.Shard, error) {
	for attempt := 0; ; attempt++ {
		shards, err := listShardsOnce(ctx, api, stream)
		if err == nil {
			return shards, nil
		}
		switch awsclient.Classify(err) {
		case awsclient.Permanent:
			return nil, explain(err, stream, s)
		case awsclient.Canceled:
			return nil, err
		}
		d := time.Duration(rand.Int64N(int64(min(100*time.Millisecond<<min(attempt, 8), 10*time.Second))))
		log.Warnf(ctx, "kinesisio: listing shards of %v failed (attempt %d, retrying in %v): %v", stream, attempt+1, d, err)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(d):
		}
	}
}

func listShardsOnce(ctx context.Context, api awsclient.Kinesis, stream awsclient.Stream) ([]types.Shard, error) {
	name, arn := stream.Ref()
	in := &kinesis.ListShardsInput{StreamName: name, StreamARN: arn}
	var shards []types.Shard
	for {
		out, err := api.ListShards(ctx, in)
		if err != nil {
			return nil, err
		}
		shards = append(shards, out.Shards...)
		if out.NextToken == nil || *out.NextToken == "" {
			return shards, nil
		}
		// Follow-up pages carry the token alone: AWS rejects it together
		// with the stream name.
		in = &kinesis.ListShardsInput{NextToken: out.NextToken}
	}
}

// explain turns a permanent error into a message that says what to fix.
func explain(err error, stream awsclient.Stream, s awsclient.Settings) error {
	where := s.Region
	if where == "" {
		where = "the default region"
	}
	if s.Endpoint != "" {
		where += " at " + s.Endpoint
	}
	var notFound *types.ResourceNotFoundException
	var denied *types.AccessDeniedException
	switch {
	case errors.As(err, &notFound):
		return fmt.Errorf("kinesisio: stream %v not found in %s: check the stream name, region and account (%w)", stream, where, err)
	case errors.As(err, &denied):
		return fmt.Errorf("kinesisio: access to stream %v in %s denied: grant the workers' role kinesis:ListShards, GetShardIterator and GetRecords on it (%w)", stream, where, err)
	}
	return fmt.Errorf("kinesisio: stream %v in %s: %w", stream, where, err)
}

// newClient parses the stream and builds a client for it on a worker.
func newClient(ctx context.Context, raw string, s awsclient.Settings) (awsclient.Stream, awsclient.Kinesis, error) {
	stream, err := awsclient.ParseStream(raw)
	if err != nil {
		return stream, nil, fmt.Errorf("kinesisio: %w", err)
	}
	if s.Region == "" {
		s.Region = stream.Region
	}
	c, err := awsclient.New(ctx, s)
	if err != nil {
		return stream, nil, err
	}
	return stream, c, nil
}
