package ratelimit

import (
	"testing"
	"time"
)

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
