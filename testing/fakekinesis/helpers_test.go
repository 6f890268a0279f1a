package fakekinesis

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/kinesisio/beam-kinesis/testing/kinesistest"
)

// testTimeout bounds each test's calls.
const testTimeout = 30 * time.Second

// newClient returns an SDK client for endpoint without retries, so faults
// surface as errors.
func newClient(endpoint string, h2c bool) *kinesis.Client {
	o := kinesis.Options{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		BaseEndpoint: aws.String(endpoint),
		Retryer:      aws.NopRetryer{},
		HTTPClient:   kinesistest.HTTPClient(), // without the smithy-go body race
	}
	if h2c {
		o.HTTPClient = awshttp.NewBuildableClient().WithTransportOptions(func(tr *http.Transport) {
			var p http.Protocols
			p.SetUnencryptedHTTP2(true)
			tr.Protocols = &p
		})
	}
	return kinesis.New(o)
}

// newServer starts a server closed at the end of the test, and a client.
func newServer(t testing.TB, opts ...Option) (*Server, *kinesis.Client) {
	t.Helper()
	s, err := NewServer(opts...)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s, newClient(s.Endpoint(), false)
}

// ctx returns a context bounded by testTimeout.
func ctx(t testing.TB) context.Context {
	c, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return c
}

// mustCreate creates a provisioned stream with n shards.
func mustCreate(t testing.TB, c *kinesis.Client, name string, n int32) {
	t.Helper()
	if _, err := c.CreateStream(ctx(t), &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(n)}); err != nil {
		t.Fatalf("CreateStream: %v", err)
	}
}

// listAll lists every shard of stream.
func listAll(t testing.TB, c *kinesis.Client, stream string) []types.Shard {
	t.Helper()
	out, err := c.ListShards(ctx(t), &kinesis.ListShardsInput{StreamName: aws.String(stream)})
	if err != nil {
		t.Fatalf("ListShards: %v", err)
	}
	return out.Shards
}

// putN puts n records with keys prefix-0.. and returns the results.
func putN(t testing.TB, c *kinesis.Client, stream, prefix string, n int) []types.PutRecordsResultEntry {
	t.Helper()
	var all []types.PutRecordsResultEntry
	for start := 0; start < n; start += 500 {
		var entries []types.PutRecordsRequestEntry
		for i := start; i < min(n, start+500); i++ {
			entries = append(entries, types.PutRecordsRequestEntry{
				PartitionKey: aws.String(fmt.Sprintf("%s-%d", prefix, i)),
				Data:         []byte(fmt.Sprintf("data-%s-%d", prefix, i)),
			})
		}
		out, err := c.PutRecords(ctx(t), &kinesis.PutRecordsInput{StreamName: aws.String(stream), Records: entries})
		if err != nil {
			t.Fatalf("PutRecords: %v", err)
		}
		if aws.ToInt32(out.FailedRecordCount) != 0 {
			t.Fatalf("PutRecords: %d failed", aws.ToInt32(out.FailedRecordCount))
		}
		all = append(all, out.Records...)
	}
	return all
}

// iter returns a shard iterator.
func iter(t testing.TB, c *kinesis.Client, stream, shard string, typ types.ShardIteratorType, seq *string) string {
	t.Helper()
	out, err := c.GetShardIterator(ctx(t), &kinesis.GetShardIteratorInput{
		StreamName: aws.String(stream), ShardId: aws.String(shard), ShardIteratorType: typ, StartingSequenceNumber: seq,
	})
	if err != nil {
		t.Fatalf("GetShardIterator %s %s: %v", shard, typ, err)
	}
	return aws.ToString(out.ShardIterator)
}

// readShard reads a shard from it until caught up (or its end) and
// returns the records and the last output.
func readShard(t testing.TB, c *kinesis.Client, it string) ([]types.Record, *kinesis.GetRecordsOutput) {
	t.Helper()
	var recs []types.Record
	for range 10000 {
		out, err := c.GetRecords(ctx(t), &kinesis.GetRecordsInput{ShardIterator: aws.String(it)})
		if err != nil {
			t.Fatalf("GetRecords: %v", err)
		}
		recs = append(recs, out.Records...)
		if out.NextShardIterator == nil || (len(out.Records) == 0 && aws.ToInt64(out.MillisBehindLatest) == 0) {
			return recs, out
		}
		it = aws.ToString(out.NextShardIterator)
	}
	t.Fatal("readShard: too many calls")
	return nil, nil
}

// wantErr fails unless err is (or wraps) a *T.
func wantErr[T error](t testing.TB, err error) T {
	t.Helper()
	var target T
	if !errors.As(err, &target) {
		t.Fatalf("error = %v (%T), want %T", err, err, target)
	}
	return target
}
