package awsclient_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	v4 "github.com/aws/aws-sdk-go-v2/aws/signer/v4"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	smithyendpoints "github.com/aws/smithy-go/endpoints"

	"github.com/kinesisio/beam-kinesis/internal/awsclient"
	"github.com/kinesisio/beam-kinesis/internal/awsclient/awstest"
)

// seen is what a signing-checking server saw of one call.
type seen struct {
	host, target, region string
	signedOK             bool
	why                  string
}

// signingServer answers every call with an empty GetRecords-like body
// and records each call's host and whether its SigV4 signature is the
// one the test credentials give for the region in its credential scope.
type signingServer struct {
	mu    sync.Mutex
	calls []seen
}

func (s *signingServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	c := seen{host: r.Host, target: r.Header.Get("X-Amz-Target")}
	c.region, c.signedOK, c.why = verify(r, body)
	s.mu.Lock()
	s.calls = append(s.calls, c)
	s.mu.Unlock()
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	_, _ = io.WriteString(w, `{"Records":[],"NextShardIterator":"AAAA","MillisBehindLatest":0,"Shards":[]}`)
}

func (s *signingServer) take() []seen {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.calls
	s.calls = nil
	return c
}

// verify signs the received request again with the test credentials,
// over the headers its Authorization names, and compares.
func verify(r *http.Request, body []byte) (region string, ok bool, why string) {
	auth := r.Header.Get("Authorization")
	const pre = "AWS4-HMAC-SHA256 Credential="
	if !strings.HasPrefix(auth, pre) {
		return "", false, "no SigV4 Authorization: " + auth
	}
	scope := strings.Split(strings.SplitN(auth[len(pre):], ",", 2)[0], "/")
	if len(scope) != 5 || scope[0] != awstest.AccessKeyID || scope[3] != "kinesis" {
		return "", false, "credential scope " + strings.Join(scope, "/")
	}
	region = scope[2]
	signed := ""
	for _, part := range strings.Split(auth, ", ") {
		if v, found := strings.CutPrefix(part, "SignedHeaders="); found {
			signed = v
		}
	}
	at, err := time.Parse("20060102T150405Z", r.Header.Get("X-Amz-Date"))
	if err != nil {
		return region, false, "X-Amz-Date: " + err.Error()
	}
	req, err := http.NewRequest(r.Method, "https://"+r.Host+r.URL.RequestURI(), nil)
	if err != nil {
		return region, false, err.Error()
	}
	for _, h := range strings.Split(signed, ";") {
		if h != "host" && h != "content-length" {
			req.Header[http.CanonicalHeaderKey(h)] = r.Header.Values(h)
		}
	}
	req.Header.Del("Authorization")
	req.ContentLength = int64(len(body)) // the signer takes Content-Length from here
	sum := sha256.Sum256(body)
	creds := aws.Credentials{AccessKeyID: awstest.AccessKeyID, SecretAccessKey: awstest.SecretAccessKey}
	if err := v4.NewSigner().SignHTTP(context.Background(), creds, req, hex.EncodeToString(sum[:]), "kinesis", region, at); err != nil {
		return region, false, err.Error()
	}
	if got := req.Header.Get("Authorization"); got != auth {
		return region, false, "signature mismatch:\n got " + auth + "\nwant " + got
	}
	return region, true, ""
}

// TestClientEndpointsAndSigning calls through clients built by New, with
// the endpoint rules of the SDK, TLS and the test credentials, and checks
// every call's host and signature: with a region, with account-based
// endpoints from stream ARNs of two accounts on one client (twice each, so
// that repeated calls take whatever New caches), FIPS and dual-stack from
// the environment, and a custom endpoint.
func TestClientEndpointsAndSigning(t *testing.T) {
	const (
		arnA = "arn:aws:kinesis:us-east-1:111111111111:stream/a"
		arnB = "arn:aws:kinesis:us-east-1:222222222222:stream/b"
		arnW = "arn:aws:kinesis:us-west-2:111111111111:stream/w"
	)
	type call struct {
		arn      string
		control  bool // ListShards, else GetRecords
		wantHost string
	}
	cases := []struct {
		name   string
		env    map[string]string
		region string
		calls  []call
	}{
		{"region", nil, "us-east-1", []call{
			{"", false, "kinesis.us-east-1.amazonaws.com"},
			{arnA, false, "111111111111.data-kinesis.us-east-1.amazonaws.com"},
			{arnB, false, "222222222222.data-kinesis.us-east-1.amazonaws.com"},
			{arnA, true, "111111111111.control-kinesis.us-east-1.amazonaws.com"},
			{"", true, "kinesis.us-east-1.amazonaws.com"},
		}},
		{"other region", nil, "us-west-2", []call{
			{"", false, "kinesis.us-west-2.amazonaws.com"},
			{arnW, false, "111111111111.data-kinesis.us-west-2.amazonaws.com"},
		}},
		{"fips", map[string]string{"AWS_USE_FIPS_ENDPOINT": "true"}, "us-east-1", []call{
			{"", false, "kinesis-fips.us-east-1.amazonaws.com"},
			{arnA, false, "111111111111.data-kinesis-fips.us-east-1.amazonaws.com"},
		}},
		{"dual-stack", map[string]string{"AWS_USE_DUALSTACK_ENDPOINT": "true"}, "us-east-1", []call{
			{"", false, "kinesis.us-east-1.api.aws"},
		}},
	}
	hosts := []string{"*.us-east-1.amazonaws.com", "*.us-west-2.amazonaws.com", "*.us-east-1.api.aws",
		"*.data-kinesis.us-east-1.amazonaws.com", "*.control-kinesis.us-east-1.amazonaws.com",
		"*.data-kinesis.us-west-2.amazonaws.com", "*.data-kinesis-fips.us-east-1.amazonaws.com"}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			awstest.Hermetic(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			srv := &signingServer{}
			awstest.Serve(t, srv, hosts...)
			c, err := awsclient.New(t.Context(), awsclient.Settings{Region: tc.region})
			if err != nil {
				t.Fatal(err)
			}
			for round := range 2 {
				for _, cl := range tc.calls {
					if cl.control {
						in := &kinesis.ListShardsInput{}
						if cl.arn != "" {
							in.StreamARN = aws.String(cl.arn)
						} else {
							in.StreamName = aws.String("s")
						}
						_, err = c.ListShards(t.Context(), in)
					} else {
						in := &kinesis.GetRecordsInput{ShardIterator: aws.String("AAAA")}
						if cl.arn != "" {
							in.StreamARN = aws.String(cl.arn)
						}
						_, err = c.GetRecords(t.Context(), in)
					}
					if err != nil {
						t.Fatalf("round %d, %+v: %v", round, cl, err)
					}
					got := srv.take()
					if len(got) != 1 {
						t.Fatalf("round %d, %+v: the server saw %d calls", round, cl, len(got))
					}
					if g := got[0]; g.host != cl.wantHost || g.region != tc.region || !g.signedOK {
						t.Errorf("round %d, %+v: host %q, signed for %q, signature ok %v %s; want host %q, region %q", round, cl, g.host, g.region, g.signedOK, g.why, cl.wantHost, tc.region)
					}
				}
			}
		})
	}
	t.Run("custom endpoint", func(t *testing.T) {
		awstest.Hermetic(t)
		srv := &signingServer{}
		awstest.Serve(t, srv, "kinesis.example.test")
		c, err := awsclient.New(t.Context(), awsclient.Settings{Region: "eu-west-1", Endpoint: "https://kinesis.example.test"})
		if err != nil {
			t.Fatal(err)
		}
		for round := range 2 {
			for _, arn := range []string{"", "arn:aws:kinesis:eu-west-1:111111111111:stream/a"} {
				in := &kinesis.GetRecordsInput{ShardIterator: aws.String("AAAA")}
				if arn != "" {
					in.StreamARN = aws.String(arn)
				}
				if _, err := c.GetRecords(t.Context(), in); err != nil {
					t.Fatal(err)
				}
				got := srv.take()
				if len(got) != 1 || got[0].host != "kinesis.example.test" || got[0].region != "eu-west-1" || !got[0].signedOK {
					t.Errorf("round %d, arn %q: %+v; want host kinesis.example.test signed for eu-west-1", round, arn, got)
				}
			}
		}
	})
}

// TestClientResolvesEndpointsOnce: the endpoint resolver of a client from
// New answers a repeated GetRecords resolution from its cache, without
// allocating (the SDK's rules engine allocates 6 times for it and runs
// on every call).
func TestClientResolvesEndpointsOnce(t *testing.T) {
	awstest.Hermetic(t)
	c, err := awsclient.New(t.Context(), awsclient.Settings{Region: "us-east-1"})
	if err != nil {
		t.Fatal(err)
	}
	r := c.Options().EndpointResolverV2
	p := kinesis.EndpointParameters{
		Region: aws.String("us-east-1"), UseDualStack: aws.Bool(false), UseFIPS: aws.Bool(false),
		OperationType: aws.String("data"), AccountIdEndpointMode: aws.String("preferred"),
	}
	ctx := t.Context()
	want, err := kinesis.NewDefaultEndpointResolverV2().ResolveEndpoint(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	var got smithyendpoints.Endpoint
	allocs := testing.AllocsPerRun(100, func() {
		got, err = r.ResolveEndpoint(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
	})
	if got.URI.String() != want.URI.String() {
		t.Errorf("resolved %s, want %s", got.URI.String(), want.URI.String())
	}
	if allocs != 0 {
		t.Errorf("a repeated resolution allocates %.0f times; want 0 (cached)", allocs)
	}
}
