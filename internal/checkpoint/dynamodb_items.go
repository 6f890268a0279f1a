package checkpoint

import (
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// The DynamoDB store's items: per application (partition key app) one
// lease item (sort key "lease") and one checkpoint item per shard (sort
// key "shard#<stream>#<shard ID>"; "#" is in no stream name or shard ID).
// Empty strings are left out rather than stored.
const (
	attrApp        = "app"
	attrKey        = "key"
	leaseKey       = "lease"
	shardKeyPrefix = "shard#"

	attrOwner      = "owner"
	attrJob        = "job"
	attrEpoch      = "epoch"
	attrHeartbeat  = "heartbeat"  // Unix ms
	attrStaleAfter = "staleAfter" // ms
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

// itemKey is the primary key of app's item with sort key key.
func itemKey(app, key string) item {
	return item{attrApp: attrS(app), attrKey: attrS(key)}
}

func leaseItem(l Lease) item {
	it := itemKey(l.App, leaseKey)
	it[attrEpoch] = attrN(l.Epoch)
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
		Owner:      r.s(attrOwner, false),
		Job:        r.s(attrJob, false),
		Epoch:      r.n(attrEpoch),
		Heartbeat:  fromMillis(r.n(attrHeartbeat)),
		StaleAfter: time.Duration(r.n(attrStaleAfter)) * time.Millisecond,
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
