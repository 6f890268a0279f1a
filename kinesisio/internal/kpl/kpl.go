// Package kpl reads and writes the aggregated records of the Kinesis
// Producer Library (KPL): many user records packed into one Kinesis
// record.
//
// An aggregate's data is the 4 magic bytes F3 89 9A C2, a protobuf
// AggregatedRecord, and the 16-byte MD5 of that protobuf:
//
//	message AggregatedRecord {
//	  repeated string partition_key_table     = 1;
//	  repeated string explicit_hash_key_table = 2;
//	  repeated Record records                 = 3;
//	}
//	message Record {
//	  required uint64 partition_key_index     = 1;
//	  optional uint64 explicit_hash_key_index = 2;
//	  required bytes  data                    = 3;
//	  repeated Tag    tags                    = 4;
//	}
//	message Tag { required string key = 1; optional string value = 2; }
//
// The user records of one aggregate share its sequence number; their
// sub-sequence numbers are their indexes in records, from 0. The protobuf
// is read and written with google.golang.org/protobuf/encoding/protowire.
package kpl

import (
	"bytes"
	"crypto/md5"
	"errors"
)

// Magic starts the data of every aggregated record.
var Magic = []byte{0xF3, 0x89, 0x9A, 0xC2}

// Overhead is the size of an aggregate beyond its protobuf body: the
// magic and the MD5.
const Overhead = 4 + md5.Size

// Record is one user record of an aggregate.
type Record struct {
	PartitionKey string
	// ExplicitHashKey is the decimal hash key the producer gave, or "".
	ExplicitHashKey string
	Data            []byte
}

// Errors wrapped by Decode: data that is not an aggregate, or one whose
// checksum or protobuf does not check.
var (
	ErrNotAggregate = errors.New("kpl: not an aggregated record")
	ErrChecksum     = errors.New("kpl: aggregated record with a bad MD5")
	ErrMalformed    = errors.New("kpl: malformed aggregated record")
)

// IsAggregate reports whether data has the form of an aggregate: the
// magic and room for a checksum. Only Decode tells a valid one.
func IsAggregate(data []byte) bool {
	return len(data) >= Overhead && bytes.Equal(data[:len(Magic)], Magic)
}

// body returns the protobuf of an aggregate after checking its MD5.
func body(data []byte) ([]byte, error) {
	if !IsAggregate(data) {
		return nil, ErrNotAggregate
	}
	b := data[len(Magic) : len(data)-md5.Size]
	sum := md5.Sum(b)
	if !bytes.Equal(sum[:], data[len(data)-md5.Size:]) {
		return nil, ErrChecksum
	}
	return b, nil
}
