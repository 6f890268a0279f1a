package deadletter

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"time"
	"unicode/utf8"

	"github.com/kinesisio/beam-kinesis/kinesisio"
)

// EnvelopeVersion is the version ("v") of the envelopes Marshal writes.
// Unmarshal reads it and version 1, which has no "raw" field.
const EnvelopeVersion = 2

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
	// Raw holds, by field name, the exact bytes (base64) of the text
	// fields that are not valid UTF-8 (version 2).
	Raw map[string][]byte `json:"raw,omitempty"`
}

// texts returns the text fields of e by their names in "raw": every
// string of the envelope but the times and the version.
func (e *envelope) texts() map[string]*string {
	return map[string]*string{
		"stage":                  &e.Stage,
		"error":                  &e.Error,
		"errorCode":              &e.ErrorCode,
		"source.stream":          &e.Source.Stream,
		"source.shardId":         &e.Source.ShardID,
		"source.sequenceNumber":  &e.Source.SequenceNumber,
		"source.partitionKey":    &e.Source.PartitionKey,
		"source.explicitHashKey": &e.Source.ExplicitHashKey,
	}
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
	for name, p := range e.texts() {
		// encoding/json writes each invalid byte as U+FFFD: the text
		// stays readable, and "raw" keeps it exact.
		if !utf8.ValidString(*p) {
			if e.Raw == nil {
				e.Raw = map[string][]byte{}
			}
			e.Raw[name] = []byte(*p)
		}
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

// Unmarshal parses an envelope that Marshal wrote, of version 2 or 1. It
// fails, with an error wrapping ErrNotEnvelope, for anything else: not
// one JSON object, no "v" or another version, a bad time or base64, a
// "raw" field naming no text field. Other fields it does not know are
// ignored, so that later writers of a version may add some. Times are in
// UTC; empty data is nil; a text field named in "raw" (version 2) is
// the bytes there. Unmarshal is registered with Beam, so
// decode.With(s, records, deadletter.Unmarshal) reads a dead-letter
// stream back.
func Unmarshal(b []byte) (Letter, error) {
	var e envelope
	if err := json.Unmarshal(b, &e); err != nil {
		return Letter{}, fmt.Errorf("%w: %v", ErrNotEnvelope, err)
	}
	if e.V == nil {
		return Letter{}, fmt.Errorf("%w: no version (\"v\")", ErrNotEnvelope)
	}
	switch *e.V {
	case 1:
		// Version 1 had no "raw": a field of that name is unknown.
	case EnvelopeVersion:
		texts := e.texts()
		for name, b := range e.Raw {
			p, ok := texts[name]
			if !ok {
				return Letter{}, fmt.Errorf("%w: \"raw\" names %q, which is not a text field", ErrNotEnvelope, name)
			}
			*p = string(b)
		}
	default:
		return Letter{}, fmt.Errorf("%w: version %d, this reader knows 1 and %d", ErrNotEnvelope, *e.V, EnvelopeVersion)
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
