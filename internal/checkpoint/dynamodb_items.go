package checkpoint

import (
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// The DynamoDB store's items: per application (partition key app) one
// lease item per stream (sort key "lease#<stream>") and one checkpoint
// item per shard (sort key "shard#<stream>#<shard ID>"; "#" is in no
// stream name or shard ID). Empty strings are left out rather than
// stored. (The item "lease", the one lease per application of earlier
// versions, is no longer read.)
const (
	attrApp        = "app"
	attrKey        = "key"
	leaseKeyPrefix = "lease#"
	shardKeyPrefix = "shard#"

	attrOwner      = "owner"
	attrJob        = "job"
	attrEpoch      = "epoch"
	attrHeartbeat  = "heartbeat"  // Unix ms
	attrStaleAfter = "staleAfter" // ms
	attrFloor      = "floor"
	attrProcs      = "procs" // a map: procKey -> heartbeat, Unix ms
	attrAfterSink  = "afterSink"
	attrSinkEpoch  = "sinkEpoch"
	attrStopEpoch  = "stopEpoch"
	attrStream     = "stream"
	attrShard      = "shard"
	attrSeq        = "seq"
	attrSubSeq     = "subSeq"
	attrFinished   = "finished"
	attrEndSeq     = "end_seq"
	attrParents    = "parents" // a list, to keep the order
	attrUpdated    = "updated" // Unix ms
)

// item is a DynamoDB item or key.
type item = map[string]types.AttributeValue

func attrS(v string) types.AttributeValue { return &types.AttributeValueMemberS{Value: v} }

func attrN(v int64) types.AttributeValue {
	return &types.AttributeValueMemberN{Value: strconv.FormatInt(v, 10)}
}

// shardKey is the sort key of a shard's checkpoint; with shard "" it is
// the prefix of stream's checkpoints, and with stream "" too that of all.
func shardKey(stream, shard string) string {
	if stream == "" {
		return shardKeyPrefix
	}
	return shardKeyPrefix + stream + "#" + shard
}

// leaseKey is the sort key of stream's lease; with stream "" it is the
// prefix of all leases.
func leaseKey(stream string) string { return leaseKeyPrefix + stream }

// itemKey is the primary key of app's item with sort key key.
func itemKey(app, key string) item {
	return item{attrApp: attrS(app), attrKey: attrS(key)}
}

func leaseItem(l Lease) item {
	it := itemKey(l.App, leaseKey(l.Stream))
	it[attrStream] = attrS(l.Stream)
	it[attrEpoch] = attrN(l.Epoch)
	it[attrFloor] = attrN(l.Floor)
	it[attrSinkEpoch] = attrN(l.SinkEpoch)
	it[attrStopEpoch] = attrN(l.StopEpoch)
	it[attrAfterSink] = &types.AttributeValueMemberBOOL{Value: l.AfterSink}
	procs := make(item, len(l.Procs))
	for _, p := range l.Procs {
		procs[procKey(p.ID)] = attrN(toMillis(p.Heartbeat))
	}
	it[attrProcs] = &types.AttributeValueMemberM{Value: procs}
	it[attrHeartbeat] = attrN(toMillis(l.Heartbeat))
	it[attrStaleAfter] = attrN(l.StaleAfter.Milliseconds())
	if l.Owner != "" {
		it[attrOwner] = attrS(l.Owner)
	}
	if l.Job != "" {
		it[attrJob] = attrS(l.Job)
	}
	return it
}

func checkpointItem(app string, cp Checkpoint) item {
	it := itemKey(app, shardKey(cp.Stream, cp.ShardID))
	it[attrStream] = attrS(cp.Stream)
	it[attrShard] = attrS(cp.ShardID)
	it[attrSubSeq] = attrN(cp.SubSeq)
	it[attrFinished] = &types.AttributeValueMemberBOOL{Value: cp.Finished}
	it[attrEpoch] = attrN(cp.Epoch)
	it[attrUpdated] = attrN(toMillis(cp.Updated))
	if cp.Seq != "" {
		it[attrSeq] = attrS(cp.Seq)
	}
	if cp.EndSeq != "" {
		it[attrEndSeq] = attrS(cp.EndSeq)
	}
	if cp.Owner != "" {
		it[attrOwner] = attrS(cp.Owner)
	}
	if len(cp.Parents) > 0 {
		l := make([]types.AttributeValue, len(cp.Parents))
		for i, p := range cp.Parents {
			l[i] = attrS(p)
		}
		it[attrParents] = &types.AttributeValueMemberL{Value: l}
	}
	return it
}

// itemReader decodes attributes of one item, keeping the first error.
type itemReader struct {
	it  item
	err error
}

func (r *itemReader) fail(name, want string) {
	if r.err == nil {
		r.err = fmt.Errorf("attribute %s is not %s", name, want)
	}
}

// s returns the string attribute name; "" when absent and optional.
func (r *itemReader) s(name string, required bool) string {
	v, ok := r.it[name]
	if !ok {
		if required {
			r.fail(name, "present")
		}
		return ""
	}
	s, ok := v.(*types.AttributeValueMemberS)
	if !ok {
		r.fail(name, "a string")
		return ""
	}
	return s.Value
}

// n returns the required integer attribute name.
func (r *itemReader) n(name string) int64 {
	v, ok := r.it[name].(*types.AttributeValueMemberN)
	if !ok {
		r.fail(name, "a number")
		return 0
	}
	n, err := strconv.ParseInt(v.Value, 10, 64)
	if err != nil {
		r.fail(name, "an integer")
	}
	return n
}

// optN returns the optional integer attribute name, 0 when absent.
func (r *itemReader) optN(name string) int64 {
	if _, ok := r.it[name]; !ok {
		return 0
	}
	return r.n(name)
}

// optB returns the optional boolean attribute name, false when absent.
func (r *itemReader) optB(name string) bool {
	if _, ok := r.it[name]; !ok {
		return false
	}
	return r.b(name)
}

// numberMap returns the optional map of integers name.
func (r *itemReader) numberMap(name string) (map[string]int64, error) {
	v, ok := r.it[name]
	if !ok {
		return nil, nil
	}
	m, ok := v.(*types.AttributeValueMemberM)
	if !ok {
		return nil, fmt.Errorf("attribute %s is not a map", name)
	}
	out := make(map[string]int64, len(m.Value))
	for k, e := range m.Value {
		n, ok := e.(*types.AttributeValueMemberN)
		if !ok {
			return nil, fmt.Errorf("attribute %s.%s is not a number", name, k)
		}
		ms, err := strconv.ParseInt(n.Value, 10, 64)
		if err != nil {
			return nil, fmt.Errorf("attribute %s.%s is not an integer", name, k)
		}
		out[k] = ms
	}
	return out, nil
}

// b returns the required boolean attribute name.
func (r *itemReader) b(name string) bool {
	v, ok := r.it[name].(*types.AttributeValueMemberBOOL)
	if !ok {
		r.fail(name, "a boolean")
		return false
	}
	return v.Value
}

// list returns the optional list of strings name.
func (r *itemReader) list(name string) []string {
	v, ok := r.it[name]
	if !ok {
		return nil
	}
	l, ok := v.(*types.AttributeValueMemberL)
	if !ok {
		r.fail(name, "a list")
		return nil
	}
	var out []string
	for _, e := range l.Value {
		s, ok := e.(*types.AttributeValueMemberS)
		if !ok {
			r.fail(name, "a list of strings")
			return nil
		}
		out = append(out, s.Value)
	}
	return out
}

// corrupt wraps the error of decoding it in s's table.
func (s *dynamoStore) corrupt(it item, err error) error {
	r := itemReader{it: it}
	return fmt.Errorf("checkpoint: %s: item (app %q, key %q) is corrupt (not written by this store?): %w",
		s.name(), r.s(attrApp, false), r.s(attrKey, false), err)
}

func (s *dynamoStore) decodeLease(it item) (Lease, error) {
	r := itemReader{it: it}
	l := Lease{
		App:        r.s(attrApp, true),
		Stream:     r.s(attrStream, true),
		Owner:      r.s(attrOwner, false),
		Job:        r.s(attrJob, false),
		Epoch:      r.n(attrEpoch),
		Floor:      r.optN(attrFloor),
		Heartbeat:  fromMillis(r.n(attrHeartbeat)),
		StaleAfter: time.Duration(r.n(attrStaleAfter)) * time.Millisecond,
		AfterSink:  r.optB(attrAfterSink),
		SinkEpoch:  r.optN(attrSinkEpoch),
		StopEpoch:  r.optN(attrStopEpoch),
	}
	if r.err == nil && r.s(attrKey, true) != leaseKey(l.Stream) {
		r.err = fmt.Errorf("its key does not name stream %q", l.Stream)
	}
	if r.err == nil {
		var procs map[string]int64
		if procs, r.err = r.numberMap(attrProcs); r.err == nil {
			l.Procs, r.err = decodeProcs(procs)
		}
	}
	if r.err != nil {
		return Lease{}, s.corrupt(it, r.err)
	}
	return l, nil
}

func (s *dynamoStore) decodeCheckpoint(it item) (Checkpoint, error) {
	r := itemReader{it: it}
	cp := Checkpoint{
		Stream:   r.s(attrStream, true),
		ShardID:  r.s(attrShard, true),
		Seq:      r.s(attrSeq, false),
		SubSeq:   r.n(attrSubSeq),
		Finished: r.b(attrFinished),
		EndSeq:   r.s(attrEndSeq, false),
		Parents:  r.list(attrParents),
		Epoch:    r.n(attrEpoch),
		Owner:    r.s(attrOwner, false),
		Updated:  fromMillis(r.n(attrUpdated)),
	}
	if r.err == nil && r.s(attrKey, true) != shardKey(cp.Stream, cp.ShardID) {
		r.err = fmt.Errorf("its key does not name stream %q and shard %q", cp.Stream, cp.ShardID)
	}
	if r.err != nil {
		return Checkpoint{}, s.corrupt(it, r.err)
	}
	return cp, nil
}
