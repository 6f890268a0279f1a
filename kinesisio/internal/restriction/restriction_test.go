package restriction

import (
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-cmp/cmp"
)

var samples = []Restriction{
	{ShardID: "shardId-000000000000", Start: Position{Kind: TrimHorizon}},
	{ShardID: "shardId-000000000001", Start: Position{Kind: AtTimestamp, Millis: 1700000000123}},
	{ShardID: "shardId-000000000002", Start: Position{Kind: AtTimestamp, Millis: -5}},
	{ShardID: "s", Start: Position{Kind: AtSequence, Seq: "49590338271490256608559692538361571095921575989136588898"}},
	{ShardID: "s", Start: After("1" + strings.Repeat("0", 128)), End: "2" + strings.Repeat("0", 128), Bounded: true},
	{ShardID: "s", Start: Position{Kind: TrimHorizon}, Bounded: true, Empty: true},
}

func TestCoderRoundTrip(t *testing.T) {
	for _, r := range samples {
		got, err := Decode(Encode(r))
		if err != nil {
			t.Fatalf("Decode(Encode(%v)): %v", r, err)
		}
		if diff := cmp.Diff(r, got); diff != "" {
			t.Errorf("round trip of %v (-want +got):\n%s", r, diff)
		}
	}
}

func TestDecodeRejectsCorruptInput(t *testing.T) {
	good := Encode(samples[3])
	for name, b := range map[string][]byte{
		"empty":         nil,
		"version":       append([]byte{9}, good[1:]...),
		"truncated":     good[:len(good)-3],
		"trailing":      append(append([]byte{}, good...), 0),
		"bad kind":      Encode(Restriction{ShardID: "s", Start: Position{Kind: 7}}),
		"bad seq":       Encode(Restriction{ShardID: "s", Start: Position{Kind: AtSequence, Seq: "01"}}),
		"no shard":      Encode(Restriction{Start: Position{Kind: TrimHorizon}}),
		"huge str len":  {1, 0, 0xff, 0xff, 0xff, 0xff, 0x0f},
		"bad end seqno": Encode(Restriction{ShardID: "s", Start: Position{Kind: TrimHorizon}, End: "x"}),
	} {
		if _, err := Decode(b); !errors.Is(err, ErrCorrupt) {
			t.Errorf("%s: Decode = %v, want ErrCorrupt", name, err)
		}
	}
}

func FuzzDecode(f *testing.F) {
	for _, r := range samples {
		f.Add(Encode(r))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		r, err := Decode(b)
		if err != nil {
			return
		}
		again, err := Decode(Encode(r))
		if err != nil {
			t.Fatalf("re-decode of %v: %v", r, err)
		}
		if diff := cmp.Diff(r, again); diff != "" {
			t.Fatalf("unstable round trip (-first +second):\n%s", diff)
		}
	})
}

func TestTrackerCheckpointAfterClaims(t *testing.T) {
	tr := NewTracker(samples[0])
	for _, s := range []string{"10", "11", "200"} {
		if !tr.TryClaim(s) {
			t.Fatalf("TryClaim(%s) failed: %v", s, tr.GetError())
		}
	}
	p, r, err := tr.TrySplit(0)
	if err != nil {
		t.Fatal(err)
	}
	wantP := Restriction{ShardID: samples[0].ShardID, Start: Position{Kind: TrimHorizon}, End: "200", Bounded: true}
	wantR := Restriction{ShardID: samples[0].ShardID, Start: After("200")}
	if diff := cmp.Diff(wantP, p); diff != "" {
		t.Errorf("primary (-want +got):\n%s", diff)
	}
	if diff := cmp.Diff(wantR, r); diff != "" {
		t.Errorf("residual (-want +got):\n%s", diff)
	}
	if !tr.IsDone() || tr.GetError() != nil {
		t.Errorf("after checkpoint: done=%v err=%v, want done and no error", tr.IsDone(), tr.GetError())
	}
	if tr.TryClaim("300") {
		t.Error("claim after checkpoint succeeded")
	}
	// The residual continues where the primary stopped.
	next := NewTracker(wantR)
	if next.TryClaim("200") {
		t.Error("residual re-claimed the last record of the primary")
	}
	if next.GetError() == nil {
		t.Error("claim before the start is not reported")
	}
}

func TestTrackerCheckpointWithoutClaims(t *testing.T) {
	in := Restriction{ShardID: "s", Start: Position{Kind: AtTimestamp, Millis: 42}}
	tr := NewTracker(in)
	p, r, err := tr.TrySplit(0)
	if err != nil {
		t.Fatal(err)
	}
	if diff := cmp.Diff(in, r); diff != "" {
		t.Errorf("residual (-want +got):\n%s", diff)
	}
	if !p.(Restriction).Empty || !tr.IsDone() {
		t.Errorf("primary %v done=%v, want empty and done", p, tr.IsDone())
	}
}

func TestTrackerDeclinesFractionalSplits(t *testing.T) {
	tr := NewTracker(samples[0])
	tr.TryClaim("5")
	for _, f := range []float64{0.5, 0.99, 1} {
		p, r, err := tr.TrySplit(f)
		if err != nil || r != nil {
			t.Errorf("TrySplit(%v) = %v, %v, %v; want declined", f, p, r, err)
		}
	}
	if tr.IsDone() || !tr.TryClaim("6") {
		t.Error("declined split changed the tracker")
	}
}

func TestTrackerEnd(t *testing.T) {
	tr := NewTracker(Restriction{ShardID: "s", Start: Position{Kind: TrimHorizon}, End: "20"})
	if !tr.TryClaim("20") {
		t.Fatal("claim at end failed")
	}
	if tr.TryClaim("21") {
		t.Fatal("claim past end succeeded")
	}
	if !tr.IsDone() || !tr.Ended() || tr.GetError() != nil {
		t.Fatalf("past end: done=%v ended=%v err=%v", tr.IsDone(), tr.Ended(), tr.GetError())
	}
	split := NewTracker(samples[0])
	split.TrySplit(0)
	if split.Ended() {
		t.Error("a checkpointed tracker reports the restriction ended")
	}
}

func TestTrackerRejectsBadClaims(t *testing.T) {
	for name, claims := range map[string][]any{
		"not increasing": {"5", "5"},
		"decreasing":     {"50", "6"},
		"not a string":   {int64(5)},
		"malformed":      {"0x5"},
	} {
		tr := NewTracker(samples[0])
		ok := true
		for _, c := range claims {
			ok = tr.TryClaim(c)
		}
		if ok || tr.GetError() == nil {
			t.Errorf("%s: last claim ok=%v err=%v, want a failed claim with an error", name, ok, tr.GetError())
		}
	}
	tr := NewTracker(Restriction{ShardID: "s", Start: Position{Kind: AtSequence, Seq: "10"}})
	if tr.TryClaim("9") {
		t.Error("claim before AT_SEQUENCE_NUMBER start succeeded")
	}
}

func TestTrackerFinish(t *testing.T) {
	tr := NewTracker(samples[0])
	tr.TryClaim("7")
	tr.Finish()
	want := Restriction{ShardID: samples[0].ShardID, Start: Position{Kind: TrimHorizon}, End: "7", Bounded: true}
	if diff := cmp.Diff(want, tr.GetRestriction()); diff != "" {
		t.Errorf("restriction after Finish (-want +got):\n%s", diff)
	}
	if _, r, _ := tr.TrySplit(0); r != nil {
		t.Errorf("checkpoint after Finish gave residual %v", r)
	}
}

// TestTrackerConcurrentSplit checks that a checkpoint racing with claims
// leaves every claimed record in the primary and every other in the
// residual.
func TestTrackerConcurrentSplit(t *testing.T) {
	for i := 0; i < 200; i++ {
		tr := NewTracker(samples[0])
		var wg sync.WaitGroup
		claimed := 0
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 1; n <= 1000; n++ {
				if !tr.TryClaim(itoa(n)) {
					return
				}
				claimed = n
			}
		}()
		_, res, _ := tr.TrySplit(0)
		wg.Wait()
		if claimed == 0 {
			if r := res.(Restriction); r.Start.Kind != TrimHorizon {
				t.Fatalf("nothing claimed but residual starts at %v", r.Start)
			}
			continue
		}
		if res == nil {
			if claimed != 1000 {
				t.Fatalf("no residual after %d claims", claimed)
			}
			continue
		}
		if r := res.(Restriction); r.Start != After(itoa(claimed)) {
			t.Fatalf("residual starts at %v, last claim was %d", r.Start, claimed)
		}
	}
}

func itoa(n int) string {
	const d = "0123456789"
	if n < 10 {
		return d[n : n+1]
	}
	return itoa(n/10) + d[n%10:n%10+1]
}

// TestTrackerClose: a closed tracker claims nothing more, and its
// checkpoint leaves a closing residual after the last claim that records
// whether the shard ended; the flags survive the coder.
func TestTrackerClose(t *testing.T) {
	for _, ended := range []bool{false, true} {
		tr := NewTracker(samples[0])
		tr.TryClaim("7")
		tr.Close(ended)
		if tr.TryClaim("8") {
			t.Error("claim after Close succeeded")
		}
		p, r, err := tr.TrySplit(0)
		if err != nil || r == nil {
			t.Fatalf("checkpoint after Close = %v, %v, %v", p, r, err)
		}
		want := Restriction{ShardID: samples[0].ShardID, Start: After("7"), Bounded: true, Closing: true, ShardEnded: ended}
		if diff := cmp.Diff(want, r); diff != "" {
			t.Errorf("residual (-want +got):\n%s", diff)
		}
		got, err := Decode(Encode(want))
		if err != nil {
			t.Fatal(err)
		}
		if diff := cmp.Diff(want, got); diff != "" {
			t.Errorf("closing restriction after the coder (-want +got):\n%s", diff)
		}
	}
	// Closed before any claim: the residual starts where the restriction did.
	tr := NewTracker(samples[0])
	tr.Close(true)
	if _, r, _ := tr.TrySplit(0); r == nil || r.(Restriction).Start != samples[0].Start || !r.(Restriction).Closing {
		t.Errorf("residual of a tracker closed before claiming = %v", r)
	}
}
