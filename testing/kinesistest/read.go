package kinesistest

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

const (
	// readTimeout bounds ReadAll.
	readTimeout = 10 * time.Minute
	// readLimit is the Limit of each GetRecords call.
	readLimit = 10000
)

// Got is one record as ReadAll read it.
type Got struct {
	// ShardID is the shard the record was read from.
	ShardID string
	// SequenceNumber is the record's sequence number.
	SequenceNumber string
	// PartitionKey is the record's partition key.
	PartitionKey string
	// Data is the record's payload.
	Data []byte
	// Arrival is the record's ApproximateArrivalTimestamp.
	Arrival time.Time
}

// ReadAll reads every shard of stream (open and closed) from TRIM_HORIZON
// with a bare GetRecords loop and returns the records by shard ID, in
// shard order; shards without records are absent from the map. A shard is
// done when a call returns no records and either no next iterator or
// MillisBehindLatest 0, or when there is no next iterator. It does not pace
// its calls (emulators do not throttle) and is bounded to 10 minutes.
func ReadAll(ctx context.Context, c *kinesis.Client, stream string) (map[string][]Got, error) {
	ctx, cancel := context.WithTimeout(ctx, readTimeout)
	defer cancel()
	shards, err := Shards(ctx, c, stream)
	if err != nil {
		return nil, err
	}
	all := make(map[string][]Got)
	for _, s := range shards {
		id := aws.ToString(s.ShardId)
		got, err := readShard(ctx, c, stream, id)
		if err != nil {
			return nil, err
		}
		if len(got) > 0 {
			all[id] = got
		}
	}
	return all, nil
}

// readShard reads one shard from TRIM_HORIZON until it is caught up.
func readShard(ctx context.Context, c *kinesis.Client, stream, shardID string) ([]Got, error) {
	it, err := c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
		StreamName:        aws.String(stream),
		ShardId:           aws.String(shardID),
		ShardIteratorType: types.ShardIteratorTypeTrimHorizon,
	})
	if err != nil {
		return nil, fmt.Errorf("kinesistest: iterator for %s of %s: %w", shardID, stream, err)
	}
	iterator := it.ShardIterator
	var got []Got
	for iterator != nil {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("kinesistest: read %s of %s: %w", shardID, stream, err)
		}
		out, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iterator, Limit: aws.Int32(readLimit)})
		if err != nil {
			return nil, fmt.Errorf("kinesistest: get records from %s of %s: %w", shardID, stream, err)
		}
		for _, r := range out.Records {
			got = append(got, Got{
				ShardID:        shardID,
				SequenceNumber: aws.ToString(r.SequenceNumber),
				PartitionKey:   aws.ToString(r.PartitionKey),
				Data:           r.Data,
				Arrival:        aws.ToTime(r.ApproximateArrivalTimestamp),
			})
		}
		// kinesalite always reports MillisBehindLatest 0 but returns
		// records whenever some remain, so an empty answer is needed too.
		if len(out.Records) == 0 && aws.ToInt64(out.MillisBehindLatest) == 0 {
			break
		}
		iterator = out.NextShardIterator
	}
	return got, nil
}
