package backoff

import (
	"context"
	"errors"
	"testing"
	"time"
)

func TestRetryRetriesUntilSuccess(t *testing.T) {
	calls := 0
	err := Retry{Policy: Policy{Base: time.Microsecond, Max: time.Microsecond}}.Do(context.Background(), func(context.Context) error {
		if calls++; calls < 3 {
			return errors.New("transient")
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("Do = %v after %d calls, want nil after 3", err, calls)
	}
}

func TestRetryNextEndsTheLoop(t *testing.T) {
	permanent := errors.New("permanent")
	var attempts []int
	err := Retry{Next: func(attempt int, err error, wait time.Duration) (time.Duration, error) {
		attempts = append(attempts, attempt)
		if attempt == 2 {
			return 0, err
		}
		return wait, nil
	}}.Do(context.Background(), func(context.Context) error { return permanent })
	if !errors.Is(err, permanent) || len(attempts) != 2 || attempts[1] != 2 {
		t.Fatalf("Do = %v, attempts %v; want the permanent error after attempts [1 2]", err, attempts)
	}
}

func TestRetryEndsWithTheContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	last := errors.New("down")
	err := Retry{Policy: Policy{Base: time.Hour, Max: time.Hour}, Next: func(_ int, _ error, wait time.Duration) (time.Duration, error) {
		cancel()
		return wait, nil
	}}.Do(ctx, func(context.Context) error { return last })
	if !errors.Is(err, last) || !errors.Is(err, context.Canceled) {
		t.Fatalf("Do = %v, want the last error and context.Canceled", err)
	}
	err = Retry{Interrupted: func(l error) error { return errors.Join(errors.New("custom"), l) }}.Do(ctx, func(context.Context) error { return last })
	if !errors.Is(err, last) || errors.Is(err, context.Canceled) {
		t.Fatalf("Do with Interrupted = %v, want the custom error", err)
	}
}

func TestRetryStopEndsTheLoop(t *testing.T) {
	final := errors.New("final")
	calls := 0
	err := Retry{}.Do(context.Background(), func(context.Context) error {
		calls++
		return Stop(final)
	})
	if err != final || calls != 1 {
		t.Fatalf("Do = %v after %d calls, want the error given to Stop after 1", err, calls)
	}
}
