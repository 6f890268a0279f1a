package kinesistest

import (
	"io"
	"net/http"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
)

// HTTPClient returns an HTTP client with the connector's settings
// (kinesisio/internal/awsclient.NewHTTPClient, which test code outside
// kinesisio cannot import): keep-alive connections for many shards, a 60 s
// bound on a call, and request bodies that hide WriteTo, which avoids a
// race between smithy-go and net/http that fails about one call in 750
// against a fast server such as fakekinesis ("use of closed network
// connection" on a 200 response; see the awsclient package for the
// mechanism).
func HTTPClient() aws.HTTPClient {
	return hideBodyWriteTo{awshttp.NewBuildableClient().WithTransportOptions(func(t *http.Transport) {
		t.MaxIdleConns = 1024
		t.MaxIdleConnsPerHost = 1024
	}).WithTimeout(60 * time.Second)}
}

type hideBodyWriteTo struct{ aws.HTTPClient }

func (c hideBodyWriteTo) Do(r *http.Request) (*http.Response, error) {
	if r.Body != nil && r.Body != http.NoBody {
		r.Body = struct{ io.ReadCloser }{r.Body}
	}
	return c.HTTPClient.Do(r)
}
