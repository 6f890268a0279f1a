package fakekinesis

import (
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
	smithyhttp "github.com/aws/smithy-go/transport/http"
)

// getRecords calls GetRecords once on a fresh TRIM_HORIZON iterator.
func getRecords(t *testing.T, c *kinesis.Client, shard string) error {
	t.Helper()
	it := iter(t, c, "s", shard, types.ShardIteratorTypeTrimHorizon, nil)
	_, err := c.GetRecords(ctx(t), &kinesis.GetRecordsInput{ShardIterator: aws.String(it)})
	return err
}

// wantStatus fails unless err is an API error with code and HTTP status.
func wantStatus(t *testing.T, err error, code string, status int) {
	t.Helper()
	var ae smithy.APIError
	var re *awshttp.ResponseError
	if !errors.As(err, &ae) || ae.ErrorCode() != code || !errors.As(err, &re) || re.HTTPStatusCode() != status {
		t.Fatalf("error = %v, want %s with HTTP %d", err, code, status)
	}
}

func TestFaultKinds(t *testing.T) {
	const sh = "shardId-000000000000"
	cases := []struct {
		kind  FaultKind
		check func(t *testing.T, err error)
	}{
		{Throttle, func(t *testing.T, err error) { wantErr[*types.ProvisionedThroughputExceededException](t, err) }},
		{ServerError500, func(t *testing.T, err error) { wantStatus(t, err, "InternalFailure", 500) }},
		{ServiceUnavailable503, func(t *testing.T, err error) { wantStatus(t, err, "ServiceUnavailable", 503) }},
		{ExpiredIterator, func(t *testing.T, err error) { wantErr[*types.ExpiredIteratorException](t, err) }},
		{ResourceInUse, func(t *testing.T, err error) { wantErr[*types.ResourceInUseException](t, err) }},
		{ConnectionReset, func(t *testing.T, err error) {
			var se *smithyhttp.RequestSendError
			var ae smithy.APIError
			if err == nil || errors.As(err, &ae) {
				t.Fatalf("error = %v, want a transport error", err)
			}
			if !errors.As(err, &se) {
				t.Logf("connection reset surfaced as %T: %v", err, err)
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.kind.String(), func(t *testing.T) {
			s, c := newServer(t)
			mustCreate(t, c, "s", 2)
			s.Inject(Fault{Op: "GetRecords", Shard: sh, Kind: tc.kind, Times: 2})
			for range 2 {
				tc.check(t, getRecords(t, c, sh))
			}
			if err := getRecords(t, c, sh); err != nil {
				t.Fatalf("after Times calls: %v", err)
			}
			if got := s.CallsByShard("GetRecords", sh); got != 3 {
				t.Errorf("CallsByShard = %d, want 3", got)
			}
		})
	}
}

func TestFaultMatching(t *testing.T) {
	s, c := newServer(t)
	mustCreate(t, c, "s", 2)
	s.Inject(Fault{Op: "GetRecords", Shard: "shardId-000000000001", Kind: Throttle})
	if err := getRecords(t, c, "shardId-000000000000"); err != nil {
		t.Fatalf("other shard: %v", err)
	}
	for range 3 {
		wantErr[*types.ProvisionedThroughputExceededException](t, getRecords(t, c, "shardId-000000000001"))
	}
	s.ClearFaults()
	if err := getRecords(t, c, "shardId-000000000001"); err != nil {
		t.Fatalf("after ClearFaults: %v", err)
	}
	s.Inject(Fault{Kind: ServerError500, For: 100 * time.Millisecond})
	_, err := c.ListShards(ctx(t), &kinesis.ListShardsInput{StreamName: aws.String("s")})
	wantStatus(t, err, "InternalFailure", 500)
	time.Sleep(150 * time.Millisecond)
	if _, err := c.ListShards(ctx(t), &kinesis.ListShardsInput{StreamName: aws.String("s")}); err != nil {
		t.Fatalf("after For: %v", err)
	}
	s.Inject(Fault{Op: "ListShards", Kind: Throttle, Times: 1})
	_, err = c.ListShards(ctx(t), &kinesis.ListShardsInput{StreamName: aws.String("s")})
	wantErr[*types.LimitExceededException](t, err)
	if got := s.Calls("ListShards"); got != 3 {
		t.Errorf("Calls(ListShards) = %d, want 3", got)
	}
}

func TestSlowFault(t *testing.T) {
	s, c := newServer(t)
	mustCreate(t, c, "s", 1)
	s.Inject(Fault{Op: "DescribeStreamSummary", Kind: Slow(200 * time.Millisecond), Times: 1})
	start := time.Now()
	if _, err := c.DescribeStreamSummary(ctx(t), &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("s")}); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 200*time.Millisecond {
		t.Errorf("slow call took %v", d)
	}
}

func TestPartialPutFailure(t *testing.T) {
	s, c := newServer(t)
	mustCreate(t, c, "s", 2)
	entries := make([]types.PutRecordsRequestEntry, 10)
	for i := range entries {
		entries[i] = types.PutRecordsRequestEntry{PartitionKey: aws.String("k" + string(rune('a'+i))), Data: []byte("x")}
	}
	s.Inject(Fault{Op: "PutRecords", Kind: PartialPutFailure, Times: 1})
	out, err := c.PutRecords(ctx(t), &kinesis.PutRecordsInput{StreamName: aws.String("s"), Records: entries})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToInt32(out.FailedRecordCount) != 5 {
		t.Fatalf("FailedRecordCount = %d, want 5", aws.ToInt32(out.FailedRecordCount))
	}
	for i, r := range out.Records {
		failed := r.ErrorCode != nil
		if failed != (i%2 == 1) || (failed && (*r.ErrorCode != "ProvisionedThroughputExceededException" || r.ErrorMessage == nil || r.SequenceNumber != nil)) {
			t.Errorf("entry %d: %+v", i, r)
		}
	}
	s.Inject(Fault{Op: "PutRecords", Shard: "shardId-000000000001", Kind: PartialPutFailure, Times: 1})
	out, err = c.PutRecords(ctx(t), &kinesis.PutRecordsInput{StreamName: aws.String("s"), Records: entries})
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range out.Records {
		if (r.ErrorCode != nil) == (aws.ToString(r.ShardId) == "shardId-000000000000") && r.ShardId != nil {
			t.Errorf("entry %+v", r)
		}
	}
	if aws.ToInt32(out.FailedRecordCount) == 0 || aws.ToInt32(out.FailedRecordCount) == 10 {
		t.Errorf("FailedRecordCount = %d", aws.ToInt32(out.FailedRecordCount))
	}
}

func TestSetUnavailable(t *testing.T) {
	s, c := newServer(t)
	mustCreate(t, c, "s", 1)
	s.SetUnavailable(300 * time.Millisecond)
	var unavailable, reset int
	for range 4 {
		_, err := c.DescribeStreamSummary(ctx(t), &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("s")})
		var re *awshttp.ResponseError
		switch {
		case err == nil:
			t.Fatal("call succeeded while unavailable")
		case errors.As(err, &re) && re.HTTPStatusCode() == http.StatusServiceUnavailable:
			unavailable++
		default:
			reset++
		}
	}
	if unavailable != 2 || reset != 2 {
		t.Errorf("%d 503s and %d resets, want 2 and 2", unavailable, reset)
	}
	time.Sleep(350 * time.Millisecond)
	if _, err := c.DescribeStreamSummary(ctx(t), &kinesis.DescribeStreamSummaryInput{StreamName: aws.String("s")}); err != nil {
		t.Fatalf("after SetUnavailable: %v", err)
	}
}

func TestRetryingClientRecovers(t *testing.T) {
	s, _ := newServer(t)
	c := kinesis.New(kinesis.Options{Region: "us-east-1", BaseEndpoint: aws.String(s.Endpoint()), Credentials: newClient(s.Endpoint(), false).Options().Credentials})
	mustCreate(t, c, "s", 1)
	for _, k := range []FaultKind{Throttle, ServerError500, ServiceUnavailable503, ConnectionReset} {
		s.Inject(Fault{Op: "PutRecord", Kind: k, Times: 1})
	}
	if _, err := c.PutRecord(ctx(t), &kinesis.PutRecordInput{StreamName: aws.String("s"), PartitionKey: aws.String("k"), Data: []byte("x")}); err == nil {
		t.Log("the SDK's default retryer retried through four faults") // default max attempts is 3
	}
	if _, err := c.PutRecord(ctx(t), &kinesis.PutRecordInput{StreamName: aws.String("s"), PartitionKey: aws.String("k"), Data: []byte("x")}); err != nil {
		t.Fatalf("retrying client: %v", err)
	}
}
