package checkpoint

import (
	"fmt"
	"time"
)

// validateAcquire reports arguments of Acquire that cannot make a lease.
func validateAcquire(app, owner string, staleAfter time.Duration) error {
	if err := validateAppName(app); err != nil {
		return err
	}
	if owner == "" {
		return fmt.Errorf("checkpoint: acquire %s: empty owner (an empty owner marks a released lease)", app)
	}
	if staleAfter < time.Millisecond {
		return fmt.Errorf("checkpoint: acquire %s: staleAfter %v is under the stores' 1 ms precision", app, staleAfter)
	}
	return nil
}

// acquireKind says how Acquire takes a lease, given the one it read.
type acquireKind int

const (
	acquireNew      acquireKind = iota // there was none: epoch 1
	acquireRetry                       // owner's already: the epoch stays
	acquireReleased                    // released: epoch + 1
	acquireStale                       // stale at now: epoch + 1
)

// decideAcquire is the rule of Acquire that both stores share: given the
// stored lease cur (nil when there is none), it returns the lease owner
// gets and how, or a *HeldError when cur is live and another's.
// Staleness is judged by cur's own StaleAfter, as its holder set it.
func decideAcquire(cur *Lease, app, owner, job string, staleAfter time.Duration, now time.Time) (Lease, acquireKind, error) {
	next := Lease{
		App:        app,
		Owner:      owner,
		Job:        job,
		Epoch:      1,
		Heartbeat:  fromMillis(toMillis(now)),
		StaleAfter: staleAfter.Truncate(time.Millisecond),
	}
	switch {
	case cur == nil:
		return next, acquireNew, nil
	case cur.Owner == owner:
		next.Epoch = cur.Epoch
		return next, acquireRetry, nil
	case cur.Owner == "":
		next.Epoch = cur.Epoch + 1
		return next, acquireReleased, nil
	case !cur.Live(now):
		next.Epoch = cur.Epoch + 1
		return next, acquireStale, nil
	}
	return Lease{}, 0, &HeldError{Lease: *cur, Now: now}
}
