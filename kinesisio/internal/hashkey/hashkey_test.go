package hashkey

import (
	"errors"
	"math/big"
	"testing"
)

func TestOfPartitionKey(t *testing.T) {
	// md5("") = d41d8cd98f00b204e9800998ecf8427e
	h := OfPartitionKey("")
	want, _ := new(big.Int).SetString("d41d8cd98f00b204e9800998ecf8427e", 16)
	if h.String() != want.String() {
		t.Errorf("OfPartitionKey(\"\") = %s, want %s", h, want)
	}
}

func TestParse(t *testing.T) {
	for _, ok := range []string{"0", "1", "340282366920938463463374607431768211455", "170141183460469231731687303715884105728"} {
		h, err := Parse(ok)
		if err != nil || h.String() != ok {
			t.Errorf("Parse(%q) = %s, %v", ok, h, err)
		}
	}
	for _, bad := range []string{"", "-1", "01", "1.5", "abc", " 1", "340282366920938463463374607431768211456", "1000000000000000000000000000000000000000"} {
		if _, err := Parse(bad); !errors.Is(err, ErrBad) {
			t.Errorf("Parse(%q) error = %v, want ErrBad", bad, err)
		}
	}
}

func mustKey(t *testing.T, s string) Key {
	t.Helper()
	h, err := Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func TestShardMapLookup(t *testing.T) {
	// Two shards splitting the space in half, given out of order.
	half := "170141183460469231731687303715884105728"
	m := NewShardMap([]Range{
		{ShardID: "b", Start: mustKey(t, half), End: mustKey(t, "340282366920938463463374607431768211455")},
		{ShardID: "a", Start: mustKey(t, "0"), End: mustKey(t, "170141183460469231731687303715884105727")},
	})
	for key, want := range map[string]string{
		"0": "a", "170141183460469231731687303715884105727": "a",
		half: "b", "340282366920938463463374607431768211455": "b",
	} {
		if got, ok := m.Lookup(mustKey(t, key)); !ok || got != want {
			t.Errorf("Lookup(%s) = %q, %v; want %q", key, got, ok, want)
		}
	}
	// A gap (a shard missing from the map) is reported.
	gap := NewShardMap([]Range{{ShardID: "a", Start: mustKey(t, "0"), End: mustKey(t, "10")}})
	if _, ok := gap.Lookup(mustKey(t, "11")); ok {
		t.Error("Lookup beyond the last range succeeded")
	}
	if _, ok := NewShardMap(nil).Lookup(mustKey(t, "0")); ok {
		t.Error("Lookup in an empty map succeeded")
	}
	// Find gives the index in hash key order, whatever the given order.
	if i, ok := m.Find(mustKey(t, half)); !ok || i != 1 || m.At(i).ShardID != "b" {
		t.Errorf("Find(half) = %d, %v; want 1 (shard b)", i, ok)
	}
	// Equal compares ranges, not pointers or the order given.
	same := NewShardMap([]Range{m.At(0), m.At(1)})
	if !m.Equal(same) || m.Equal(gap) || m.Equal(nil) || !(*ShardMap)(nil).Equal(nil) {
		t.Error("Equal is wrong")
	}
}
