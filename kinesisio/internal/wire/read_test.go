package wire

import (
	"bytes"
	"io"
	"testing"
	"testing/iotest"
)

// chunked reads body at most 16 KiB at a time, as net/http hands out a
// body sent without a Content-Length (chunked: the in-process server's,
// and any server that streams its response).
func chunked(body []byte) io.Reader {
	return io.LimitReader(iotest.HalfReader(bytes.NewReader(body)), int64(len(body)))
}

// TestReadUnknownLengthGrowsInFewSteps: a body without a Content-Length
// is read into a buffer that grows in a few doubling steps, not in the
// many small ones of append's growth from nothing (each copying what was
// read so far: about five times a 10,000-record body in all, every time
// a fetcher starts or its buffer was let go of on a quiet shard).
func TestReadUnknownLengthGrowsInFewSteps(t *testing.T) {
	if raceEnabled {
		t.Skip("allocation counts differ under the race detector")
	}
	b := body(10000, 100) // about 3 MB
	base := testing.AllocsPerRun(5, func() { _, _ = NewDecoder(), chunked(b) })
	allocs := testing.AllocsPerRun(5, func() {
		d := NewDecoder()
		got, err := d.read(chunked(b), -1)
		if err != nil || !bytes.Equal(got, b) {
			t.Fatalf("read: %d bytes, %v; want the %d bytes of the body", len(got), err, len(b))
		}
	}) - base
	// 64 KiB doubled up to 4 MiB: about 7 steps (43 with append's growth).
	if allocs > 10 {
		t.Fatalf("%v allocations to read a %d-byte body of unknown length, want at most 10", allocs, len(b))
	}
}

// BenchmarkReadUnknownLength reads a 10,000-record body of unknown
// length into a fresh Decoder (a fetcher's first call):
//
//	go test -run '^$' -bench ReadUnknownLength -benchmem ./kinesisio/internal/wire/
func BenchmarkReadUnknownLength(bm *testing.B) {
	b := body(10000, 100)
	bm.SetBytes(int64(len(b)))
	bm.ReportAllocs()
	for bm.Loop() {
		d := NewDecoder()
		if _, err := d.read(chunked(b), -1); err != nil {
			bm.Fatal(err)
		}
	}
}

// TestDataRefusesWhatJSONForbids: Data strings are not scanned for
// control bytes and escapes before their base64 decode; the decode and
// its length check must still refuse every one of them (the SDK's
// deserializer then decides), and take plain base64 of every padding.
func TestDataRefusesWhatJSONForbids(t *testing.T) {
	rec := func(data string) []byte {
		return []byte(`{"NextShardIterator":"it","Records":[{"SequenceNumber":"1","PartitionKey":"k","Data":"` + data + `"}]}`)
	}
	d := NewDecoder()
	for _, bad := range []string{"eHh4\neHh4", "eHh4eHh4\r\n", "\neHh4", "eHh\n4", "eHh4\\neHh4", "eHh4\\u0041AAA", "eHh4\teHh4", "eHh4\x00eHh4", "eHh", "eA=\n="} {
		if _, ok := d.Decode(rec(bad)); ok {
			t.Errorf("Data %q decoded, want it refused", bad)
		}
	}
	for data, want := range map[string]string{"": "", "eA==": "x", "eHg=": "xx", "eHh4": "xxx", "eHh4eA==": "xxxx"} {
		res, ok := d.Decode(rec(data))
		if !ok || len(res.Records) != 1 || string(res.Records[0].Data) != want {
			t.Errorf("Data %q: ok %v, records %v; want %q", data, ok, res.Records, want)
		}
	}
}
