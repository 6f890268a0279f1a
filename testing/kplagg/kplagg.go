package kplagg

import (
	"context"
	"errors"
	"fmt"
	"strings"
)

// ErrLibrary marks an error that aws-kinesis-agg itself reported (through
// its callbacks or by throwing), such as "Invalid record checksum" for a
// corrupt aggregate, or a mis-encoding that Aggregate detected.
var ErrLibrary = errors.New("kplagg: aws-kinesis-agg reported an error")

// UserRecord is a record given to the aggregator: what a producer would
// put on its own. An empty ExplicitHashKey means none.
type UserRecord struct {
	PartitionKey    string
	ExplicitHashKey string
	Data            []byte
}

// KinesisRecord is an aggregated record as aws-kinesis-agg produces it,
// ready for PutRecord(s): the partition key the library chose (the first
// user record's), the explicit hash key it set (empty when it set none: it
// sets the first user record's, and only when that record has one), and
// the aggregate bytes (magic, protobuf, MD5).
type KinesisRecord struct {
	PartitionKey    string
	ExplicitHashKey string
	Data            []byte
}

// ReadRecord is a Kinesis record as a consumer reads it, to be
// de-aggregated. An empty ExplicitHashKey means none.
type ReadRecord struct {
	PartitionKey    string
	ExplicitHashKey string
	SequenceNumber  string
	Data            []byte
}

// DeaggregatedRecord is a user record as deaggregateSync reports it.
type DeaggregatedRecord struct {
	// PartitionKey and ExplicitHashKey come from the aggregate's key
	// tables, or from the Kinesis record when it was not an aggregate. See
	// the package documentation for how the library fills ExplicitHashKey
	// for a user record that has none.
	PartitionKey    string
	ExplicitHashKey string
	// SequenceNumber is the Kinesis record's.
	SequenceNumber string
	// SubSequenceNumber is the user record's index within the aggregate,
	// from 0; it is 0 when Aggregated is false.
	SubSequenceNumber int64
	// Aggregated reports whether the library gave a sub-sequence number,
	// which it does for user records taken out of an aggregate and not for
	// a record that it passed through as not aggregated.
	Aggregated bool
	Data       []byte
}

// DeaggregateResult is what the library returned for one ReadRecord.
type DeaggregateResult struct {
	// Records are the user records, in order; with an error, those that
	// the library returned with it (none for a bad checksum).
	Records []DeaggregatedRecord
	// Err is the library's error (wrapping ErrLibrary), or nil.
	Err error
}

// wireUser is a user record in the node script's request.
type wireUser struct {
	PartitionKey    string `json:"partitionKey"`
	ExplicitHashKey string `json:"explicitHashKey,omitempty"`
	Data            []byte `json:"data"`
}

// wireEncoded is an aggregated record in the node script's answer.
type wireEncoded struct {
	PartitionKey    string `json:"partitionKey"`
	ExplicitHashKey string `json:"explicitHashKey"`
	Data            []byte `json:"data"`
}

// wireRead is a record to de-aggregate in the node script's request.
type wireRead struct {
	PartitionKey    string `json:"partitionKey"`
	ExplicitHashKey string `json:"explicitHashKey,omitempty"`
	SequenceNumber  string `json:"sequenceNumber"`
	Data            []byte `json:"data"`
}

// wireDeagg is a user record as deaggregateSync returns it.
type wireDeagg struct {
	PartitionKey         string `json:"partitionKey"`
	ExplicitPartitionKey string `json:"explicitPartitionKey"`
	SequenceNumber       string `json:"sequenceNumber"`
	SubSequenceNumber    *int64 `json:"subSequenceNumber"`
	Data                 []byte `json:"data"`
}

// Aggregate runs aws-kinesis-agg's RecordAggregator.aggregateRecords over
// records, in order, with its default size limit and a final flush, and
// returns the encoded aggregated records in order. It fails, wrapping
// ErrLibrary, if the library reports an error for any record (an empty
// partition key, a record too large for one aggregate) or throws, and
// also if an aggregate does not decode (with the library's protobuf type)
// to the user records that went into it, which happens with keys that the
// library's JavaScript key tables mishandle (see the package
// documentation). No records give no aggregates, without running node.
func Aggregate(ctx context.Context, records []UserRecord) ([]KinesisRecord, error) {
	return aggregate(ctx, records, true)
}

// aggregate is Aggregate, checking the encoding when verify is set.
func aggregate(ctx context.Context, records []UserRecord, verify bool) ([]KinesisRecord, error) {
	if len(records) == 0 {
		return nil, nil
	}
	req := struct {
		Op      string     `json:"op"`
		Verify  bool       `json:"verify"`
		Records []wireUser `json:"records"`
	}{Op: "aggregate", Verify: verify, Records: make([]wireUser, len(records))}
	for i, r := range records {
		req.Records[i] = wireUser(r)
	}
	var res struct {
		Errors  []string      `json:"errors"`
		Records []wireEncoded `json:"records"`
	}
	if err := run(ctx, req, &res); err != nil {
		return nil, err
	}
	if len(res.Errors) > 0 {
		return nil, fmt.Errorf("%w: aggregate: %s", ErrLibrary, strings.Join(res.Errors, "; "))
	}
	out := make([]KinesisRecord, len(res.Records))
	for i, r := range res.Records {
		out[i] = KinesisRecord(r)
	}
	return out, nil
}

// Deaggregate runs aws-kinesis-agg's deaggregateSync, with checksum
// verification, on rec and returns the user records it reports, in
// order. An error wrapping ErrLibrary is the library's own (a corrupt
// aggregate); the records it returned with that error come with it.
func Deaggregate(ctx context.Context, rec ReadRecord) ([]DeaggregatedRecord, error) {
	res, err := DeaggregateBatch(ctx, []ReadRecord{rec})
	if err != nil {
		return nil, err
	}
	return res[0].Records, res[0].Err
}

// DeaggregateAll is DeaggregateBatch with the user records of all recs
// concatenated, in order. It fails on the first record for which the
// library reports an error, naming its index.
func DeaggregateAll(ctx context.Context, recs []ReadRecord) ([]DeaggregatedRecord, error) {
	res, err := DeaggregateBatch(ctx, recs)
	if err != nil {
		return nil, err
	}
	var out []DeaggregatedRecord
	for i, r := range res {
		if r.Err != nil {
			return nil, fmt.Errorf("record %d (sequence number %q): %w", i, recs[i].SequenceNumber, r.Err)
		}
		out = append(out, r.Records...)
	}
	return out, nil
}

// DeaggregateBatch is Deaggregate for many records in one node run (each
// run takes about 0.17 s before any work): result i is for recs[i]. Its
// error is only for a failure to run the library at all; the library's
// errors are in the results.
func DeaggregateBatch(ctx context.Context, recs []ReadRecord) ([]DeaggregateResult, error) {
	if len(recs) == 0 {
		return nil, nil
	}
	req := struct {
		Op      string     `json:"op"`
		Records []wireRead `json:"records"`
	}{Op: "deaggregate", Records: make([]wireRead, len(recs))}
	for i, r := range recs {
		req.Records[i] = wireRead(r)
	}
	var res struct {
		Results []struct {
			Error   string      `json:"error"`
			Records []wireDeagg `json:"records"`
		} `json:"results"`
	}
	if err := run(ctx, req, &res); err != nil {
		return nil, err
	}
	if len(res.Results) != len(recs) {
		return nil, fmt.Errorf("kplagg: node answered for %d records of %d", len(res.Results), len(recs))
	}
	out := make([]DeaggregateResult, len(recs))
	for i, r := range res.Results {
		if r.Error != "" {
			out[i].Err = fmt.Errorf("%w: deaggregateSync: %s", ErrLibrary, r.Error)
		}
		for _, u := range r.Records {
			d := DeaggregatedRecord{
				PartitionKey:    u.PartitionKey,
				ExplicitHashKey: u.ExplicitPartitionKey,
				SequenceNumber:  u.SequenceNumber,
				Data:            u.Data,
			}
			if u.SubSequenceNumber != nil {
				d.SubSequenceNumber, d.Aggregated = *u.SubSequenceNumber, true
			}
			out[i].Records = append(out[i].Records, d)
		}
	}
	return out, nil
}
