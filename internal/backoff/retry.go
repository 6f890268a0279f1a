package backoff

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Retry is the connector's one retry loop: it calls an operation until it
// succeeds, waiting Policy.Delay(k) before retry k. The zero value retries
// every error, at once, until the context ends.
type Retry struct {
	// Policy spaces the attempts.
	Policy Policy
	// Next, when not nil, is told each failure: the attempt that failed
	// (1, 2, ...), its error and the wait Policy chose before the next
	// attempt. It returns the error that ends the loop (a permanent
	// error, a bound passed), or nil and the wait to use (wait itself,
	// unless the loop paces its attempts another way); it is where a loop
	// logs.
	Next func(attempt int, err error, wait time.Duration) (time.Duration, error)
	// Interrupted, when not nil, makes the error returned when the
	// context ends during a wait, from the last error of the operation.
	// By default that error wraps both the last error and the context's.
	Interrupted func(last error) error
}

// Do calls op until it returns nil, op returns an error made by Stop,
// Next ends the loop, or ctx ends during a wait.
func (r Retry) Do(ctx context.Context, op func(ctx context.Context) error) error {
	for attempt := 1; ; attempt++ {
		err := op(ctx)
		if err == nil {
			return nil
		}
		var s *stopError
		if errors.As(err, &s) {
			return s.err
		}
		wait := r.Policy.Delay(attempt)
		if r.Next != nil {
			var end error
			if wait, end = r.Next(attempt, err, wait); end != nil {
				return end
			}
		}
		if ctx.Err() != nil || Sleep(ctx, wait) != nil {
			if r.Interrupted != nil {
				return r.Interrupted(err)
			}
			return WithCtxErr(ctx, err)
		}
	}
}

// WithCtxErr wraps err, the last error of a retried call, and the error of
// the context that ended the retries, unless err is that already.
func WithCtxErr(ctx context.Context, err error) error {
	if errors.Is(err, ctx.Err()) {
		return err
	}
	return fmt.Errorf("%w (then: %w)", err, ctx.Err())
}

// Stop makes the error with which an operation ends Retry.Do at once:
// Do returns err itself.
func Stop(err error) error { return &stopError{err} }

type stopError struct{ err error }

func (e *stopError) Error() string { return e.err.Error() }
func (e *stopError) Unwrap() error { return e.err }
