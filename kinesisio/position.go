package kinesisio

import (
	"fmt"
	"maps"
	"time"

	"github.com/kinesisio/beam-kinesis/kinesisio/internal/restriction"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/seqnum"
)

// StartPosition says where Read starts in each shard. Make one with
// TrimHorizon, Latest, AtTimestamp or FromShardPositions; the zero value is
// TrimHorizon.
type StartPosition struct {
	kind   startKind
	at     time.Time
	shards map[string]ShardPosition
	others *StartPosition
}

type startKind int

const (
	startTrimHorizon startKind = iota
	startLatest
	startAtTimestamp
	startShards
)

// TrimHorizon starts at the oldest record still in each shard's retention.
func TrimHorizon() StartPosition { return StartPosition{kind: startTrimHorizon} }

// Latest starts after the newest record of each shard. It is pinned to the
// time the job starts (AT_TIMESTAMP of that moment, by the worker's clock),
// so a checkpoint or restart before the first record arrives loses nothing.
func Latest() StartPosition { return StartPosition{kind: startLatest} }

// AtTimestamp starts at the first record of each shard that arrived at or
// after t.
func AtTimestamp(t time.Time) StartPosition { return StartPosition{kind: startAtTimestamp, at: t} }

// ShardPosition is a position within one shard: at or after a sequence
// number.
type ShardPosition struct {
	SequenceNumber string
	// After starts after SequenceNumber instead of at it.
	After bool
}

// AtSequenceNumber is the position of the record with sequence number seq.
func AtSequenceNumber(seq string) ShardPosition { return ShardPosition{SequenceNumber: seq} }

// AfterSequenceNumber is the position just after sequence number seq: the
// way to resume from the last record a previous job processed.
func AfterSequenceNumber(seq string) ShardPosition {
	return ShardPosition{SequenceNumber: seq, After: true}
}

// FromShardPositions starts each shard named in positions (by shard ID)
// where it says, and every other shard at others.
func FromShardPositions(positions map[string]ShardPosition, others StartPosition) StartPosition {
	o := others
	return StartPosition{kind: startShards, shards: maps.Clone(positions), others: &o}
}

// String describes the position.
func (p StartPosition) String() string {
	switch p.kind {
	case startLatest:
		return "LATEST"
	case startAtTimestamp:
		return "AT_TIMESTAMP(" + p.at.UTC().Format(time.RFC3339Nano) + ")"
	case startShards:
		return fmt.Sprintf("%d shard positions, others %v", len(p.shards), *p.others)
	}
	return "TRIM_HORIZON"
}

func (p StartPosition) validate() error {
	switch p.kind {
	case startAtTimestamp:
		if p.at.IsZero() {
			return fmt.Errorf("AtTimestamp: zero time")
		}
	case startShards:
		if p.others == nil {
			return fmt.Errorf("FromShardPositions: no position for other shards")
		}
		if p.others.kind == startShards {
			return fmt.Errorf("FromShardPositions: the position for other shards cannot be FromShardPositions")
		}
		for shard, sp := range p.shards {
			if shard == "" {
				return fmt.Errorf("FromShardPositions: empty shard ID")
			}
			if !seqnum.Valid(sp.SequenceNumber) {
				return fmt.Errorf("FromShardPositions: shard %s: invalid sequence number %q (want 1 to %d decimal digits)", shard, sp.SequenceNumber, seqnum.MaxDigits)
			}
		}
		return p.others.validate()
	}
	return nil
}

// startSpec is the serializable form of a StartPosition, with LATEST
// still unresolved: the discovery step pins it when the job starts.
type startSpec struct {
	Kind         int
	Millis       int64
	At           map[string]string // shard -> sequence number, AT
	After        map[string]string // shard -> sequence number, AFTER
	Others       int               // kind for shards not in At/After
	OthersMillis int64
}

func (p StartPosition) spec() startSpec {
	s := startSpec{Kind: int(p.kind), Millis: p.at.UnixMilli()}
	if p.kind == startShards {
		s.At, s.After = map[string]string{}, map[string]string{}
		for shard, sp := range p.shards {
			if sp.After {
				s.After[shard] = sp.SequenceNumber
			} else {
				s.At[shard] = sp.SequenceNumber
			}
		}
		s.Others, s.OthersMillis = int(p.others.kind), p.others.at.UnixMilli()
	}
	return s
}

// resolve returns where shardID starts, with LATEST pinned to now.
func (s startSpec) resolve(shardID string, now time.Time) restriction.Position {
	kind, millis := startKind(s.Kind), s.Millis
	if kind == startShards {
		if seq, ok := s.At[shardID]; ok {
			return restriction.Position{Kind: restriction.AtSequence, Seq: seq}
		}
		if seq, ok := s.After[shardID]; ok {
			return restriction.After(seq)
		}
		kind, millis = startKind(s.Others), s.OthersMillis
	}
	switch kind {
	case startLatest:
		return restriction.Position{Kind: restriction.AtTimestamp, Millis: now.UnixMilli()}
	case startAtTimestamp:
		return restriction.Position{Kind: restriction.AtTimestamp, Millis: millis}
	}
	return restriction.Position{Kind: restriction.TrimHorizon}
}
