// Package discovery holds the restriction of the shard discovery step of a
// Kinesis read: how many listing rounds were made, the highest shard ID
// already emitted and when the stream was last listed. Because this state
// lives in the restriction, the runner checkpoints it: after a resume no
// shard is emitted twice and none is skipped.
//
// Kinesis assigns shard IDs in creation order (shardId-000000000000,
// shardId-000000000001, ...), so "every shard with an ID above the highest
// one emitted" is exactly the set of new shards, with or without the
// service's ShardFilter (kinesalite ignores it).
package discovery

import (
	"encoding/binary"
	"errors"
	"fmt"
	"sync"

	"github.com/kinesisio/beam-kinesis/internal/binenc"
)

// Restriction is the discovery state.
type Restriction struct {
	Round          int64  // listing rounds completed
	Highest        string // highest shard ID emitted; "" before the first round
	StartMillis    int64  // when the first round listed the stream (the job start)
	LastListMillis int64  // when the last successful round listed it
	Done           bool   // no more rounds (a bounded read, or the primary of a checkpoint)
	// RunID names this run of the read: a pipeline built once and run
	// again (a retry loop, a test, a worker that outlives a job attempt)
	// gets a new one, so that state kept per run in a worker process (the
	// record budget of WithMaxRecords) starts afresh. "" in restrictions
	// encoded by version 1.
	RunID string
}

// Claim is what one listing round claims.
type Claim struct {
	Round      int64
	Highest    string
	ListMillis int64
}

// After reports whether shard ID id is newer than the highest emitted.
// Shard IDs compare by length, then lexicographically.
func (r Restriction) After(id string) bool {
	if r.Highest == "" {
		return true
	}
	if len(id) != len(r.Highest) {
		return len(id) > len(r.Highest)
	}
	return id > r.Highest
}

// Tracker tracks listing rounds. It is safe for concurrent use.
type Tracker struct {
	mu   sync.Mutex
	rest Restriction
	done bool
	err  error
}

// NewTracker returns a tracker for r.
func NewTracker(r Restriction) *Tracker { return &Tracker{rest: r, done: r.Done} }

// TryClaim claims round c (a Claim): it must be the next round.
func (t *Tracker) TryClaim(pos any) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	c, ok := pos.(Claim)
	if t.done {
		return false
	}
	if !ok || c.Round != t.rest.Round {
		t.err = fmt.Errorf("kinesisio: discovery claim %v, want round %d", pos, t.rest.Round)
		t.done = true
		return false
	}
	t.rest.Round++
	if t.rest.StartMillis == 0 {
		t.rest.StartMillis = c.ListMillis
	}
	t.rest.LastListMillis = c.ListMillis
	if c.Highest != "" && t.rest.After(c.Highest) {
		t.rest.Highest = c.Highest
	}
	return true
}

// Restriction returns the state as it stands.
func (t *Tracker) Restriction() Restriction {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.rest
}

// Finish ends discovery (bounded reads).
func (t *Tracker) Finish() {
	t.mu.Lock()
	t.done = true
	t.mu.Unlock()
}

// TrySplit grants checkpoints only: the residual carries the state on.
func (t *Tracker) TrySplit(fraction float64) (primary, residual any, err error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	done := t.rest
	done.Done = true
	if t.done || fraction != 0 {
		if t.done {
			return done, nil, nil
		}
		return t.rest, nil, nil
	}
	t.done = true
	return done, t.rest, nil
}

// GetError returns the error that stopped the tracker.
func (t *Tracker) GetError() error {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.err
}

// GetProgress reports rounds done; the remaining work is unknown.
func (t *Tracker) GetProgress() (done, remaining float64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return float64(t.rest.Round), 1
}

// IsDone reports whether discovery is over for this restriction.
func (t *Tracker) IsDone() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	return t.done
}

// GetRestriction returns the restriction (with Done set once finished).
func (t *Tracker) GetRestriction() any {
	t.mu.Lock()
	defer t.mu.Unlock()
	r := t.rest
	r.Done = r.Done || t.done
	return r
}

// IsBounded reports false: discovery runs until the read ends.
func (t *Tracker) IsBounded() bool { return false }

// coderVersion 2 added RunID; version 1 still decodes.
const coderVersion = 2

// ErrCorrupt is returned for bytes that do not decode to a Restriction.
var ErrCorrupt = errors.New("kinesisio: corrupt discovery restriction encoding")

// Encode returns the binary form of r.
func Encode(r Restriction) []byte {
	b := []byte{coderVersion}
	b = binary.AppendVarint(b, r.Round)
	b = binenc.AppendString(b, r.Highest)
	b = binary.AppendVarint(b, r.StartMillis)
	b = binary.AppendVarint(b, r.LastListMillis)
	b = binenc.AppendBool(b, r.Done)
	return binenc.AppendString(b, r.RunID)
}

// Decode parses the form Encode writes.
func Decode(b []byte) (Restriction, error) {
	var r Restriction
	if len(b) < 1 || b[0] < 1 || b[0] > coderVersion {
		return r, fmt.Errorf("%w: bad version", ErrCorrupt)
	}
	d := binenc.NewDecoder(b[1:], ErrCorrupt)
	r.Round = d.Varint("round")
	r.Highest = d.String("shard ID")
	r.StartMillis = d.Varint("timestamp")
	r.LastListMillis = d.Varint("timestamp")
	r.Done = d.Bool("done flag")
	if b[0] >= 2 {
		r.RunID = d.String("run ID")
	}
	return r, d.Err()
}
