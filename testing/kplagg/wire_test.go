package kplagg

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

// The KPL aggregated record format, built here by hand to pin it
// independently of the library: magic, protobuf AggregatedRecord, MD5 of
// the protobuf.
var magic = []byte{0xf3, 0x89, 0x9a, 0xc2}

// wireRecord is one Record of an AggregatedRecord; ehk < 0 leaves out
// explicit_hash_key_index.
type wireRecord struct {
	pk, ehk int
	data    []byte
	tags    [][2]string
}

// encodeAggregate returns the protobuf AggregatedRecord of the tables and
// records.
func encodeAggregate(pks, ehks []string, recs []wireRecord) []byte {
	var b []byte
	for _, k := range pks {
		b = protowire.AppendTag(b, 1, protowire.BytesType)
		b = protowire.AppendString(b, k)
	}
	for _, k := range ehks {
		b = protowire.AppendTag(b, 2, protowire.BytesType)
		b = protowire.AppendString(b, k)
	}
	for _, r := range recs {
		var m []byte
		m = protowire.AppendTag(m, 1, protowire.VarintType)
		m = protowire.AppendVarint(m, uint64(r.pk))
		if r.ehk >= 0 {
			m = protowire.AppendTag(m, 2, protowire.VarintType)
			m = protowire.AppendVarint(m, uint64(r.ehk))
		}
		m = protowire.AppendTag(m, 3, protowire.BytesType)
		m = protowire.AppendBytes(m, r.data)
		for _, tag := range r.tags {
			var tm []byte
			tm = protowire.AppendTag(tm, 1, protowire.BytesType)
			tm = protowire.AppendString(tm, tag[0])
			tm = protowire.AppendTag(tm, 2, protowire.BytesType)
			tm = protowire.AppendString(tm, tag[1])
			m = protowire.AppendTag(m, 4, protowire.BytesType)
			m = protowire.AppendBytes(m, tm)
		}
		b = protowire.AppendTag(b, 3, protowire.BytesType)
		b = protowire.AppendBytes(b, m)
	}
	return b
}

// frame wraps a protobuf body in magic and its MD5.
func frame(body []byte) []byte {
	sum := md5.Sum(body)
	return append(append(append([]byte{}, magic...), body...), sum[:]...)
}

func TestDeaggregateHandBuilt(t *testing.T) {
	Require(t)
	bin := []byte{0, 1, 0xf3, 0x89, 0x9a, 0xc2, 0xff}
	noEHK := frame(encodeAggregate([]string{"alpha", "beta"}, nil, []wireRecord{
		{pk: 1, ehk: -1, data: []byte("one")},
		{pk: 0, ehk: -1, data: nil},
		{pk: 1, ehk: -1, data: bin, tags: [][2]string{{"t", "v"}}},
	}))
	withEHK := frame(encodeAggregate([]string{"alpha"}, []string{"4294967296", "8589934592"}, []wireRecord{
		{pk: 0, ehk: 1, data: []byte("a")},
		{pk: 0, ehk: -1, data: []byte("b")}, // the library reports table[0] for it
	}))
	user := func(pk, ehk string, sub int64, data []byte) DeaggregatedRecord {
		return DeaggregatedRecord{PartitionKey: pk, ExplicitHashKey: ehk, SequenceNumber: "42", SubSequenceNumber: sub, Aggregated: true, Data: data}
	}
	plain := func(data []byte) DeaggregatedRecord {
		return DeaggregatedRecord{PartitionKey: "outer", ExplicitHashKey: "12345678901", SequenceNumber: "42", Data: data}
	}
	for _, tc := range []struct {
		name string
		data []byte
		want []DeaggregatedRecord
		err  string // a substring of the library's error, if any
	}{
		{name: "no explicit hash keys", data: noEHK, want: []DeaggregatedRecord{
			user("beta", "", 0, []byte("one")), user("alpha", "", 1, nil), user("beta", "", 2, bin)}},
		{name: "explicit hash keys", data: withEHK, want: []DeaggregatedRecord{
			user("alpha", "8589934592", 0, []byte("a")), user("alpha", "4294967296", 1, []byte("b"))}},
		{name: "no user records", data: frame(nil), want: nil},
		{name: "bad MD5", data: corrupt(noEHK, len(noEHK)-1), err: "Invalid record checksum"},
		{name: "bad body", data: corrupt(noEHK, 10), err: "Invalid record checksum"},
		{name: "bad protobuf, good MD5", data: frame([]byte{0x1a, 0x05, 0x08}), err: "index out of range"},
		{name: "missing data field", data: frame([]byte{0x1a, 0x02, 0x08, 0x00}), err: "missing required 'data'"},
		{name: "magic only", data: magic, err: "Invalid record checksum"},
		{name: "not an aggregate", data: []byte("hello"), want: []DeaggregatedRecord{plain([]byte("hello"))}},
		{name: "magic prefix", data: magic[:3], want: []DeaggregatedRecord{plain(magic[:3])}},
		{name: "empty", data: nil, want: []DeaggregatedRecord{plain(nil)}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, err := Deaggregate(t.Context(), ReadRecord{PartitionKey: "outer", ExplicitHashKey: "12345678901", SequenceNumber: "42", Data: tc.data})
			if tc.err != "" {
				if !errors.Is(err, ErrLibrary) || !strings.Contains(err.Error(), tc.err) || len(got) != 0 {
					t.Fatalf("got %d records, %v; want none and ErrLibrary with %q", len(got), err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatalf("Deaggregate: %v", err)
			}
			if diff := cmp.Diff(tc.want, got, cmp.Comparer(bytes.Equal)); diff != "" {
				t.Errorf("-want +got:\n%s", diff)
			}
		})
	}
}

// corrupt returns a copy of b with byte i flipped.
func corrupt(b []byte, i int) []byte {
	c := append([]byte{}, b...)
	c[i] ^= 0x55
	return c
}

func TestDeaggregateBatch(t *testing.T) {
	Require(t)
	good := frame(encodeAggregate([]string{"p"}, nil, []wireRecord{{pk: 0, ehk: -1, data: []byte("x")}}))
	recs := []ReadRecord{
		{PartitionKey: "p", SequenceNumber: "1", Data: good},
		{PartitionKey: "p", SequenceNumber: "2", Data: corrupt(good, len(good)-1)},
		{PartitionKey: "p", SequenceNumber: "3", Data: []byte("plain")},
	}
	res, err := DeaggregateBatch(t.Context(), recs)
	if err != nil {
		t.Fatalf("DeaggregateBatch: %v", err)
	}
	if len(res) != 3 || res[0].Err != nil || len(res[0].Records) != 1 || !errors.Is(res[1].Err, ErrLibrary) || res[2].Err != nil || len(res[2].Records) != 1 {
		t.Fatalf("got %+v; want record 1 to fail alone", res)
	}
	_, err = DeaggregateAll(t.Context(), recs)
	if !errors.Is(err, ErrLibrary) || !strings.Contains(err.Error(), `record 1 (sequence number "2")`) {
		t.Fatalf("DeaggregateAll: got %v; want ErrLibrary naming record 1", err)
	}
	all, err := DeaggregateAll(t.Context(), []ReadRecord{recs[0], recs[2]})
	if err != nil || len(all) != 2 || all[0].SequenceNumber != "1" || all[1].SequenceNumber != "3" {
		t.Fatalf("DeaggregateAll: got %+v, %v; want the user records of records 0 and 2", all, err)
	}
}

// TestAggregateWireFormat decodes the library's aggregates here, to pin
// that they follow the published format: what Aggregate returns is what a
// Go reader gets.
func TestAggregateWireFormat(t *testing.T) {
	Require(t)
	in := testRecords(300)
	aggs, err := Aggregate(t.Context(), in)
	if err != nil {
		t.Fatalf("Aggregate: %v", err)
	}
	var got []UserRecord
	for i, a := range aggs {
		recs, err := decodeAggregate(a.Data)
		if err != nil {
			t.Fatalf("aggregate %d: %v", i, err)
		}
		got = append(got, recs...)
	}
	if diff := cmp.Diff(in, got, cmp.Comparer(bytes.Equal)); diff != "" {
		t.Errorf("-want +got:\n%s", diff)
	}
}

// decodeAggregate decodes a KPL aggregate by the published format.
func decodeAggregate(b []byte) ([]UserRecord, error) {
	if len(b) < 20 || !bytes.Equal(b[:4], magic) {
		return nil, errors.New("not an aggregate")
	}
	body, sum := b[4:len(b)-16], b[len(b)-16:]
	if want := md5.Sum(body); !bytes.Equal(sum, want[:]) {
		return nil, errors.New("bad MD5")
	}
	var pks, ehks []string
	var recs []UserRecord
	type idx struct{ pk, ehk int }
	var idxs []idx
	err := fields(body, func(num protowire.Number, v []byte) error {
		switch num {
		case 1:
			pks = append(pks, string(v))
		case 2:
			ehks = append(ehks, string(v))
		case 3:
			r, x := UserRecord{}, idx{ehk: -1}
			if err := fields(v, func(num protowire.Number, v []byte) error {
				switch num {
				case 1, 2:
					n, l := protowire.ConsumeVarint(v)
					if l < 0 {
						return protowire.ParseError(l)
					}
					if num == 1 {
						x.pk = int(n)
					} else {
						x.ehk = int(n)
					}
				case 3:
					r.Data = append([]byte{}, v...)
				}
				return nil
			}); err != nil {
				return err
			}
			recs, idxs = append(recs, r), append(idxs, x)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	for i, x := range idxs {
		if x.pk >= len(pks) || x.ehk >= len(ehks) {
			return nil, fmt.Errorf("record %d: key index out of range", i)
		}
		recs[i].PartitionKey = pks[x.pk]
		if x.ehk >= 0 {
			recs[i].ExplicitHashKey = ehks[x.ehk]
		}
	}
	return recs, nil
}

// fields calls f with each field of the protobuf message b: the bytes of
// a length-delimited field, the varint bytes of a varint field.
func fields(b []byte, f func(protowire.Number, []byte) error) error {
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		var v []byte
		switch typ {
		case protowire.BytesType:
			v, n = protowire.ConsumeBytes(b)
		case protowire.VarintType:
			_, n = protowire.ConsumeVarint(b)
			if n >= 0 {
				v = b[:n]
			}
		default:
			return fmt.Errorf("field %d: unexpected wire type %d", num, typ)
		}
		if n < 0 {
			return protowire.ParseError(n)
		}
		if err := f(num, v); err != nil {
			return err
		}
		b = b[n:]
	}
	return nil
}
