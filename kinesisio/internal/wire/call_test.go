package wire

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/kinesisio/beam-kinesis/internal/awsclient"
)

// emptyBody is the body of an empty GetRecords response of a caught-up
// shard, as Kinesis sends it.
const emptyBody = `{"ChildShards":[],"MillisBehindLatest":0,"NextShardIterator":"AAAAAAAAAAGeA0wSVmbM1ZtJ0Gh0bSeqQ+gIbSFlGKBq+ugrqNPNFNs+QJA0qiVFlIwLsVJiYV6rnOm+XCuSr9Lrf5c2ZY8FphiQ0Xm6u/fbmnpP0hSCsT4XULnuWfT4QZf4rZOklk5c3sxgUf1Dcj8Zmz/FxX48o3pk3mvUsrJBMBhf8fBbDE34RqwPDSkQRPyoQtbXTdM+1P+/BwcW7vD51Y0AVlkjPpZyPkHdM3rkS7sgnq1E","Records":[]}`

// emptyServer answers every request with emptyBody, at as little cost to
// the process as an HTTP server allows, so that a benchmark's figures are
// mostly the client's.
func emptyServer(tb testing.TB) *httptest.Server {
	tb.Helper()
	n := strconv.Itoa(len(emptyBody))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		h := w.Header()
		h["Content-Type"] = []string{"application/x-amz-json-1.1"}
		h["Content-Length"] = []string{n}
		h["X-Amzn-Requestid"] = []string{"c0ffee00-0000-4000-8000-000000000000"}
		_, _ = io.WriteString(w, emptyBody)
	}))
	tb.Cleanup(srv.Close)
	return srv
}

// hermetic points the AWS default chain at static test credentials and
// nothing else.
func hermetic(tb testing.TB) {
	tb.Setenv("AWS_ACCESS_KEY_ID", "AKIDEXAMPLE")
	tb.Setenv("AWS_SECRET_ACCESS_KEY", "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
	tb.Setenv("AWS_SESSION_TOKEN", "")
	tb.Setenv("AWS_PROFILE", "")
	tb.Setenv("AWS_CONFIG_FILE", "/nonexistent/config")
	tb.Setenv("AWS_SHARED_CREDENTIALS_FILE", "/nonexistent/credentials")
	tb.Setenv("AWS_EC2_METADATA_DISABLED", "true")
	tb.Setenv("AWS_REGION", "")
	tb.Setenv("AWS_DEFAULT_REGION", "")
}

// BenchmarkEmptyGetRecords measures one empty GetRecords call of a
// polling fetcher (the connector's client, the wire decoder's option)
// against a server that answers at once, and the same request's bytes
// sent through the same HTTP client without the SDK (raw): sdk - raw is
// the SDK stack's cost per call.
func BenchmarkEmptyGetRecords(b *testing.B) {
	hermetic(b)
	srv := emptyServer(b)
	c, err := awsclient.New(b.Context(), awsclient.Settings{Region: "us-east-1", Endpoint: srv.URL})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("sdk", func(b *testing.B) {
		d := NewDecoder()
		opt := d.Option()
		in := &kinesis.GetRecordsInput{ShardIterator: aws.String("AAAAAAAAAAGeA0wSVmbM1ZtJ0Gh0bSeqQ"), Limit: aws.Int32(10000)}
		ctx := b.Context()
		b.ReportAllocs()
		defer reportCPU(b)()
		for b.Loop() {
			out, err := c.GetRecords(ctx, in, opt)
			if err != nil {
				b.Fatal(err)
			}
			if len(d.Records(out)) != 0 {
				b.Fatal("records")
			}
		}
	})
	b.Run("raw", func(b *testing.B) {
		hc := awsclient.NewHTTPClient()
		req := []byte(`{"Limit":10000,"ShardIterator":"AAAAAAAAAAGeA0wSVmbM1ZtJ0Gh0bSeqQ"}`)
		buf := make([]byte, 4096)
		b.ReportAllocs()
		defer reportCPU(b)()
		for b.Loop() {
			r, err := http.NewRequestWithContext(b.Context(), http.MethodPost, srv.URL+"/", bytes.NewReader(req))
			if err != nil {
				b.Fatal(err)
			}
			r.Header.Set("Content-Type", "application/x-amz-json-1.1")
			r.Header.Set("X-Amz-Target", "Kinesis_20131202.GetRecords")
			r.Header.Set("X-Amz-Date", "20261207T100000Z")
			r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261207/us-east-1/kinesis/aws4_request, SignedHeaders=content-length;content-type;host;x-amz-date;x-amz-target, Signature=0000000000000000000000000000000000000000000000000000000000000000")
			resp, err := hc.Do(r)
			if err != nil {
				b.Fatal(err)
			}
			n, _ := io.ReadFull(resp.Body, buf[:resp.ContentLength])
			_ = resp.Body.Close()
			if n != len(emptyBody) {
				b.Fatal("short body")
			}
		}
	})
}

// reportCPU reports the process's CPU time (user + system, the server's
// included) per op, from the call to the returned function's.
func reportCPU(b *testing.B) func() {
	start := cpuTime()
	return func() { b.ReportMetric(float64(cpuTime()-start)/float64(b.N), "cpu-ns/op") }
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
