package ratelimit

import "time"

// Bucket is a token bucket holding up to one second of its rate, starting
// full, that a charge may overdraw: what is due next waits until the debt
// is paid off. The average stays at the rate; what it adds over charging
// every use in full is the first second's worth, which Kinesis also
// grants. It serves both the read quota of a shard (bytes per second of
// GetRecords) and the write quota (records and bytes per second).
//
// A use is charged over an interval: the bucket refills only up to its
// start and charges it at its end. For a GetRecords call, the service
// charges at some moment between the call's start and the arrival of its
// response headers, which the client cannot see; assuming the worst of
// both keeps the bucket's balance never above the service's, so a call it
// finds due is never throttled for bytes. (Charging at the start instead,
// the in-process server throttled 11-40% of the calls of reads in byte
// debt; charging when the body was decoded, none, but a 16-shard read
// lost a fifth of its throughput.) A write is charged at one instant:
// start == end.
//
// A Bucket is not safe for concurrent use.
type Bucket struct {
	Rate float64 // units per second; also the capacity

	tokens float64
	last   time.Time // by when the last use was charged
}

// Charge takes n units used from start to end and returns when the next
// use is due: start itself when the bucket is not in debt, else when the
// debt is paid off.
func (q *Bucket) Charge(start, end time.Time, n float64) time.Time {
	if q.last.IsZero() {
		q.tokens = q.Rate
	} else if d := start.Sub(q.last); d > 0 {
		q.tokens = min(q.tokens+d.Seconds()*q.Rate, q.Rate)
	}
	if end.After(q.last) {
		q.last = end
	}
	q.tokens -= n
	if q.tokens >= 0 {
		return start
	}
	return q.last.Add(time.Duration(-q.tokens / q.Rate * float64(time.Second)))
}

// Take charges n units used at one instant, now, and returns how long the
// user must wait before using them. A now older than the last charge (a
// caller that read the clock before another charged) counts as that
// charge's time.
func (q *Bucket) Take(now time.Time, n float64) time.Duration {
	from := now
	if q.last.After(from) {
		from = q.last
	}
	return q.Charge(now, now, n).Sub(from)
}
