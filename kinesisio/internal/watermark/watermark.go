// Package watermark decides the output watermark of a Kinesis read.
//
// Each shard restriction has an Estimator whose state is the shard's own
// watermark in Unix milliseconds: the latest event time it emitted, or, on
// evidence that the shard is caught up (an empty GetRecords response, or
// fan-out event, with MillisBehindLatest == 0), the time of that call less
// a small skew. It never moves on failed calls (apache/beam#20969).
//
// Prism v2.77 keeps the watermark of the last committed bundle for a stage
// instead of the minimum across restrictions, so a shard at the tip can
// push the stage watermark past the records of a shard that lags. To be
// correct there too, an Estimator reports the minimum of its own watermark
// and the COMMITTED watermarks of the other shards of the same run of the
// read in this process (Registry, one per run: see package readstate). A shard's watermark counts as committed when
// ProcessElement starts with it restored from a checkpoint: the runner
// persisted the bundle that produced it. On runners that take the minimum
// themselves this only adds latency, never lateness.
package watermark

import (
	"container/heap"
	"sync"
	"sync/atomic"
	"time"
)

// Estimator is the watermark estimator of one shard restriction. Its only
// state is the shard's own watermark (int64 milliseconds: Beam Go cannot
// encode a time.Time estimator state that holds the minimum timestamp).
//
// It is safe for concurrent use: Beam Go calls CurrentWatermark and the
// state's accessor from the goroutine that answers the runner's split
// requests while ProcessElement binds and advances the estimator (the SDK
// locks the restriction tracker for that, not the estimator).
type Estimator struct {
	state atomic.Int64 // written by ProcessElement only
	bound atomic.Pointer[binding]
}

// binding is the shard and registry an Estimator reports against.
type binding struct {
	reg     *Registry
	shardID string
}

// New returns an estimator restored from state.
func New(state int64) *Estimator {
	e := &Estimator{}
	e.state.Store(state)
	return e
}

// Bind ties the estimator to its shard and commits its restored state to
// reg. Call it when ProcessElement starts.
func (e *Estimator) Bind(reg *Registry, shardID string) {
	if b := e.bound.Load(); b == nil || b.reg != reg || b.shardID != shardID {
		e.bound.Store(&binding{reg: reg, shardID: shardID})
	}
	reg.Commit(shardID, e.state.Load())
}

// State returns the shard's own watermark, for checkpointing.
func (e *Estimator) State() int64 { return e.state.Load() }

// Advance moves the shard's own watermark to t if that is later. Only
// ProcessElement calls it (one writer), so a load and a store suffice.
func (e *Estimator) Advance(t time.Time) {
	if ms := t.UnixMilli(); ms > e.state.Load() {
		e.state.Store(ms)
	}
}

// CurrentWatermark is the minimum of the shard's own watermark and the
// committed watermarks of the other live shards of the read.
func (e *Estimator) CurrentWatermark() time.Time {
	w := e.state.Load()
	if b := e.bound.Load(); b != nil {
		if m, ok := b.reg.minOthers(b.shardID, time.Now()); ok && m < w {
			w = m
		}
	}
	return time.UnixMilli(w)
}

// Registry holds the committed watermark of each shard of one run of a
// read seen in this process, and of its discovery step. It is safe for
// concurrent use. Its entries are also kept in a min-heap by committed
// watermark, so that a shard's checkpoint cycle (Commit, then
// CurrentWatermark) costs O(log n), not a scan of every shard: at 1,024
// shards resuming a few times a second each, the scan cost 57 µs a cycle.
type Registry struct {
	// StaleAfter: an entry not refreshed for this long belongs to a
	// restriction that moved to another worker, and is ignored.
	StaleAfter time.Duration
	// Grace: how long a finished shard's value still counts.
	Grace time.Duration

	mu     sync.Mutex
	shards map[string]*entry
	low    entryHeap // the entries of shards, lowest committed first
}

type entry struct {
	id        string
	committed int64
	updated   time.Time
	finished  bool
	idx       int // index in Registry.low
}

// NewRegistry returns an empty registry with default timings.
func NewRegistry() *Registry {
	return &Registry{StaleAfter: time.Minute, Grace: 5 * time.Second, shards: map[string]*entry{}}
}

// Pending registers a shard that will be read but has not run yet, with
// the watermark it will start from, so that shards already running do not
// advance past its first records. It does nothing if the shard is known.
func (r *Registry) Pending(shardID string, ms int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.shards[shardID]; !ok {
		r.add(&entry{id: shardID, committed: ms, updated: time.Now()})
	}
}

// Commit records the committed watermark of a shard.
func (r *Registry) Commit(shardID string, ms int64) {
	r.mu.Lock()
	defer r.mu.Unlock()
	e := r.shards[shardID]
	if e == nil {
		r.add(&entry{id: shardID, committed: ms, updated: time.Now()})
		return
	}
	e.committed, e.updated, e.finished = ms, time.Now(), false
	heap.Fix(&r.low, e.idx)
}

func (r *Registry) add(e *entry) {
	r.shards[e.id] = e
	heap.Push(&r.low, e)
}

func (r *Registry) remove(e *entry) {
	delete(r.shards, e.id)
	heap.Remove(&r.low, e.idx)
}

// Finish marks a shard done; its value counts for the grace period.
func (r *Registry) Finish(shardID string) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if e := r.shards[shardID]; e != nil {
		e.finished = true
		e.updated = time.Now()
	}
}

// Running reports whether a shard is known in this process and not
// finished: registered as pending, or read recently.
func (r *Registry) Running(shardID string) bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.shards[shardID].running(r.StaleAfter)
}

// Active counts the shards (and the discovery step) that are running.
func (r *Registry) Active() int {
	r.mu.Lock()
	defer r.mu.Unlock()
	n := 0
	for _, e := range r.shards {
		if e.running(r.StaleAfter) {
			n++
		}
	}
	return n
}

func (e *entry) running(staleAfter time.Duration) bool {
	return e != nil && !e.finished && time.Since(e.updated) <= staleAfter
}

// Committed returns the committed watermark of every shard known (and of
// the discovery step), in milliseconds.
func (r *Registry) Committed() map[string]int64 {
	r.mu.Lock()
	defer r.mu.Unlock()
	m := map[string]int64{}
	for id, e := range r.shards {
		m[id] = e.committed
	}
	return m
}

// minOthers is the lowest committed watermark of the live shards other
// than shardID, and whether there is one. Expired entries (stale, or
// finished longer than Grace ago) are dropped once they reach the top of
// the heap: below it they cannot be the minimum.
func (r *Registry) minOthers(shardID string, now time.Time) (int64, bool) {
	r.mu.Lock()
	defer r.mu.Unlock()
	expired := func(e *entry) bool {
		age := now.Sub(e.updated)
		return e.finished && age > r.Grace || age > r.StaleAfter
	}
	for len(r.low) > 0 {
		top := r.low[0]
		if expired(top) {
			r.remove(top)
			continue
		}
		if top.id != shardID {
			return top.committed, true
		}
		// The lowest is shardID itself: the next lowest is one of its
		// children in the heap.
		var low int64
		found, dropped := false, false
		for _, i := range []int{1, 2} {
			if i >= len(r.low) {
				break
			}
			if c := r.low[i]; expired(c) {
				r.remove(c)
				dropped = true
				break
			} else if !found || c.committed < low {
				low, found = c.committed, true
			}
		}
		if !dropped {
			return low, found
		}
	}
	return 0, false
}

// entryHeap orders entries by committed watermark (container/heap).
type entryHeap []*entry

func (h entryHeap) Len() int           { return len(h) }
func (h entryHeap) Less(i, j int) bool { return h[i].committed < h[j].committed }
func (h entryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].idx, h[j].idx = i, j
}

func (h *entryHeap) Push(x any) {
	e := x.(*entry)
	e.idx = len(*h)
	*h = append(*h, e)
}

func (h *entryHeap) Pop() any {
	old := *h
	e := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	return e
}
