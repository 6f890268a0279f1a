// Package binenc holds the helpers of the connector's versioned binary
// coders (the connector's records, restrictions, shard elements and write
// results; transforms/deadletter's letters): varints
// and length-prefixed strings, appended to a buffer and read back by a
// Decoder whose first error sticks, so that a decoder reads its fields in
// a row and checks once.
package binenc

import (
	"encoding/binary"
	"fmt"
	"time"
)

// AppendString appends s with its length as a uvarint.
func AppendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

// AppendBytes appends p with its length as a uvarint.
func AppendBytes(b, p []byte) []byte {
	b = binary.AppendUvarint(b, uint64(len(p)))
	return append(b, p...)
}

// AppendBool appends 1 for true, 0 for false.
func AppendBool(b []byte, v bool) []byte {
	if v {
		return append(b, 1)
	}
	return append(b, 0)
}

// AppendTime appends a flag, then, for a non-zero t, its seconds and
// nanoseconds since the Unix epoch: exact for every time.Time (UnixNano
// is not, outside 1678-2262). The location is not kept.
func AppendTime(b []byte, t time.Time) []byte {
	if t.IsZero() {
		return AppendBool(b, false)
	}
	b = AppendBool(b, true)
	b = binary.AppendVarint(b, t.Unix())
	return binary.AppendUvarint(b, uint64(t.Nanosecond()))
}

// Decoder reads what the Append functions wrote. After the first
// malformed field every read returns a zero value and Err reports the
// field, wrapped around the decoder's sentinel error.
type Decoder struct {
	b       []byte
	corrupt error
	err     error
}

// NewDecoder returns a decoder of b whose errors wrap corrupt.
func NewDecoder(b []byte, corrupt error) *Decoder { return &Decoder{b: b, corrupt: corrupt} }

func (d *Decoder) fail(what string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: bad %s", d.corrupt, what)
	}
	d.b = nil
}

// Byte reads one byte.
func (d *Decoder) Byte(what string) byte {
	if d.err != nil || len(d.b) < 1 {
		d.fail(what)
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

// Bool reads a byte that must be 0 or 1.
func (d *Decoder) Bool(what string) bool {
	switch d.Byte(what) {
	case 0:
		return false
	case 1:
		return true
	}
	d.fail(what)
	return false
}

// Uvarint reads an unsigned varint.
func (d *Decoder) Uvarint(what string) uint64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

// Int reads an unsigned varint of at most 2^62, as an int.
func (d *Decoder) Int(what string) int {
	v := d.Uvarint(what)
	if v > 1<<62 {
		d.fail(what)
		return 0
	}
	return int(v)
}

// Varint reads a signed varint.
func (d *Decoder) Varint(what string) int64 {
	if d.err != nil {
		return 0
	}
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail(what)
		return 0
	}
	d.b = d.b[n:]
	return v
}

// raw reads a length-prefixed field without copying it.
func (d *Decoder) raw(what string) []byte {
	l := d.Uvarint(what)
	if d.err != nil {
		return nil
	}
	if l > uint64(len(d.b)) {
		d.fail(what)
		return nil
	}
	v := d.b[:l]
	d.b = d.b[l:]
	return v
}

// String reads a length-prefixed string.
func (d *Decoder) String(what string) string { return string(d.raw(what)) }

// Bytes reads a length-prefixed byte slice into a copy; empty is nil.
func (d *Decoder) Bytes(what string) []byte {
	v := d.raw(what)
	if len(v) == 0 {
		return nil
	}
	return append([]byte(nil), v...)
}

// Time reads what AppendTime wrote, in UTC; the zero time for a zero one.
func (d *Decoder) Time(what string) time.Time {
	if !d.Bool(what) {
		return time.Time{}
	}
	sec := d.Varint(what)
	ns := d.Uvarint(what)
	if d.err != nil {
		return time.Time{}
	}
	if ns >= 1e9 {
		d.fail(what)
		return time.Time{}
	}
	return time.Unix(sec, int64(ns)).UTC()
}

// Rest returns the bytes not read yet and consumes them.
func (d *Decoder) Rest() []byte {
	v := d.b
	d.b = nil
	return v
}

// Err returns the first error, or an error if bytes are left over.
func (d *Decoder) Err() error {
	if d.err == nil && len(d.b) != 0 {
		return fmt.Errorf("%w: %d trailing bytes", d.corrupt, len(d.b))
	}
	return d.err
}
