package restriction

import (
	"fmt"
	"sync"

	"github.com/kinesisio/beam-kinesis/kinesisio/internal/seqnum"
)

// Tracker tracks the claims made on one Restriction. Its positions are
// sequence numbers (strings). All methods are safe for concurrent use: Prism
// asks for splits from another goroutine while ProcessElement claims.
//
// Only fraction-0 splits (checkpoints) are granted: a shard is read in
// sequence order through one iterator, so it has no split point ahead of
// the reader that a second reader could start from.
type Tracker struct {
	mu          sync.Mutex
	rest        Restriction
	lastClaimed string // "" until a claim succeeds
	done        bool
	ended       bool // done because the restriction ended, not split
	closing     bool // Close was called: the checkpoint residual is a closing one
	shardEnded  bool // with closing: the shard was read to its end
	err         error
	claimed     float64 // bytes claimed, for progress
	remaining   float64 // backlog estimate, for progress
}

// NewTracker returns a tracker for r.
func NewTracker(r Restriction) *Tracker {
	return &Tracker{rest: r, done: r.Empty}
}

// Close stops claiming, like Finish, but leaves the restriction to be
// checkpointed: the residual the next checkpoint (fraction 0) makes is a
// closing restriction after the last claimed record, with ShardEnded set
// when shardEnded. Reads with a checkpoint store end a shard this way, so
// that its final position is written only after the runner committed it.
func (t *Tracker) Close(shardEnded bool) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done {
		return
	}
	t.closing, t.shardEnded = true, shardEnded
}

// TryClaim claims the record with sequence number pos (a string). It fails
// once the tracker is done (after a checkpoint or Finish) or when pos is
// past the restriction's end; a position that does not advance is an error.
func (t *Tracker) TryClaim(pos any) bool {
	seq, ok := pos.(string)
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done || t.closing {
		return false
	}
	if !ok || !seqnum.Valid(seq) {
		t.err = fmt.Errorf("kinesisio: shard %s: invalid claim position %v", t.rest.ShardID, pos)
		t.done = true
		return false
	}
	if t.lastClaimed != "" && seqnum.Compare(seq, t.lastClaimed) <= 0 {
		t.err = fmt.Errorf("kinesisio: shard %s: claim %s does not advance past %s", t.rest.ShardID, seq, t.lastClaimed)
		t.done = true
		return false
	}
	if t.lastClaimed == "" && !t.rest.Start.Admits(seq) {
		t.err = fmt.Errorf("kinesisio: shard %s: claim %s lies before the restriction start %v", t.rest.ShardID, seq, t.rest.Start)
		t.done = true
		return false
	}
	if t.rest.End != "" && seqnum.Compare(seq, t.rest.End) > 0 {
		t.finishLocked()
		return false
	}
	t.lastClaimed = seq
	return true
}

// AddClaimedBytes adds n to the bytes reported as done by GetProgress.
func (t *Tracker) AddClaimedBytes(n int) {
	t.mu.Lock()
	t.claimed += float64(n)
	t.mu.Unlock()
}

// SetRemaining sets the backlog estimate reported by GetProgress.
func (t *Tracker) SetRemaining(v float64) {
	t.mu.Lock()
	t.remaining = v
	t.mu.Unlock()
}

// Finish marks the restriction complete at the last claimed position: the
// end of a closed shard, or a stop condition of a bounded read.
func (t *Tracker) Finish() {
	t.mu.Lock()
	t.finishLocked()
	t.mu.Unlock()
}

func (t *Tracker) finishLocked() {
	if t.done {
		return
	}
	t.rest = t.primaryLocked()
	t.done = true
	t.ended = true
}

// primaryLocked is the restriction holding exactly what has been claimed.
func (t *Tracker) primaryLocked() Restriction {
	if t.lastClaimed == "" {
		return Restriction{ShardID: t.rest.ShardID, Start: t.rest.Start, Bounded: true, Empty: true}
	}
	return Restriction{ShardID: t.rest.ShardID, Start: t.rest.Start, End: t.lastClaimed, Bounded: true}
}

// GetError returns the error that stopped the tracker, if any.
func (t *Tracker) GetError() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err
}

// TrySplit grants checkpoints (fraction 0): the primary keeps what was
// claimed and the residual starts after the last claimed record. Other
// fractions are declined with a nil residual.
func (t *Tracker) TrySplit(fraction float64) (primary, residual any, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done || fraction != 0 {
		return t.rest, nil, nil
	}
	res := t.rest
	if t.lastClaimed != "" {
		res.Start = After(t.lastClaimed)
	}
	if t.closing {
		res = Restriction{ShardID: res.ShardID, Start: res.Start, Bounded: true, Closing: true, ShardEnded: t.shardEnded}
	}
	t.rest = t.primaryLocked()
	t.done = true
	return t.rest, res, nil
}

// GetProgress reports bytes claimed and the backlog estimate.
func (t *Tracker) GetProgress() (done, remaining float64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.claimed, t.remaining
}

// IsDone reports whether the restriction is fully processed.
func (t *Tracker) IsDone() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.done
}

// GetRestriction returns the restriction as it stands now.
func (t *Tracker) GetRestriction() any {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.rest
}

// IsBounded reports whether the restriction has a known end.
func (t *Tracker) IsBounded() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.rest.Bounded || t.rest.End != ""
}

// Ended reports whether the tracker is done because the restriction ended
// (Finish, or a claim past its end) rather than because it was split.
func (t *Tracker) Ended() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.ended
}

// LastClaimed returns the last claimed sequence number, or "".
func (t *Tracker) LastClaimed() string {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lastClaimed
}
