// Package restriction holds the splittable DoFn restriction of a Kinesis
// read: one shard and a range of sequence numbers within it, its binary
// coder and its thread-safe tracker.
package restriction

import (
	"fmt"
	"time"

	"github.com/kinesisio/beam-kinesis/kinesisio/internal/seqnum"
)

// Kind says where in a shard a Position is.
type Kind uint8

// The kinds of positions. They map one to one to Kinesis shard iterator
// types. Latest appears only in start positions: the discovery step pins
// it to AtTimestamp of the job's start (Pin), so no restriction holds it.
const (
	TrimHorizon   Kind = 1 // the oldest record still in retention
	AtTimestamp   Kind = 2 // the first record that arrived at or after Millis
	AtSequence    Kind = 3 // the record with sequence number Seq
	AfterSequence Kind = 4 // the record after sequence number Seq
	Latest        Kind = 5 // after the newest record, until pinned
)

// Position is where a read of a shard starts.
type Position struct {
	Kind   Kind
	Seq    string // AtSequence, AfterSequence
	Millis int64  // AtTimestamp: Unix milliseconds
}

// After is the position just after sequence number seq.
func After(seq string) Position { return Position{Kind: AfterSequence, Seq: seq} }

// Validate reports a malformed position.
func (p Position) Validate() error {
	switch p.Kind {
	case TrimHorizon, AtTimestamp, Latest:
		return nil
	case AtSequence, AfterSequence:
		if !seqnum.Valid(p.Seq) {
			return fmt.Errorf("invalid sequence number %q: want a decimal string of 1 to %d digits", p.Seq, seqnum.MaxDigits)
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
		return "AT_SEQUENCE_NUMBER(" + p.Seq + ")"
	case AfterSequence:
		return "AFTER_SEQUENCE_NUMBER(" + p.Seq + ")"
	case Latest:
		return "LATEST"
	}
	return fmt.Sprintf("Position(%d)", p.Kind)
}

// Admits reports whether a record with sequence number seq lies at or after
// the position, as far as sequence numbers tell (AtTimestamp and TrimHorizon
// admit every record: the service decides those).
func (p Position) Admits(seq string) bool {
	switch p.Kind {
	case AtSequence:
		return seqnum.Compare(seq, p.Seq) >= 0
	case AfterSequence:
		return seqnum.Compare(seq, p.Seq) > 0
	}
	return true
}
