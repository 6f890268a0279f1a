package ratelimit

import (
	"errors"
	"math/big"
	"testing"
	"time"
)

func TestPartitionKeyHash(t *testing.T) {
	// md5("") = d41d8cd98f00b204e9800998ecf8427e
	h := PartitionKeyHash("")
	want, _ := new(big.Int).SetString("d41d8cd98f00b204e9800998ecf8427e", 16)
	if h.String() != want.String() {
		t.Errorf("PartitionKeyHash(\"\") = %s, want %s", h, want)
	}
}

func TestParseHashKey(t *testing.T) {
	for _, ok := range []string{"0", "1", "340282366920938463463374607431768211455", "170141183460469231731687303715884105728"} {
		h, err := ParseHashKey(ok)
		if err != nil || h.String() != ok {
			t.Errorf("ParseHashKey(%q) = %s, %v", ok, h, err)
		}
	}
	for _, bad := range []string{"", "-1", "01", "1.5", "abc", " 1", "340282366920938463463374607431768211456", "1000000000000000000000000000000000000000"} {
		if _, err := ParseHashKey(bad); !errors.Is(err, ErrBadHashKey) {
			t.Errorf("ParseHashKey(%q) error = %v, want ErrBadHashKey", bad, err)
		}
	}
}

func mustKey(t *testing.T, s string) HashKey {
	t.Helper()
	h, err := ParseHashKey(s)
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

func TestLimiterPacesPerShard(t *testing.T) {
	l := NewLimiter(1000, 1<<20)
	now := time.Unix(1000, 0)
	// The burst (one second of quota) passes at once.
	if d := l.Reserve(now, map[string]Demand{"a": {Records: 1000, Bytes: 100}}); d != 0 {
		t.Errorf("first second's quota waits %v", d)
	}
	// The next 500 records of the same shard wait half a second ...
	if d := l.Reserve(now, map[string]Demand{"a": {Records: 500, Bytes: 100}}); d < 490*time.Millisecond || d > 510*time.Millisecond {
		t.Errorf("500 records over the quota wait %v, want 500ms", d)
	}
	// ... but another shard's do not.
	if d := l.Reserve(now, map[string]Demand{"b": {Records: 500, Bytes: 100}}); d != 0 {
		t.Errorf("another shard waits %v", d)
	}
	// Bytes are limited too: 3 MiB on a fresh shard wait 2 s.
	if d := l.Reserve(now, map[string]Demand{"c": {Records: 3, Bytes: 3 << 20}}); d < 1990*time.Millisecond || d > 2010*time.Millisecond {
		t.Errorf("3 MiB wait %v, want 2s", d)
	}
	// The wait of a send is the longest of its shards.
	if d := l.Reserve(now, map[string]Demand{"b": {Records: 1}, "c": {Bytes: 1}}); d < 2*time.Second {
		t.Errorf("a send touching a shard in debt waits %v", d)
	}
	// Time refills the buckets, up to the burst.
	later := now.Add(10 * time.Second)
	if d := l.Reserve(later, map[string]Demand{"a": {Records: 1000}}); d != 0 {
		t.Errorf("after 10 s a full second's quota waits %v", d)
	}
	if d := l.Reserve(later, map[string]Demand{"a": {Records: 1}}); d == 0 {
		t.Error("the bucket refilled beyond its burst")
	}
	l.Forget(func(id string) bool { return id == "a" })
	if n := len(l.buckets); n != 1 {
		t.Errorf("after Forget %d buckets remain, want 1", n)
	}
}
