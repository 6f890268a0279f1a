package faultinject

import (
	"slices"
	"testing"
	"time"
)

// take takes n calls of op on shards and returns the kinds answered ("" for none).
func take(in *Injector[string], op string, shards []string, n int) []string {
	var got []string
	for range n {
		r, ok := in.Take(op, shards, nil)
		if !ok {
			r.Kind = ""
		}
		got = append(got, r.Kind)
	}
	return got
}

func TestOrderTimesAndPending(t *testing.T) {
	var in Injector[string]
	in.Add(Rule[string]{Op: "Get", Kind: "a", Times: 2})
	in.Add(Rule[string]{Op: "Get", Kind: "b", Times: 1})
	in.Add(Rule[string]{Op: "Put", Kind: "p", Times: 1})
	if n := in.Pending("Get"); n != 3 {
		t.Errorf("Pending(Get) = %d, want 3", n)
	}
	if got, want := take(&in, "Get", nil, 4), []string{"a", "a", "b", ""}; !slices.Equal(got, want) {
		t.Errorf("Get answered %q, want %q", got, want)
	}
	if n := in.Pending("Get"); n != 0 {
		t.Errorf("Pending(Get) = %d after its faults fired, want 0", n)
	}
	if n := in.Pending("Put"); n != 1 {
		t.Errorf("Pending(Put) = %d, want 1", n)
	}
	in.Clear()
	if got := take(&in, "Put", nil, 1); got[0] != "" {
		t.Errorf("Put answered %q after Clear", got[0])
	}
}

func TestShardEveryAndFor(t *testing.T) {
	var in Injector[string]
	in.Add(Rule[string]{Shard: "s1", Kind: "shard", Times: 1})
	in.Add(Rule[string]{Op: "Get", Kind: "every", Every: 2, Times: 2})
	if got, want := take(&in, "Get", nil, 5), []string{"", "every", "", "every", ""}; !slices.Equal(got, want) {
		t.Errorf("Get without shards answered %q, want %q", got, want)
	}
	if got := take(&in, "Put", []string{"s0", "s1"}, 2); !slices.Equal(got, []string{"shard", ""}) {
		t.Errorf("Put on s1 answered %q", got)
	}
	in.Add(Rule[string]{Kind: "gone", For: time.Millisecond})
	in.Add(Rule[string]{Kind: "for", For: time.Hour})
	time.Sleep(10 * time.Millisecond)
	if got := take(&in, "Any", nil, 2); !slices.Equal(got, []string{"for", "for"}) {
		t.Errorf("with one rule past its For and one within: %q", got)
	}
	in.Clear()
	if _, ok := in.Take("Get", nil, func(k string) bool { return k != "x" }); ok {
		t.Error("a call matched no rule yet was answered")
	}
}
