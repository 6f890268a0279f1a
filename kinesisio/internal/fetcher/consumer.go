package fetcher

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/kinesisio/beam-kinesis/internal/awsclient"
	"github.com/kinesisio/beam-kinesis/internal/backoff"
)

// Enhanced fan-out, from one place: the option is kinesisio's
// WithEnhancedFanOut (fanout_option.go); this file resolves the consumer
// a read subscribes with (ResolveConsumer, from the readers' Setup, whose
// result kinesisio keeps per read in readstate); fanout.go subscribes to
// each shard with it, over the event-stream HTTP client of
// internal/awsclient/httpclient.go.

// ConsumerAPI is the part of the Kinesis API that finds, registers and
// deregisters fan-out consumers.
type ConsumerAPI interface {
	DescribeStreamSummary(context.Context, *kinesis.DescribeStreamSummaryInput, ...func(*kinesis.Options)) (*kinesis.DescribeStreamSummaryOutput, error)
	DescribeStreamConsumer(context.Context, *kinesis.DescribeStreamConsumerInput, ...func(*kinesis.Options)) (*kinesis.DescribeStreamConsumerOutput, error)
	RegisterStreamConsumer(context.Context, *kinesis.RegisterStreamConsumerInput, ...func(*kinesis.Options)) (*kinesis.RegisterStreamConsumerOutput, error)
	DeregisterStreamConsumer(context.Context, *kinesis.DeregisterStreamConsumerInput, ...func(*kinesis.Options)) (*kinesis.DeregisterStreamConsumerOutput, error)
}

// consumerPoll is the interval of DescribeStreamConsumer calls while
// waiting (the call allows 20 per second per stream).
const consumerPoll = time.Second

// ResolveConsumer returns the ARN of a read's consumer: arn once it is
// found ACTIVE, or, when arn is "", the ARN of the consumer name of
// stream, registered when absent and waited for until ACTIVE, for at
// most timeout.
//
// It runs in the Setup of a worker's readers, before they read: Kinesis
// not answering any of its calls for bound ends it with an
// *UnreachableError.
func ResolveConsumer(ctx context.Context, api ConsumerAPI, stream awsclient.Stream, arn, name string, bound, timeout time.Duration) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	ctx, unreachable := context.WithCancelCause(ctx)
	defer unreachable(nil)
	w := &watchedConsumerAPI{ConsumerAPI: api, bound: bound, giveUp: unreachable}
	var err error
	if arn != "" {
		arn, err = describeActive(ctx, w, &kinesis.DescribeStreamConsumerInput{ConsumerARN: aws.String(arn)}, false, timeout)
	} else {
		arn, err = registerConsumer(ctx, w, stream, name, timeout)
	}
	var u *UnreachableError
	if errors.As(context.Cause(ctx), &u) {
		return "", u
	}
	return arn, err
}

// UnreachableError ends a consumer resolution whose calls all failed for
// the start-up bound.
type UnreachableError struct {
	// Err is the last failure.
	Err    error
	waited time.Duration
}

func (e *UnreachableError) Error() string {
	return fmt.Sprintf("no answer from Kinesis for %v: %v", e.waited, e.Err)
}

// Unwrap returns the last failure.
func (e *UnreachableError) Unwrap() error { return e.Err }

// watchedConsumerAPI follows the calls of a consumer resolution: it logs
// the failures its loops retry (within a log limit), and gives up, by
// cancelling their context with an UnreachableError, once every call
// failed for bound (throttling is an answer: it is waited out).
type watchedConsumerAPI struct {
	ConsumerAPI
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
		w.giveUp(&UnreachableError{Err: err, waited: now.Sub(since)})
		return
	}
	w.streak.Log.Warnf(ctx, "kinesisio: resolving the enhanced fan-out consumer: a call failed%s, retrying: %v",
		backoff.InARow(n, now.Sub(since)), err)
}

func (w *watchedConsumerAPI) DescribeStreamSummary(ctx context.Context, in *kinesis.DescribeStreamSummaryInput, o ...func(*kinesis.Options)) (*kinesis.DescribeStreamSummaryOutput, error) {
	out, err := w.ConsumerAPI.DescribeStreamSummary(ctx, in, o...)
	w.observe(ctx, err)
	return out, err
}

func (w *watchedConsumerAPI) DescribeStreamConsumer(ctx context.Context, in *kinesis.DescribeStreamConsumerInput, o ...func(*kinesis.Options)) (*kinesis.DescribeStreamConsumerOutput, error) {
	out, err := w.ConsumerAPI.DescribeStreamConsumer(ctx, in, o...)
	w.observe(ctx, err)
	return out, err
}

func (w *watchedConsumerAPI) RegisterStreamConsumer(ctx context.Context, in *kinesis.RegisterStreamConsumerInput, o ...func(*kinesis.Options)) (*kinesis.RegisterStreamConsumerOutput, error) {
	out, err := w.ConsumerAPI.RegisterStreamConsumer(ctx, in, o...)
	w.observe(ctx, err)
	return out, err
}

// errRegistered is the attempt of registerConsumer that registered the
// consumer (or found another worker doing it): it describes it again at
// once.
var errRegistered = errors.New("registered: describe it again")

// registerConsumer finds or registers the consumer name of stream and
// waits until it is ACTIVE.
func registerConsumer(ctx context.Context, api ConsumerAPI, stream awsclient.Stream, name string, timeout time.Duration) (string, error) {
	streamARN, err := streamARNOf(ctx, api, stream)
	if err != nil {
		return "", err
	}
	in := &kinesis.DescribeStreamConsumerInput{StreamARN: aws.String(streamARN), ConsumerName: aws.String(name)}
	var arn string
	err = backoff.Retry{
		Policy: backoff.Policy{Base: 200 * time.Millisecond, Max: 5 * time.Second},
		Next: func(_ int, err error, wait time.Duration) (time.Duration, error) {
			if errors.Is(err, errRegistered) {
				return 0, nil
			}
			return wait, nil
		},
		Interrupted: func(last error) error { return fmt.Errorf("RegisterStreamConsumer %s: %w", name, last) },
	}.Do(ctx, func(ctx context.Context) error {
		a, err := describeActive(ctx, api, in, true, timeout)
		var notFound *types.ResourceNotFoundException
		if err == nil {
			arn = a
			return nil
		}
		if !errors.As(err, &notFound) {
			return backoff.Stop(err)
		}
		_, err = api.RegisterStreamConsumer(ctx, &kinesis.RegisterStreamConsumerInput{StreamARN: aws.String(streamARN), ConsumerName: aws.String(name)})
		var inUse *types.ResourceInUseException
		switch {
		case err == nil, errors.As(err, &inUse):
			// Registered now, or by another worker or job meanwhile:
			// describe it again.
			return errRegistered
		case awsclient.Classify(err) == awsclient.Permanent:
			return backoff.Stop(fmt.Errorf("RegisterStreamConsumer %s: %w", name, err))
		}
		// LimitExceededException is both the call rate (5 per second per
		// account) and the 20 consumers of a stream: retry within the
		// bound, then report it.
		return err
	})
	return arn, err
}

// describeActive describes a consumer until it is ACTIVE and returns its
// ARN. Transient errors and a CREATING consumer are waited out; a consumer
// being deleted is waited out too when gone is acceptable (it is then
// registered again), otherwise it is an error, as is any other state.
// timeout, the bound of ctx, names it in messages.
func describeActive(ctx context.Context, api ConsumerAPI, in *kinesis.DescribeStreamConsumerInput, goneOK bool, timeout time.Duration) (string, error) {
	var arn string
	err := backoff.Retry{
		Policy:      backoff.Policy{Base: 100 * time.Millisecond, Max: consumerPoll},
		Interrupted: func(last error) error { return fmt.Errorf("consumer not ACTIVE within %v: %w", timeout, last) },
	}.Do(ctx, func(ctx context.Context) error {
		out, err := api.DescribeStreamConsumer(ctx, in)
		switch {
		case err == nil:
			d := out.ConsumerDescription
			switch d.ConsumerStatus {
			case types.ConsumerStatusActive:
				arn = aws.ToString(d.ConsumerARN)
				return nil
			case types.ConsumerStatusCreating:
				return fmt.Errorf("consumer %s is still CREATING", aws.ToString(d.ConsumerARN))
			case types.ConsumerStatusDeleting:
				if !goneOK || in.ConsumerARN != nil {
					return backoff.Stop(fmt.Errorf("consumer %s is being deleted (DELETING)", aws.ToString(d.ConsumerARN)))
				}
				return fmt.Errorf("consumer %s is being deleted", aws.ToString(d.ConsumerARN))
			default:
				return backoff.Stop(fmt.Errorf("consumer %s is %s, not ACTIVE", aws.ToString(d.ConsumerARN), d.ConsumerStatus))
			}
		case awsclient.Classify(err) == awsclient.Permanent:
			return backoff.Stop(fmt.Errorf("DescribeStreamConsumer: %w", err))
		}
		return err
	})
	return arn, err
}

// streamARNOf returns the stream's ARN: given, or from
// DescribeStreamSummary (RegisterStreamConsumer takes only an ARN).
func streamARNOf(ctx context.Context, api ConsumerAPI, stream awsclient.Stream) (string, error) {
	if stream.ARN != "" {
		return stream.ARN, nil
	}
	var arn string
	err := backoff.Retry{
		Policy:      backoff.Policy{Base: 100 * time.Millisecond, Max: 2 * time.Second},
		Interrupted: func(last error) error { return fmt.Errorf("DescribeStreamSummary: %w", last) },
	}.Do(ctx, func(ctx context.Context) error {
		out, err := api.DescribeStreamSummary(ctx, &kinesis.DescribeStreamSummaryInput{StreamName: aws.String(stream.Name)})
		if err == nil {
			arn = aws.ToString(out.StreamDescriptionSummary.StreamARN)
			return nil
		}
		if awsclient.Classify(err) == awsclient.Permanent {
			return backoff.Stop(fmt.Errorf("DescribeStreamSummary: %w", err))
		}
		return err
	})
	return arn, err
}

// errDeregistering is the attempt of DeregisterConsumer that finds the
// consumer still there.
var errDeregistering = errors.New("consumer still there")

// DeregisterConsumer deregisters the consumer name of stream and waits,
// for at most timeout, until it is gone. A consumer that does not exist
// is not an error.
func DeregisterConsumer(ctx context.Context, api ConsumerAPI, stream awsclient.Stream, name string, timeout time.Duration) error {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	streamARN, err := streamARNOf(ctx, api, stream)
	if err != nil {
		return fmt.Errorf("kinesisio: deregistering consumer %s: %w", name, err)
	}
	in := &kinesis.DescribeStreamConsumerInput{StreamARN: aws.String(streamARN), ConsumerName: aws.String(name)}
	return backoff.Retry{
		Policy: backoff.Policy{Base: 100 * time.Millisecond, Max: consumerPoll},
		Interrupted: func(error) error {
			return fmt.Errorf("kinesisio: consumer %s of stream %v not deregistered within %v", name, stream, timeout)
		},
	}.Do(ctx, func(ctx context.Context) error {
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
			return backoff.Stop(fmt.Errorf("kinesisio: deregistering consumer %s of stream %v: %w", name, stream, err))
		}
		return errDeregistering
	})
}
