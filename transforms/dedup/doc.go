// Package dedup drops Kinesis records already seen within a bounded
// horizon: the step that turns Read's at-least-once delivery (records read
// again after a restart from checkpoints, a retried bundle or overlapping
// start positions) into effectively-once processing downstream.
//
//	records := kinesisio.Read(s, "orders", kinesisio.WithCheckpoints(app, store))
//	unique := dedup.Records(s, records, dedup.WithHorizon(dedup.EventTime(10*time.Minute)))
//
// # Keys
//
// A record's key is its identity by default: stream, shard, sequence
// number and sub-sequence number, which Read gives every record it emits
// again unchanged. WithKeyFn keys records by a registered function
// instead, for example a business ID inside the payload, to drop
// duplicates that a producer wrote twice (two Kinesis records).
//
// # Horizon
//
// A key is remembered from its first record until the horizon has passed,
// then forgotten, so memory holds only the keys that arrived within one
// horizon. The horizon is measured in one of two time domains, as in Beam
// Java's Deduplicate (whose default is processing time):
//
//   - EventTime(d), the default with 10 minutes: a key is forgotten when
//     the watermark passes the first record's event time plus d. Right
//     for replays: a restart from an older checkpoint re-reads records
//     whose event times (arrival times, with Read's default) trail the
//     watermark by how far back it starts, and the horizon says how far
//     back that may be. A bounded input ends at once, its watermark
//     passing every horizon.
//   - ProcessingTime(d): a key is forgotten d after its first record was
//     processed (wall-clock time on the workers), whatever the records'
//     event times. Runners wait for processing-time timers, so a bounded
//     input ends only d after its last new key.
//
// A record whose key comes back after the horizon passes through again:
// the horizon is the promise, not "forever". Pick it longer than the
// longest replay you expect (for a restart from checkpoints, the commit
// interval plus the time the job may be down).
//
// # Windows
//
// State is kept per key and window, as for every stateful DoFn, so a record
// is a duplicate of records with the same key in the same window. Records
// that Read emits again carry the same event timestamp with its default
// event time (arrival time) or a TimestampFn, so they fall in the same
// window in any non-merging windowing (global, fixed, sliding: with sliding
// windows each window keeps its own copy). With kinesisio.ProcessingTime
// event times, merging windows (sessions) or a user key that spans
// different timestamps, apply Records before windowing, where Read's
// output is still in the global window. In a non-global window the
// event-time horizon ends at the window's end at the latest: late records
// of the window after that pass through.
//
// # Runners
//
// Records needs state and timers: Prism and the portable runners (Flink,
// Dataflow) have both. Flink's Go SDK support has no processing-time
// timers; use EventTime there. The legacy direct runner has neither.
//
// # Metrics
//
// In namespace MetricsNamespace ("kinesisio/dedup"): counters records
// (records seen), duplicates (records dropped) and expired (keys
// forgotten when their horizon passed). The keys held at a moment are
// records - duplicates - expired.
package dedup
