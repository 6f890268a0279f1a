package deadletter

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/kinesisio/beam-kinesis/kinesisio"
)

// EnvelopeVersion is the version ("v") of the envelopes Marshal writes and
// the only one Unmarshal reads.
const EnvelopeVersion = 1

// ErrNotEnvelope is wrapped by the errors of Unmarshal.
var ErrNotEnvelope = errors.New("deadletter: not a dead-letter envelope")

// envelope is the JSON form of a Letter; see the package doc.
type envelope struct {
	V         *int           `json:"v"`
	Stage     string         `json:"stage"`
	Error     string         `json:"error"`
	ErrorCode string         `json:"errorCode,omitempty"`
	Attempts  int            `json:"attempts"`
	FailedAt  string         `json:"failedAt,omitempty"`
	Source    envelopeSource `json:"source"`
	Data      []byte         `json:"data"`
}

type envelopeSource struct {
	Stream            string `json:"stream"`
	ShardID           string `json:"shardId"`
	SequenceNumber    string `json:"sequenceNumber"`
	SubSequenceNumber int64  `json:"subSequenceNumber"`
	PartitionKey      string `json:"partitionKey"`
	ExplicitHashKey   string `json:"explicitHashKey,omitempty"`
	Arrival           string `json:"arrival,omitempty"`
}

// Marshal returns the envelope of l: one line of JSON (no newline), as
// described in the package doc. It fails only for a time outside the
// years 0 to 9999, which RFC 3339 cannot write.
func Marshal(l Letter) ([]byte, error) {
	failedAt, err := formatTime("FailedAt", l.FailedAt)
	if err != nil {
		return nil, err
	}
	arrival, err := formatTime("Record.ApproximateArrivalTimestamp", l.Record.ApproximateArrivalTimestamp)
	if err != nil {
		return nil, err
	}
	v := EnvelopeVersion
	r := l.Record
	e := envelope{
		V:         &v,
		Stage:     l.Stage,
		Error:     l.Error,
		ErrorCode: l.ErrorCode,
		Attempts:  l.Attempts,
		FailedAt:  failedAt,
		Source: envelopeSource{
			Stream:            r.Stream,
			ShardID:           r.ShardID,
			SequenceNumber:    r.SequenceNumber,
			SubSequenceNumber: r.SubSequenceNumber,
			PartitionKey:      r.PartitionKey,
			ExplicitHashKey:   r.ExplicitHashKey,
			Arrival:           arrival,
		},
		Data: r.Data,
	}
	if e.Data == nil {
		e.Data = []byte{} // "data": "" rather than null
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(e); err != nil {
		return nil, fmt.Errorf("deadletter: marshal: %w", err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

func formatTime(what string, t time.Time) (string, error) {
	if t.IsZero() {
		return "", nil
	}
	t = t.UTC()
	if y := t.Year(); y < 0 || y > 9999 {
		return "", fmt.Errorf("deadletter: marshal: %s %v is outside the years 0-9999 of RFC 3339", what, t)
	}
	return t.Format(time.RFC3339Nano), nil
}

// Unmarshal parses an envelope that Marshal wrote. It fails, with an
// error wrapping ErrNotEnvelope, for anything else: not one JSON object,
// no "v" or another version, a bad time or base64. Fields it does not
// know are ignored, so that later writers of version 1 may add some.
// Times are in UTC; empty data is nil. Unmarshal is registered with Beam,
// so decode.With(s, records, deadletter.Unmarshal) reads a dead-letter
// stream back.
func Unmarshal(b []byte) (Letter, error) {
	var e envelope
	if err := json.Unmarshal(b, &e); err != nil {
		return Letter{}, fmt.Errorf("%w: %v", ErrNotEnvelope, err)
	}
	if e.V == nil {
		return Letter{}, fmt.Errorf("%w: no version (\"v\")", ErrNotEnvelope)
	}
	if *e.V != EnvelopeVersion {
		return Letter{}, fmt.Errorf("%w: version %d, this reader knows only %d", ErrNotEnvelope, *e.V, EnvelopeVersion)
	}
	failedAt, err := parseTime("failedAt", e.FailedAt)
	if err != nil {
		return Letter{}, err
	}
	arrival, err := parseTime("source.arrival", e.Source.Arrival)
	if err != nil {
		return Letter{}, err
	}
	l := Letter{
		Record: kinesisio.Record{
			Stream:                      e.Source.Stream,
			ShardID:                     e.Source.ShardID,
			SequenceNumber:              e.Source.SequenceNumber,
			SubSequenceNumber:           e.Source.SubSequenceNumber,
			PartitionKey:                e.Source.PartitionKey,
			ExplicitHashKey:             e.Source.ExplicitHashKey,
			ApproximateArrivalTimestamp: arrival,
		},
		Stage:     e.Stage,
		Error:     e.Error,
		ErrorCode: e.ErrorCode,
		Attempts:  e.Attempts,
		FailedAt:  failedAt,
	}
	if len(e.Data) > 0 {
		l.Record.Data = e.Data
	}
	return l, nil
}

func parseTime(what, s string) (time.Time, error) {
	if s == "" {
		return time.Time{}, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, fmt.Errorf("%w: %s: %v", ErrNotEnvelope, what, err)
	}
	t = t.UTC()
	if y := t.Year(); y < 0 || y > 9999 {
		return time.Time{}, fmt.Errorf("%w: %s %q is outside the years 0-9999 in UTC", ErrNotEnvelope, what, s)
	}
	if t.IsZero() {
		// The zero time is written as no time at all; "0001-01-01T00:00:00Z"
		// means the same.
		return time.Time{}, nil
	}
	return t, nil
}
