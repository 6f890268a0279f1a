package fakekinesis

import (
	"math/big"
	"regexp"
	"sort"
	"time"
)

// Stream modes.
const (
	modeProvisioned = "PROVISIONED"
	modeOnDemand    = "ON_DEMAND"
)

var streamNamePattern = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,128}$`)

// openShardsLocked counts the open shards of every stream. s.mu must be
// held.
func (s *Server) openShardsLocked() int {
	n := 0
	for _, st := range s.streams {
		n += len(st.openShards())
	}
	return n
}

// nextSeqLocked issues the next sequence number for a shard index. s.mu
// must be held.
func (s *Server) nextSeqLocked(shardIndex int) string {
	s.seq++
	return formatSeq(s.seq, shardIndex)
}

// addShardLocked creates an open shard covering [lo, hi]. s.mu must be
// held.
func (s *Server) addShardLocked(st *stream, lo, hi *big.Int, parent, adjacent string, now time.Time) *shard {
	idx := len(st.shards)
	sh := &shard{
		index:          idx,
		id:             shardID(idx),
		parent:         parent,
		adjacentParent: adjacent,
		start:          lo,
		end:            hi,
		startSeq:       s.nextSeqLocked(idx),
		created:        now,
	}
	st.shards = append(st.shards, sh)
	st.byID[sh.id] = sh
	for _, p := range []string{parent, adjacent} {
		if p != "" {
			ps := st.byID[p]
			ps.children = append(ps.children, sh.id)
		}
	}
	return sh
}

// closeShardLocked closes an open shard. s.mu must be held.
func (s *Server) closeShardLocked(sh *shard, now time.Time) {
	sh.endSeq = s.nextSeqLocked(sh.index)
	sh.closedAt = now
}

func (c *call) createStream(body []byte) (any, error) {
	var in createStreamInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if !streamNamePattern.MatchString(in.StreamName) {
		return nil, errf(errValidation, "1 validation error detected: Value '%s' at 'streamName' failed to satisfy constraint.", in.StreamName)
	}
	mode := modeProvisioned
	if in.StreamModeDetails != nil && in.StreamModeDetails.StreamMode != "" {
		mode = in.StreamModeDetails.StreamMode
	} else if in.ShardCount == nil {
		mode = modeOnDemand
	}
	var n int
	switch mode {
	case modeProvisioned:
		if in.ShardCount == nil || *in.ShardCount < 1 {
			return nil, errf(errInvalidArgument, "ShardCount must be at least 1 for a PROVISIONED stream.")
		}
		n = *in.ShardCount
	case modeOnDemand:
		n = c.s.opts.onDemandShards
	default:
		return nil, errf(errValidation, "Invalid StreamMode %q.", mode)
	}
	if err := c.fault(); err != nil {
		return nil, err
	}
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.streams[in.StreamName]; ok {
		return nil, errf(errResourceInUse, "Stream %s under account %s already exists.", in.StreamName, s.opts.accountID)
	}
	if s.openShardsLocked()+n > s.opts.shardLimit {
		return nil, errf(errLimitExceeded, "This request would exceed the shard limit for the account %s in %s. Current shard limit for this account: %d.", s.opts.accountID, s.opts.region, s.opts.shardLimit)
	}
	s.gen++
	st := &stream{
		name:    in.StreamName,
		arn:     s.streamARN(in.StreamName),
		gen:     s.gen,
		mode:    mode,
		created: c.now,
		byID:    map[string]*shard{},
	}
	for _, r := range uniformRanges(n) {
		s.addShardLocked(st, r[0], r[1], "", "", c.now)
	}
	s.streams[st.name] = st
	return struct{}{}, nil
}

func (c *call) deleteStream(body []byte) (any, error) {
	st, unlock, err := c.lockStreamOf(body)
	if err != nil {
		return nil, err
	}
	defer unlock()
	s := c.s
	delete(s.streams, st.name)
	for key, sub := range s.subs {
		if sub.stream == st {
			sub.cancel()
			delete(s.subs, key)
		}
	}
	s.notifyLocked()
	return struct{}{}, nil
}

// monitoring is the EnhancedMonitoring value of every stream.
func monitoring() []enhancedMetrics { return []enhancedMetrics{{ShardLevelMetrics: []string{}}} }

func (c *call) describeStream(body []byte) (any, error) {
	var in describeStreamInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	limit, err := pageSize(in.Limit, "Limit", 100, 10000)
	if err != nil {
		return nil, err
	}
	st, unlock, err := c.lockStream(in.streamRef)
	if err != nil {
		return nil, err
	}
	defer unlock()
	shards := make([]wireShard, 0, limit)
	more := false
	for _, sh := range st.shards {
		if in.ExclusiveStartShardID != nil && sh.id <= *in.ExclusiveStartShardID {
			continue
		}
		if len(shards) == limit {
			more = true
			break
		}
		shards = append(shards, sh.wire())
	}
	return describeStreamOutput{StreamDescription: streamDescription{
		streamHead:    c.s.head(st),
		Shards:        shards,
		HasMoreShards: more,
	}}, nil
}

// head is what the server says of st in DescribeStream and
// DescribeStreamSummary.
func (s *Server) head(st *stream) streamHead {
	return streamHead{
		StreamName:              st.name,
		StreamARN:               st.arn,
		StreamStatus:            "ACTIVE",
		StreamModeDetails:       streamModeDetails{st.mode},
		RetentionPeriodHours:    s.opts.retentionHours,
		StreamCreationTimestamp: ep(st.created),
		EnhancedMonitoring:      monitoring(),
		EncryptionType:          "NONE",
	}
}

// lockStreamOf is lockStream for a call whose body is a streamRef only.
func (c *call) lockStreamOf(body []byte) (*stream, func(), error) {
	var in streamRef
	if err := decode(body, &in); err != nil {
		return nil, nil, err
	}
	return c.lockStream(in)
}

func (c *call) describeStreamSummary(body []byte) (any, error) {
	st, unlock, err := c.lockStreamOf(body)
	if err != nil {
		return nil, err
	}
	defer unlock()
	return describeStreamSummaryOutput{StreamDescriptionSummary: streamSummary{
		streamHead:     c.s.head(st),
		OpenShardCount: len(st.openShards()),
		ConsumerCount:  len(st.consumers),
	}}, nil
}

func (c *call) listStreams(body []byte) (any, error) {
	var in listStreamsInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	limit, err := pageSize(in.Limit, "Limit", 100, 10000)
	if err != nil {
		return nil, err
	}
	after := ""
	if in.ExclusiveStartStreamName != nil {
		after = *in.ExclusiveStartStreamName
	}
	if in.NextToken != nil {
		t, err := c.decodeToken(*in.NextToken)
		if err != nil {
			return nil, err
		}
		after = t.After
	}
	if err := c.fault(); err != nil {
		return nil, err
	}
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	names := make([]string, 0, len(s.streams))
	for name := range s.streams {
		if name > after {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	out := listStreamsOutput{StreamNames: []string{}, StreamSummaries: []listStreamsSummary{}}
	if len(names) > limit {
		names = names[:limit]
		out.HasMoreStreams = true
		out.NextToken = encodeToken(pageToken{After: names[limit-1], Issued: c.now.UnixNano()})
	}
	for _, name := range names {
		st := s.streams[name]
		out.StreamNames = append(out.StreamNames, name)
		out.StreamSummaries = append(out.StreamSummaries, listStreamsSummary{
			StreamName:              name,
			StreamARN:               st.arn,
			StreamStatus:            "ACTIVE",
			StreamModeDetails:       streamModeDetails{st.mode},
			StreamCreationTimestamp: ep(st.created),
		})
	}
	return out, nil
}
