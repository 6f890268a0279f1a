package restriction

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// The restriction coder is a versioned binary layout, so that a runner
// restoring a checkpoint written by an older release can still decode it
// (Beam Java broke checkpoint compatibility once: apache/beam PR #26117).
//
//	version byte (1)
//	flags byte: 1 = Bounded, 2 = Empty
//	uvarint len + ShardID
//	kind byte, uvarint len + Seq, varint Millis
//	uvarint len + End
const coderVersion = 1

const (
	flagBounded = 1 << iota
	flagEmpty
)

// ErrCorrupt is returned when bytes do not decode to a restriction.
var ErrCorrupt = errors.New("kinesisio: corrupt restriction encoding")

// Encode returns the binary form of r.
func Encode(r Restriction) []byte {
	b := make([]byte, 0, 16+len(r.ShardID)+len(r.Start.Seq)+len(r.End))
	b = append(b, coderVersion)
	var flags byte
	if r.Bounded {
		flags |= flagBounded
	}
	if r.Empty {
		flags |= flagEmpty
	}
	b = append(b, flags)
	b = appendString(b, r.ShardID)
	b = append(b, byte(r.Start.Kind))
	b = appendString(b, r.Start.Seq)
	b = binary.AppendVarint(b, r.Start.Millis)
	b = appendString(b, r.End)
	return b
}

// Decode parses the binary form written by Encode.
func Decode(b []byte) (Restriction, error) {
	var r Restriction
	if len(b) < 2 {
		return r, fmt.Errorf("%w: %d bytes", ErrCorrupt, len(b))
	}
	if b[0] != coderVersion {
		return r, fmt.Errorf("%w: unknown version %d", ErrCorrupt, b[0])
	}
	flags := b[1]
	r.Bounded = flags&flagBounded != 0
	r.Empty = flags&flagEmpty != 0
	b = b[2:]
	var err error
	if r.ShardID, b, err = readString(b); err != nil {
		return r, err
	}
	if len(b) < 1 {
		return r, fmt.Errorf("%w: no position", ErrCorrupt)
	}
	r.Start.Kind = Kind(b[0])
	b = b[1:]
	if r.Start.Seq, b, err = readString(b); err != nil {
		return r, err
	}
	m, n := binary.Varint(b)
	if n <= 0 {
		return r, fmt.Errorf("%w: bad timestamp", ErrCorrupt)
	}
	r.Start.Millis = m
	b = b[n:]
	if r.End, b, err = readString(b); err != nil {
		return r, err
	}
	if len(b) != 0 {
		return r, fmt.Errorf("%w: %d trailing bytes", ErrCorrupt, len(b))
	}
	if err := r.Validate(); err != nil {
		return r, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return r, nil
}

func appendString(b []byte, s string) []byte {
	b = binary.AppendUvarint(b, uint64(len(s)))
	return append(b, s...)
}

func readString(b []byte) (string, []byte, error) {
	l, n := binary.Uvarint(b)
	if n <= 0 || l > uint64(len(b)-n) {
		return "", nil, fmt.Errorf("%w: bad string length", ErrCorrupt)
	}
	return string(b[n : n+int(l)]), b[n+int(l):], nil
}
