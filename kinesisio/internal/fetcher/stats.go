package fetcher

import "sync/atomic"

// Stats counts what a fetcher did. Fields only grow, except
// MillisBehindLatest, the last value reported.
type Stats struct {
	Calls              int64 // GetRecords (or SubscribeToShard) calls sent
	Throttled          int64 // calls refused for throughput or rate
	Retried            int64 // other transient failures retried
	Renewals           int64 // iterators renewed after expiring
	MillisBehindLatest int64 // last reported, -1 if none yet

	Subscriptions int64 // SubscribeToShard streams opened (EFO)
	SubRenewals   int64 // subscriptions the service ended, renewed (EFO)
	InUse         int64 // subscribes refused with ResourceInUseException, waited out (EFO)
	Events        int64 // SubscribeToShardEvents received (EFO)
	EndChecks     int64 // checks of a quiet subscribed shard's end with GetRecords (EFO)
	EndsConfirmed int64 // shards those checks ended: the subscription had not said so (EFO)

	Aggregates   int64 // KPL aggregates de-aggregated
	UserRecords  int64 // user records they held
	Corrupt      int64 // records with the KPL magic that did not check, passed through
	OutsideRange int64 // user records hashing outside the shard's range, delivered
}

type counters struct {
	calls, throttled, retried, renewals atomic.Int64
	mbl                                 atomic.Int64

	subscriptions, subRenewals, inUse, events atomic.Int64
	endChecks, endsConfirmed                  atomic.Int64

	aggregates, userRecords, corrupt, outsideRange atomic.Int64
}

func (c *counters) snapshot() Stats {
	return Stats{
		Calls:              c.calls.Load(),
		Throttled:          c.throttled.Load(),
		Retried:            c.retried.Load(),
		Renewals:           c.renewals.Load(),
		MillisBehindLatest: c.mbl.Load(),
		Subscriptions:      c.subscriptions.Load(),
		SubRenewals:        c.subRenewals.Load(),
		InUse:              c.inUse.Load(),
		Events:             c.events.Load(),
		EndChecks:          c.endChecks.Load(),
		EndsConfirmed:      c.endsConfirmed.Load(),
		Aggregates:         c.aggregates.Load(),
		UserRecords:        c.userRecords.Load(),
		Corrupt:            c.corrupt.Load(),
		OutsideRange:       c.outsideRange.Load(),
	}
}
