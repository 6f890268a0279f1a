package awsclient

import (
	"io"
	"net/http"
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
	return c.HTTPClient.Do(r)
}
