package fetcher

import "time"

// idleFirst is the wait after the first empty GetRecords call on a shard
// that is caught up; the wait doubles from it after each further empty
// call, up to Config.IdlePoll.
const idleFirst = 250 * time.Millisecond

// idlePacer spaces the GetRecords calls of a shard with nothing to read,
// so that a quiet shard costs about one call per Config.IdlePoll instead
// of one per quota interval. After an empty call on a shard that is
// caught up (MillisBehindLatest 0, or not reported) it waits idleFirst,
// then twice as long after each further empty call, never longer than
// bound; the first call that returns records brings the shard back to the
// quota's pace. An empty call on a shard that is behind (the iterator
// crossed a gap) waits idleFirst without growing. bound is therefore the
// longest time between two calls on a live shard, and the longest a
// record arriving on a quiet shard waits for the call that fetches it.
type idlePacer struct {
	bound time.Duration // the longest wait (Config.IdlePoll)
	gap   time.Duration // the wait after the last call, 0 after records
}

// after returns how long to wait after a call that returned n Kinesis
// records with MillisBehindLatest mbl (-1 when absent) before the next
// call; 0 means at the quota's pace.
func (p *idlePacer) after(n int, mbl int64) time.Duration {
	first := min(idleFirst, p.bound)
	switch {
	case n > 0:
		p.gap = 0
	case mbl > 0:
		p.gap = first
	case p.gap == 0:
		p.gap = first
	default:
		p.gap = min(2*p.gap, p.bound)
	}
	return p.gap
}
