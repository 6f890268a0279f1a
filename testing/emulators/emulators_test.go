package emulators_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kinesisio/beam-kinesis/testing/emulators"
)

func TestMain(m *testing.M) { os.Exit(emulators.Run(m)) }

func newClient(endpoint string, httpClient aws.HTTPClient) *kinesis.Client {
	return kinesis.New(kinesis.Options{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		BaseEndpoint: aws.String(endpoint),
		HTTPClient:   httpClient,
	})
}

// roundTrip creates a one-shard stream, puts a record and reads it back.
func roundTrip(t *testing.T, c *kinesis.Client) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	defer cancel()
	name := fmt.Sprintf("roundtrip-%d", time.Now().UnixNano())
	if _, err := c.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(1)}); err != nil {
		t.Fatalf("CreateStream: %v", err)
	}
	for {
		out, err := c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
		if err != nil {
			t.Fatalf("DescribeStreamSummary: %v", err)
		}
		if out.StreamDescriptionSummary.StreamStatus == types.StreamStatusActive {
			break
		}
		select {
		case <-ctx.Done():
			t.Fatalf("stream %s not ACTIVE: %v", name, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	want := []byte("hello, emulator")
	put, err := c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String(name), PartitionKey: aws.String("pk"), Data: want})
	if err != nil {
		t.Fatalf("PutRecord: %v", err)
	}
	it, err := c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
		StreamName:        aws.String(name),
		ShardId:           put.ShardId,
		ShardIteratorType: types.ShardIteratorTypeTrimHorizon,
	})
	if err != nil {
		t.Fatalf("GetShardIterator: %v", err)
	}
	got, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: it.ShardIterator})
	if err != nil {
		t.Fatalf("GetRecords: %v", err)
	}
	if len(got.Records) != 1 {
		t.Fatalf("GetRecords returned %d records, want 1", len(got.Records))
	}
	r := got.Records[0]
	if !bytes.Equal(r.Data, want) || aws.ToString(r.SequenceNumber) != aws.ToString(put.SequenceNumber) || aws.ToString(r.PartitionKey) != "pk" {
		t.Errorf("got record (%q, seq %s, key %s), want (%q, seq %s, key pk)",
			r.Data, aws.ToString(r.SequenceNumber), aws.ToString(r.PartitionKey), want, aws.ToString(put.SequenceNumber))
	}
}

func TestKinesaliteRoundTrip(t *testing.T) {
	t.Parallel()
	e := emulators.Require(t, emulators.Kinesalite)
	if e.Kind != emulators.Kinesalite || !strings.HasPrefix(e.Endpoint, "http://127.0.0.1:") || e.TLSEndpoint != "" {
		t.Fatalf("emulator = %+v", e)
	}
	roundTrip(t, newClient(e.Endpoint, nil))
}

func TestKinesisMockRoundTrip(t *testing.T) {
	t.Parallel()
	e := emulators.Require(t, emulators.KinesisMock)
	if e.Kind != emulators.KinesisMock || !strings.HasPrefix(e.Endpoint, "http://127.0.0.1:") || !strings.HasPrefix(e.TLSEndpoint, "https://127.0.0.1:") {
		t.Fatalf("emulator = %+v", e)
	}
	t.Run("plain", func(t *testing.T) { roundTrip(t, newClient(e.Endpoint, nil)) })
	t.Run("tls", func(t *testing.T) {
		insecure := &http.Client{Transport: &http.Transport{
			TLSClientConfig: &tls.Config{InsecureSkipVerify: true}, // the emulator's self-signed certificate
		}}
		defer insecure.CloseIdleConnections()
		roundTrip(t, newClient(e.TLSEndpoint, insecure))
	})
}

func TestRequireSharesOneInstance(t *testing.T) {
	t.Parallel()
	a := emulators.Require(t, emulators.Kinesalite)
	b := emulators.Require(t, emulators.Kinesalite)
	if a != b {
		t.Errorf("Require returned two instances: %s and %s", a.Endpoint, b.Endpoint)
	}
}

func TestDynaliteListTables(t *testing.T) {
	t.Parallel()
	e := emulators.Require(t, emulators.Dynalite)
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, e.Endpoint+"/", strings.NewReader("{}"))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Amz-Target", "DynamoDB_20120810.ListTables")
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	req.Header.Set("X-Amz-Date", "20200101T000000Z")
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=test/20200101/us-east-1/dynamodb/aws4_request, SignedHeaders=host;x-amz-date, Signature=x")
	resp, err := (&http.Client{Timeout: 10 * time.Second}).Do(req)
	if err != nil {
		t.Fatalf("ListTables: %v", err)
	}
	defer resp.Body.Close()
	var body bytes.Buffer
	body.ReadFrom(resp.Body)
	if resp.StatusCode != http.StatusOK || !strings.Contains(body.String(), `"TableNames"`) {
		t.Errorf("ListTables: HTTP %d %s", resp.StatusCode, body.String())
	}
}

func TestStartStop(t *testing.T) {
	t.Parallel()
	emulators.Require(t, emulators.Kinesalite) // skips when emulators are unavailable
	ctx, cancel := context.WithTimeout(t.Context(), time.Minute)
	defer cancel()
	e, err := emulators.Start(ctx, emulators.Kinesalite)
	if err != nil {
		t.Fatalf("Start: %v", err)
	}
	c := newClient(e.Endpoint, nil)
	if _, err := c.ListStreams(ctx, &kinesis.ListStreamsInput{}); err != nil {
		t.Fatalf("ListStreams before Stop: %v", err)
	}
	if err := e.Stop(); err != nil {
		t.Fatalf("Stop: %v", err)
	}
	if err := e.Stop(); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	addr := strings.TrimPrefix(e.Endpoint, "http://")
	conn, err := net.DialTimeout("tcp", addr, time.Second)
	if err == nil {
		conn.Close()
		t.Errorf("%s still accepts connections after Stop", addr)
	}
}

func TestStartUnknownKind(t *testing.T) {
	_, err := emulators.Start(t.Context(), emulators.Kind("nope"))
	if err == nil || !strings.Contains(err.Error(), "unknown kind") {
		t.Errorf("Start(nope) error = %v, want unknown kind", err)
	}
}

func TestStopNil(t *testing.T) {
	var e *emulators.Emulator
	if err := e.Stop(); err != nil {
		t.Errorf("nil Stop = %v", err)
	}
}
