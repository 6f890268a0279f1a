// Package partitionkey holds Kinesis's rules for partition keys, shared
// by kinesisio.Write, the dead-letter stream writer and the fake Kinesis.
package partitionkey

import (
	"encoding/binary"
	"encoding/hex"
	"fmt"
	"math/rand/v2"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxLength is the longest partition key Kinesis accepts, in Length's
// units.
const MaxLength = 256

// Length returns the length of key as Kinesis's limit counts it: in
// UTF-16 code units, so a character outside the Basic Multilingual Plane
// (an emoji, say) counts 2 and any other character 1, whatever its
// size in UTF-8. kinesalite and kinesis-mock both count so (the length
// of a JavaScript or Java string): 256 'é' (512 bytes) or 128 emoji are
// accepted, 129 emoji refused. Were Kinesis to count code points, this
// would be the stricter reading. An invalid UTF-8 byte counts 1.
func Length(key string) int {
	n := 0
	for _, r := range key {
		n += utf16.RuneLen(r) // an invalid byte ranges as U+FFFD: 1
	}
	return n
}

// Check returns why Kinesis would refuse key (empty, not valid UTF-8, or
// longer than MaxLength), or "" if it would not.
func Check(key string) string {
	switch {
	case key == "":
		return "empty partition key"
	case !utf8.ValidString(key):
		return "partition key is not valid UTF-8"
	case Length(key) > MaxLength:
		return fmt.Sprintf("partition key of %d characters (UTF-16 code units) is longer than %d", Length(key), MaxLength)
	}
	return ""
}

// Random returns a random partition key of 32 hexadecimal digits: records
// with random keys spread evenly over the shards.
func Random() string {
	var b [16]byte
	binary.BigEndian.PutUint64(b[:8], rand.Uint64())
	binary.BigEndian.PutUint64(b[8:], rand.Uint64())
	return hex.EncodeToString(b[:])
}
