package deadletter_test

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/google/go-cmp/cmp"
	"github.com/kinesisio/beam-kinesis/kinesisio"
	"github.com/kinesisio/beam-kinesis/transforms/deadletter"
)

// fullLetter has every field set.
func fullLetter() deadletter.Letter {
	return deadletter.Letter{
		Record: kinesisio.Record{
			Stream:                      "orders",
			ShardID:                     "shardId-000000000001",
			SequenceNumber:              "49590338271490256608559692538361571095921575989136588898",
			SubSequenceNumber:           3,
			PartitionKey:                "order-17",
			ExplicitHashKey:             "170141183460469231731687303715884105728",
			ApproximateArrivalTimestamp: time.Date(2026, 3, 1, 11, 59, 59, 500_000_000, time.UTC),
			Data:                        []byte("{\"id\":<&>\x00\xff"),
		},
		Stage:     deadletter.StageDecode,
		Error:     "json: unexpected end of JSON input — «é»",
		ErrorCode: "Invalid",
		Attempts:  2,
		FailedAt:  time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC),
	}
}

// TestEnvelopeGolden: the envelope of a letter is exactly the documented
// JSON.
func TestEnvelopeGolden(t *testing.T) {
	b, err := deadletter.Marshal(fullLetter())
	if err != nil {
		t.Fatal(err)
	}
	want := `{"v":1,"stage":"decode","error":"json: unexpected end of JSON input — «é»","errorCode":"Invalid","attempts":2,` +
		`"failedAt":"2026-03-01T12:00:00.123456789Z","source":{"stream":"orders","shardId":"shardId-000000000001",` +
		`"sequenceNumber":"49590338271490256608559692538361571095921575989136588898","subSequenceNumber":3,"partitionKey":"order-17",` +
		`"explicitHashKey":"170141183460469231731687303715884105728","arrival":"2026-03-01T11:59:59.5Z"},"data":"eyJpZCI6PCY+AP8="}`
	if string(b) != want {
		t.Errorf("envelope\n%s\nwant\n%s", b, want)
	}
	empty, err := deadletter.Marshal(deadletter.Letter{})
	if err != nil {
		t.Fatal(err)
	}
	wantEmpty := `{"v":1,"stage":"","error":"","attempts":0,"source":{"stream":"","shardId":"","sequenceNumber":"","subSequenceNumber":0,"partitionKey":""},"data":""}`
	if string(empty) != wantEmpty {
		t.Errorf("envelope of the zero letter\n%s\nwant\n%s", empty, wantEmpty)
	}
}

// TestEnvelopeRoundTrip: Unmarshal(Marshal(l)) == l, for full, empty and
// odd letters; times come back in UTC.
func TestEnvelopeRoundTrip(t *testing.T) {
	full := fullLetter()
	noData := full
	noData.Record.Data = nil
	local := full
	local.FailedAt = time.Date(2026, 3, 1, 13, 0, 0, 1, time.FixedZone("CET", 3600))
	local.Record.ApproximateArrivalTimestamp = time.Time{}
	for name, l := range map[string]deadletter.Letter{
		"full":       full,
		"no data":    noData,
		"zero":       {},
		"local time": local,
		"negative":   {Attempts: -1, Record: kinesisio.Record{SubSequenceNumber: -5}},
	} {
		t.Run(name, func(t *testing.T) {
			b, err := deadletter.Marshal(l)
			if err != nil {
				t.Fatal(err)
			}
			if strings.Contains(string(b), "\n") {
				t.Errorf("envelope %s holds a newline", b)
			}
			got, err := deadletter.Unmarshal(b)
			if err != nil {
				t.Fatalf("Unmarshal(%s): %v", b, err)
			}
			if diff := cmp.Diff(l, got); diff != "" {
				t.Errorf("round trip differs (-want +got):\n%s", diff)
			}
			for _, tm := range []time.Time{got.FailedAt, got.Record.ApproximateArrivalTimestamp} {
				if !tm.IsZero() && tm.Location() != time.UTC {
					t.Errorf("time %v is not in UTC", tm)
				}
			}
		})
	}
}

func TestMarshalRefusesTimesRFC3339CannotWrite(t *testing.T) {
	l := deadletter.Letter{FailedAt: time.Date(10000, 1, 1, 0, 0, 0, 0, time.UTC)}
	if b, err := deadletter.Marshal(l); err == nil {
		t.Errorf("Marshal of a letter of year 10000 = %s, want an error", b)
	}
}

// TestUnmarshalRefuses: what is not a version-1 envelope is refused with
// ErrNotEnvelope; unknown fields are ignored.
func TestUnmarshalRefuses(t *testing.T) {
	for _, in := range []string{
		``,
		`null`,
		`[]`,
		`"v"`,
		`{}`,
		`{"stage":"decode"}`,
		`{"v":2}`,
		`{"v":1.5}`,
		`{"v":"1"}`,
		`{"v":1} {"v":1}`,
		`{"v":1,"data":"not base64!"}`,
		`{"v":1,"failedAt":"yesterday"}`,
		`{"v":1,"source":{"arrival":"2026-03-01"}}`,
		`{"v":1,"failedAt":"0000-01-01T00:00:00+01:00"}`,
		`{"v":1,"attempts":"two"}`,
	} {
		if l, err := deadletter.Unmarshal([]byte(in)); !errors.Is(err, deadletter.ErrNotEnvelope) {
			t.Errorf("Unmarshal(%s) = %+v, %v; want an error wrapping ErrNotEnvelope", in, l, err)
		}
	}
	l, err := deadletter.Unmarshal([]byte(`{"v":1,"stage":"write","later":{"x":1},"source":{"shardId":"s","extra":true}}`))
	if err != nil || l.Stage != "write" || l.Record.ShardID != "s" {
		t.Errorf("Unmarshal with unknown fields = %+v, %v; want stage write, shard s", l, err)
	}
}

// FuzzUnmarshal: Unmarshal never panics, and what it accepts survives
// Marshal and Unmarshal again unchanged.
func FuzzUnmarshal(f *testing.F) {
	b, err := deadletter.Marshal(fullLetter())
	if err != nil {
		f.Fatal(err)
	}
	f.Add(b)
	f.Add([]byte(`{"v":1}`))
	f.Add([]byte(`{"v":1,"failedAt":"2026-03-01T13:00:00+01:00","data":""}`))
	f.Add([]byte(`{"v":1,"error":"\ud800","source":{"partitionKey":"\u0000"}}`))
	f.Fuzz(func(t *testing.T, in []byte) {
		l, err := deadletter.Unmarshal(in)
		if err != nil {
			if !errors.Is(err, deadletter.ErrNotEnvelope) {
				t.Fatalf("error %v does not wrap ErrNotEnvelope", err)
			}
			return
		}
		out, err := deadletter.Marshal(l)
		if err != nil {
			t.Fatalf("Unmarshal accepted %q but Marshal refuses its letter: %v", in, err)
		}
		if !json.Valid(out) {
			t.Fatalf("Marshal wrote invalid JSON %q", out)
		}
		again, err := deadletter.Unmarshal(out)
		if err != nil {
			t.Fatalf("Unmarshal(Marshal(l)) of %q: %v", out, err)
		}
		if diff := cmp.Diff(l, again); diff != "" {
			t.Fatalf("round trip of %q differs (-first +second):\n%s", in, diff)
		}
	})
}

// TestLetterCrossesTheCoder: letters shuffled between stages on Prism
// (encoded with the registered coder) arrive exactly as sent.
func TestLetterCrossesTheCoder(t *testing.T) {
	want := letters(20)
	want[0] = fullLetter()
	sortLetters(want)
	p, s := beam.NewPipelineWithRoot()
	got := collectLetters(s, beam.Reshuffle(s, generate(s, want)))
	run(t, p)
	if diff := cmp.Diff(want, got()); diff != "" {
		t.Errorf("letters after a reshuffle differ (-want +got):\n%s", diff)
	}
}
