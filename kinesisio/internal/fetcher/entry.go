package fetcher

import (
	"bytes"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/kpl"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/ratelimit"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/restriction"
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

// hashRange is a shard's hash key range, parsed from Config.
type hashRange struct {
	start, end ratelimit.HashKey
	ok         bool
}

func parseHashRange(start, end string) hashRange {
	if start == "" || end == "" {
		return hashRange{}
	}
	s, err1 := ratelimit.ParseHashKey(start)
	e, err2 := ratelimit.ParseHashKey(end)
	return hashRange{start: s, end: e, ok: err1 == nil && err2 == nil}
}

// holds reports whether the user record's effective hash key (its explicit
// hash key, else the MD5 of its partition key) lies in the range. An
// unknown range or an unparsable key holds everything: nothing is counted.
func (h hashRange) holds(pk, ehk string) bool {
	if !h.ok {
		return true
	}
	k := ratelimit.PartitionKeyHash(pk)
	if ehk != "" {
		var err error
		if k, err = ratelimit.ParseHashKey(ehk); err != nil {
			return true
		}
	}
	return bytes.Compare(k[:], h.start[:]) >= 0 && bytes.Compare(k[:], h.end[:]) <= 0
}

// expand turns the Kinesis records of one call into user records,
// de-aggregating KPL aggregates. A record with the aggregate magic whose
// MD5 or protobuf does not check passes through whole, as KCL does, and is
// counted. User records of an aggregate whose hash key lies outside the
// shard's range (a reshard between aggregation and writing) are delivered
// and counted: KCL drops the whole aggregate then. Entries before start
// (inside an aggregate that a restriction resumes in) are left out.
func (f *Fetcher) expand(records []types.Record, start restriction.Position) ([]Entry, int64) {
	out := make([]Entry, 0, len(records))
	var n int64
	for _, r := range records {
		seq := aws.ToString(r.SequenceNumber)
		arrival := aws.ToTime(r.ApproximateArrivalTimestamp)
		pk := aws.ToString(r.PartitionKey)
		if kpl.IsAggregate(r.Data) {
			users, err := kpl.Decode(r.Data)
			if err == nil {
				f.stats.aggregates.Add(1)
				f.stats.userRecords.Add(int64(len(users)))
				for i, u := range users {
					c := restriction.Claim{Seq: seq, Sub: int64(i), Last: i == len(users)-1}
					if !f.hashes.holds(u.PartitionKey, u.ExplicitHashKey) {
						f.stats.outsideRange.Add(1)
					}
					if !start.Admits(c.Seq, c.Sub) {
						continue
					}
					e := Entry{Claim: c, PartitionKey: u.PartitionKey, ExplicitHashKey: u.ExplicitHashKey, Arrival: arrival, Data: u.Data}
					n += e.Bytes()
					out = append(out, e)
				}
				continue
			}
			f.stats.corrupt.Add(1)
		}
		c := restriction.Claim{Seq: seq, Last: true}
		if !start.Admits(c.Seq, c.Sub) {
			continue
		}
		e := Entry{Claim: c, PartitionKey: pk, Arrival: arrival, Data: r.Data}
		n += e.Bytes()
		out = append(out, e)
	}
	return out, n
}
