package fetcher

import (
	"time"

	"github.com/kinesisio/beam-kinesis/kinesisio/internal/hashkey"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/kpl"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/restriction"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/wire"
)

// Entry is one user record as the fetcher buffers it: a plain Kinesis
// record, or one user record of a KPL aggregate, which shares the
// aggregate's sequence number and arrival time.
type Entry struct {
	// Claim is the user record's position: sequence number, sub-sequence
	// number, and whether it is the last of its Kinesis record.
	Claim           restriction.Claim
	PartitionKey    string
	ExplicitHashKey string // from the aggregate; "" for plain records
	Arrival         time.Time
	Data            []byte
}

// Bytes is what the entry counts for the buffer bound and the metrics:
// data and partition key.
func (e Entry) Bytes() int64 { return int64(len(e.Data) + len(e.PartitionKey)) }

// shardRange is the shard's hash key range from Config, nil when unknown
// or unparsable (nothing is counted then).
func shardRange(cfg Config) *hashkey.Range {
	if cfg.HashKeyStart == "" || cfg.HashKeyEnd == "" {
		return nil
	}
	r, err := hashkey.ParseRange(cfg.ShardID, cfg.HashKeyStart, cfg.HashKeyEnd)
	if err != nil {
		return nil
	}
	return &r
}

// outsideShard reports whether a user record's effective hash key lies
// outside the shard's known range.
func (f *Fetcher) outsideShard(pk, ehk string) bool {
	if f.hashes == nil {
		return false
	}
	h, err := hashkey.Effective(pk, ehk)
	return err == nil && !f.hashes.Contains(h)
}

// expand turns the Kinesis records of one call into user records,
// de-aggregating KPL aggregates. A record with the aggregate magic whose
// MD5 or protobuf does not check passes through whole, as KCL does, and is
// counted. User records of an aggregate whose hash key lies outside the
// shard's range (a reshard between aggregation and writing) are delivered
// and counted: KCL drops the whole aggregate then. The user records before
// a start inside an aggregate (AtSequence with Sub > 0, whose iterator
// returns the whole aggregate) are left out; the service returns nothing
// before any other start. It returns the entries, their bytes, and the
// bytes of the Kinesis records as fetched.
func (f *Fetcher) expand(records []wire.Record, start restriction.Position) (out []Entry, bytes, fetched int64) {
	out = make([]Entry, 0, len(records))
	skipTo := int64(0) // user records of start.Seq below this are left out
	if start.Kind == restriction.AtSequence {
		skipTo = start.Sub
	}
	for _, r := range records {
		seq, arrival, pk := r.SequenceNumber, r.Arrival, r.PartitionKey
		fetched += int64(len(r.Data) + len(pk))
		first := int64(0)
		if skipTo > 0 && seq == start.Seq {
			first = skipTo
		}
		if kpl.IsAggregate(r.Data) {
			users, err := kpl.Decode(r.Data)
			if err == nil {
				f.stats.aggregates.Add(1)
				f.stats.userRecords.Add(int64(len(users)))
				for i, u := range users {
					if f.outsideShard(u.PartitionKey, u.ExplicitHashKey) {
						f.stats.outsideRange.Add(1)
					}
					if int64(i) < first {
						continue
					}
					c := restriction.Claim{Seq: seq, Sub: int64(i), Last: i == len(users)-1}
					e := Entry{Claim: c, PartitionKey: u.PartitionKey, ExplicitHashKey: u.ExplicitHashKey, Arrival: arrival, Data: u.Data}
					bytes += e.Bytes()
					out = append(out, e)
				}
				continue
			}
			f.stats.corrupt.Add(1)
		}
		if first > 0 {
			continue // a plain record is user record 0 alone
		}
		e := Entry{Claim: restriction.Claim{Seq: seq, Last: true}, PartitionKey: pk, Arrival: arrival, Data: r.Data}
		bytes += e.Bytes()
		out = append(out, e)
	}
	return out, bytes, fetched
}
