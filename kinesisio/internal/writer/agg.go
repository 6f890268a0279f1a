package writer

import (
	"fmt"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/log"
	"github.com/kinesisio/beam-kinesis/internal/awsclient"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/hashkey"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/kpl"
)

// aggConfig is the Aggregation option's configuration on the worker, defaults
// filled in.
type aggConfig struct {
	maxBytes   int // data + partition key of an aggregate
	maxRecords int
	maxDelay   time.Duration
}

// aggGroup is the open aggregate of one shard.
type aggGroup struct {
	shard string
	lane  *lane
	agg   kpl.Aggregator
	users []userRecord
	// Of the first user record: its hash key (the aggregate's explicit
	// hash key), the size of its partition key (the aggregate's), and when
	// it was added.
	hash  hashkey.Key
	pkLen int
	since time.Time
}

// addAggregated queues the aggregates that are due, puts a valid record
// into the open aggregate of the shard its hash key maps to (queueing that
// aggregate first if the record would take it over a bound), and sends
// the batches of the lanes that are idle. It returns the error that fails
// the bundle, if one happened.
func (w *Writer) addAggregated(ts mtime.Time, r Record, size int) error {
	m, err := w.cfg.shards.get(w.ctx, w.api)
	if err != nil {
		if awsclient.Classify(err) == awsclient.Permanent {
			err = fmt.Errorf("kinesisio: Aggregation lists the shards of the stream: %w", w.cfg.explain(err))
			w.setErr(err)
			return err
		}
		log.Warnf(w.ctx, "kinesisio: listing the shards of %v for Aggregation failed, sending records without aggregating them until a listing succeeds: %v", w.cfg.stream, err)
		m = nil
	}
	if m != w.aggMap {
		// A new map (the first, or after a reshard): settle everything
		// sent by the old one, so that no record of a key is sent before
		// the key's earlier ones are settled, whatever lanes the new map
		// gives their shards.
		if err := w.flush(); err != nil {
			return err
		}
		w.aggMap, w.groups = m, nil
	}
	if m == nil {
		return w.addPlain(ts, r, size)
	}
	now := w.clock()
	if err := w.closeDue(now); err != nil {
		return err
	}
	h := effectiveHashKey(r)
	i, ok := m.Find(h)
	if !ok {
		// The map has a gap: it is out of date. Send the record as it is,
		// on one lane, one such record per call.
		w.cfg.shards.markStale()
		l := w.lanes[0]
		p := l.newPending()
		*p = pending{rec: r, ts: ts, size: size}
		if err := w.enqueue(l, p); err != nil {
			return err
		}
		return w.sendIdle()
	}
	shard := m.At(i).ShardID
	g := w.groups[shard]
	if g == nil {
		if w.groups == nil {
			w.groups = map[string]*aggGroup{}
		}
		g = &aggGroup{shard: shard, lane: w.lanes[i%len(w.lanes)]}
		w.groups[shard] = g
	}
	u := kpl.Record{PartitionKey: r.PartitionKey, ExplicitHashKey: r.ExplicitHashKey, Data: r.Data}
	a := w.cfg.agg
	if n := g.agg.Len(); n > 0 && (n >= a.maxRecords || g.agg.SizeWith(u)+g.pkLen > a.maxBytes) {
		if err := w.closeGroup(g); err != nil {
			return err
		}
	}
	if g.agg.Len() == 0 && g.agg.SizeWith(u)+len(r.PartitionKey) > a.maxBytes {
		// Too large to share an aggregate: plain, after the shard's
		// earlier records (its aggregate was closed above).
		p := g.lane.newPending()
		*p = pending{rec: r, ts: ts, size: size, shard: shard}
		if err := w.enqueue(g.lane, p); err != nil {
			return err
		}
		return w.sendIdle()
	}
	if g.agg.Len() == 0 {
		g.hash, g.pkLen, g.since = h, len(r.PartitionKey), now
		if due := now.Add(a.maxDelay); w.due.IsZero() || due.Before(w.due) {
			w.due = due
		}
	}
	g.agg.Add(u)
	g.users = append(g.users, userRecord{rec: r, ts: ts, size: size})
	if g.agg.Len() >= a.maxRecords {
		if err := w.closeGroup(g); err != nil {
			return err
		}
	}
	return w.sendIdle()
}

// closeGroup queues g's aggregate on g's lane and empties g. An aggregate
// of one user record goes as that plain record.
func (w *Writer) closeGroup(g *aggGroup) error {
	n := g.agg.Len()
	if n == 0 {
		return nil
	}
	p := g.lane.newPending()
	if n == 1 {
		u := g.users[0]
		*p = pending{rec: u.rec, ts: u.ts, size: u.size, shard: g.shard}
	} else {
		data := g.agg.Bytes()
		pk := g.users[0].rec.PartitionKey
		*p = pending{
			rec:   Record{PartitionKey: pk, ExplicitHashKey: g.hash.String(), Data: data},
			ts:    g.users[0].ts,
			size:  len(data) + len(pk),
			shard: g.shard,
			users: g.users,
		}
	}
	g.agg.Reset()
	g.users = nil
	return w.enqueue(g.lane, p)
}

// closeGroups queues every open aggregate.
func (w *Writer) closeGroups() error {
	for _, g := range w.groups {
		if err := w.closeGroup(g); err != nil {
			return err
		}
	}
	w.due = time.Time{}
	return nil
}

// closeDue queues the aggregates opened MaxDelay or more before now.
func (w *Writer) closeDue(now time.Time) error {
	if w.due.IsZero() || now.Before(w.due) {
		return nil
	}
	w.due = time.Time{}
	for _, g := range w.groups {
		if g.agg.Len() == 0 {
			continue
		}
		due := g.since.Add(w.cfg.agg.maxDelay)
		if !now.Before(due) {
			if err := w.closeGroup(g); err != nil {
				return err
			}
		} else if w.due.IsZero() || due.Before(w.due) {
			w.due = due
		}
	}
	return nil
}

// sendIdle sends the next batch of every idle lane that has one.
func (w *Writer) sendIdle() error {
	for _, l := range w.lanes {
		if len(l.buf) > 0 && l.idle() {
			if err := w.dispatch(l); err != nil {
				return err
			}
		}
	}
	return nil
}

// enqueue adds p to l's next batch, which holds at most one record of a
// shard: one of p's shard already there is sent first (after l's batch in
// flight is settled), so that a shard's records are sent, and retried,
// one at a time and in order. The batch is sent at once if l is idle.
func (w *Writer) enqueue(l *lane, p *pending) error {
	full := len(l.buf) >= MaxBatchRecords || (len(l.buf) > 0 && l.bytes+p.size > w.cfg.maxBatchBytes)
	for _, q := range l.buf {
		if full {
			break
		}
		full = q.shard == p.shard
	}
	if full {
		if err := w.dispatch(l); err != nil {
			return err
		}
	}
	l.buf = append(l.buf, p)
	l.bytes += p.size
	if l.idle() {
		return w.dispatch(l)
	}
	return nil
}

// idle reports whether l has no batch in flight.
func (l *lane) idle() bool {
	if l.done == nil {
		return true
	}
	select {
	case <-l.done:
		l.done = nil
		return true
	default:
		return false
	}
}
