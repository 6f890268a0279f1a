package kpl

import (
	"bytes"
	"crypto/md5"
	"errors"
	"fmt"
	"strings"
	"testing"

	"github.com/google/go-cmp/cmp"
	"google.golang.org/protobuf/encoding/protowire"
)

func sample() []Record {
	var rs []Record
	for i := range 50 {
		r := Record{PartitionKey: fmt.Sprintf("key-%d", i%7), Data: []byte(fmt.Sprintf("record %d", i))}
		if i%5 == 0 {
			r.ExplicitHashKey = fmt.Sprintf("%d", 1000+i%3)
		}
		rs = append(rs, r)
	}
	rs = append(rs, Record{PartitionKey: "empty", Data: []byte{}}, Record{PartitionKey: "big", Data: bytes.Repeat([]byte{0, 0xff}, 70000)})
	return rs
}

func TestRoundTrip(t *testing.T) {
	want := sample()
	var a Aggregator
	for i, r := range want {
		predicted := a.SizeWith(r)
		a.Add(r)
		if a.Size() != predicted {
			t.Fatalf("record %d: Size %d after Add, SizeWith said %d", i, a.Size(), predicted)
		}
	}
	data := a.Bytes()
	if len(data) != a.Size() {
		t.Fatalf("Bytes has %d bytes, Size says %d", len(data), a.Size())
	}
	if !IsAggregate(data) {
		t.Fatal("IsAggregate(aggregate) = false")
	}
	got, err := Decode(data)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("round trip (-want +got):\n%s", diff)
	}
	if !bytes.Equal(Encode(want), data) {
		t.Fatal("Encode differs from Aggregator.Bytes")
	}
	a.Reset()
	a.Add(want[3])
	if got, err := Decode(a.Bytes()); err != nil || len(got) != 1 || !cmp.Equal(got[0], want[3]) {
		t.Fatalf("after Reset: %v, %v", got, err)
	}
}

// handBuilt encodes an aggregate field by field, the way the published
// schema has it, with a tag on one record and an unknown field.
func handBuilt() []byte {
	var body []byte
	body = protowire.AppendTag(body, 1, protowire.BytesType)
	body = protowire.AppendString(body, "pk0")
	body = protowire.AppendTag(body, 1, protowire.BytesType)
	body = protowire.AppendString(body, "pk1")
	body = protowire.AppendTag(body, 2, protowire.BytesType)
	body = protowire.AppendString(body, "42")
	rec := func(pk uint64, ehk int, data string, tag bool) []byte {
		var m []byte
		m = protowire.AppendTag(m, 1, protowire.VarintType)
		m = protowire.AppendVarint(m, pk)
		if ehk >= 0 {
			m = protowire.AppendTag(m, 2, protowire.VarintType)
			m = protowire.AppendVarint(m, uint64(ehk))
		}
		m = protowire.AppendTag(m, 3, protowire.BytesType)
		m = protowire.AppendString(m, data)
		if tag {
			var t []byte
			t = protowire.AppendTag(t, 1, protowire.BytesType)
			t = protowire.AppendString(t, "k")
			m = protowire.AppendTag(m, 4, protowire.BytesType)
			m = protowire.AppendBytes(m, t)
		}
		return m
	}
	for _, m := range [][]byte{rec(1, -1, "a", false), rec(0, 0, "b", true), rec(1, -1, "", false)} {
		body = protowire.AppendTag(body, 3, protowire.BytesType)
		body = protowire.AppendBytes(body, m)
	}
	body = protowire.AppendTag(body, 9, protowire.VarintType) // unknown
	body = protowire.AppendVarint(body, 7)
	sum := md5.Sum(body)
	return append(append(append([]byte{}, Magic...), body...), sum[:]...)
}

func TestDecodeHandBuilt(t *testing.T) {
	got, err := Decode(handBuilt())
	if err != nil {
		t.Fatal(err)
	}
	want := []Record{
		{PartitionKey: "pk1", Data: []byte("a")},
		{PartitionKey: "pk0", ExplicitHashKey: "42", Data: []byte("b")},
		{PartitionKey: "pk1", Data: []byte{}},
	}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
}

func TestDecodeRefuses(t *testing.T) {
	good := handBuilt()
	withSum := func(body []byte) []byte {
		sum := md5.Sum(body)
		return append(append(append([]byte{}, Magic...), body...), sum[:]...)
	}
	badSum := append([]byte{}, good...)
	badSum[len(badSum)-1] ^= 1
	badBody := append([]byte{}, good...)
	badBody[6] ^= 0x40
	pkOut := protowire.AppendTag(nil, 3, protowire.BytesType)
	pkOut = protowire.AppendBytes(pkOut, protowire.AppendVarint(protowire.AppendTag(nil, 1, protowire.VarintType), 0))
	noPK := protowire.AppendTag(nil, 3, protowire.BytesType)
	noPK = protowire.AppendBytes(noPK, protowire.AppendString(protowire.AppendTag(nil, 3, protowire.BytesType), "x"))
	truncated := protowire.AppendTag(nil, 1, protowire.BytesType)
	truncated = append(truncated, 10, 'a')
	wrongType := protowire.AppendVarint(protowire.AppendTag(nil, 3, protowire.VarintType), 1)
	for _, tc := range []struct {
		name string
		data []byte
		want error
	}{
		{"plain", []byte("hello, world, this is not an aggregate"), ErrNotAggregate},
		{"short", Magic, ErrNotAggregate},
		{"empty", nil, ErrNotAggregate},
		{"bad md5", badSum, ErrChecksum},
		{"body changed", badBody, ErrChecksum},
		{"partition key index out of table", withSum(pkOut), ErrMalformed},
		{"no partition key index", withSum(noPK), ErrMalformed},
		{"truncated", withSum(truncated), ErrMalformed},
		{"records as varint", withSum(wrongType), ErrMalformed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Decode(tc.data)
			if !errors.Is(err, tc.want) {
				t.Fatalf("Decode = %v, %v; want an error wrapping %v", got, err, tc.want)
			}
		})
	}
	if got, err := Decode(withSum(nil)); err != nil || len(got) != 0 {
		t.Fatalf("empty aggregate: %v, %v; want no records", got, err)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(handBuilt())
	f.Add(Encode(sample()[:5]))
	f.Add([]byte("plain"))
	f.Add(append(append([]byte{}, Magic...), strings.Repeat("\x00", 16)...))
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, err := Decode(data)
		if err != nil {
			return
		}
		// What decodes re-encodes to an aggregate that decodes the same
		// (tags and unknown fields aside).
		again, err := Decode(Encode(recs))
		if err != nil {
			t.Fatalf("re-encoded aggregate does not decode: %v", err)
		}
		if !cmp.Equal(normalize(recs), normalize(again)) {
			t.Fatalf("re-encoded aggregate decodes differently")
		}
	})
}

func normalize(rs []Record) []Record {
	out := make([]Record, len(rs))
	for i, r := range rs {
		out[i] = Record{r.PartitionKey, r.ExplicitHashKey, append([]byte{}, r.Data...)}
	}
	return out
}
