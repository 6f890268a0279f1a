package kinesisio

import (
	"errors"
	"fmt"
	"maps"
	"slices"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/kinesisio/beam-kinesis/internal/awsclient"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/fetcher"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/restriction"
)

// Position is where Read starts in one shard, for WithShardPositions:
// AtSequenceNumber, AfterSequenceNumber or AfterSubSequenceNumber. (Where
// every other shard starts is TRIM_HORIZON, WithStartAtLatest or
// WithStartAtTimestamp.) The zero value is no position.
type Position struct {
	p restriction.Position
	// err is why the constructor refused its arguments;
	// WithShardPositions reports it.
	err error
}

// AtSequenceNumber is the record with sequence number seq: a position in
// one shard, for WithShardPositions.
func AtSequenceNumber(seq string) Position {
	return Position{p: restriction.Position{Kind: restriction.AtSequence, Seq: seq}}
}

// AfterSequenceNumber is just after sequence number seq: the way to resume
// from the last record a previous job processed. A position in one shard,
// for WithShardPositions.
// It skips every user record of a KPL aggregate at seq; to resume
// inside one, use AfterSubSequenceNumber.
func AfterSequenceNumber(seq string) Position { return Position{p: restriction.After(seq)} }

// AfterSubSequenceNumber is just after the user record (seq, sub): the
// next user record of the KPL aggregate at seq, or the record after seq
// when the aggregate holds no more or seq is not an aggregate (a plain
// record is user record 0). Given a Record's SequenceNumber and
// SubSequenceNumber, it resumes right after that record either way. A
// position in one shard, for WithShardPositions. sub must be 0 or more
// and less than math.MaxInt64 (no user record follows that one); the
// option given another fails, naming it.
func AfterSubSequenceNumber(seq string, sub int64) Position {
	p, err := restriction.AfterUserRecord(seq, sub)
	if err != nil {
		return Position{p: restriction.Position{Kind: restriction.AtSequence, Seq: seq}, err: fmt.Errorf("AfterSubSequenceNumber(%s, %d): %w", seq, sub, err)}
	}
	return Position{p: p}
}

// String describes the position the way Kinesis names iterator types, or
// says why it is invalid.
func (p Position) String() string {
	switch {
	case p.err != nil:
		return "invalid position: " + p.err.Error()
	case p.p.Kind == 0:
		return "no position"
	}
	return p.p.String()
}

// validateStartTime refuses a start time that Kinesis would refuse: the
// zero time, or one further ahead of now than Read waits for.
func validateStartTime(at time.Time) error {
	if at.IsZero() {
		return errors.New("zero time")
	}
	if now := clock(); at.After(now.Add(fetcher.MaxClockAhead)) {
		return fmt.Errorf("start time %s is %v after now (%s): Kinesis refuses iterators ahead of its clock, and Read waits for at most %v of clock difference",
			at.UTC().Format(time.RFC3339Nano), at.Sub(now).Round(time.Second), now.UTC().Format(time.RFC3339), fetcher.MaxClockAhead)
	}
	return nil
}

// clock is the time the start position is checked against when the
// pipeline is built. Tests replace it to get a far-future timestamp to
// the workers.
var clock = time.Now

// startSpec is where each shard of a read starts, in the form restrictions
// use, with LATEST still unpinned: the discovery step pins it to the time
// the job starts.
type startSpec struct {
	// Default is the position of shards without one of their own.
	Default restriction.Position
	// Shards holds the positions of WithShardPositions, by shard ID.
	Shards map[string]restriction.Position
}

// resolve returns where shardID starts, with LATEST pinned to now.
func (s startSpec) resolve(shardID string, now time.Time) restriction.Position {
	p, ok := s.Shards[shardID]
	if !ok {
		p = s.Default
	}
	return p.Pin(now)
}

// named reports whether shardID has a position of its own.
func (s startSpec) named(shardID string) bool {
	_, ok := s.Shards[shardID]
	return ok
}

// filter is the ShardFilter of the first listing: only shards that can
// hold records at the start position (kinesalite ignores it; reading a
// shard closed before the start position just ends at once). With shard
// positions, every shard is listed: their lineage decides.
func (s startSpec) filter() *types.ShardFilter {
	if len(s.Shards) > 0 {
		return nil
	}
	switch s.Default.Kind {
	case restriction.Latest:
		return &types.ShardFilter{Type: types.ShardFilterTypeAtLatest}
	case restriction.AtTimestamp:
		// FROM_TIMESTAMP, not AT_TIMESTAMP: the shards open at the
		// timestamp and every shard created since (the children of a
		// reshard after it), which all hold records at or after it.
		// AT_TIMESTAMP leaves the children out; found later, they were
		// stamped with a later time than their records.
		return &types.ShardFilter{Type: types.ShardFilterTypeFromTimestamp, Timestamp: aws.Time(s.Default.Time())}
	}
	return nil
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
	if len(s.Shards) == 0 {
		return nil, nil
	}
	listed := map[string]bool{}
	parents := map[string][]string{}
	for _, sh := range shards {
		id := aws.ToString(sh.ShardId)
		listed[id] = true
		parents[id] = awsclient.ParentIDs(sh)
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

// unknownShards returns, sorted, the shard IDs that have a position but
// are not among ids, the IDs of the listed shards.
func (s startSpec) unknownShards(ids []string) []string {
	var out []string
	for _, id := range slices.Sorted(maps.Keys(s.Shards)) {
		if !slices.Contains(ids, id) {
			out = append(out, id)
		}
	}
	return out
}
