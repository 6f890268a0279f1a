package kinesisio

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/aws/smithy-go"
	"github.com/kinesisio/beam-kinesis/internal/awsclient"
)

// ErrInvalidOption is wrapped by every error an option or a transform
// constructor returns for a bad argument.
var ErrInvalidOption = errors.New("kinesisio: invalid option")

// OptionError is the error of an invalid option or argument, found with
// errors.As in the errors TryRead, TryWrite and the other constructors
// return. It wraps ErrInvalidOption. A tool that builds options from its
// own settings (command-line flags, say) can report the setting instead
// of the option: the Reason names no option.
type OptionError struct {
	// Option is the option or argument at fault: "Connection",
	// "WithStartAtTimestamp", ..., or "stream" for the stream name or ARN.
	Option string
	// Reason says what is wrong with the value given.
	Reason string
}

// Error is "kinesisio: invalid option: OPTION: REASON".
func (e *OptionError) Error() string {
	return ErrInvalidOption.Error() + ": " + e.Option + ": " + e.Reason
}

// Unwrap returns ErrInvalidOption.
func (e *OptionError) Unwrap() error { return ErrInvalidOption }

// access says what a transform does to a stream and which permissions its
// workers need, for error messages.
type access struct {
	doing, kinesisGrant, kmsGrant string
}

var (
	readAccess   = access{"reading", "kinesis:ListShards, kinesis:GetShardIterator and kinesis:GetRecords", "kms:Decrypt"}
	fanOutAccess = access{"reading with enhanced fan-out from", "kinesis:ListShards, kinesis:SubscribeToShard and kinesis:DescribeStreamConsumer (with a consumer name also kinesis:DescribeStreamSummary and kinesis:RegisterStreamConsumer)", "kms:Decrypt"}
	writeAccess  = access{"writing to", "kinesis:PutRecords (kinesis:PutRecord with WithStrictOrdering, kinesis:ListShards with WithShardRateLimit or Aggregation)", "kms:GenerateDataKey"}
)

// explainTimeout bounds explain's look-up of the region the call used.
const explainTimeout = 5 * time.Second

// explain turns a permanent error into a message that says what to fix.
func explain(err error, stream awsclient.Stream, s awsclient.Settings, a access) error {
	// The region the call went to: the settings' (a stream ARN's is
	// filled in by newConnection), else the default chain's, which the
	// client resolved the same way.
	ctx, cancel := context.WithTimeout(context.Background(), explainTimeout)
	where := awsclient.Region(ctx, s)
	cancel()
	if where == "" {
		where = "the default region"
	}
	if s.Endpoint != "" {
		where += " at " + s.Endpoint
	}
	var notFound *types.ResourceNotFoundException
	var api smithy.APIError
	switch {
	case errors.As(err, &notFound):
		return fmt.Errorf("kinesisio: stream %v not found in %s: check the stream name, region and account (%w)", stream, where, err)
	case errors.As(err, &api) && strings.HasPrefix(api.ErrorCode(), "KMS"):
		return fmt.Errorf("kinesisio: stream %v in %s is encrypted with a KMS key the workers cannot use: check the key's state and grant the workers' role %s on it (%w)", stream, where, a.kmsGrant, err)
	case errors.As(err, &api) && strings.Contains(api.ErrorCode(), "AccessDenied"):
		return fmt.Errorf("kinesisio: access to stream %v in %s denied: grant the workers' role %s on it (%w)", stream, where, a.kinesisGrant, err)
	case awsclient.IsCredentialError(err):
		return fmt.Errorf("kinesisio: %s stream %v in %s: %w", a.doing, stream, where, awsclient.ExplainCredentials(err, s))
	}
	return fmt.Errorf("kinesisio: %s stream %v in %s: %w", a.doing, stream, where, err)
}

// explainUnreachable is the error of a job that could not reach Kinesis
// when it started: its calls failed (err is the last failure) for bound,
// the start-up bound. It names the endpoint and region the calls went to
// and what to check.
func explainUnreachable(err error, stream awsclient.Stream, t awsclient.Target, a access, bound time.Duration) error {
	endpoint := t.Endpoint
	if e, ok := awsclient.Reached(err); ok {
		endpoint = e
	}
	if endpoint == "" {
		endpoint = "the AWS endpoint of the region"
	}
	if host, ok := awsclient.UnresolvedHost(err); ok {
		return fmt.Errorf("kinesisio: %s stream %v: Kinesis endpoint %s (region %s) cannot be reached: its host %s does not resolve (for the %v a job waits for Kinesis when it starts). "+
			"Check the region (Connection.Region, the region of a stream ARN, or AWS_REGION or the profile's region on the workers): is it a region name where Kinesis exists? "+
			"Check the endpoint if one is set (Connection.Endpoint), and the workers' DNS: %w",
			a.doing, stream, endpoint, t.Region, host, bound, err)
	}
	return fmt.Errorf("kinesisio: %s stream %v: no answer from Kinesis at %s (region %s) in the %v a job waits for it when it starts. "+
		"Check the endpoint (Connection.Endpoint: is the emulator running, on that port?), the region (Connection.Region, the region of a stream ARN, or AWS_REGION on the workers), "+
		"and that the workers can reach it (network, proxy settings, VPC endpoint, security groups): %w",
		a.doing, stream, endpoint, t.Region, bound, err)
}

// invalid returns the *OptionError of option.
func invalid(option, format string, args ...any) error {
	return &OptionError{Option: option, Reason: fmt.Sprintf(format, args...)}
}
