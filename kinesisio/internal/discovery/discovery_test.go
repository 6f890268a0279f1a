package discovery

import (
	"testing"

	"github.com/google/go-cmp/cmp"
)

func TestCoderRoundTrip(t *testing.T) {
	for _, r := range []Restriction{{}, {Round: 7, Highest: "shardId-000000000012", StartMillis: 1700000000000, LastListMillis: 1700000009000, Done: true, RunID: "0123456789abcdef"}} {
		got, err := Decode(Encode(r))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(r, got); diff != "" {
			t.Errorf("round trip (-want +got):\n%s", diff)
		}
	}
	if _, err := Decode([]byte{1, 2}); err == nil {
		t.Error("corrupt input accepted")
	}
}

// TestDecodesVersion1: restrictions checkpointed by the release before
// RunID existed still decode, with no run ID.
func TestDecodesVersion1(t *testing.T) {
	// Version 1 of {Round: 7, Highest: "shardId-000000000012",
	// StartMillis: 1700000000000, LastListMillis: 1700000009000, Done}.
	v1 := []byte{1, 14, 20}
	v1 = append(v1, "shardId-000000000012"...)
	v1 = append(v1, 0x80, 0xa0, 0xab, 0xfe, 0xf9, 0x62, 0xd0, 0xac, 0xac, 0xfe, 0xf9, 0x62, 1)
	got, err := Decode(v1)
	if err != nil {
		t.Fatal(err)
	}
	want := Restriction{Round: 7, Highest: "shardId-000000000012", StartMillis: 1700000000000, LastListMillis: 1700000009000, Done: true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("version 1 (-want +got):\n%s", diff)
	}
}

func FuzzDecode(f *testing.F) {
	f.Add(Encode(Restriction{Round: 3, Highest: "shardId-000000000001"}))
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Decode(b)
		if err != nil {
			return
		}
		again, err := Decode(Encode(r))
		if err != nil || !cmp.Equal(r, again) {
			t.Fatalf("unstable round trip: %v %v", r, err)
		}
	})
}

func TestTrackerRoundsAndCheckpoint(t *testing.T) {
	tr := NewTracker(Restriction{})
	if !tr.TryClaim(Claim{Round: 0, Highest: "shardId-000000000003", ListMillis: 100}) {
		t.Fatal(tr.GetError())
	}
	if tr.TryClaim(Claim{Round: 0}) || tr.GetError() == nil {
		t.Fatal("a repeated round was claimed")
	}
	tr = NewTracker(Restriction{Round: 1, Highest: "shardId-000000000003", StartMillis: 100, LastListMillis: 100})
	if !tr.TryClaim(Claim{Round: 1, Highest: "shardId-000000000002", ListMillis: 200}) {
		t.Fatal(tr.GetError())
	}
	p, r, _ := tr.TrySplit(0)
	want := Restriction{Round: 2, Highest: "shardId-000000000003", StartMillis: 100, LastListMillis: 200}
	if diff := cmp.Diff(want, r); diff != "" {
		t.Errorf("residual (-want +got):\n%s", diff)
	}
	if !p.(Restriction).Done || !tr.IsDone() {
		t.Errorf("primary %v not done", p)
	}
}

func TestAfter(t *testing.T) {
	r := Restriction{Highest: "shardId-000000000009"}
	for id, want := range map[string]bool{"shardId-000000000010": true, "shardId-000000000009": false, "shardId-000000000001": false, "shardId-0000000000100": true} {
		if got := r.After(id); got != want {
			t.Errorf("After(%s) = %v, want %v", id, got, want)
		}
	}
}
