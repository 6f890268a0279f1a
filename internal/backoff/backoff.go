// Package backoff computes the connector's retry delays: exponential
// backoff with full jitter (AWS Architecture Blog, "Exponential Backoff
// And Jitter"), the one rule every retry loop of the connector follows.
// LogLimit bounds what those loops log, and Streak follows the failures of
// an operation retried across DoFn calls.
package backoff

import (
	"context"
	"math/rand/v2"
	"time"
)

// Policy is an exponential backoff with full jitter: before retry k
// (k = 1, 2, ...) it waits a random time in [0, min(Max, Base * 2^(k-1))].
type Policy struct {
	Base, Max time.Duration
}

// Ceiling is the largest delay before retry k.
func (p Policy) Ceiling(k int) time.Duration {
	c := p.Max
	if shift := k - 1; shift >= 0 && shift < 62 {
		if v := p.Base << shift; v > 0 && v < c {
			c = v
		}
	}
	return c
}

// Delay returns a random delay before retry k.
func (p Policy) Delay(k int) time.Duration {
	c := p.Ceiling(k)
	if c <= 0 {
		return 0
	}
	return time.Duration(rand.Int64N(int64(c) + 1))
}

// Sleep waits d, or until ctx ends, and then returns ctx.Err().
func Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
