// Package dedup drops Kinesis records already seen within a bounded
// horizon: records read twice within a job (overlapping reads, records a
// runner replays) and, with a key function, records a producer wrote
// twice (a retried put).
//
//	records := kinesisio.Read(s, "orders")
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
// longest a duplicate can trail its original: for overlapping reads, how
// far back the second one starts; for a producer's retries, how long it
// retries.
//
// # What it cannot see
//
// The state lives in the runner, with the job. A runner that restores a
// job from its own checkpoint or savepoint (Flink, Dataflow) restores it
// together with Read's positions, so replays after a failure are covered.
// A new job, such as one started again under kinesisio.WithCheckpoints
// on Prism, starts with no state: the records it reads again after the
// last commit pass. For those, commit after the sink
// (kinesisio.WithCommitsAfterSink) or make the sink idempotent.
//
// # Windows
//
// State is kept per key and window, as for every stateful DoFn, so a record
// is a duplicate of records with the same key in the same window. Records
// that Read emits again carry the same event timestamp with its default
// event time (arrival time) or kinesisio.WithTimestampFn, so they fall in the same
// window in any non-merging windowing (global, fixed, sliding: with sliding
// windows each window keeps its own copy). With kinesisio.WithProcessingTime
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
// State and timers are dear on Prism v2.77: ~300 µs of CPU per record
// (docs/performance.md), so one core keeps up with ~3,000 records/s.
//
// # Metrics
//
// In namespace MetricsNamespace ("transforms/dedup"): counters records
// (records seen), duplicates (records dropped) and expired (keys
// forgotten when their horizon passed). The keys held at a moment are
// records - duplicates - expired.
package dedup
