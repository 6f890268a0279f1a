package wire

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"

	"github.com/kinesisio/beam-kinesis/internal/awsclient"
	"github.com/kinesisio/beam-kinesis/internal/awsclient/awstest"
)

// emptyBody is the body of an empty GetRecords response of a caught-up
// shard, as Kinesis sends it.
const emptyBody = `{"ChildShards":[],"MillisBehindLatest":0,"NextShardIterator":"AAAAAAAAAAGeA0wSVmbM1ZtJ0Gh0bSeqQ+gIbSFlGKBq+ugrqNPNFNs+QJA0qiVFlIwLsVJiYV6rnOm+XCuSr9Lrf5c2ZY8FphiQ0Xm6u/fbmnpP0hSCsT4XULnuWfT4QZf4rZOklk5c3sxgUf1Dcj8Zmz/FxX48o3pk3mvUsrJBMBhf8fBbDE34RqwPDSkQRPyoQtbXTdM+1P+/BwcW7vD51Y0AVlkjPpZyPkHdM3rkS7sgnq1E","Records":[]}`

// emptyRegion serves https://kinesis.us-east-1.amazonaws.com on loopback,
// answering every call with emptyBody at as little cost to the process as
// an HTTP server allows, so that a benchmark's figures are mostly the
// client's; and returns a client of the connector for that region (the
// SDK's endpoint rules, TLS, SigV4 with static credentials).
func emptyRegion(tb testing.TB) (*kinesis.Client, aws.HTTPClient) {
	tb.Helper()
	awstest.Hermetic(tb)
	n := strconv.Itoa(len(emptyBody))
	awstest.Serve(tb, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		h := w.Header()
		h["Content-Type"] = []string{"application/x-amz-json-1.1"}
		h["Content-Length"] = []string{n}
		h["X-Amzn-Requestid"] = []string{"c0ffee00-0000-4000-8000-000000000000"}
		_, _ = io.WriteString(w, emptyBody)
	}), "kinesis.us-east-1.amazonaws.com")
	s := awsclient.Settings{Region: "us-east-1"}
	c, err := awsclient.New(context.Background(), s)
	if err != nil {
		tb.Fatal(err)
	}
	cfg, err := awsclient.LoadConfig(context.Background(), s)
	if err != nil {
		tb.Fatal(err)
	}
	return c, cfg.HTTPClient
}

// emptyCall makes one GetRecords call as a polling fetcher does (the
// decoder's option) and fails unless it returned no records.
func emptyCall(tb testing.TB, c *kinesis.Client, in *kinesis.GetRecordsInput, d *Decoder, opt func(*kinesis.Options)) {
	out, err := c.GetRecords(context.Background(), in, opt)
	if err != nil {
		tb.Fatal(err)
	}
	if len(d.Records(out)) != 0 || out.NextShardIterator == nil {
		tb.Fatal("not an empty response")
	}
}

// BenchmarkEmptyGetRecords measures one empty GetRecords call of a
// polling fetcher (the connector's client for a region, the decoder's
// option) against a server on loopback that answers at once, and the
// same request's bytes sent through the same HTTP client without the SDK
// (raw): sdk - raw is the SDK stack's cost per call. cpu-ns/op is the
// process's CPU time, the server's included.
func BenchmarkEmptyGetRecords(b *testing.B) {
	c, hc := emptyRegion(b)
	b.Run("sdk", func(b *testing.B) {
		d := NewDecoder()
		opt := d.Option()
		in := &kinesis.GetRecordsInput{ShardIterator: aws.String("AAAAAAAAAAGeA0wSVmbM1ZtJ0Gh0bSeqQ"), Limit: aws.Int32(10000)}
		b.ReportAllocs()
		defer reportCPU(b)()
		for b.Loop() {
			emptyCall(b, c, in, d, opt)
		}
	})
	// stack: the same call with a canned HTTP client instead of the
	// transport: the SDK stack and the hook alone, on this goroutine, so
	// ns/op is their CPU.
	b.Run("stack", func(b *testing.B) {
		d := NewDecoder()
		in := &kinesis.GetRecordsInput{ShardIterator: aws.String("AAAAAAAAAAGeA0wSVmbM1ZtJ0Gh0bSeqQ"), Limit: aws.Int32(10000)}
		canned := func(o *kinesis.Options) { o.HTTPClient = cannedClient{} }
		opt := d.Option()
		both := func(o *kinesis.Options) { canned(o); opt(o) }
		b.ReportAllocs()
		defer reportCPU(b)()
		for b.Loop() {
			emptyCall(b, c, in, d, both)
		}
	})
	b.Run("raw", func(b *testing.B) {
		buf := make([]byte, 4096)
		b.ReportAllocs()
		defer reportCPU(b)()
		for b.Loop() {
			rawCall(b, hc, buf)
		}
	})
}

// rawRequest is the body of emptyCall's request.
var rawRequest = []byte(`{"Limit":10000,"ShardIterator":"AAAAAAAAAAGeA0wSVmbM1ZtJ0Gh0bSeqQ"}`)

// rawCall sends the bytes of emptyCall's request (a fixed signature)
// through hc, without the SDK, and reads the response as the decoder
// does.
func rawCall(tb testing.TB, hc aws.HTTPClient, buf []byte) {
	r, err := http.NewRequestWithContext(context.Background(), http.MethodPost, "https://kinesis.us-east-1.amazonaws.com/", bytes.NewReader(rawRequest))
	if err != nil {
		tb.Fatal(err)
	}
	r.Header.Set("Content-Type", "application/x-amz-json-1.1")
	r.Header.Set("X-Amz-Target", "Kinesis_20131202.GetRecords")
	r.Header.Set("X-Amz-Date", "20261207T100000Z")
	r.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20261207/us-east-1/kinesis/aws4_request, SignedHeaders=content-length;content-type;host;x-amz-date;x-amz-target, Signature=0000000000000000000000000000000000000000000000000000000000000000")
	resp, err := hc.Do(r)
	if err != nil {
		tb.Fatal(err)
	}
	n, _ := io.ReadFull(resp.Body, buf[:resp.ContentLength])
	_ = resp.Body.Close()
	if n != len(emptyBody) {
		tb.Fatal("short body")
	}
}

// TestEmptyGetRecordsAllocs bounds the allocations the SDK stack and the
// decoder's hook add to an empty GetRecords call: those of the call less
// those of the same bytes sent without the SDK (the server's, the
// transport's and TLS's cancel out).
func TestEmptyGetRecordsAllocs(t *testing.T) {
	if raceEnabled {
		t.Skip("allocations differ under the race detector")
	}
	// 255 with aws-sdk-go-v2 v1.48.0, kinesis v1.56.13, smithy-go v1.28.9;
	// 269 before awsclient cached resolved endpoints (-6) and the hook's
	// EOF probe moved into the Decoder (-1) and it writes GetRecords
	// requests itself (-7).
	const bound = 257
	c, hc := emptyRegion(t)
	d := NewDecoder()
	opt := d.Option()
	in := &kinesis.GetRecordsInput{ShardIterator: aws.String("AAAAAAAAAAGeA0wSVmbM1ZtJ0Gh0bSeqQ"), Limit: aws.Int32(10000)}
	buf := make([]byte, 4096)
	emptyCall(t, c, in, d, opt) // connect, and fill what is cached
	rawCall(t, hc, buf)
	sdk := testing.AllocsPerRun(200, func() { emptyCall(t, c, in, d, opt) })
	raw := testing.AllocsPerRun(200, func() { rawCall(t, hc, buf) })
	t.Logf("allocations per call: %.0f, raw %.0f, added by the SDK and the hook %.0f", sdk, raw, sdk-raw)
	if sdk-raw > bound {
		t.Errorf("an empty GetRecords call makes %.0f allocations more than its bytes sent raw; want at most %d", sdk-raw, bound)
	}
}

// cannedClient answers every request with emptyBody, without a network.
type cannedClient struct{}

func (cannedClient) Do(r *http.Request) (*http.Response, error) {
	if r.Body != nil {
		_, _ = io.Copy(io.Discard, r.Body)
		_ = r.Body.Close()
	}
	return &http.Response{
		StatusCode:    http.StatusOK,
		Proto:         "HTTP/1.1",
		ProtoMajor:    1,
		ProtoMinor:    1,
		Header:        http.Header{"Content-Type": {"application/x-amz-json-1.1"}, "X-Amzn-Requestid": {"c0ffee00-0000-4000-8000-000000000000"}},
		ContentLength: int64(len(emptyBody)),
		Body:          io.NopCloser(strings.NewReader(emptyBody)),
		Request:       r,
	}, nil
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
