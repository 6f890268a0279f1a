package kpl

import (
	"fmt"

	"google.golang.org/protobuf/encoding/protowire"
)

// Field numbers of AggregatedRecord and Record.
const (
	fieldPartitionKeyTable    = 1
	fieldExplicitHashKeyTable = 2
	fieldRecords              = 3

	fieldPartitionKeyIndex    = 1
	fieldExplicitHashKeyIndex = 2
	fieldData                 = 3
	fieldTags                 = 4
)

// Decode returns the user records of an aggregate, in sub-sequence order.
// Data that is not an aggregate gives an error wrapping ErrNotAggregate;
// a bad checksum ErrChecksum; a protobuf that does not parse, an index
// outside its table or a record without partition key or data
// ErrMalformed. The records' Data alias data.
func Decode(data []byte) ([]Record, error) {
	b, err := body(data)
	if err != nil {
		return nil, err
	}
	var pks, ehks []string
	var raw [][]byte
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return nil, fmt.Errorf("%w: %v", ErrMalformed, protowire.ParseError(n))
		}
		b = b[n:]
		if typ != protowire.BytesType {
			if n = protowire.ConsumeFieldValue(num, typ, b); n < 0 {
				return nil, fmt.Errorf("%w: %v", ErrMalformed, protowire.ParseError(n))
			}
			if num == fieldPartitionKeyTable || num == fieldExplicitHashKeyTable || num == fieldRecords {
				return nil, fmt.Errorf("%w: field %d has wire type %d", ErrMalformed, num, typ)
			}
			b = b[n:]
			continue
		}
		v, n := protowire.ConsumeBytes(b)
		if n < 0 {
			return nil, fmt.Errorf("%w: field %d: %v", ErrMalformed, num, protowire.ParseError(n))
		}
		b = b[n:]
		switch num {
		case fieldPartitionKeyTable:
			pks = append(pks, string(v))
		case fieldExplicitHashKeyTable:
			ehks = append(ehks, string(v))
		case fieldRecords:
			raw = append(raw, v)
		}
	}
	out := make([]Record, len(raw))
	for i, m := range raw {
		if err := decodeRecord(m, pks, ehks, &out[i]); err != nil {
			return nil, fmt.Errorf("%w: record %d: %v", ErrMalformed, i, err)
		}
	}
	return out, nil
}

// decodeRecord parses one Record message into r.
func decodeRecord(b []byte, pks, ehks []string, r *Record) error {
	var hasPK, hasData bool
	for len(b) > 0 {
		num, typ, n := protowire.ConsumeTag(b)
		if n < 0 {
			return protowire.ParseError(n)
		}
		b = b[n:]
		switch {
		case (num == fieldPartitionKeyIndex || num == fieldExplicitHashKeyIndex) && typ == protowire.VarintType:
			v, n := protowire.ConsumeVarint(b)
			if n < 0 {
				return protowire.ParseError(n)
			}
			b = b[n:]
			if num == fieldPartitionKeyIndex {
				if v >= uint64(len(pks)) {
					return fmt.Errorf("partition key index %d of a table of %d", v, len(pks))
				}
				r.PartitionKey, hasPK = pks[v], true
			} else {
				if v >= uint64(len(ehks)) {
					return fmt.Errorf("explicit hash key index %d of a table of %d", v, len(ehks))
				}
				r.ExplicitHashKey = ehks[v]
			}
		case num == fieldData && typ == protowire.BytesType:
			v, n := protowire.ConsumeBytes(b)
			if n < 0 {
				return protowire.ParseError(n)
			}
			b = b[n:]
			r.Data, hasData = v, true
		case num == fieldPartitionKeyIndex || num == fieldExplicitHashKeyIndex || num == fieldData:
			return fmt.Errorf("field %d has wire type %d", num, typ)
		default: // tags and unknown fields
			n := protowire.ConsumeFieldValue(num, typ, b)
			if n < 0 {
				return protowire.ParseError(n)
			}
			b = b[n:]
		}
	}
	if !hasPK {
		return fmt.Errorf("no partition key index")
	}
	if !hasData {
		return fmt.Errorf("no data")
	}
	if r.Data == nil {
		r.Data = []byte{}
	}
	return nil
}
