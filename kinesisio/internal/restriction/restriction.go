// Package restriction holds the splittable DoFn restriction of a Kinesis
// read: one shard and a range of sequence numbers within it, its binary
// coder and its thread-safe tracker.
package restriction

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/kinesisio/beam-kinesis/internal/binenc"
	"github.com/kinesisio/beam-kinesis/internal/seqnum"
)

// Kind says where in a shard a Position is.
type Kind uint8

// The kinds of positions. They map one to one to Kinesis shard iterator
// types. Latest appears only in start positions: the discovery step pins
// it to AtTimestamp of the job's start (Pin), so no restriction holds it.
const (
	TrimHorizon   Kind = 1 // the oldest record still in retention
	AtTimestamp   Kind = 2 // the first record that arrived at or after Millis
	AtSequence    Kind = 3 // the (user) record at (Seq, Sub)
	AfterSequence Kind = 4 // the record after sequence number Seq
	Latest        Kind = 5 // after the newest record, until pinned
)

// Position is where a read of a shard starts.
//
// Positions count user records: a KPL aggregate holds several, which
// share its sequence number and are told apart by their sub-sequence
// numbers (0, 1, ...); a plain record is one user record, sub-sequence 0.
// AtSequence with Sub > 0 is inside an aggregate: the read starts with an
// AT_SEQUENCE_NUMBER iterator and skips the user records of Seq before
// Sub. AfterSequence is after the whole Kinesis record Seq; its Sub is
// the sub-sequence number of that record's last user record (0 for a
// plain record), kept so that a checkpoint store can name the last user
// record done (Committed).
type Position struct {
	Kind   Kind
	Seq    string // AtSequence, AfterSequence
	Sub    int64  // AtSequence: first sub-sequence number; AfterSequence: last one
	Millis int64  // AtTimestamp: Unix milliseconds
}

// After is the position just after the Kinesis record with sequence
// number seq (all of its user records).
func After(seq string) Position { return Position{Kind: AfterSequence, Seq: seq} }

// AfterUserRecord is the position just after the user record (seq, sub):
// the next user record of the same aggregate, or the next Kinesis record
// when the aggregate holds no more (which only a fetch tells). It refuses
// a sub-sequence number below 0 (no user record has one) and
// math.MaxInt64 (no user record follows it), naming sub.
func AfterUserRecord(seq string, sub int64) (Position, error) {
	if sub < 0 || sub == math.MaxInt64 {
		return Position{}, fmt.Errorf("invalid sub-sequence number %d: want 0 to %d", sub, int64(math.MaxInt64-1))
	}
	return Position{Kind: AtSequence, Seq: seq, Sub: sub + 1}, nil
}

// Claim is the position of one user record that a reader claims: its
// Kinesis record's sequence number, its sub-sequence number, and whether
// it is the last user record of that Kinesis record (always, for a plain
// record).
type Claim struct {
	Seq  string
	Sub  int64
	Last bool
}

// Next is the position right after c.
func (c Claim) Next() Position {
	if c.Last {
		return Position{Kind: AfterSequence, Seq: c.Seq, Sub: c.Sub}
	}
	return Position{Kind: AtSequence, Seq: c.Seq, Sub: c.Sub + 1}
}

// compareClaims orders user records by sequence, then sub-sequence number.
// Sequence numbers compare as seqnum.Compare does, in one pass over the
// digits (a claim compares with the last one at every record).
func compareClaims(seqA string, subA int64, seqB string, subB int64) int {
	switch {
	case len(seqA) < len(seqB):
		return -1
	case len(seqA) > len(seqB):
		return 1
	}
	if c := strings.Compare(seqA, seqB); c != 0 {
		return c
	}
	switch {
	case subA < subB:
		return -1
	case subA > subB:
		return 1
	}
	return 0
}

// Committed returns the last user record before the position, as a
// checkpoint store keeps it (sequence and sub-sequence number), and
// whether the position names one: AfterSequence names its record's last
// user record, AtSequence inside an aggregate the user record before it.
// Resuming at AfterUserRecord(seq, sub) continues right after it.
func (p Position) Committed() (seq string, sub int64, ok bool) {
	switch {
	case p.Kind == AfterSequence:
		return p.Seq, p.Sub, true
	case p.Kind == AtSequence && p.Sub > 0:
		return p.Seq, p.Sub - 1, true
	}
	return "", 0, false
}

// Validate reports a malformed position.
func (p Position) Validate() error {
	switch p.Kind {
	case TrimHorizon, AtTimestamp, Latest:
		return nil
	case AtSequence, AfterSequence:
		if !seqnum.Valid(p.Seq) {
			return fmt.Errorf("invalid sequence number %q: want a decimal string of 1 to %d digits", p.Seq, seqnum.MaxDigits)
		}
		if p.Sub < 0 {
			return fmt.Errorf("invalid sub-sequence number %d: want 0 or more", p.Sub)
		}
		return nil
	}
	return fmt.Errorf("invalid position kind %d", p.Kind)
}

// Pin returns the position with Latest replaced by AtTimestamp(now).
func (p Position) Pin(now time.Time) Position {
	if p.Kind == Latest {
		return Position{Kind: AtTimestamp, Millis: now.UnixMilli()}
	}
	return p
}

// Time returns the timestamp of an AtTimestamp position.
func (p Position) Time() time.Time { return time.UnixMilli(p.Millis) }

// String describes the position the way Kinesis names iterator types.
func (p Position) String() string {
	switch p.Kind {
	case TrimHorizon:
		return "TRIM_HORIZON"
	case AtTimestamp:
		return "AT_TIMESTAMP(" + p.Time().UTC().Format(time.RFC3339Nano) + ")"
	case AtSequence:
		if p.Sub > 0 {
			return fmt.Sprintf("AT_SEQUENCE_NUMBER(%s, sub-sequence %d)", p.Seq, p.Sub)
		}
		return "AT_SEQUENCE_NUMBER(" + p.Seq + ")"
	case AfterSequence:
		return "AFTER_SEQUENCE_NUMBER(" + p.Seq + ")"
	case Latest:
		return "LATEST"
	}
	return fmt.Sprintf("Position(%d)", p.Kind)
}

// Admits reports whether the user record (seq, sub) lies at or after the
// position, as far as sequence numbers tell (AtTimestamp and TrimHorizon
// admit every record: the service decides those).
func (p Position) Admits(seq string, sub int64) bool {
	switch p.Kind {
	case AtSequence:
		return compareClaims(seq, sub, p.Seq, p.Sub) >= 0
	case AfterSequence:
		return seqnum.Compare(seq, p.Seq) > 0
	}
	return true
}

// Restriction is the part of one shard that a DoFn invocation owns: the
// records from Start on, up to and including End when End is set.
//
// End and EndSub name the last user record included: the Kinesis record
// End, up to its user record EndSub (0 for a plain record).
//
// An unbounded restriction (End == "" and !Bounded) grows as the shard
// grows. A bounded one ends at End; a bounded one with End == "" and Empty
// set holds no record at all (the primary of a checkpoint that claimed
// nothing).
//
// A closing restriction (Closing set) holds no record either: the read of
// the shard stopped after the record before Start (at the shard's end when
// ShardEnded is set), and what is left is to record that in the
// checkpoint store once the runner has committed the bundle that claimed
// those records, which it has when it hands this residual back.
type Restriction struct {
	ShardID    string
	Start      Position
	End        string // inclusive last sequence number; "" = none known
	EndSub     int64  // with End: inclusive last sub-sequence number
	Bounded    bool
	Empty      bool
	Closing    bool
	ShardEnded bool
}

// Validate reports a malformed restriction.
func (r Restriction) Validate() error {
	if r.ShardID == "" {
		return fmt.Errorf("restriction without shard ID")
	}
	if err := r.Start.Validate(); err != nil {
		return fmt.Errorf("shard %s: %w", r.ShardID, err)
	}
	if r.Start.Kind == Latest {
		return fmt.Errorf("shard %s: LATEST not pinned to a time", r.ShardID)
	}
	if r.End != "" && !seqnum.Valid(r.End) {
		return fmt.Errorf("shard %s: invalid end sequence number %q", r.ShardID, r.End)
	}
	if r.EndSub < 0 {
		return fmt.Errorf("shard %s: invalid end sub-sequence number %d", r.ShardID, r.EndSub)
	}
	return nil
}

// String describes the restriction for logs and errors.
func (r Restriction) String() string {
	switch {
	case r.Closing && r.ShardEnded:
		return fmt.Sprintf("%s[closing at the end, after %v]", r.ShardID, r.Start)
	case r.Closing:
		return fmt.Sprintf("%s[closing, at %v]", r.ShardID, r.Start)
	case r.Empty:
		return r.ShardID + "[empty]"
	case r.End != "" && r.EndSub > 0:
		return fmt.Sprintf("%s[%v, %s sub-sequence %d]", r.ShardID, r.Start, r.End, r.EndSub)
	case r.End != "":
		return fmt.Sprintf("%s[%v, %s]", r.ShardID, r.Start, r.End)
	case r.Bounded:
		return fmt.Sprintf("%s[%v, end of shard]", r.ShardID, r.Start)
	}
	return fmt.Sprintf("%s[%v, ∞)", r.ShardID, r.Start)
}

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
// position that does not advance is an error. It serves the
// sdf.RTracker interface; a reader claiming record after record calls
// TryClaimRecord, which takes the Claim as is (passing it as an any
// allocates).
func (t *Tracker) TryClaim(pos any) bool {
	var c Claim
	switch p := pos.(type) {
	case Claim:
		c = p
	case string:
		c = Claim{Seq: p, Last: true}
	default:
		t.mu.Lock()
		defer t.mu.Unlock()
		if t.done || t.closing {
			return false
		}
		t.err = fmt.Errorf("kinesisio: shard %s: invalid claim position %v", t.rest.ShardID, pos)
		t.done = true
		return false
	}
	return t.TryClaimRecord(c, 0)
}

// TryClaimRecord is TryClaim of the user record c that also adds bytes
// to the bytes GetProgress reports as done when the claim succeeds, under
// the same lock.
func (t *Tracker) TryClaimRecord(c Claim, bytes int) bool {
	t.mu.Lock()
	ok := t.claimLocked(c)
	if ok {
		t.claimed += float64(bytes)
	}
	t.mu.Unlock()
	return ok
}

// claimLocked is TryClaimRecord's claim, with t.mu held.
func (t *Tracker) claimLocked(c Claim) bool {
	if t.done || t.closing {
		return false
	}
	last := t.lastClaimed
	if !seqnum.Valid(c.Seq) || c.Sub < 0 {
		t.err = fmt.Errorf("kinesisio: shard %s: invalid claim position %v", t.rest.ShardID, c)
		t.done = true
		return false
	}
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

// The restriction coder is a versioned binary layout, so that a runner
// restoring a checkpoint written by an older release can still decode it
// (Beam Java broke checkpoint compatibility once: apache/beam PR #26117).
//
//	version byte (1)
//	flags byte: 1 = Bounded, 2 = Empty, 4 = Closing, 8 = ShardEnded
//	(flags 4 and 8 came later within version 1: older encodings never
//	set them, so they decode as before)
//	uvarint len + ShardID
//	kind byte, uvarint len + Seq, varint Millis
//	uvarint len + End
//	version 2 adds: varint Start.Sub, varint EndSub (sub-sequence numbers
//	of KPL aggregates; version 1 decodes with both 0)
const coderVersion = 2

const (
	flagBounded = 1 << iota
	flagEmpty
	flagClosing
	flagShardEnded
)

// ErrCorrupt is returned when bytes do not decode to a restriction.
var ErrCorrupt = errors.New("kinesisio: corrupt restriction encoding")

// Encode returns the binary form of r.
func Encode(r Restriction) []byte {
	b := make([]byte, 0, 16+len(r.ShardID)+len(r.Start.Seq)+len(r.End))
	b = append(b, coderVersion)
	var flags byte
	if r.Bounded {
		flags |= flagBounded
	}
	if r.Empty {
		flags |= flagEmpty
	}
	if r.Closing {
		flags |= flagClosing
	}
	if r.ShardEnded {
		flags |= flagShardEnded
	}
	b = append(b, flags)
	b = binenc.AppendString(b, r.ShardID)
	b = append(b, byte(r.Start.Kind))
	b = binenc.AppendString(b, r.Start.Seq)
	b = binary.AppendVarint(b, r.Start.Millis)
	b = binenc.AppendString(b, r.End)
	b = binary.AppendVarint(b, r.Start.Sub)
	return binary.AppendVarint(b, r.EndSub)
}

// Decode parses the binary form written by Encode.
func Decode(b []byte) (Restriction, error) {
	var r Restriction
	d := binenc.NewDecoder(b, ErrCorrupt)
	if len(b) > 0 && (b[0] < 1 || b[0] > coderVersion) {
		return r, fmt.Errorf("%w: unknown version %d", ErrCorrupt, b[0])
	}
	version := d.Byte("version")
	flags := d.Byte("flags")
	r.Bounded = flags&flagBounded != 0
	r.Empty = flags&flagEmpty != 0
	r.Closing = flags&flagClosing != 0
	r.ShardEnded = flags&flagShardEnded != 0
	r.ShardID = d.String("shard ID")
	r.Start.Kind = Kind(d.Byte("position"))
	r.Start.Seq = d.String("sequence number")
	r.Start.Millis = d.Varint("timestamp")
	r.End = d.String("end")
	if version >= 2 {
		r.Start.Sub = d.Varint("sub-sequence number")
		r.EndSub = d.Varint("end sub-sequence number")
	}
	if err := d.Err(); err != nil {
		return r, err
	}
	if err := r.Validate(); err != nil {
		return r, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return r, nil
}
