// Package restriction holds the splittable DoFn restriction of a Kinesis
// read: one shard and a range of sequence numbers within it, its binary
// coder and its thread-safe tracker.
package restriction

import (
	"fmt"
	"math"
	"time"

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
func compareClaims(seqA string, subA int64, seqB string, subB int64) int {
	if c := seqnum.Compare(seqA, seqB); c != 0 {
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
