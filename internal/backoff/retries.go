package backoff

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"
)

// LogEvery is how often, at most, a LogLimit lets a line through after
// the first.
const LogEvery = 10 * time.Second

// LogLimit bounds the log lines of the retry loops that share it (the
// fetchers of one read's shards, the listings of its discovery step): the
// first failure is logged at once, then at most one line per LogEvery,
// which says how many were left out since the line before. A retried
// outage then costs a few lines a minute, however many shards wait it
// out and however often they retry. The zero value is ready to use.
type LogLimit struct {
	mu      sync.Mutex
	last    time.Time // when the last line was logged
	skipped int       // lines left out since
}

// allow reports whether a line may be logged at now, and how many were
// left out since the last one (at last).
func (l *LogLimit) allow(now time.Time) (ok bool, skipped int, last time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if !l.last.IsZero() && now.Sub(l.last) < LogEvery {
		l.skipped++
		return false, 0, time.Time{}
	}
	skipped, last = l.skipped, l.last
	l.last, l.skipped = now, 0
	return true, skipped, last
}

// Warnf logs a WARN line through Beam's logger, unless the limit leaves
// it out.
func (l *LogLimit) Warnf(ctx context.Context, format string, args ...any) {
	now := time.Now()
	ok, skipped, last := l.allow(now)
	if !ok {
		return
	}
	msg := fmt.Sprintf(format, args...)
	if skipped > 0 {
		msg += fmt.Sprintf(" [%d similar line(s) left out in the last %v]", skipped, now.Sub(last).Round(time.Second))
	}
	log.Warn(ctx, msg)
}

// InARow describes the n-th failure in a row, the first of which came d
// ago, for a log line: "" for the first, else " (n times in a row, over d)".
func InARow(n int, d time.Duration) string {
	if n <= 1 {
		return ""
	}
	return fmt.Sprintf(" (%d times in a row, over %v)", n, d.Round(100*time.Millisecond))
}

// Streak follows the consecutive failures of an operation that is
// retried across calls of a DoFn (the discovery step's listings, which it
// retries at a later wake-up): how many, since when, and when the next
// attempt is due. Its Log bounds the lines logged about them. The zero
// value is ready to use.
type Streak struct {
	Log LogLimit

	mu    sync.Mutex
	n     int
	since time.Time
	due   time.Time
}

// Fail records a failure at now and returns how many failures in a row
// it ends, when the first of them was, and the wait before the next
// attempt (after p, but never past limit when limit is not zero).
func (s *Streak) Fail(now time.Time, p Policy, limit time.Time) (n int, since time.Time, wait time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n == 0 {
		s.since = now
	}
	s.n++
	wait = p.Delay(s.n)
	if !limit.IsZero() {
		wait = max(0, min(wait, limit.Sub(now)))
	}
	s.due = now.Add(wait)
	return s.n, s.since, wait
}

// Since returns when the current streak of failures began (zero when the
// last attempt succeeded).
func (s *Streak) Since() time.Time {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.n == 0 {
		return time.Time{}
	}
	return s.since
}

// State returns the failures in a row (0 when the last attempt
// succeeded), when the first of them was, and how long after now the
// next attempt is due (0: now).
func (s *Streak) State(now time.Time) (n int, since time.Time, wait time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.n, s.since, max(0, s.due.Sub(now))
}

// Wait returns how long after now the next attempt is due (0: now).
func (s *Streak) Wait(now time.Time) time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return max(0, s.due.Sub(now))
}

// Reset ends the streak: the operation succeeded.
func (s *Streak) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n, s.since, s.due = 0, time.Time{}, time.Time{}
}
