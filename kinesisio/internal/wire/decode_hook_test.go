package wire

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kinesisio/beam-kinesis/internal/awsclient"
	"github.com/kinesisio/beam-kinesis/testing/emulators"
	"github.com/kinesisio/beam-kinesis/testing/fakekinesis"
)

// recorder is an HTTP client that keeps the GetRecords response bodies.
type recorder struct {
	bodies [][]byte
}

func (r *recorder) Do(req *http.Request) (*http.Response, error) {
	resp, err := http.DefaultClient.Do(req)
	if err != nil || !strings.HasSuffix(req.Header.Get("X-Amz-Target"), ".GetRecords") {
		return resp, err
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	if resp.StatusCode == 200 {
		r.bodies = append(r.bodies, b)
	}
	resp.Body = io.NopCloser(bytes.NewReader(b))
	return resp, nil
}

func client(endpoint string, h aws.HTTPClient) *kinesis.Client {
	return kinesis.New(kinesis.Options{
		Region:       "us-east-1",
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		BaseEndpoint: aws.String(endpoint),
		HTTPClient:   h,
		Retryer:      aws.NopRetryer{},
	})
}

// putAndRead creates a one-shard stream, puts varied records and reads
// them back through d, checking them against what was put. It returns
// the records read and the stream's name.
func putAndRead(t *testing.T, c *kinesis.Client, d *Decoder) ([]Record, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	name := fmt.Sprintf("wire-%d", time.Now().UnixNano())
	if _, err := c.CreateStream(ctx, &kinesis.CreateStreamInput{StreamName: aws.String(name), ShardCount: aws.Int32(1)}); err != nil {
		t.Fatalf("CreateStream: %v", err)
	}
	for i := 0; ; i++ {
		out, err := c.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(name)})
		if err != nil {
			t.Fatalf("DescribeStreamSummary: %v", err)
		}
		if out.StreamDescriptionSummary.StreamStatus == types.StreamStatusActive {
			break
		}
		if i > 500 {
			t.Fatal("stream not ACTIVE")
		}
		time.Sleep(20 * time.Millisecond)
	}
	var want [][]byte
	var keys []string
	for i, size := range []int{0, 1, 2, 3, 100, 1000, 10 << 10} {
		data := make([]byte, size)
		for j := range data {
			data[j] = byte(i*31 + j*7)
		}
		key := fmt.Sprintf("k%d-é\"\\/ü😀", i)
		if size == 0 {
			// The emulators refuse empty data; kinesis too.
			data = []byte{0xff}
		}
		if _, err := c.PutRecord(ctx, &kinesis.PutRecordInput{StreamName: aws.String(name), PartitionKey: aws.String(key), Data: data}); err != nil {
			t.Fatalf("PutRecord: %v", err)
		}
		want, keys = append(want, data), append(keys, key)
	}
	shards, err := c.ListShards(ctx, &kinesis.ListShardsInput{StreamName: aws.String(name)})
	if err != nil {
		t.Fatalf("ListShards: %v", err)
	}
	it, err := c.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{StreamName: aws.String(name), ShardId: shards.Shards[0].ShardId, ShardIteratorType: types.ShardIteratorTypeTrimHorizon})
	if err != nil {
		t.Fatalf("GetShardIterator: %v", err)
	}
	var got []Record
	iter := it.ShardIterator
	for range 5 {
		out, err := c.GetRecords(ctx, &kinesis.GetRecordsInput{ShardIterator: iter, Limit: aws.Int32(4)}, d.Option())
		if err != nil {
			t.Fatalf("GetRecords: %v", err)
		}
		got = append(got, d.Records(out)...)
		if out.NextShardIterator == nil {
			break
		}
		iter = out.NextShardIterator
	}
	if len(got) != len(want) {
		t.Fatalf("read %d records, want %d", len(got), len(want))
	}
	for i, r := range got {
		if !bytes.Equal(r.Data, want[i]) || r.PartitionKey != keys[i] || r.SequenceNumber == "" || r.Arrival.IsZero() {
			t.Fatalf("record %d: %q key %q seq %q at %v; want %q key %q", i, r.Data, r.PartitionKey, r.SequenceNumber, r.Arrival, want[i], keys[i])
		}
	}
	return got, name
}

// TestDecoderBehindClient reads through the hook from the in-process
// server and both emulators: the records are right, and the decoder (not
// the SDK) decoded every successful response.
func TestDecoderBehindClient(t *testing.T) {
	srv, err := fakekinesis.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	endpoints := map[string]string{"fakekinesis": srv.Endpoint()}
	for _, kind := range []emulators.Kind{emulators.Kinesalite, emulators.KinesisMock} {
		e := emulators.Require(t, kind)
		endpoints[fmt.Sprint(kind)] = e.Endpoint
	}
	capture := os.Getenv("WIRE_CAPTURE") != ""
	for name, ep := range endpoints {
		t.Run(name, func(t *testing.T) {
			rec := &recorder{}
			d := NewDecoder()
			putAndRead(t, client(ep, rec), d)
			if d.Decoded == 0 || d.Fallbacks != 0 {
				t.Errorf("decoded %d responses, fell back on %d; want all decoded", d.Decoded, d.Fallbacks)
			}
			for i, b := range rec.bodies {
				if !check(t, b) {
					t.Errorf("body %d refused: %.300s", i, b)
				}
				if capture {
					f := filepath.Join("testdata", "bodies", fmt.Sprintf("%s-%d.json", name, i))
					if err := os.WriteFile(f, b, 0o644); err != nil {
						t.Fatal(err)
					}
				}
			}
		})
	}
}

// TestDecoderErrorsStayTheSDKs checks that an error response goes through
// the SDK's deserializer: the typed error is there for errors.As.
func TestDecoderErrorsStayTheSDKs(t *testing.T) {
	srv, err := fakekinesis.NewServer()
	if err != nil {
		t.Fatal(err)
	}
	defer srv.Close()
	c := client(srv.Endpoint(), nil)
	d := NewDecoder()
	_, err = c.GetRecords(t.Context(), &kinesis.GetRecordsInput{ShardIterator: aws.String("bogus")}, d.Option())
	var bad *types.InvalidArgumentException
	var expired *types.ExpiredIteratorException
	var notFound *types.ResourceNotFoundException
	if err == nil || !(errors.As(err, &bad) || errors.As(err, &expired) || errors.As(err, &notFound)) {
		t.Fatalf("GetRecords with a bogus iterator: %T %v; want a typed Kinesis error", err, err)
	}
	if d.Decoded != 0 || d.Fallbacks != 0 {
		t.Errorf("decoded %d, fell back %d on an error response; want neither", d.Decoded, d.Fallbacks)
	}
}

// TestDecoderKeepsConnectionsAlive: the body is read to its end, so the
// HTTP client reuses its connection from call to call (a body closed
// before EOF makes net/http close the connection: a new TCP, and with
// Kinesis a new TLS, handshake per call).
func TestDecoderKeepsConnectionsAlive(t *testing.T) {
	for _, route := range []bool{false, true} {
		t.Run(fmt.Sprintf("decoder=%v", route), func(t *testing.T) {
			body := body(10, 100)
			var conns atomic.Int64
			srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				_, _ = io.Copy(io.Discard, r.Body)
				w.Header().Set("Content-Type", "application/x-amz-json-1.1")
				w.Header().Set("Content-Length", fmt.Sprint(len(body)))
				_, _ = w.Write(body)
			}))
			srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
				if s == http.StateNew {
					conns.Add(1)
				}
			}
			srv.Start()
			defer srv.Close()
			// The connector's HTTP client: a plain one loses a connection
			// now and then to smithy-go's early request body close (see
			// awsclient.NewHTTPClient).
			c := client(srv.URL, awsclient.NewHTTPClient())
			d := NewDecoder()
			var opts []func(*kinesis.Options)
			if route {
				opts = append(opts, d.Option())
			}
			for range 20 {
				out, err := c.GetRecords(t.Context(), &kinesis.GetRecordsInput{ShardIterator: aws.String("it")}, opts...)
				if err != nil {
					t.Fatal(err)
				}
				if n := len(d.Records(out)); n != 10 {
					t.Fatalf("%d records, want 10", n)
				}
			}
			if n := conns.Load(); n != 1 {
				t.Errorf("%d connections for 20 calls, want 1", n)
			}
		})
	}
}
