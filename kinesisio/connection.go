package kinesisio

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/kinesisio/beam-kinesis/internal/awsclient"
)

// Connection says where and how to reach AWS. It is both a ReadOption and
// a WriteOption, and DynamoDBTable and DeregisterConsumer take it too. An
// empty field keeps the default: the workers' AWS default chain
// (environment, shared config, instance role). It holds names, ARNs, a
// region and an endpoint only, never a secret: each worker gets its
// credentials from its default chain.
//
// Several Connections given to one Read, Write, DynamoDBTable or
// DeregisterConsumer combine: each non-empty field of a later one replaces
// the value set before (RoleARN and ExternalID together).
type Connection struct {
	// Region is the AWS region (default: from a stream ARN, else the
	// workers' default chain, e.g. AWS_REGION). With a stream ARN it must
	// be the ARN's region, or be left out.
	Region string
	// Endpoint is the service endpoint URL, for emulators and VPC
	// endpoints (default: the AWS endpoint of the region).
	Endpoint string
	// Profile names a profile of the workers' shared AWS config.
	Profile string
	// RoleARN is a role the workers assume (with the credentials of their
	// default chain) before calling AWS: the way to reach a stream of
	// another account.
	RoleARN string
	// ExternalID is the external ID of RoleARN, if the role asks for one.
	ExternalID string
}

// apply checks c and writes its non-empty fields into s. (applyRead and
// applyWrite, which make Connection an option, are in read_option.go and
// write_option.go, beside the specs they write.)
func (c Connection) apply(s *awsclient.Settings) error {
	if c.RoleARN != "" && (len(c.RoleARN) < 20 || !strings.HasPrefix(c.RoleARN, "arn:")) {
		return invalid("Connection", "RoleARN %q is not a role ARN", c.RoleARN)
	}
	if c.ExternalID != "" && c.RoleARN == "" {
		return invalid("Connection", "ExternalID without RoleARN")
	}
	if c.Region != "" {
		s.Region = c.Region
	}
	if c.Endpoint != "" {
		s.Endpoint = c.Endpoint
	}
	if c.Profile != "" {
		s.Profile = c.Profile
	}
	if c.RoleARN != "" {
		s.RoleARN, s.ExternalID = c.RoleARN, c.ExternalID
	}
	return nil
}

// connection is what every DoFn of the package carries to reach its
// stream: the stream as the user named it (a name or an ARN) and the
// client settings, with the region of a stream ARN filled in. It holds no
// secret: each worker gets credentials from its AWS default chain.
type connection struct {
	Stream string
	Client awsclient.Settings
}

// newConnection checks stream and the Connection when the pipeline is
// built: a stream ARN gives the region, and a Connection.Region naming
// another one is refused (the calls would go to a region where the stream
// is not).
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
		return connection{}, invalid("Connection", "region %q is not the region of stream ARN %s (%s): leave the region out, the ARN gives it", s.Region, parsed.ARN, parsed.Region)
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
