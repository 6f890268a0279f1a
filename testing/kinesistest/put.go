package kinesistest

import (
	"context"
	"fmt"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

const (
	// maxBatchRecords and maxBatchBytes are PutRecords' limits on one call.
	maxBatchRecords = 500
	maxBatchBytes   = 5 << 20
	// maxPutAttempts bounds the tries of an entry that keeps failing.
	maxPutAttempts = 10
	// retryPause is multiplied by the attempt number between tries.
	retryPause = 50 * time.Millisecond
	// putTimeout bounds PutToShard and PutRecords.
	putTimeout = 5 * time.Minute
)

// Put is one record as PutToShard or PutRecords put it.
type Put struct {
	// ShardID is the shard the record landed on.
	ShardID string
	// SequenceNumber is the record's sequence number in that shard.
	SequenceNumber string
	// PartitionKey is the partition key it was put with.
	PartitionKey string
	// Data is the record's payload.
	Data []byte
}

// entry is one record to put.
type entry struct {
	data         []byte
	partitionKey string
	hashKey      *string // ExplicitHashKey, or nil
}

// PutToShard puts one record per element of data on shard shardID of
// stream, by giving each the shard's StartingHashKey as ExplicitHashKey
// (partition keys are "pk-0", "pk-1", ...). It sends PutRecords calls of
// at most 500 records and 5 MiB, retries failed entries up to 10 times,
// and fails if any record still fails or lands on another shard. Results
// are in the order of data; a retried record may have a higher sequence
// number than the ones after it. It is bounded to 5 minutes.
func PutToShard(ctx context.Context, c *kinesis.Client, stream, shardID string, data [][]byte) ([]Put, error) {
	shard, err := shardByID(ctx, c, stream, shardID)
	if err != nil {
		return nil, err
	}
	hashKey := shard.HashKeyRange.StartingHashKey
	entries := make([]entry, len(data))
	for i, d := range data {
		entries[i] = entry{data: d, partitionKey: "pk-" + strconv.Itoa(i), hashKey: hashKey}
	}
	return putEntries(ctx, c, stream, shardID, entries)
}

// PutRecords puts one record per element of data on stream with random
// partition keys, so that they spread over the open shards. Batching,
// retries, ordering and time bound are as for PutToShard.
func PutRecords(ctx context.Context, c *kinesis.Client, stream string, data [][]byte) ([]Put, error) {
	entries := make([]entry, len(data))
	for i, d := range data {
		entries[i] = entry{data: d, partitionKey: fmt.Sprintf("%016x", rand.Uint64())}
	}
	return putEntries(ctx, c, stream, "", entries)
}

// putEntries puts entries in batches, in order, and returns their results
// in the same order. A non-empty wantShard is checked against every result.
func putEntries(ctx context.Context, c *kinesis.Client, stream, wantShard string, entries []entry) ([]Put, error) {
	ctx, cancel := context.WithTimeout(ctx, putTimeout)
	defer cancel()
	results := make([]Put, len(entries))
	for start := 0; start < len(entries); {
		end, size := start, 0
		for end < len(entries) && end-start < maxBatchRecords {
			n := len(entries[end].data) + len(entries[end].partitionKey)
			if end > start && size+n > maxBatchBytes {
				break
			}
			size += n
			end++
		}
		if err := putBatch(ctx, c, stream, wantShard, entries, start, end, results); err != nil {
			return nil, err
		}
		start = end
	}
	return results, nil
}

// putBatch puts entries[start:end] with one PutRecords call, then one per
// retry of the entries that failed, filling results.
func putBatch(ctx context.Context, c *kinesis.Client, stream, wantShard string, entries []entry, start, end int, results []Put) error {
	pending := make([]int, 0, end-start)
	for i := start; i < end; i++ {
		pending = append(pending, i)
	}
	var lastFailure string
	for attempt := 1; attempt <= maxPutAttempts; attempt++ {
		in := &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: make([]types.PutRecordsRequestEntry, len(pending))}
		for j, i := range pending {
			e := entries[i]
			in.Records[j] = types.PutRecordsRequestEntry{Data: e.data, PartitionKey: aws.String(e.partitionKey), ExplicitHashKey: e.hashKey}
		}
		out, err := c.PutRecords(ctx, in)
		if err != nil {
			return fmt.Errorf("kinesistest: put %d records on %s: %w", len(pending), stream, err)
		}
		if len(out.Records) != len(pending) {
			return fmt.Errorf("kinesistest: put %d records on %s: got %d results", len(pending), stream, len(out.Records))
		}
		var failed []int
		for j, r := range out.Records {
			i := pending[j]
			if r.ErrorCode != nil {
				failed = append(failed, i)
				lastFailure = aws.ToString(r.ErrorCode) + ": " + aws.ToString(r.ErrorMessage)
				continue
			}
			shard := aws.ToString(r.ShardId)
			if wantShard != "" && shard != wantShard {
				return fmt.Errorf("kinesistest: record %d landed on %s of %s, not %s", i, shard, stream, wantShard)
			}
			results[i] = Put{ShardID: shard, SequenceNumber: aws.ToString(r.SequenceNumber), PartitionKey: entries[i].partitionKey, Data: entries[i].data}
		}
		if len(failed) == 0 {
			return nil
		}
		pending = failed
		select {
		case <-ctx.Done():
			return fmt.Errorf("kinesistest: retry %d failed records on %s (last: %s): %w", len(pending), stream, lastFailure, ctx.Err())
		case <-time.After(time.Duration(attempt) * retryPause):
		}
	}
	return fmt.Errorf("kinesistest: %d records still failed on %s after %d attempts (last: %s)", len(pending), stream, maxPutAttempts, lastFailure)
}
