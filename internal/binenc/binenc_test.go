package binenc

import (
	"errors"
	"testing"
	"time"
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

func TestTimeRoundTrip(t *testing.T) {
	corrupt := errors.New("corrupt")
	for _, tm := range []time.Time{
		{},
		time.Unix(0, 0),
		time.Date(2026, 3, 1, 12, 0, 0, 123456789, time.UTC),
		time.Date(1, 1, 1, 0, 0, 0, 1, time.UTC),                                  // before UnixNano's range
		time.Date(9999, 12, 31, 23, 59, 59, 999999999, time.FixedZone("x", 3600)), // after it, not UTC
	} {
		d := NewDecoder(AppendTime(nil, tm), corrupt)
		got := d.Time("time")
		if err := d.Err(); err != nil || !got.Equal(tm) || (!tm.IsZero() && got.Location() != time.UTC) {
			t.Errorf("AppendTime(%v) read back as %v (%v), err %v", tm, got, got.Location(), err)
		}
	}
	bad := append(AppendBool(nil, true), 0, 0x80, 0x94, 0xeb, 0xdc, 0x03) // 1e9 ns
	if d := NewDecoder(bad, corrupt); !d.Time("time").IsZero() || !errors.Is(d.Err(), corrupt) {
		t.Errorf("a nanosecond field of 1e9 was accepted")
	}
}
