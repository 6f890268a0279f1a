package kpl

import (
	"crypto/md5"

	"google.golang.org/protobuf/encoding/protowire"
)

// Aggregator packs user records into one aggregate. The zero value is an
// empty aggregate ready for use.
type Aggregator struct {
	pkIndex  map[string]uint64
	ehkIndex map[string]uint64
	pks      []string
	ehks     []string
	records  []byte // the encoded records field values, in order
	count    int
	size     int // protobuf body size
}

// Len returns the number of user records added.
func (a *Aggregator) Len() int { return a.count }

// Size returns the size of the aggregate's data as Bytes would return it.
func (a *Aggregator) Size() int { return a.size + Overhead }

// SizeWith returns what Size would be once r is added.
func (a *Aggregator) SizeWith(r Record) int {
	n := a.size + Overhead
	pkIdx, ok := a.pkIndex[r.PartitionKey]
	if !ok {
		pkIdx = uint64(len(a.pks))
		n += tableEntrySize(fieldPartitionKeyTable, r.PartitionKey)
	}
	ehkIdx, hasEHK := uint64(0), r.ExplicitHashKey != ""
	if hasEHK {
		if ehkIdx, ok = a.ehkIndex[r.ExplicitHashKey]; !ok {
			ehkIdx = uint64(len(a.ehks))
			n += tableEntrySize(fieldExplicitHashKeyTable, r.ExplicitHashKey)
		}
	}
	m := recordSize(pkIdx, ehkIdx, hasEHK, len(r.Data))
	return n + protowire.SizeTag(fieldRecords) + protowire.SizeBytes(m)
}

// Add appends r as the next user record (sub-sequence number Len()).
func (a *Aggregator) Add(r Record) {
	if a.pkIndex == nil {
		a.pkIndex, a.ehkIndex = map[string]uint64{}, map[string]uint64{}
	}
	pkIdx, ok := a.pkIndex[r.PartitionKey]
	if !ok {
		pkIdx = uint64(len(a.pks))
		a.pkIndex[r.PartitionKey] = pkIdx
		a.pks = append(a.pks, r.PartitionKey)
		a.size += tableEntrySize(fieldPartitionKeyTable, r.PartitionKey)
	}
	ehkIdx, hasEHK := uint64(0), r.ExplicitHashKey != ""
	if hasEHK {
		if ehkIdx, ok = a.ehkIndex[r.ExplicitHashKey]; !ok {
			ehkIdx = uint64(len(a.ehks))
			a.ehkIndex[r.ExplicitHashKey] = ehkIdx
			a.ehks = append(a.ehks, r.ExplicitHashKey)
			a.size += tableEntrySize(fieldExplicitHashKeyTable, r.ExplicitHashKey)
		}
	}
	start := len(a.records)
	a.records = protowire.AppendTag(a.records, fieldRecords, protowire.BytesType)
	a.records = protowire.AppendVarint(a.records, uint64(recordSize(pkIdx, ehkIdx, hasEHK, len(r.Data))))
	a.records = protowire.AppendTag(a.records, fieldPartitionKeyIndex, protowire.VarintType)
	a.records = protowire.AppendVarint(a.records, pkIdx)
	if hasEHK {
		a.records = protowire.AppendTag(a.records, fieldExplicitHashKeyIndex, protowire.VarintType)
		a.records = protowire.AppendVarint(a.records, ehkIdx)
	}
	a.records = protowire.AppendTag(a.records, fieldData, protowire.BytesType)
	a.records = protowire.AppendBytes(a.records, r.Data)
	a.size += len(a.records) - start
	a.count++
}

// Bytes returns the aggregate: magic, protobuf body, MD5. The tables come
// first in the body, as the KPL writes them.
func (a *Aggregator) Bytes() []byte {
	out := make([]byte, 0, a.Size())
	out = append(out, Magic...)
	for _, pk := range a.pks {
		out = protowire.AppendTag(out, fieldPartitionKeyTable, protowire.BytesType)
		out = protowire.AppendString(out, pk)
	}
	for _, ehk := range a.ehks {
		out = protowire.AppendTag(out, fieldExplicitHashKeyTable, protowire.BytesType)
		out = protowire.AppendString(out, ehk)
	}
	out = append(out, a.records...)
	sum := md5.Sum(out[len(Magic):])
	return append(out, sum[:]...)
}

// Reset empties the aggregate, keeping its buffers.
func (a *Aggregator) Reset() {
	clear(a.pkIndex)
	clear(a.ehkIndex)
	a.pks, a.ehks, a.records = a.pks[:0], a.ehks[:0], a.records[:0]
	a.count, a.size = 0, 0
}

// Encode aggregates records, in order, into one aggregate.
func Encode(records []Record) []byte {
	var a Aggregator
	for _, r := range records {
		a.Add(r)
	}
	return a.Bytes()
}

func tableEntrySize(field protowire.Number, s string) int {
	return protowire.SizeTag(field) + protowire.SizeBytes(len(s))
}

// recordSize is the size of one encoded Record message.
func recordSize(pkIdx, ehkIdx uint64, hasEHK bool, dataLen int) int {
	n := protowire.SizeTag(fieldPartitionKeyIndex) + protowire.SizeVarint(pkIdx) +
		protowire.SizeTag(fieldData) + protowire.SizeBytes(dataLen)
	if hasEHK {
		n += protowire.SizeTag(fieldExplicitHashKeyIndex) + protowire.SizeVarint(ehkIdx)
	}
	return n
}
