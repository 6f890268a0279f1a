package kinesisio

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/kinesisio/beam-kinesis/internal/awsclient"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/fetcher"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/readstate"
)

// The enhanced fan-out consumer of a read: its mechanics (describe,
// register, wait until ACTIVE, deregister) are in
// internal/fetcher/consumer.go, next to the subscription loop; this file
// keeps what the public package adds: the per-read cache in readstate
// and the errors that say what to fix.

// consumerActiveTimeout bounds the wait for a consumer to become ACTIVE
// (AWS takes seconds) or for the service to answer at all.
var consumerActiveTimeout = 2 * time.Minute

// resolveConsumer returns the ARN of the read's consumer
// (fetcher.ResolveConsumer), once per read in this process: the run
// state of the read (readstate) keeps it, and drops it with the read.
// Kinesis not answering any of its calls for StartupTimeout fails it,
// with the endpoint and region it tried (target) and what to check.
func resolveConsumer(ctx context.Context, api fetcher.ConsumerAPI, stream awsclient.Stream, target awsclient.Target, spec readSpec) (string, error) {
	return readstate.Default.ConsumerARN(spec.ReadID, func() (string, error) {
		c := spec.FanOut
		arn, err := fetcher.ResolveConsumer(ctx, api, stream, c.ARN, c.Name, spec.StartupTimeout, consumerActiveTimeout)
		var u *fetcher.UnreachableError
		if errors.As(err, &u) {
			return "", explainUnreachable(u.Err, stream, target, fanOutAccess, spec.StartupTimeout)
		}
		if err != nil {
			return "", explainConsumer(err, stream, spec.Conn.Client, c)
		}
		return arn, nil
	})
}

// explainConsumer says what to fix about a consumer that cannot be used.
func explainConsumer(err error, stream awsclient.Stream, s awsclient.Settings, c consumerSpec) error {
	var notFound *types.ResourceNotFoundException
	if errors.As(err, &notFound) {
		if c.ARN != "" {
			return fmt.Errorf("kinesisio: enhanced fan-out consumer %s of stream %v does not exist: register it (aws kinesis register-stream-consumer), or give WithEnhancedFanOut a consumer name to let the job register one (%w)", c.ARN, stream, err)
		}
		return explain(err, stream, s, fanOutAccess)
	}
	if awsclient.Classify(err) == awsclient.Permanent {
		return explain(err, stream, s, fanOutAccess)
	}
	return fmt.Errorf("kinesisio: enhanced fan-out consumer %s of stream %v: %w", c.ARN+c.Name, stream, err)
}

// DeregisterConsumer deregisters the enhanced fan-out consumer name of
// stream (a name or an ARN), which a Read with
// WithEnhancedFanOut(name) registered and never
// deregisters: its subscriptions end, and it stops costing. It waits (at
// most 2 minutes) until the consumer is gone. A consumer that does not
// exist is not an error. Credentials come from the default chain of the
// caller, through the Connections given (several combine as in Read).
func DeregisterConsumer(ctx context.Context, stream, name string, conn ...Connection) error {
	if !consumerNameRE.MatchString(name) {
		return invalid("DeregisterConsumer", "invalid consumer name %q", name)
	}
	var settings awsclient.Settings
	for _, c := range conn {
		if err := c.apply(&settings); err != nil {
			return err
		}
	}
	cn, err := newConnection(stream, settings)
	if err != nil {
		return err
	}
	st, client, err := cn.dial(ctx)
	if err != nil {
		return err
	}
	return fetcher.DeregisterConsumer(ctx, client, st, name, consumerActiveTimeout)
}
