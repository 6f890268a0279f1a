package kinesisio

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/kinesisio/beam-kinesis/internal/awsclient"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/fetcher"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/readstate"
)

// Enhanced fan-out for a read: its option (WithEnhancedFanOut) and the
// consumer it names. The consumer's mechanics (describe, register, wait
// until ACTIVE, deregister) are in internal/fetcher/consumer.go, next to
// the subscription loop (internal/fetcher/fanout.go); this file keeps what
// the public package adds: the option, the per-read cache in readstate,
// DeregisterConsumer and the errors that say what to fix.

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

var (
	consumerNameRE = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,128}$`)
	// arn:PARTITION:kinesis:REGION:ACCOUNT:stream/STREAM/consumer/NAME:CREATED
	consumerARNRE = regexp.MustCompile(`^arn:[a-z-]+:kinesis:[a-z0-9-]+:\d{12}:stream/([a-zA-Z0-9_.-]{1,128})/consumer/[a-zA-Z0-9_.-]{1,128}:\d+$`)
)

// WithEnhancedFanOut reads with enhanced fan-out (SubscribeToShard) as
// consumer instead of polling GetRecords: each shard pushes up to
// 2 MiB/s to this consumer alone, whatever other consumers of the stream
// read, with a latency of about 70 ms instead of polling's 200 ms or more.
//
// consumer is a consumer name or a consumer ARN (arn:...), as the stream
// is a stream name or ARN:
//   - a name is the consumer of the stream with that name. The job
//     registers it when the stream has none of that name and reuses it
//     when it has, waiting until it is ACTIVE. The job never deregisters
//     it (other jobs may share it, and Prism never tears DoFns down):
//     DeregisterConsumer does, when you are done with it.
//   - an ARN is a consumer registered beforehand, used as it is: the read
//     fails, saying so, when it does not exist or is neither ACTIVE nor
//     CREATING (a CREATING one is waited for, at most 2 minutes), or when
//     it is a consumer of another stream.
//
// Each shard has one subscription at a time, started at the shard's
// position (as with polling: WithStartAtLatest, WithShardPositions,
// WithCheckpoints) and renewed when Kinesis ends it every 5 minutes, after
// the last record received: nothing is lost or read twice across
// renewals, and a switch between polling and fan-out across a restart
// (through WithCheckpoints or WithShardPositions) loses and repeats
// nothing. ResourceInUseException (another subscription to the shard
// still open, or a consumer not ACTIVE yet), throttling and broken
// connections are waited out per shard, no sooner than Kinesis allows (one
// subscription per shard and consumer per 5 s), and never fail the job; a
// missing stream or consumer or denied access fails it with what to fix.
// While a shard's buffer (WithMaxBufferedBytes) is full, its events are
// not read, so flow control holds Kinesis back and memory stays bounded.
// A shard ends at the event naming its child shards, or when GetRecords
// finds its end: a subscription that has gone 5 s without records is
// checked that way at most once per 5 s, for services that never send
// that event (kinesis-mock and LocalStack after a reshard).
//
// The workers need kinesis:SubscribeToShard and kinesis:DescribeStreamConsumer,
// plus kinesis:RegisterStreamConsumer and kinesis:DescribeStreamSummary
// with a consumer name; with kinesis:GetShardIterator and kinesis:GetRecords
// too, shards also end where the service sends no end event. Polling applies
// to polling only. Fan-out consumers cost
// money per consumer-shard hour and per GB read.
func WithEnhancedFanOut(consumer string) ReadOption {
	return readOptionFunc(func(s *readSpec) error {
		switch {
		case consumer == "":
			return invalid("WithEnhancedFanOut", "no consumer: give a consumer name or a consumer ARN")
		case strings.HasPrefix(consumer, "arn:"):
			if consumerARNRE.FindStringSubmatch(consumer) == nil {
				return invalid("WithEnhancedFanOut", "%q is not a consumer ARN (want arn:aws:kinesis:REGION:ACCOUNT:stream/STREAM/consumer/NAME:TIMESTAMP)", consumer)
			}
			s.FanOut = consumerSpec{ARN: consumer}
		case !consumerNameRE.MatchString(consumer):
			return invalid("WithEnhancedFanOut", "invalid consumer name %q: want 1 to 128 of [a-zA-Z0-9_.-], or a consumer ARN", consumer)
		default:
			s.FanOut = consumerSpec{Name: consumer}
		}
		return nil
	})
}

// checkConsumerStream refuses a consumer ARN of another stream than the
// one read, when the pipeline is built.
func checkConsumerStream(c consumerSpec, stream awsclient.Stream) error {
	if c.ARN == "" {
		return nil
	}
	m := consumerARNRE.FindStringSubmatch(c.ARN)
	streamARN, _, _ := strings.Cut(c.ARN, "/consumer/")
	if m == nil || m[1] != stream.Name || stream.ARN != "" && streamARN != stream.ARN {
		return invalid("WithEnhancedFanOut", "consumer %s is not a consumer of stream %v", c.ARN, stream)
	}
	return nil
}
