// Package awsclient builds the Kinesis clients a worker uses, from
// serializable settings only: credentials always come from the AWS default
// chain of the worker (environment, shared config and credentials files,
// SSO, web identity, IMDS), optionally through an assumed role. It also
// names the narrow slice of the Kinesis API the connector calls and
// classifies errors as throttling, transient or permanent.
package awsclient

import (
	"context"
	"fmt"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/credentials/stscreds"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/sts"
)

// Settings are the serializable client settings a DoFn carries. None of
// them is a secret.
type Settings struct {
	Region      string // "" = from the stream ARN or the default chain
	Endpoint    string // "" = the AWS endpoint for the region
	Profile     string // shared config profile; "" = default chain
	RoleARN     string // role to assume; "" = none
	ExternalID  string // external ID for the assumed role
	SessionName string // role session name; "" = "beam-kinesisio"
}

// New builds a Kinesis client from s. SDK-level retries are off: callers
// retry per shard with their own backoff, so one throttled shard cannot
// drain a retry budget that all shards share (aws-sdk-go-v2 #1665). The
// client resolves each set of endpoint parameters once (endpointCache)
// instead of running the SDK's endpoint rules on every call.
func New(ctx context.Context, s Settings) (*kinesis.Client, error) {
	cfg, err := LoadConfig(ctx, s)
	if err != nil {
		return nil, err
	}
	return kinesis.NewFromConfig(cfg, func(o *kinesis.Options) {
		if s.Endpoint != "" {
			o.BaseEndpoint = aws.String(s.Endpoint)
		}
		o.Retryer = aws.NopRetryer{}
		if o.EndpointResolverV2 != nil { // the SDK's default, set before this option runs
			o.EndpointResolverV2 = newEndpointCache(o.EndpointResolverV2)
		}
	}), nil
}

// Region returns the region a client of s calls on this machine: s.Region,
// else the one of the default chain (AWS_REGION, the profile's), or ""
// when there is none or the configuration cannot be loaded. It reads the
// environment and the shared config files, and calls no service.
func Region(ctx context.Context, s Settings) string {
	if s.Region != "" {
		return s.Region
	}
	cfg, err := config.LoadDefaultConfig(ctx, loadOptions(s)...)
	if err != nil {
		return ""
	}
	return cfg.Region
}

// loadOptions are the options of config.LoadDefaultConfig for s.
func loadOptions(s Settings) []func(*config.LoadOptions) error {
	var opts []func(*config.LoadOptions) error
	if s.Region != "" {
		opts = append(opts, config.WithRegion(s.Region))
	}
	if s.Profile != "" {
		opts = append(opts, config.WithSharedConfigProfile(s.Profile))
	}
	return opts
}

// LoadConfig resolves the AWS configuration for s on this worker.
func LoadConfig(ctx context.Context, s Settings) (aws.Config, error) {
	opts := append(loadOptions(s), config.WithHTTPClient(newBuildableClient()))
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return aws.Config{}, fmt.Errorf("kinesisio: loading AWS configuration: %w", err)
	}
	cfg.HTTPClient = splitClients(cfg.HTTPClient)
	if cfg.Region == "" {
		return aws.Config{}, fmt.Errorf("kinesisio: no AWS region: set it with kinesisio.Connection.Region, a stream ARN, or AWS_REGION on the workers")
	}
	if s.RoleARN != "" {
		name := s.SessionName
		if name == "" {
			name = "beam-kinesisio"
		}
		client := sts.NewFromConfig(cfg)
		cfg.Credentials = aws.NewCredentialsCache(stscreds.NewAssumeRoleProvider(client, s.RoleARN, func(o *stscreds.AssumeRoleOptions) {
			o.RoleSessionName = name
			if s.ExternalID != "" {
				o.ExternalID = aws.String(s.ExternalID)
			}
		}))
	}
	return cfg, nil
}
