package restriction

import (
	"errors"
	"math"
	"strconv"
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
	{ShardID: "s", Start: mustAfterUserRecord("123", 4), End: "456", EndSub: 7, Bounded: true},
	{ShardID: "s", Start: Position{Kind: AfterSequence, Seq: "123", Sub: 9}},
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

// TestDecodesVersion1 decodes an encoding of the release before
// sub-sequence numbers, as a runner restoring its checkpoint would.
func TestDecodesVersion1(t *testing.T) {
	v1 := []byte{1, flagBounded, 1, 's', byte(AfterSequence), 3, '1', '2', '3', 0, 3, '4', '5', '6'}
	got, err := Decode(v1)
	if err != nil {
		t.Fatal(err)
	}
	want := Restriction{ShardID: "s", Start: After("123"), End: "456", Bounded: true}
	if diff := cmp.Diff(want, got); diff != "" {
		t.Fatalf("(-want +got):\n%s", diff)
	}
}

// TestClaimsInsideAggregates follows the user records of KPL aggregates:
// a checkpoint inside one resumes at its next user record, one after its
// last user record after the whole record, and the primary ends at the
// exact user record.
func TestClaimsInsideAggregates(t *testing.T) {
	tr := NewTracker(Restriction{ShardID: "s", Start: Position{Kind: TrimHorizon}})
	for _, c := range []Claim{{"10", 0, true}, {"20", 0, false}, {"20", 1, false}} {
		if !tr.TryClaim(c) {
			t.Fatalf("TryClaim(%v): %v", c, tr.GetError())
		}
	}
	if got, want := tr.Resume(), mustAfterUserRecord("20", 1); got != want {
		t.Fatalf("Resume = %v, want %v", got, want)
	}
	p, r, _ := tr.TrySplit(0)
	wantP := Restriction{ShardID: "s", Start: Position{Kind: TrimHorizon}, End: "20", EndSub: 1, Bounded: true}
	wantR := Restriction{ShardID: "s", Start: Position{Kind: AtSequence, Seq: "20", Sub: 2}}
	if diff := cmp.Diff([]any{wantP, wantR}, []any{p, r}); diff != "" {
		t.Fatalf("split (-want +got):\n%s", diff)
	}
	if seq, sub, ok := wantR.Start.Committed(); seq != "20" || sub != 1 || !ok {
		t.Fatalf("Committed = %s, %d, %v; want 20, 1, true", seq, sub, ok)
	}

	next := NewTracker(r.(Restriction))
	if next.TryClaim(Claim{"20", 1, false}) || next.GetError() == nil {
		t.Fatal("claim before the resumed start was accepted")
	}
	next = NewTracker(r.(Restriction))
	for _, c := range []Claim{{"20", 2, false}, {"20", 3, true}} {
		if !next.TryClaim(c) {
			t.Fatalf("TryClaim(%v): %v", c, next.GetError())
		}
	}
	if next.TryClaim(Claim{"20", 4, false}) || next.GetError() == nil {
		t.Fatal("claim after the last user record of a record was accepted")
	}
	next = NewTracker(r.(Restriction))
	next.TryClaim(Claim{"20", 2, false})
	next.TryClaim(Claim{"20", 3, true})
	_, r2, _ := next.TrySplit(0)
	if got, want := r2.(Restriction).Start, (Position{Kind: AfterSequence, Seq: "20", Sub: 3}); got != want {
		t.Fatalf("residual after the last user record starts at %v, want %v", got, want)
	}
	if seq, sub, ok := r2.(Restriction).Start.Committed(); seq != "20" || sub != 3 || !ok {
		t.Fatalf("Committed = %s, %d, %v; want 20, 3, true", seq, sub, ok)
	}

	bounded := NewTracker(wantP)
	for _, c := range []Claim{{"10", 0, true}, {"20", 0, false}, {"20", 1, false}} {
		if !bounded.TryClaim(c) {
			t.Fatalf("bounded TryClaim(%v): %v", c, bounded.GetError())
		}
	}
	if bounded.TryClaim(Claim{"20", 2, false}) || !bounded.Ended() || bounded.GetError() != nil {
		t.Fatal("claim past EndSub did not end the restriction")
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
		"negative sub":  Encode(Restriction{ShardID: "s", Start: Position{Kind: AtSequence, Seq: "1", Sub: -1}}),
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

// TestAfterUserRecordRange: a user record's sub-sequence number is 0 or
// more, and only one below math.MaxInt64 has a next user record; the
// error names the number given, not sub+1 (which was read as
// AtSequence(seq) for -1 and overflowed for math.MaxInt64).
func TestAfterUserRecordRange(t *testing.T) {
	for _, sub := range []int64{-1, -2, math.MinInt64, math.MaxInt64} {
		p, err := AfterUserRecord("12", sub)
		if want := strconv.FormatInt(sub, 10); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("AfterUserRecord(12, %d) = %v, %v: want an error naming %s", sub, p, err, want)
		}
	}
	for _, sub := range []int64{0, math.MaxInt64 - 1} {
		p, err := AfterUserRecord("12", sub)
		if want := (Position{Kind: AtSequence, Seq: "12", Sub: sub + 1}); err != nil || p != want {
			t.Errorf("AfterUserRecord(12, %d) = %v, %v; want %v", sub, p, err, want)
		}
	}
}

// mustAfterUserRecord is AfterUserRecord of a valid user record.
func mustAfterUserRecord(seq string, sub int64) Position {
	p, err := AfterUserRecord(seq, sub)
	if err != nil {
		panic(err)
	}
	return p
}

// TryClaimRecord counts a record's bytes for progress only when its claim
// succeeds, and refuses what TryClaim refuses.
func TestTryClaimRecordCountsClaimedBytes(t *testing.T) {
	tr := NewTracker(Restriction{ShardID: "s", Start: Position{Kind: TrimHorizon}, End: "20", Bounded: true})
	if !tr.TryClaimRecord(Claim{Seq: "10", Last: true}, 100) {
		t.Fatalf("claim of 10 refused: %v", tr.GetError())
	}
	if tr.TryClaimRecord(Claim{Seq: "30", Last: true}, 1000) {
		t.Fatal("claim of 30 past the end 20 succeeded")
	}
	if done, _ := tr.GetProgress(); done != 100 {
		t.Fatalf("progress done %v, want 100 (the refused claim's bytes left out)", done)
	}
	tr = NewTracker(Restriction{ShardID: "s", Start: Position{Kind: TrimHorizon}})
	for _, c := range []Claim{{Seq: "x1", Last: true}, {Seq: "1", Sub: -1}} {
		if tr.TryClaimRecord(c, 1) || tr.GetError() == nil {
			t.Fatalf("invalid claim %v accepted or without an error", c)
		}
		tr = NewTracker(Restriction{ShardID: "s", Start: Position{Kind: TrimHorizon}})
	}
}
