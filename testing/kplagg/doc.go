// Package kplagg runs AWS's JavaScript KPL aggregation library, the npm
// package aws-kinesis-agg 4.2.8 (awslabs/kinesis-aggregation, node/), so
// that tests can check the connector's KPL aggregation and
// de-aggregation against it: Aggregate makes aggregated records from user
// records, and Deaggregate, DeaggregateBatch and DeaggregateAll take
// Kinesis records apart as the library does.
//
// Each call runs node once (about 0.17 s for a few records, 0.4 s for
// 1,000 records and 1.5 MB; starting node and loading protobufjs
// dominate), with the package pinned in testing/emulators and installed
// through emulators.NodeModules (KINESISIO_NODE_MODULES works as there);
// a request and its answer go through node's standard input and output as
// JSON. A call is bounded by its context (which also bounds a first npm
// install), and its node run by 60 s; node is killed when either ends,
// and with the test binary. Tests call Require first: without node or
// the package it skips the test, or fails it when CI=true.
//
// # What the library does
//
// The line numbers are those of node_modules/aws-kinesis-agg/lib in
// version 4.2.8, whose files still call themselves 4.0.4.
//
// Aggregation (kpl-agg.js):
//   - An aggregate holds at most 1 MiB - 20 bytes of protobuf, by the
//     library's estimate (line 14, compared at 394), so its data, with the
//     4 magic bytes and the 16-byte MD5, is at most 1 MiB; the next user
//     record starts a new aggregate. The Kinesis record's partition key is
//     not counted, although Kinesis counts it in its 1 MiB, and keys are
//     measured in UTF-16 code units rather than UTF-8 bytes (54, 62). A
//     user record too large for an aggregate on its own is an error
//     (389), as is an empty partition key (376).
//   - The aggregated record's partition key is its first user record's
//     (185). Its explicit hash key is its first user record's too, and
//     only when that record has one: the loop at 194 looks for any user
//     record with one but takes records[0]'s. The library returns it as
//     the property ExplicitHashKey (206), not the explicitHashKey its
//     README documents; KinesisRecord.ExplicitHashKey is that property.
//   - User records' explicit hash keys go into the explicit hash key
//     table, and a user record without one has no
//     explicit_hash_key_index (124-135). An empty key counts as none.
//     Tags are always empty.
//   - The key tables are JavaScript objects, written in Object.keys order
//     (143) but indexed in insertion order (119): keys that are array
//     indices ("0" to "4294967294") are written first, in numeric order,
//     so the aggregate gives user records wrong keys unless they came in
//     that order; "__proto__" is lost, and "hasOwnProperty" makes the
//     library throw. Aggregate decodes each aggregate with the library's
//     protobuf type and fails with ErrLibrary when it does not give back
//     the user records that went in.
//
// De-aggregation (kpl-deagg.js, deaggregateSync with checksums):
//   - A record whose data does not start with the magic F3 89 9A C2 (46),
//     shorter ones included, is passed through (127-146) as one record
//     with the Kinesis record's partition key, explicit hash key (which
//     the library calls explicitPartitionKey), sequence number and data,
//     and no sub-sequence number: DeaggregatedRecord.Aggregated is false.
//   - Otherwise it decodes the protobuf between the magic and the last 16
//     bytes (51), then compares their MD5 with those bytes (58-73): a
//     protobuf error (such as protobufjs's "index out of range" or
//     "missing required 'data'") or "Invalid record checksum" is reported
//     with no user records (124, and 19-28). Magic followed by the MD5 of
//     an empty body gives no user records and no error.
//   - User record i gets the keys its indexes pick from the aggregate's
//     tables, not the Kinesis record's, the Kinesis record's sequence
//     number, and sub-sequence number i, from 0 (93-99). For a user record
//     without explicit_hash_key_index, protobufjs yields that field's
//     default, 0, so the library reports the first key of the explicit
//     hash key table, when the table has one, rather than none (95).
package kplagg
