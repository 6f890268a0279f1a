package fakekinesis

import (
	"math/big"
	"time"
)

// ListShards filter types.
const (
	filterAfterShardID     = "AFTER_SHARD_ID"
	filterAtTrimHorizon    = "AT_TRIM_HORIZON"
	filterFromTrimHorizon  = "FROM_TRIM_HORIZON"
	filterAtLatest         = "AT_LATEST"
	filterAtTimestamp      = "AT_TIMESTAMP"
	filterFromTimestamp    = "FROM_TIMESTAMP"
	defaultListShardsLimit = 1000
)

// shardMatcher returns a predicate for a ListShards filter.
func (c *call) shardMatcher(st *stream, f *shardFilter) (func(*shard) bool, error) {
	if f == nil {
		return func(*shard) bool { return true }, nil
	}
	trim := c.now.Add(-time.Duration(c.s.opts.retentionHours) * time.Hour)
	if trim.Before(st.created) {
		trim = st.created
	}
	at := func() (time.Time, error) {
		if f.Timestamp == nil {
			return time.Time{}, errf(errInvalidArgument, "ShardFilter type %s requires a Timestamp.", f.Type)
		}
		if f.Timestamp.Before(st.created) {
			return st.created, nil
		}
		return f.Timestamp.Time, nil
	}
	switch f.Type {
	case filterAfterShardID:
		if f.ShardID == nil {
			return nil, errf(errInvalidArgument, "ShardFilter type AFTER_SHARD_ID requires a ShardId.")
		}
		after := *f.ShardID
		return func(sh *shard) bool { return sh.id > after }, nil
	case filterAtTrimHorizon:
		return func(sh *shard) bool { return sh.openAt(trim) }, nil
	case filterFromTrimHorizon:
		return func(sh *shard) bool { return sh.open() || !sh.closedAt.Before(trim) }, nil
	case filterAtLatest:
		return (*shard).open, nil
	case filterAtTimestamp:
		t, err := at()
		if err != nil {
			return nil, err
		}
		return func(sh *shard) bool {
			return !sh.created.After(t) && (sh.open() || !sh.closedAt.Before(t))
		}, nil
	case filterFromTimestamp:
		t, err := at()
		if err != nil {
			return nil, err
		}
		return func(sh *shard) bool { return sh.open() || !sh.closedAt.Before(t) }, nil
	}
	return nil, errf(errValidation, "Invalid ShardFilter type %q.", f.Type)
}

func (c *call) listShards(body []byte) (any, error) {
	var in listShardsInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	limit, err := pageSize(in.MaxResults, "MaxResults", defaultListShardsLimit, defaultListShardsLimit)
	if err != nil {
		return nil, err
	}
	ref, after, filter := in.streamRef, "", in.ShardFilter
	if in.NextToken != nil {
		if in.StreamName != nil || in.StreamARN != nil {
			return nil, errf(errInvalidArgument, "NextToken and StreamName cannot be provided together.")
		}
		if in.ExclusiveStartShardID != nil || in.ShardFilter != nil {
			return nil, errf(errInvalidArgument, "NextToken cannot be provided together with ExclusiveStartShardId or ShardFilter.")
		}
		t, err := c.decodeToken(*in.NextToken)
		if err != nil {
			return nil, err
		}
		ref, after, filter = streamRef{StreamName: &t.Stream}, t.After, t.Filter
	} else if in.ExclusiveStartShardID != nil {
		after = *in.ExclusiveStartShardID
	}
	st, unlock, err := c.lockStream(ref)
	if err != nil {
		return nil, err
	}
	defer unlock()
	match, err := c.shardMatcher(st, filter)
	if err != nil {
		return nil, err
	}
	out := listShardsOutput{Shards: []wireShard{}}
	for _, sh := range st.shards {
		if sh.id <= after || !match(sh) {
			continue
		}
		if len(out.Shards) == limit {
			last := out.Shards[limit-1].ShardID
			out.NextToken = encodeToken(pageToken{Stream: st.name, After: last, Filter: filter, Issued: c.now.UnixNano()})
			break
		}
		out.Shards = append(out.Shards, sh.wire())
	}
	return out, nil
}

// openShardLocked returns the open shard id of st. s.mu must be held.
func (s *Server) openShardLocked(st *stream, id string) (*shard, error) {
	sh, ok := st.byID[id]
	if !ok {
		return nil, errf(errResourceNotFound, "Could not find shard %s in stream %s under account %s.", id, st.name, s.opts.accountID)
	}
	if !sh.open() {
		return nil, errf(errInvalidArgument, "Shard %s in stream %s under account %s has already been merged or split, and thus is not eligible for merging or splitting.", id, st.name, s.opts.accountID)
	}
	return sh, nil
}

// splitLocked splits sh at key (its second child starts at key). s.mu
// must be held.
func (s *Server) splitLocked(st *stream, sh *shard, key *big.Int, now time.Time) {
	s.closeShardLocked(sh, now)
	s.addShardLocked(st, sh.start, new(big.Int).Sub(key, big.NewInt(1)), sh.id, "", now)
	s.addShardLocked(st, key, sh.end, sh.id, "", now)
}

// mergeLocked merges two adjacent open shards. s.mu must be held.
func (s *Server) mergeLocked(st *stream, a, b *shard, now time.Time) {
	lo, hi := a.start, b.end
	if b.start.Cmp(a.start) < 0 {
		lo, hi = b.start, a.end
	}
	s.closeShardLocked(a, now)
	s.closeShardLocked(b, now)
	s.addShardLocked(st, lo, hi, a.id, b.id, now)
}

func (c *call) splitShard(body []byte) (any, error) {
	var in splitShardInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	key, ok := parseHashKey(in.NewStartingHashKey)
	if !ok {
		return nil, errf(errValidation, "NewStartingHashKey %q is not a hash key.", in.NewStartingHashKey)
	}
	st, unlock, err := c.lockStream(in.streamRef, in.ShardToSplit)
	if err != nil {
		return nil, err
	}
	defer unlock()
	s := c.s
	sh, err := s.openShardLocked(st, in.ShardToSplit)
	if err != nil {
		return nil, err
	}
	if key.Cmp(sh.start) <= 0 || key.Cmp(sh.end) > 0 {
		return nil, errf(errInvalidArgument, "NewStartingHashKey %s used in SplitShard() on shard %s in stream %s under account %s is not both greater than one plus the shard's StartingHashKey %s and less than the shard's EndingHashKey %s.", in.NewStartingHashKey, sh.id, st.name, s.opts.accountID, sh.start, sh.end)
	}
	if s.openShardsLocked()+1 > s.opts.shardLimit {
		return nil, errf(errLimitExceeded, "This request would exceed the shard limit for the account %s in %s.", s.opts.accountID, s.opts.region)
	}
	s.splitLocked(st, sh, key, c.now)
	s.notifyLocked()
	return struct{}{}, nil
}

func (c *call) mergeShards(body []byte) (any, error) {
	var in mergeShardsInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	st, unlock, err := c.lockStream(in.streamRef, in.ShardToMerge, in.AdjacentShardToMerge)
	if err != nil {
		return nil, err
	}
	defer unlock()
	s := c.s
	a, err := s.openShardLocked(st, in.ShardToMerge)
	if err != nil {
		return nil, err
	}
	b, err := s.openShardLocked(st, in.AdjacentShardToMerge)
	if err != nil {
		return nil, err
	}
	one := big.NewInt(1)
	if new(big.Int).Add(a.end, one).Cmp(b.start) != 0 && new(big.Int).Add(b.end, one).Cmp(a.start) != 0 {
		return nil, errf(errInvalidArgument, "Shards %s and %s in stream %s under account %s are not an adjacent pair of shards eligible for merging.", a.id, b.id, st.name, s.opts.accountID)
	}
	s.mergeLocked(st, a, b, c.now)
	s.notifyLocked()
	return struct{}{}, nil
}

func (c *call) updateShardCount(body []byte) (any, error) {
	var in updateShardCountInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.ScalingType != "UNIFORM_SCALING" {
		return nil, errf(errValidation, "ScalingType must be UNIFORM_SCALING.")
	}
	if in.TargetShardCount < 1 {
		return nil, errf(errValidation, "TargetShardCount must be at least 1.")
	}
	st, unlock, err := c.lockStream(in.streamRef)
	if err != nil {
		return nil, err
	}
	defer unlock()
	s := c.s
	if st.mode == modeOnDemand {
		return nil, errf(errValidation, "UpdateShardCount is not supported for ON_DEMAND streams.")
	}
	cur := len(st.openShards())
	target := in.TargetShardCount
	if target > 2*cur || 2*target < cur {
		return nil, errf(errInvalidArgument, "UpdateShardCount may at most double or halve the shard count (%d -> %d).", cur, target)
	}
	if s.openShardsLocked()-cur+target > s.opts.shardLimit {
		return nil, errf(errLimitExceeded, "This request would exceed the shard limit for the account %s in %s.", s.opts.accountID, s.opts.region)
	}
	s.rescaleLocked(st, target, c.now)
	s.notifyLocked()
	return updateShardCountOutput{StreamName: st.name, StreamARN: st.arn, CurrentShardCount: cur, TargetShardCount: target}, nil
}

// rescaleLocked reaches n uniform open shards by splitting at every new
// boundary and then merging the shards inside each new range pairwise, so
// that lineage (parents, adjacent parents) stays exact. s.mu must be held.
func (s *Server) rescaleLocked(st *stream, n int, now time.Time) {
	ranges := uniformRanges(n)
	for _, r := range ranges[1:] {
		if sh := st.route(r[0]); sh != nil && sh.start.Cmp(r[0]) != 0 {
			s.splitLocked(st, sh, r[0], now)
		}
	}
	for _, r := range ranges {
		for range len(st.shards) { // bounded: each merge removes one open shard
			var in []*shard
			for _, sh := range st.openShards() {
				if sh.start.Cmp(r[0]) >= 0 && sh.end.Cmp(r[1]) <= 0 {
					in = append(in, sh)
				}
			}
			if len(in) < 2 {
				break
			}
			s.mergeLocked(st, in[0], in[1], now)
		}
	}
}
