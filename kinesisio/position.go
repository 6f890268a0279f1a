package kinesisio

import (
	"fmt"
	"maps"
	"slices"
	"sort"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/fetcher"
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
// after t, shards created after t by a reshard included. Kinesis refuses
// to start at a time its clock has not reached; Read waits for a t at
// most 5 minutes ahead of it (the clock skew AWS's request signing
// tolerates) and fails the job, naming both times, beyond that. A t more
// than 5 minutes after the time the pipeline is built is refused then.
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
// where it says: the way to resume from the positions a previous job
// reached. A shard not named whose parent or any other ancestor is named
// (the children of a split or merge since those positions were taken)
// starts at its beginning, TRIM_HORIZON, since all its records follow its
// ancestor's; so does a shard whose ancestry aged out of retention when a
// named shard did too (it may descend from it: reading it again is safer
// than losing it). A shard not named that a named shard descends from is
// not read: its records all come before the named position (KCL does the
// same). Every other shard starts at others. Named shards that the stream
// does not have are ignored, logged with the shards it has and counted in
// the unknown_shard_positions metric.
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
		if now := clock(); p.at.After(now.Add(fetcher.MaxClockAhead)) {
			return fmt.Errorf("AtTimestamp(%s) is %v after now (%s): Kinesis refuses iterators ahead of its clock, and Read waits for at most %v of clock difference",
				p.at.UTC().Format(time.RFC3339Nano), p.at.Sub(now).Round(time.Second), now.UTC().Format(time.RFC3339), fetcher.MaxClockAhead)
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

// clock is the time the start position is checked against when the
// pipeline is built. Tests replace it to get a far-future timestamp to
// the workers.
var clock = time.Now

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

// lineage sorts the listed shards that have no position of their own by
// their relation to the shards that have one. descendants descend from a
// named shard: their parent or adjacent parent is named or is itself such
// a shard, or is neither listed nor named while some named shard is not
// listed either (the link aged out of retention: reading the shard from
// its start may repeat records, skipping it could lose them). ancestors
// are the listed shards that a named shard descends from: all their
// records come before the named position.
// unknown are the named shards that are not listed (unknownShards).
func (s startSpec) lineage(shards []types.Shard, unknown []string) (descendants, ancestors map[string]bool) {
	if startKind(s.Kind) != startShards {
		return nil, nil
	}
	listed := map[string]bool{}
	parents := map[string][]string{}
	for _, sh := range shards {
		id := aws.ToString(sh.ShardId)
		listed[id] = true
		for _, p := range []*string{sh.ParentShardId, sh.AdjacentParentShardId} {
			if p != nil && *p != "" {
				parents[id] = append(parents[id], *p)
			}
		}
	}
	namedAgedOut := len(unknown) > 0
	memo := map[string]bool{}
	var descends func(id string) bool
	descends = func(id string) bool {
		if v, ok := memo[id]; ok {
			return v
		}
		memo[id] = false // cycles (malformed listings) end here
		found := false
		for _, p := range parents[id] {
			if s.named(p) || !listed[p] && namedAgedOut || listed[p] && descends(p) {
				found = true
				break
			}
		}
		memo[id] = found
		return found
	}
	descendants, ancestors = map[string]bool{}, map[string]bool{}
	var markAncestors func(id string)
	markAncestors = func(id string) {
		for _, p := range parents[id] {
			if listed[p] && !s.named(p) && !ancestors[p] {
				ancestors[p] = true
				markAncestors(p)
			}
		}
	}
	for _, sh := range shards {
		id := aws.ToString(sh.ShardId)
		if s.named(id) {
			markAncestors(id)
		} else if descends(id) {
			descendants[id] = true
		}
	}
	return descendants, ancestors
}

// named reports whether shardID has a position of its own.
func (s startSpec) named(shardID string) bool {
	_, at := s.At[shardID]
	_, after := s.After[shardID]
	return at || after
}

// unknownShards returns, sorted, the shard IDs that have a position but
// are not among ids, the IDs of the listed shards.
func (s startSpec) unknownShards(ids []string) []string {
	var out []string
	for _, m := range []map[string]string{s.At, s.After} {
		for id := range m {
			if !slices.Contains(ids, id) {
				out = append(out, id)
			}
		}
	}
	sort.Strings(out)
	return out
}
