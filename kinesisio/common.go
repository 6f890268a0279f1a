package kinesisio

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/kinesisio/beam-kinesis/internal/awsclient"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/readstate"
)

// MetricsNamespace is the Beam metrics namespace of the connector. Its
// metrics are listed in the package documentation.
const MetricsNamespace = "kinesisio"

// connection is what every DoFn of the package carries to reach its
// stream: the stream as the user named it (a name or an ARN) and the
// client settings, with the region of a stream ARN filled in. It holds no
// secret: each worker gets credentials from its AWS default chain.
type connection struct {
	Stream string
	Client awsclient.Settings
}

// newConnection checks stream and the connection options when the
// pipeline is built: a stream ARN gives the region, and a WithRegion
// naming another one is refused (the calls would go to a region where the
// stream is not).
func newConnection(stream string, s awsclient.Settings) (connection, error) {
	parsed, err := awsclient.ParseStream(stream)
	if err != nil {
		return connection{}, invalid("stream", "%v", err)
	}
	switch {
	case parsed.Region == "":
	case s.Region == "":
		s.Region = parsed.Region
	case s.Region != parsed.Region:
		return connection{}, invalid("WithRegion", "region %q is not the region of stream ARN %s (%s): leave the region out, the ARN gives it", s.Region, parsed.ARN, parsed.Region)
	}
	return connection{Stream: stream, Client: s}, nil
}

// dial parses the stream and builds a client for it, in a DoFn's Setup.
func (c connection) dial(ctx context.Context) (awsclient.Stream, *kinesis.Client, error) {
	stream, err := awsclient.ParseStream(c.Stream)
	if err != nil {
		return stream, nil, fmt.Errorf("kinesisio: %w", err)
	}
	client, err := awsclient.New(ctx, c.Client)
	if err != nil {
		return stream, nil, err
	}
	return stream, client, nil
}

// member counts a DoFn instance of a read in readstate, from a Setup that
// succeeded to its Teardown: the last instance of a read to leave drops
// the read's state in the process.
type member struct{ joined bool }

func (m *member) join(readID string) {
	readstate.Default.Started(readID)
	m.joined = true
}

func (m *member) leave(readID string) {
	if m.joined {
		m.joined = false
		readstate.Default.Stopped(readID)
	}
}

// randomID returns 16 random hexadecimal digits.
func randomID() string {
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}
