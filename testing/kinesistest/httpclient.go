package kinesistest

import (
	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/kinesisio/beam-kinesis/internal/awsclient"
)

// HTTPClient returns the HTTP client the connector itself uses
// (internal/awsclient.NewHTTPClient): keep-alive connections for many
// shards, a 60 s bound on a call, and request bodies that hide WriteTo,
// which avoids a race between smithy-go and net/http that fails about one
// call in 750 against a fast server such as fakekinesis ("use of closed
// network connection" on a 200 response, after which the SDK retries and
// a put is stored twice; see the awsclient package for the mechanism).
func HTTPClient() aws.HTTPClient {
	return awsclient.NewHTTPClient()
}
