package binenc

import (
	"errors"
	"testing"
)

var errTest = errors.New("corrupt")

func TestRoundTripAndStickyErrors(t *testing.T) {
	b := AppendString(nil, "shard")
	b = AppendBytes(b, []byte{1, 2})
	b = AppendBool(b, true)
	d := NewDecoder(b, errTest)
	if s, p, ok := d.String("s"), d.Bytes("p"), d.Bool("ok"); s != "shard" || len(p) != 2 || !ok || d.Err() != nil {
		t.Fatalf("decoded %q %v %v, err %v", s, p, ok, d.Err())
	}
	d = NewDecoder(b[:3], errTest)
	_ = d.String("s")
	if d.Varint("v") != 0 || !errors.Is(d.Err(), errTest) {
		t.Errorf("a truncated string did not stick as an error: %v", d.Err())
	}
	d = NewDecoder(append(b, 9), errTest)
	d.String("s")
	d.Bytes("p")
	d.Bool("ok")
	if !errors.Is(d.Err(), errTest) {
		t.Error("trailing bytes not reported")
	}
	if d := NewDecoder([]byte{2}, errTest); d.Bool("flag") || !errors.Is(d.Err(), errTest) {
		t.Error("a flag of 2 was accepted")
	}
}
