package awsclient

import (
	"context"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
)

// NewHTTPClient returns the HTTP client every Kinesis client of the
// connector uses: keep-alive connections enough for one per shard being
// fetched, a 60 s bound on a call (SubscribeToShard's streams excepted),
// and request bodies that hide WriteTo
// (see hideBodyWriteTo). opts adjust the transport further (tests).
func NewHTTPClient(opts ...func(*http.Transport)) aws.HTTPClient {
	return splitClients(newBuildableClient(opts...))
}

// newBuildableClient is NewHTTPClient before the body wrapper. The AWS
// config loader needs a client it can still configure (AWS_CA_BUNDLE adds
// root CAs through WithTransportOptions), so LoadConfig hands it this one
// and wraps the result.
func newBuildableClient(opts ...func(*http.Transport)) *awshttp.BuildableClient {
	return awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConns = 1024
		t.MaxIdleConnsPerHost = 1024
		if d := testDialer(); d != nil {
			t.DialContext = d
		}
		for _, o := range opts {
			o(t)
		}
	}).WithTimeout(60 * time.Second)
}

// dialer, when set, replaces the transport's dialer (SetDialer).
var (
	dialerMu sync.Mutex
	dialer   func(ctx context.Context, network, addr string) (net.Conn, error)
)

func testDialer() func(ctx context.Context, network, addr string) (net.Conn, error) {
	dialerMu.Lock()
	defer dialerMu.Unlock()
	return dialer
}

// SetDialer makes every HTTP client built from now on (NewHTTPClient,
// New, LoadConfig) open its connections with dial, and returns a function
// that restores the default. For tests: it keeps calls to hosts that
// would need DNS (the AWS endpoint of a region) on the loopback
// interface. nil restores the default.
func SetDialer(dial func(ctx context.Context, network, addr string) (net.Conn, error)) (restore func()) {
	dialerMu.Lock()
	defer dialerMu.Unlock()
	prev := dialer
	dialer = dial
	return func() {
		dialerMu.Lock()
		defer dialerMu.Unlock()
		dialer = prev
	}
}

// splitClients wraps the HTTP client the AWS config loader configured:
// calls go through it with its 60 s bound, while SubscribeToShard, whose
// response streams for up to 5 minutes, goes through a copy without that
// bound (each with its own connection pool, built once here).
func splitClients(c aws.HTTPClient) aws.HTTPClient {
	b, ok := c.(*awshttp.BuildableClient)
	if !ok {
		return hideBodyWriteTo{c}
	}
	return splitClient{calls: hideBodyWriteTo{b}, streams: hideBodyWriteTo{b.WithTimeout(0)}}
}

// splitClient sends SubscribeToShard through streams, the rest through
// calls.
type splitClient struct{ calls, streams aws.HTTPClient }

func (c splitClient) Do(r *http.Request) (*http.Response, error) {
	if strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".SubscribeToShard") {
		return c.streams.Do(r)
	}
	return c.calls.Do(r)
}

// hideBodyWriteTo works around a race between smithy-go and net/http that
// fails about one call in 750 against a fast server, after the server has
// applied it (a put that is then retried is written twice):
//
// smithy-go closes the request body as soon as the transport returns the
// response, and after Close its body's WriteTo returns io.EOF. The
// transport's writing goroutine, having sent the whole body, checks for
// extra bytes with io.Copy, which uses WriteTo; when the response came
// first, that check sees io.EOF, and the goroutine closes the connection
// while the response body is still being read: "use of closed network
// connection" on a 200 response. (aws-sdk-go-v2 #1825 and #2737 were
// closed by making the SDK retry the error, which duplicates puts.)
//
// Hiding WriteTo makes the check use Read, which ends cleanly after Close.
// The body itself is copied through an io.LimitReader either way, so this
// costs nothing.
type hideBodyWriteTo struct{ aws.HTTPClient }

func (c hideBodyWriteTo) Do(r *http.Request) (*http.Response, error) {
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = struct{ io.ReadCloser }{r.Body}
	}
	resp, err := c.HTTPClient.Do(r)
	if at, ok := r.Context().Value(headersAtKey{}).(*atomic.Int64); ok && err == nil {
		at.Store(time.Now().UnixNano())
	}
	return resp, err
}

type headersAtKey struct{}

// WithHeadersAt returns a context that records when the response headers
// of a call made with it arrived, and a function returning that time (zero
// when the call made no HTTP request, as with test doubles). The service
// has done its accounting for the call by then; reading and decoding the
// body, the larger part of a big call, comes after.
func WithHeadersAt(ctx context.Context) (context.Context, func() time.Time) {
	at := new(atomic.Int64)
	return context.WithValue(ctx, headersAtKey{}, at), func() time.Time {
		if n := at.Load(); n != 0 {
			return time.Unix(0, n)
		}
		return time.Time{}
	}
}
