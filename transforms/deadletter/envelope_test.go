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
	"github.com/kinesisio/beam-kinesis/testing/beamtest"
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
	want := `{"v":2,"stage":"decode","error":"json: unexpected end of JSON input — «é»","errorCode":"Invalid","attempts":2,` +
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
	wantEmpty := `{"v":2,"stage":"","error":"","attempts":0,"source":{"stream":"","shardId":"","sequenceNumber":"","subSequenceNumber":0,"partitionKey":""},"data":""}`
	if string(empty) != wantEmpty {
		t.Errorf("envelope of the zero letter\n%s\nwant\n%s", empty, wantEmpty)
	}
	invalid, err := deadletter.Marshal(deadletter.Letter{Error: "bad key \"k\xff\"", Record: kinesisio.Record{PartitionKey: "k\xff"}})
	if err != nil {
		t.Fatal(err)
	}
	wantInvalid := `{"v":2,"stage":"","error":"bad key \"k\ufffd\"","attempts":0,"source":{"stream":"","shardId":"","sequenceNumber":"","subSequenceNumber":0,"partitionKey":"k\ufffd"},"data":"",` +
		`"raw":{"error":"YmFkIGtleSAia/8i","source.partitionKey":"a/8="}}`
	if string(invalid) != wantInvalid {
		t.Errorf("envelope of text that is not valid UTF-8\n%s\nwant\n%s", invalid, wantInvalid)
	}
}

// TestUnmarshalReadsVersion1: an envelope of version 1 (before "raw")
// still reads; a "raw" field in it is an unknown field, ignored.
func TestUnmarshalReadsVersion1(t *testing.T) {
	v1 := `{"v":1,"stage":"decode","error":"json: unexpected end of JSON input — «é»","errorCode":"Invalid","attempts":2,` +
		`"failedAt":"2026-03-01T12:00:00.123456789Z","source":{"stream":"orders","shardId":"shardId-000000000001",` +
		`"sequenceNumber":"49590338271490256608559692538361571095921575989136588898","subSequenceNumber":3,"partitionKey":"order-17",` +
		`"explicitHashKey":"170141183460469231731687303715884105728","arrival":"2026-03-01T11:59:59.5Z"},"data":"eyJpZCI6PCY+AP8=",` +
		`"raw":{"stage":"/w=="}}`
	got, err := deadletter.Unmarshal([]byte(v1))
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(fullLetter(), got); diff != "" {
		t.Errorf("version 1 envelope read (-want +got):\n%s", diff)
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
		// Text that is not valid UTF-8 comes back byte for byte: a
		// partition key Write refused as InvalidPartitionKey, an error
		// quoting it, and every other text field.
		"invalid UTF-8": {
			Record: kinesisio.Record{
				Stream: "s\xff", ShardID: "shard\xc3", SequenceNumber: "1\x80", PartitionKey: "k\xffé\xed\xa0\x80",
				ExplicitHashKey: "\xfe", Data: []byte("\xff"),
			},
			Stage: "st\xc0\xaf", Error: "invalid partition key \"k\xff\"", ErrorCode: "\xf4\x90\x80\x80",
		},
		"U+FFFD itself": {Error: "\ufffd", Record: kinesisio.Record{PartitionKey: "\ufffd\xff"}},
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
		`{"v":3}`,
		`{"v":0}`,
		`{"v":2,"raw":{"data":"AA=="}}`,
		`{"v":2,"raw":{"source":"AA=="}}`,
		`{"v":2,"raw":{"error":"not base64!"}}`,
		`{"v":2,"raw":["error"]}`,
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
	f.Add([]byte(`{"v":2,"error":"x","raw":{"error":"/w==","source.partitionKey":"a/8="}}`))
	f.Add([]byte(`{"v":1,"raw":{"error":"/w=="}}`))
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

// FuzzEnvelopeRoundTrip: Unmarshal(Marshal(l)) == l for any letter whose
// times RFC 3339 can write, whatever bytes its text fields hold, and the
// envelope is one line of valid JSON.
func FuzzEnvelopeRoundTrip(f *testing.F) {
	f.Add("decode", "k\xff", "json: \xed\xa0\x80", "Invalid", "orders", "shardId-0", "1", "", []byte("\xff"), int64(3), 1, int64(1772366400), int64(5))
	f.Add("", "", "", "", "", "", "", "", []byte(nil), int64(0), 0, int64(0), int64(0))
	f.Add("\ufffd", "\u2028\x00", "<&>", "\xc0\xaf", "s\x80", "\xf4\x90\x80\x80", "\ud7ff", "170\xfe", []byte("{}"), int64(-1), -2, int64(-62135596800), int64(999999999))
	f.Fuzz(func(t *testing.T, stage, pk, errText, code, stream, shard, seq, ehk string, data []byte, sub int64, attempts int, secs, nanos int64) {
		l := deadletter.Letter{
			Record: kinesisio.Record{
				Stream: stream, ShardID: shard, SequenceNumber: seq, SubSequenceNumber: sub,
				PartitionKey: pk, ExplicitHashKey: ehk, Data: data,
				ApproximateArrivalTimestamp: fuzzTime(secs, nanos),
			},
			Stage: stage, Error: errText, ErrorCode: code, Attempts: attempts,
			FailedAt: fuzzTime(nanos, secs),
		}
		if len(l.Record.Data) == 0 {
			l.Record.Data = nil // empty data reads back as nil
		}
		b, err := deadletter.Marshal(l)
		if err != nil {
			t.Fatalf("Marshal: %v", err)
		}
		if !json.Valid(b) || strings.Contains(string(b), "\n") {
			t.Fatalf("envelope %q is not one line of valid JSON", b)
		}
		got, err := deadletter.Unmarshal(b)
		if err != nil {
			t.Fatalf("Unmarshal(%s): %v", b, err)
		}
		if diff := cmp.Diff(l, got); diff != "" {
			t.Fatalf("round trip of %s differs (-want +got):\n%s", b, diff)
		}
	})
}

// fuzzTime is a UTC time within the years 1 to 9999 made of two numbers,
// or the zero time.
func fuzzTime(secs, nanos int64) time.Time {
	const first, span = -62135596800, 315537897600 // 0001-01-01 .. 9999-12-31, in Unix seconds
	if secs == 0 {
		return time.Time{}
	}
	s := secs % span
	if s < 0 {
		s += span
	}
	n := nanos % 1_000_000_000
	if n < 0 {
		n += 1_000_000_000
	}
	return time.Unix(first+s, n).UTC()
}

// TestLetterCrossesTheCoder: letters shuffled between stages on Prism
// (encoded with the registered coder) arrive exactly as sent.
func TestLetterCrossesTheCoder(t *testing.T) {
	want := letters(20)
	want[0] = fullLetter()
	sortLetters(want)
	p, s := beam.NewPipelineWithRoot()
	got := collectLetters(s, beam.Reshuffle(s, generate(s, want)))
	beamtest.Run(t, p)
	if diff := cmp.Diff(want, got()); diff != "" {
		t.Errorf("letters after a reshuffle differ (-want +got):\n%s", diff)
	}
}
