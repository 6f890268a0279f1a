package restriction

import (
	"fmt"
	"sync"

	"github.com/kinesisio/beam-kinesis/internal/seqnum"
)

// Tracker tracks the claims made on one Restriction. Its positions are
// user records: a Claim, or a sequence number (a string) for a plain
// record. All methods are safe for concurrent use: Prism
// asks for splits from another goroutine while ProcessElement claims.
//
// Only fraction-0 splits (checkpoints) are granted: a shard is read in
// sequence order through one iterator, so it has no split point ahead of
// the reader that a second reader could start from.
type Tracker struct {
	mu          sync.Mutex
	rest        Restriction
	lastClaimed Claim // Seq "" until a claim succeeds
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

// TryClaim claims the user record at pos: a Claim, or a string sequence
// number for a plain record. It fails once the tracker is done (after a
// checkpoint or Finish) or when pos is past the restriction's end; a
// position that does not advance is an error.
func (t *Tracker) TryClaim(pos any) bool {
	var c Claim
	ok := true
	switch p := pos.(type) {
	case Claim:
		c = p
	case string:
		c = Claim{Seq: p, Last: true}
	default:
		ok = false
	}
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.done || t.closing {
		return false
	}
	if !ok || !seqnum.Valid(c.Seq) || c.Sub < 0 {
		t.err = fmt.Errorf("kinesisio: shard %s: invalid claim position %v", t.rest.ShardID, pos)
		t.done = true
		return false
	}
	last := t.lastClaimed
	if last.Seq != "" && compareClaims(c.Seq, c.Sub, last.Seq, last.Sub) <= 0 {
		t.err = fmt.Errorf("kinesisio: shard %s: claim %s/%d does not advance past %s/%d", t.rest.ShardID, c.Seq, c.Sub, last.Seq, last.Sub)
		t.done = true
		return false
	}
	if last.Seq != "" && last.Last && c.Seq == last.Seq {
		t.err = fmt.Errorf("kinesisio: shard %s: claim %s/%d after the last user record of its record", t.rest.ShardID, c.Seq, c.Sub)
		t.done = true
		return false
	}
	if last.Seq == "" && !t.rest.Start.Admits(c.Seq, c.Sub) {
		t.err = fmt.Errorf("kinesisio: shard %s: claim %s/%d lies before the restriction start %v", t.rest.ShardID, c.Seq, c.Sub, t.rest.Start)
		t.done = true
		return false
	}
	if t.rest.End != "" && compareClaims(c.Seq, c.Sub, t.rest.End, t.rest.EndSub) > 0 {
		t.finishLocked()
		return false
	}
	t.lastClaimed = c
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
	if t.lastClaimed.Seq == "" {
		return Restriction{ShardID: t.rest.ShardID, Start: t.rest.Start, Bounded: true, Empty: true}
	}
	return Restriction{ShardID: t.rest.ShardID, Start: t.rest.Start, End: t.lastClaimed.Seq, EndSub: t.lastClaimed.Sub, Bounded: true}
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
	if t.lastClaimed.Seq != "" {
		res.Start = t.lastClaimed.Next()
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

// Claimed reports whether any claim succeeded.
func (t *Tracker) Claimed() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.lastClaimed.Seq != ""
}

// Resume is the position of the first user record not claimed yet: right
// after the last claim, or the restriction's start.
func (t *Tracker) Resume() Position {
	t.mu.Lock()
	defer t.mu.Unlock()
	if t.lastClaimed.Seq == "" {
		return t.rest.Start
	}
	return t.lastClaimed.Next()
}
