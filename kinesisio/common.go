package kinesisio

import (
	"context"
	"crypto/rand"
	"encoding/hex"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/kinesisio/beam-kinesis/internal/awsclient"
	"github.com/kinesisio/beam-kinesis/internal/checkpoint"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/readstate"
)

// MetricsNamespace is the Beam metrics namespace of the connector. Its
// metrics are listed in the package documentation.
const MetricsNamespace = "kinesisio"

// readDoFn is what every DoFn of a read does in Setup and Teardown: dial
// the stream, open the checkpoint store (WithCheckpoints) within the
// start-up bound, and join the read's state in this process (readstate).
// The read's DoFns embed it. It has no exported field, so the DoFns'
// serialized form is unchanged; Setup fills it on each worker.
type readDoFn struct {
	stream awsclient.Stream
	client *kinesis.Client
	target awsclient.Target
	store  checkpoint.Store // nil without WithCheckpoints
	member member
}

// setup dials the stream, runs more (the DoFn's own set-up, when not
// nil), opens the checkpoint store and, when join, joins the read.
func (b *readDoFn) setup(ctx context.Context, spec readSpec, join bool, more func() error) error {
	stream, client, err := spec.Conn.dial(ctx)
	if err != nil {
		return err
	}
	b.stream, b.client, b.target = stream, client, awsclient.TargetOf(client)
	if more != nil {
		if err := more(); err != nil {
			return err
		}
	}
	if b.store, err = spec.openStore(ctx); err != nil {
		return err
	}
	if join {
		b.member.join(spec.ReadID)
	}
	return nil
}

// teardown leaves the read joined in setup.
func (b *readDoFn) teardown(spec readSpec) { b.member.leave(spec.ReadID) }

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
