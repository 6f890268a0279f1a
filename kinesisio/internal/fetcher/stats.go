package fetcher

import "sync/atomic"

// Stats counts what a fetcher did. Fields only grow, except
// MillisBehindLatest, the last value reported.
type Stats struct {
	Calls              int64 // GetRecords calls sent
	Throttled          int64 // calls refused for throughput or rate
	Retried            int64 // other transient failures retried
	Renewals           int64 // iterators renewed after expiring
	MillisBehindLatest int64 // last reported, -1 if none yet
}

type counters struct {
	calls, throttled, retried, renewals atomic.Int64
	mbl                                 atomic.Int64
}

func (c *counters) snapshot() Stats {
	return Stats{
		Calls:              c.calls.Load(),
		Throttled:          c.throttled.Load(),
		Retried:            c.retried.Load(),
		Renewals:           c.renewals.Load(),
		MillisBehindLatest: c.mbl.Load(),
	}
}
