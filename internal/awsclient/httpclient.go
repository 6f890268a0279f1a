package awsclient

import (
	"context"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
)

// NewHTTPClient returns the HTTP client every Kinesis client of the
// connector uses: keep-alive connections enough for one per shard being
// fetched, a 60 s bound on a call, and request bodies that hide WriteTo
// (see hideBodyWriteTo). opts adjust the transport further (tests).
func NewHTTPClient(opts ...func(*http.Transport)) aws.HTTPClient {
	return hideBodyWriteTo{newBuildableClient(opts...)}
}

// newBuildableClient is NewHTTPClient before the body wrapper. The AWS
// config loader needs a client it can still configure (AWS_CA_BUNDLE adds
// root CAs through WithTransportOptions), so LoadConfig hands it this one
// and wraps the result.
func newBuildableClient(opts ...func(*http.Transport)) *awshttp.BuildableClient {
	return awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConns = 1024
		t.MaxIdleConnsPerHost = 1024
		for _, o := range opts {
			o(t)
		}
	}).WithTimeout(60 * time.Second)
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
