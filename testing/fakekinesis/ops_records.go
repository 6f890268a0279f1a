package fakekinesis

import (
	"math/big"
	"slices"
	"time"

	"github.com/kinesisio/beam-kinesis/internal/partitionkey"
	"github.com/kinesisio/beam-kinesis/internal/seqnum"
)

// Shard iterator types.
const (
	iterTrimHorizon = "TRIM_HORIZON"
	iterLatest      = "LATEST"
	iterAtTimestamp = "AT_TIMESTAMP"
	iterAtSeq       = "AT_SEQUENCE_NUMBER"
	iterAfterSeq    = "AFTER_SEQUENCE_NUMBER"
)

// entryHash validates a put entry and returns its hash key. A key's
// length counts UTF-16 code units (partitionkey.Length), as kinesalite,
// kinesis-mock and Kinesis's Java do; the record's size is data plus key
// in bytes.
func entryHash(key string, data []byte, explicit *string) (*big.Int, error) {
	if key == "" || partitionkey.Length(key) > partitionkey.MaxLength {
		return nil, errf(errValidation, "1 validation error detected: Value at 'partitionKey' failed to satisfy constraint: Member must have length between 1 and 256.")
	}
	if len(data)+len(key) > maxRecordBytes {
		return nil, errf(errValidation, "1 validation error detected: Value at 'data' failed to satisfy constraint: Member must have length less than or equal to %d.", maxRecordBytes)
	}
	if explicit != nil {
		h, ok := parseHashKey(*explicit)
		if !ok {
			return nil, errf(errInvalidArgument, "Invalid ExplicitHashKey. ExplicitHashKey must be in the range: [0, 2^128-1]. Specified value was %s.", *explicit)
		}
		return h, nil
	}
	return hashKey(key), nil
}

// routeLocked returns the IDs of the shards the hashes route to. s.mu
// must be held.
func routeIDs(st *stream, hashes []*big.Int) []string {
	var ids []string
	for _, h := range hashes {
		if sh := st.route(h); sh != nil && !slices.Contains(ids, sh.id) {
			ids = append(ids, sh.id)
		}
	}
	return ids
}

// shardsFor resolves the stream and returns the shard IDs hashes route
// to.
func (c *call) shardsFor(ref streamRef, hashes []*big.Int) ([]string, error) {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	st, err := c.s.lookupLocked(ref)
	if err != nil {
		return nil, err
	}
	return routeIDs(st, hashes), nil
}

// appendLocked stores a record and returns its sequence number. s.mu must
// be held.
func (s *Server) appendLocked(sh *shard, key string, data []byte, now time.Time) string {
	arrival := now
	if n := len(sh.records); n > 0 && sh.records[n-1].arrival.After(now) {
		arrival = sh.records[n-1].arrival
	}
	seq := s.nextSeqLocked(sh.index)
	sh.records = append(sh.records, record{seq: seq, key: key, data: data, arrival: arrival})
	return seq
}

// throughputError is the error for a write over the shard's limit.
func (s *Server) throughputError(st *stream, sh *shard) *apiError {
	return errf(errThroughput, "Rate exceeded for shard %s in stream %s under account %s.", sh.id, st.name, s.opts.accountID)
}

func (c *call) putRecord(body []byte) (any, error) {
	var in putRecordInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	h, err := entryHash(in.PartitionKey, in.Data, in.ExplicitHashKey)
	if err != nil {
		return nil, err
	}
	ids, err := c.shardsFor(in.streamRef, []*big.Int{h})
	if err != nil {
		return nil, err
	}
	c.s.countShards(c.op, ids...)
	st, unlock, err := c.lockStream(in.streamRef, ids...)
	if err != nil {
		return nil, err
	}
	defer unlock()
	s := c.s
	sh := st.route(h)
	if s.opts.quotas && !sh.q.allowWrite(c.now, len(in.Data)+len(in.PartitionKey)) {
		return nil, s.throughputError(st, sh)
	}
	seq := s.appendLocked(sh, in.PartitionKey, in.Data, c.now)
	s.notifyLocked()
	return putRecordOutput{ShardID: sh.id, SequenceNumber: seq, EncryptionType: "NONE"}, nil
}

func (c *call) putRecords(body []byte) (any, error) {
	var in putRecordsInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if len(in.Records) < 1 || len(in.Records) > maxPutRecordsEntries {
		return nil, errf(errValidation, "1 validation error detected: Value at 'records' failed to satisfy constraint: Member must have length between 1 and %d.", maxPutRecordsEntries)
	}
	hashes := make([]*big.Int, len(in.Records))
	total := 0
	for i, e := range in.Records {
		h, err := entryHash(e.PartitionKey, e.Data, e.ExplicitHashKey)
		if err != nil {
			return nil, err
		}
		hashes[i] = h
		total += len(e.Data) + len(e.PartitionKey)
	}
	if total > maxPutRecordsBytes {
		return nil, errf(errInvalidArgument, "Records size exceeds %d bytes.", maxPutRecordsBytes)
	}
	ids, err := c.shardsFor(in.streamRef, hashes)
	if err != nil {
		return nil, err
	}
	c.s.countShards(c.op, ids...)
	if err := c.fault(ids...); err != nil {
		return nil, err
	}
	_, failShard, partial := c.s.takeFault(c.op, ids, func(k faultKind) bool { return k == kindPartialPut })
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.lookupLocked(in.streamRef)
	if err != nil {
		return nil, err
	}
	out := putRecordsOutput{Records: make([]putRecordsResult, len(in.Records)), EncryptionType: "NONE"}
	for i, e := range in.Records {
		sh := st.route(hashes[i])
		var fail *apiError
		switch {
		case partial && ((failShard == "" && i%2 == 1) || failShard == sh.id):
			fail = errf(errThroughput, "Rate exceeded for shard %s in stream %s under account %s (injected fault).", sh.id, st.name, s.opts.accountID)
		case s.opts.quotas && !sh.q.allowWrite(c.now, len(e.Data)+len(e.PartitionKey)):
			fail = s.throughputError(st, sh)
		}
		if fail != nil {
			out.FailedRecordCount++
			out.Records[i] = putRecordsResult{ErrorCode: &fail.typ, ErrorMessage: &fail.msg}
			continue
		}
		seq := s.appendLocked(sh, e.PartitionKey, e.Data, c.now)
		id := sh.id
		out.Records[i] = putRecordsResult{SequenceNumber: &seq, ShardID: &id}
	}
	s.notifyLocked()
	return out, nil
}

// startIndex returns the record index a starting position refers to.
func (s *Server) startIndex(st *stream, sh *shard, typ string, seq *string, ts *epoch) (int, error) {
	switch typ {
	case iterTrimHorizon:
		return 0, nil
	case iterLatest:
		return len(sh.records), nil
	case iterAtTimestamp:
		if ts == nil {
			return 0, errf(errInvalidArgument, "Must specify timestampInMillis parameter for iterator of type AT_TIMESTAMP.")
		}
		return sh.searchTime(ts.Time), nil
	case iterAtSeq, iterAfterSeq:
		if seq == nil {
			return 0, errf(errInvalidArgument, "Must specify StartingSequenceNumber for iterator of type %s.", typ)
		}
		if !seqPattern.MatchString(*seq) || seqShardIndex(*seq) != sh.index || seqnum.Compare(*seq, sh.startSeq) < 0 {
			return 0, errf(errInvalidArgument, "StartingSequenceNumber %s used in GetShardIterator on shard %s in stream %s under account %s is invalid.", *seq, sh.id, st.name, s.opts.accountID)
		}
		return sh.searchSeq(*seq, typ == iterAfterSeq), nil
	}
	return 0, errf(errValidation, "1 validation error detected: Value '%s' at 'shardIteratorType' failed to satisfy constraint.", typ)
}

// shardLocked returns shard id of st or ResourceNotFoundException. s.mu
// must be held.
func (s *Server) shardLocked(st *stream, id string) (*shard, error) {
	sh, ok := st.byID[id]
	if !ok {
		return nil, errf(errResourceNotFound, "Shard %s in stream %s under account %s does not exist", id, st.name, s.opts.accountID)
	}
	return sh, nil
}

func (c *call) getShardIterator(body []byte) (any, error) {
	var in getShardIteratorInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	c.s.countShards(c.op, in.ShardID)
	st, unlock, err := c.lockStream(in.streamRef, in.ShardID)
	if err != nil {
		return nil, err
	}
	defer unlock()
	s := c.s
	sh, err := s.shardLocked(st, in.ShardID)
	if err != nil {
		return nil, err
	}
	pos, err := s.startIndex(st, sh, in.ShardIteratorType, in.StartingSequenceNumber, in.Timestamp)
	if err != nil {
		return nil, err
	}
	if s.opts.quotas && !sh.q.allowIterator(c.now) {
		return nil, errf(errThroughput, "Rate exceeded for shard %s in stream %s under account %s.", sh.id, st.name, s.opts.accountID)
	}
	it := iterator{Stream: st.name, Gen: st.gen, Shard: sh.index, Pos: pos, Issued: c.now.UnixNano()}
	return getShardIteratorOutput{ShardIterator: encodeIterator(it)}, nil
}

// wireRecords converts stored records.
func wireRecords(recs []record) []wireRecord {
	out := make([]wireRecord, len(recs))
	for i := range recs {
		r := &recs[i]
		out[i] = wireRecord{SequenceNumber: r.seq, ApproximateArrivalTimestamp: ep(r.arrival), Data: r.data, PartitionKey: r.key}
	}
	return out
}

// readBatch returns how many records from pos fit in limit records and
// maxBytes bytes (at least one if any remain), and their size.
func readBatch(recs []record, pos, limit, maxBytes int) (n, size int) {
	for i := pos; i < len(recs) && n < limit; i++ {
		sz := recs[i].size()
		if n > 0 && size+sz > maxBytes {
			break
		}
		n++
		size += sz
	}
	return n, size
}

// millisBehind is how far behind the tip a reader at pos is.
func millisBehind(sh *shard, pos int, now time.Time) int64 {
	if pos >= len(sh.records) {
		return 0
	}
	return max(now.Sub(sh.records[pos].arrival).Milliseconds(), 0)
}

func (c *call) getRecords(body []byte) (any, error) {
	var in getRecordsInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	limit := maxGetRecordsRecords
	if in.Limit != nil {
		if *in.Limit < 1 || *in.Limit > maxGetRecordsRecords {
			return nil, errf(errValidation, "1 validation error detected: Value '%d' at 'limit' failed to satisfy constraint: Member must have value between 1 and %d.", *in.Limit, maxGetRecordsRecords)
		}
		limit = *in.Limit
	}
	it, ok := decodeIterator(in.ShardIterator)
	if !ok {
		return nil, errf(errInvalidArgument, "Invalid ShardIterator.")
	}
	id := shardID(it.Shard)
	c.s.countShards(c.op, id)
	if err := c.fault(id); err != nil {
		return nil, err
	}
	s := c.s
	if it.expired(c.now, s.opts.iteratorTTL) {
		return nil, errf(errExpiredIterator, "Iterator expired. The iterator was created at time %s while right now it is %s which is further in the future than the tolerated delay of %d milliseconds.",
			time.Unix(0, it.Issued).UTC().Format(time.RFC1123), c.now.UTC().Format(time.RFC1123), s.opts.iteratorTTL.Milliseconds())
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st, ok := s.streams[it.Stream]
	if !ok || st.gen != it.Gen {
		return nil, s.notFoundStream(it.Stream)
	}
	if in.StreamARN != nil && *in.StreamARN != st.arn {
		return nil, errf(errInvalidArgument, "StreamARN %s does not match the shard iterator's stream.", *in.StreamARN)
	}
	if it.Shard >= len(st.shards) || it.Pos > len(st.shards[it.Shard].records) {
		return nil, errf(errInvalidArgument, "Invalid ShardIterator.")
	}
	sh := st.shards[it.Shard]
	if s.opts.quotas && !sh.q.allowGetRecords(c.now) {
		return nil, errf(errThroughput, "Rate exceeded for shard %s in stream %s under account %s.", sh.id, st.name, s.opts.accountID)
	}
	n, size := readBatch(sh.records, it.Pos, limit, maxGetRecordsBytes)
	if s.opts.quotas {
		sh.q.chargeRead(size)
	}
	pos := it.Pos + n
	s.served.Add(int64(n))
	out := getRecordsOutput{
		Records:            wireRecords(sh.records[it.Pos:pos]),
		MillisBehindLatest: millisBehind(sh, pos, c.now),
	}
	if !sh.open() && pos >= len(sh.records) {
		out.ChildShards = st.childShards(sh)
	} else {
		next := encodeIterator(iterator{Stream: st.name, Gen: st.gen, Shard: sh.index, Pos: pos, Issued: c.now.UnixNano()})
		out.NextShardIterator = &next
	}
	return out, nil
}
