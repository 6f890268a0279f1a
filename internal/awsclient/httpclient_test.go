package awsclient

import (
	"context"
	"encoding/pem"
	"fmt"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// slowConn pauses after each write, so that the transport's writing
// goroutine is still busy when the response has arrived and the SDK has
// closed the request body: the order in which the race strikes.
type slowConn struct{ net.Conn }

func (c slowConn) Write(b []byte) (int, error) {
	n, err := c.Conn.Write(b)
	time.Sleep(5 * time.Millisecond)
	return n, err
}

func TestPutRecordsSurvivesEarlyBodyClose(t *testing.T) {
	var body strings.Builder
	body.WriteString(`{"FailedRecordCount":0,"Records":[`)
	for i := range 10 {
		if i > 0 {
			body.WriteString(",")
		}
		fmt.Fprintf(&body, `{"SequenceNumber":"%d","ShardId":"shardId-000000000000"}`, i+1)
	}
	body.WriteString(`]}`)
	resp := body.String()
	// The server reads the whole request, then answers in two parts, so
	// that the SDK is still reading the response when the transport's
	// writer looks at the request body again.
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.ReadAll(r.Body)
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		w.Header().Set("Content-Length", strconv.Itoa(len(resp)))
		_, _ = io.WriteString(w, resp[:20])
		http.NewResponseController(w).Flush()
		time.Sleep(20 * time.Millisecond)
		_, _ = io.WriteString(w, resp[20:])
	}))
	defer srv.Close()
	var d net.Dialer
	hc := NewHTTPClient(func(tr *http.Transport) {
		tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
			c, err := d.DialContext(ctx, network, addr)
			if err != nil {
				return nil, err
			}
			return slowConn{c}, nil
		}
	})
	client := kinesis.New(kinesis.Options{
		Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("k", "s", ""),
		BaseEndpoint: aws.String(srv.URL), HTTPClient: hc, Retryer: aws.NopRetryer{},
	})
	entries := make([]types.PutRecordsRequestEntry, 10)
	for i := range entries {
		entries[i] = types.PutRecordsRequestEntry{Data: []byte("data"), PartitionKey: aws.String("k")}
	}
	// Without hideBodyWriteTo the first call already fails with "use of
	// closed network connection" on its 200 response (measured).
	for i := range 20 {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		out, err := client.PutRecords(ctx, &kinesis.PutRecordsInput{StreamName: aws.String("s"), Records: entries})
		cancel()
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if len(out.Records) != 10 {
			t.Fatalf("call %d: %d results, want 10", i, len(out.Records))
		}
	}
}

func TestLoadConfigWithCABundle(t *testing.T) {
	// AWS_CA_BUNDLE makes the config loader add root CAs to the HTTP
	// client, which it can only do before the client is wrapped.
	srv := httptest.NewTLSServer(http.NotFoundHandler())
	defer srv.Close()
	pemFile := t.TempDir() + "/ca.pem"
	if err := os.WriteFile(pemFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: srv.Certificate().Raw}), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("AWS_CA_BUNDLE", pemFile)
	t.Setenv("AWS_ACCESS_KEY_ID", "k")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "s")
	cfg, err := LoadConfig(context.Background(), Settings{Region: "us-east-1"})
	if err != nil {
		t.Fatalf("LoadConfig with AWS_CA_BUNDLE: %v", err)
	}
	split, ok := cfg.HTTPClient.(splitClient)
	if !ok {
		t.Fatalf("HTTP client %T is not wrapped", cfg.HTTPClient)
	}
	if b := split.streams.(hideBodyWriteTo).HTTPClient.(*awshttp.BuildableClient); b.GetTimeout() != 0 {
		t.Errorf("the SubscribeToShard client bounds a call to %v", b.GetTimeout())
	}
	// The bundle reached both transports: the test server's certificate,
	// which nothing else trusts, is accepted.
	for _, target := range []string{"Kinesis_20131202.GetRecords", "Kinesis_20131202.SubscribeToShard"} {
		req, _ := http.NewRequest(http.MethodGet, srv.URL, nil)
		req.Header.Set("X-Amz-Target", target)
		resp, err := cfg.HTTPClient.Do(req)
		if err != nil {
			t.Fatalf("%s to %s with the bundle: %v", target, srv.URL, err)
		}
		resp.Body.Close()
	}
}

func TestWithHeadersAtRecordsTheResponseHeaders(t *testing.T) {
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		_, _ = io.WriteString(w, `{"ShardIterator":`)
		http.NewResponseController(w).Flush()
		<-release // the body ends only later
		_, _ = io.WriteString(w, `"it"}`)
	}))
	defer srv.Close()
	client := kinesis.New(kinesis.Options{
		Region: "us-east-1", Credentials: credentials.NewStaticCredentialsProvider("k", "s", ""),
		BaseEndpoint: aws.String(srv.URL), HTTPClient: NewHTTPClient(), Retryer: aws.NopRetryer{},
	})
	ctx, headersAt := WithHeadersAt(context.Background())
	start := time.Now()
	go func() {
		// Release the body 50 ms after the headers were recorded.
		for deadline := time.Now().Add(10 * time.Second); headersAt().IsZero() && time.Now().Before(deadline); {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(50 * time.Millisecond)
		close(release)
	}()
	if _, err := client.GetShardIterator(ctx, &kinesis.GetShardIteratorInput{
		StreamName: aws.String("s"), ShardId: aws.String("shardId-0"), ShardIteratorType: types.ShardIteratorTypeTrimHorizon,
	}); err != nil {
		t.Fatal(err)
	}
	end := time.Now()
	at := headersAt()
	if at.Before(start) || !at.Before(end) {
		t.Fatalf("headers at %v, want within the call [%v, %v)", at, start, end)
	}
	if d := end.Sub(at); d < 50*time.Millisecond {
		t.Errorf("headers recorded %v before the end of the call, want at least the 50 ms the body was held back", d)
	}
	if _, none := WithHeadersAt(context.Background()); !none().IsZero() {
		t.Errorf("a context without a call reports headers at %v", none())
	}
}
