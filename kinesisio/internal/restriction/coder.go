package restriction

import (
	"encoding/binary"
	"errors"
	"fmt"

	"github.com/kinesisio/beam-kinesis/internal/binenc"
)

// The restriction coder is a versioned binary layout, so that a runner
// restoring a checkpoint written by an older release can still decode it
// (Beam Java broke checkpoint compatibility once: apache/beam PR #26117).
//
//	version byte (1)
//	flags byte: 1 = Bounded, 2 = Empty, 4 = Closing, 8 = ShardEnded
//	(flags 4 and 8 came later within version 1: older encodings never
//	set them, so they decode as before)
//	uvarint len + ShardID
//	kind byte, uvarint len + Seq, varint Millis
//	uvarint len + End
//	version 2 adds: varint Start.Sub, varint EndSub (sub-sequence numbers
//	of KPL aggregates; version 1 decodes with both 0)
const coderVersion = 2

const (
	flagBounded = 1 << iota
	flagEmpty
	flagClosing
	flagShardEnded
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
	if r.Closing {
		flags |= flagClosing
	}
	if r.ShardEnded {
		flags |= flagShardEnded
	}
	b = append(b, flags)
	b = binenc.AppendString(b, r.ShardID)
	b = append(b, byte(r.Start.Kind))
	b = binenc.AppendString(b, r.Start.Seq)
	b = binary.AppendVarint(b, r.Start.Millis)
	b = binenc.AppendString(b, r.End)
	b = binary.AppendVarint(b, r.Start.Sub)
	return binary.AppendVarint(b, r.EndSub)
}

// Decode parses the binary form written by Encode.
func Decode(b []byte) (Restriction, error) {
	var r Restriction
	d := binenc.NewDecoder(b, ErrCorrupt)
	if len(b) > 0 && (b[0] < 1 || b[0] > coderVersion) {
		return r, fmt.Errorf("%w: unknown version %d", ErrCorrupt, b[0])
	}
	version := d.Byte("version")
	flags := d.Byte("flags")
	r.Bounded = flags&flagBounded != 0
	r.Empty = flags&flagEmpty != 0
	r.Closing = flags&flagClosing != 0
	r.ShardEnded = flags&flagShardEnded != 0
	r.ShardID = d.String("shard ID")
	r.Start.Kind = Kind(d.Byte("position"))
	r.Start.Seq = d.String("sequence number")
	r.Start.Millis = d.Varint("timestamp")
	r.End = d.String("end")
	if version >= 2 {
		r.Start.Sub = d.Varint("sub-sequence number")
		r.EndSub = d.Varint("end sub-sequence number")
	}
	if err := d.Err(); err != nil {
		return r, err
	}
	if err := r.Validate(); err != nil {
		return r, fmt.Errorf("%w: %w", ErrCorrupt, err)
	}
	return r, nil
}
