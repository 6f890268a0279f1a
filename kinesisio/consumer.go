package kinesisio

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/kinesisio/beam-kinesis/internal/awsclient"
	"github.com/kinesisio/beam-kinesis/internal/backoff"
)

// consumerAPI is the part of the Kinesis API that finds, registers and
// deregisters fan-out consumers.
type consumerAPI interface {
	DescribeStreamSummary(context.Context, *kinesis.DescribeStreamSummaryInput, ...func(*kinesis.Options)) (*kinesis.DescribeStreamSummaryOutput, error)
	DescribeStreamConsumer(context.Context, *kinesis.DescribeStreamConsumerInput, ...func(*kinesis.Options)) (*kinesis.DescribeStreamConsumerOutput, error)
	RegisterStreamConsumer(context.Context, *kinesis.RegisterStreamConsumerInput, ...func(*kinesis.Options)) (*kinesis.RegisterStreamConsumerOutput, error)
	DeregisterStreamConsumer(context.Context, *kinesis.DeregisterStreamConsumerInput, ...func(*kinesis.Options)) (*kinesis.DeregisterStreamConsumerOutput, error)
}

// consumerActiveTimeout bounds the wait for a consumer to become ACTIVE
// (AWS takes seconds) or for the service to answer at all.
var consumerActiveTimeout = 2 * time.Minute

// consumerPoll is the interval of DescribeStreamConsumer calls while
// waiting (the call allows 20 per second per stream).
const consumerPoll = time.Second

// consumers caches the ARN resolved for a read's consumer in this process,
// so that the DoFn instances of a read describe it once.
var consumers sync.Map // readID -> string

// resolveConsumer returns the ARN of the read's consumer: the given ARN
// once it is found ACTIVE, or the ARN of the consumer of that name,
// registered when absent and waited for until ACTIVE.
//
// It runs in the Setup of a worker's readers, before they read: Kinesis
// not answering any of its calls for StartupTimeout fails it, with the
// endpoint and region it tried (target) and what to check.
func resolveConsumer(ctx context.Context, api consumerAPI, stream awsclient.Stream, target awsclient.Target, spec readSpec) (string, error) {
	if arn, ok := consumers.Load(spec.ReadID); ok {
		return arn.(string), nil
	}
	c := spec.FanOut
	ctx, cancel := context.WithTimeout(ctx, consumerActiveTimeout)
	defer cancel()
	ctx, unreachable := context.WithCancelCause(ctx)
	defer unreachable(nil)
	w := &watchedConsumerAPI{consumerAPI: api, bound: spec.StartupTimeout, giveUp: unreachable}
	var arn string
	var err error
	if c.ARN != "" {
		arn, err = describeActive(ctx, w, &kinesis.DescribeStreamConsumerInput{ConsumerARN: aws.String(c.ARN)}, false)
	} else {
		arn, err = registerConsumer(ctx, w, stream, c.Name)
	}
	var u *unreachableError
	if errors.As(context.Cause(ctx), &u) {
		return "", explainUnreachable(u.err, stream, target, fanOutAccess, spec.StartupTimeout)
	}
	if err != nil {
		return "", explainConsumer(err, stream, spec.Conn.Client, c)
	}
	consumers.Store(spec.ReadID, arn)
	return arn, nil
}

// unreachableError ends a consumer resolution whose calls all failed for
// the start-up bound.
type unreachableError struct {
	err    error
	waited time.Duration
}

func (e *unreachableError) Error() string {
	return fmt.Sprintf("no answer from Kinesis for %v: %v", e.waited, e.err)
}

// watchedConsumerAPI follows the calls of a consumer resolution: it logs
// the failures its loops retry (within a log limit), and gives up, by
// cancelling their context with an unreachableError, once every call
// failed for bound (throttling is an answer: it is waited out).
type watchedConsumerAPI struct {
	consumerAPI
	bound  time.Duration
	giveUp context.CancelCauseFunc
	streak backoff.Streak
}

// observe takes the outcome of a call.
func (w *watchedConsumerAPI) observe(ctx context.Context, err error) {
	class := awsclient.Classify(err)
	if err == nil || class == awsclient.Throttled || class == awsclient.Permanent || class == awsclient.Canceled {
		w.streak.Reset()
		return
	}
	var notFound *types.ResourceNotFoundException
	var inUse *types.ResourceInUseException
	if errors.As(err, &notFound) || errors.As(err, &inUse) {
		w.streak.Reset() // answers the loops deal with
		return
	}
	now := time.Now()
	n, since, _ := w.streak.Fail(now, backoff.Policy{}, time.Time{})
	if now.Sub(since) >= w.bound {
		w.giveUp(&unreachableError{err: err, waited: now.Sub(since)})
		return
	}
	w.streak.Log.Warnf(ctx, "kinesisio: resolving the enhanced fan-out consumer: a call failed%s, retrying: %v",
		backoff.InARow(n, now.Sub(since)), err)
}

func (w *watchedConsumerAPI) DescribeStreamSummary(ctx context.Context, in *kinesis.DescribeStreamSummaryInput, o ...func(*kinesis.Options)) (*kinesis.DescribeStreamSummaryOutput, error) {
	out, err := w.consumerAPI.DescribeStreamSummary(ctx, in, o...)
	w.observe(ctx, err)
	return out, err
}

func (w *watchedConsumerAPI) DescribeStreamConsumer(ctx context.Context, in *kinesis.DescribeStreamConsumerInput, o ...func(*kinesis.Options)) (*kinesis.DescribeStreamConsumerOutput, error) {
	out, err := w.consumerAPI.DescribeStreamConsumer(ctx, in, o...)
	w.observe(ctx, err)
	return out, err
}

func (w *watchedConsumerAPI) RegisterStreamConsumer(ctx context.Context, in *kinesis.RegisterStreamConsumerInput, o ...func(*kinesis.Options)) (*kinesis.RegisterStreamConsumerOutput, error) {
	out, err := w.consumerAPI.RegisterStreamConsumer(ctx, in, o...)
	w.observe(ctx, err)
	return out, err
}

// registerConsumer finds or registers the consumer name of stream and
// waits until it is ACTIVE.
func registerConsumer(ctx context.Context, api consumerAPI, stream awsclient.Stream, name string) (string, error) {
	streamARN, err := streamARNOf(ctx, api, stream)
	if err != nil {
		return "", err
	}
	in := &kinesis.DescribeStreamConsumerInput{StreamARN: aws.String(streamARN), ConsumerName: aws.String(name)}
	for attempt := 1; ; attempt++ {
		arn, err := describeActive(ctx, api, in, true)
		var notFound *types.ResourceNotFoundException
		if !errors.As(err, &notFound) {
			return arn, err
		}
		_, err = api.RegisterStreamConsumer(ctx, &kinesis.RegisterStreamConsumerInput{StreamARN: aws.String(streamARN), ConsumerName: aws.String(name)})
		var inUse *types.ResourceInUseException
		switch {
		case err == nil, errors.As(err, &inUse):
			// Registered now, or by another worker or job meanwhile:
			// describe it again.
		case awsclient.Classify(err) == awsclient.Permanent:
			return "", fmt.Errorf("RegisterStreamConsumer %s: %w", name, err)
		default:
			// LimitExceededException is both the call rate (5 per
			// second per account) and the 20 consumers of a stream:
			// retry within the bound, then report it.
			if !sleep(ctx, backoff.Policy{Base: 200 * time.Millisecond, Max: 5 * time.Second}.Delay(attempt)) {
				return "", fmt.Errorf("RegisterStreamConsumer %s: %w", name, err)
			}
		}
	}
}

// describeActive describes a consumer until it is ACTIVE and returns its
// ARN. Transient errors and a CREATING consumer are waited out; a consumer
// being deleted is waited out too when gone is acceptable (it is then
// registered again), otherwise it is an error, as is any other state.
func describeActive(ctx context.Context, api consumerAPI, in *kinesis.DescribeStreamConsumerInput, goneOK bool) (string, error) {
	var last error
	for attempt := 1; ; attempt++ {
		out, err := api.DescribeStreamConsumer(ctx, in)
		switch {
		case err == nil:
			d := out.ConsumerDescription
			switch d.ConsumerStatus {
			case types.ConsumerStatusActive:
				return aws.ToString(d.ConsumerARN), nil
			case types.ConsumerStatusCreating:
				last = fmt.Errorf("consumer %s is still CREATING", aws.ToString(d.ConsumerARN))
			case types.ConsumerStatusDeleting:
				if !goneOK || in.ConsumerARN != nil {
					return "", fmt.Errorf("consumer %s is being deleted (DELETING)", aws.ToString(d.ConsumerARN))
				}
				last = fmt.Errorf("consumer %s is being deleted", aws.ToString(d.ConsumerARN))
			default:
				return "", fmt.Errorf("consumer %s is %s, not ACTIVE", aws.ToString(d.ConsumerARN), d.ConsumerStatus)
			}
		case awsclient.Classify(err) == awsclient.Permanent:
			return "", fmt.Errorf("DescribeStreamConsumer: %w", err)
		default:
			last = err
		}
		if !sleep(ctx, min(consumerPoll, backoff.Policy{Base: 100 * time.Millisecond, Max: consumerPoll}.Delay(attempt))) {
			return "", fmt.Errorf("consumer not ACTIVE within %v: %w", consumerActiveTimeout, last)
		}
	}
}

// streamARNOf returns the stream's ARN: given, or from
// DescribeStreamSummary (RegisterStreamConsumer takes only an ARN).
func streamARNOf(ctx context.Context, api consumerAPI, stream awsclient.Stream) (string, error) {
	if stream.ARN != "" {
		return stream.ARN, nil
	}
	for attempt := 1; ; attempt++ {
		out, err := api.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(stream.Name)})
		if err == nil {
			return aws.ToString(out.StreamDescriptionSummary.StreamARN), nil
		}
		if awsclient.Classify(err) == awsclient.Permanent || !sleep(ctx, backoff.Policy{Base: 100 * time.Millisecond, Max: 2 * time.Second}.Delay(attempt)) {
			return "", fmt.Errorf("DescribeStreamSummary: %w", err)
		}
	}
}

// sleep waits d, or returns false when ctx ends first.
func sleep(ctx context.Context, d time.Duration) bool { return backoff.Sleep(ctx, d) == nil }

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
// caller, through the connection options given.
func DeregisterConsumer(ctx context.Context, stream, name string, opts ...ConnectionOption) error {
	if !consumerNameRE.MatchString(name) {
		return invalid("DeregisterConsumer", "invalid consumer name %q", name)
	}
	var spec readSpec
	for _, o := range opts {
		if o == nil {
			return invalid("DeregisterConsumer", "nil option")
		}
		if err := o.applyRead(&spec); err != nil {
			return err
		}
	}
	conn, err := newConnection(stream, spec.Conn.Client)
	if err != nil {
		return err
	}
	st, client, err := conn.dial(ctx)
	if err != nil {
		return err
	}
	return deregisterConsumer(ctx, client, st, name)
}

func deregisterConsumer(ctx context.Context, api consumerAPI, stream awsclient.Stream, name string) error {
	ctx, cancel := context.WithTimeout(ctx, consumerActiveTimeout)
	defer cancel()
	streamARN, err := streamARNOf(ctx, api, stream)
	if err != nil {
		return fmt.Errorf("kinesisio: deregistering consumer %s: %w", name, err)
	}
	in := &kinesis.DescribeStreamConsumerInput{StreamARN: aws.String(streamARN), ConsumerName: aws.String(name)}
	for attempt := 1; ; attempt++ {
		_, err := api.DeregisterStreamConsumer(ctx, &kinesis.DeregisterStreamConsumerInput{StreamARN: aws.String(streamARN), ConsumerName: aws.String(name)})
		var notFound *types.ResourceNotFoundException
		var inUse *types.ResourceInUseException
		switch {
		case err == nil, errors.As(err, &notFound), errors.As(err, &inUse):
			// Deregistered, gone, or being deleted already: wait until gone.
			if _, err := api.DescribeStreamConsumer(ctx, in); errors.As(err, &notFound) {
				return nil
			}
		case awsclient.Classify(err) == awsclient.Permanent:
			return fmt.Errorf("kinesisio: deregistering consumer %s of stream %v: %w", name, stream, err)
		}
		if !sleep(ctx, backoff.Policy{Base: 100 * time.Millisecond, Max: consumerPoll}.Delay(attempt)) {
			return fmt.Errorf("kinesisio: consumer %s of stream %v not deregistered within %v", name, stream, consumerActiveTimeout)
		}
	}
}
