// Package kinesisio reads and writes Amazon Kinesis Data Streams in Apache
// Beam Go pipelines.
//
// Read is a splittable DoFn in which each shard is a restriction and the
// shard's sequence numbers are the offsets: the runner checkpoints every
// shard's progress and resumes it right after the last record emitted, and
// a shard element can be placed on any worker. Shards are listed when the
// job starts; LATEST is pinned to that moment, so a restart before the
// first record arrives loses nothing.
//
// # Guarantees
//
//   - Every record of every shard is emitted once, in sequence order within
//     its shard; a record can be emitted again only when the runner retries
//     a bundle or restarts from a checkpoint (at-least-once across
//     failures).
//   - With WithCheckpoints, positions outlive the job: a job started again
//     under the same application name resumes each shard after its last
//     committed record, as a KCL application does (see WithCheckpoints and
//     CommitWhenDone).
//   - Event time is the record's arrival time (or processing time, or a
//     function of the record whose values trail arrival by at most a
//     bound the user gives: WithProcessingTime, WithTimestampFn). The watermark advances only
//     on evidence:
//     records emitted, or a successful call that found the shard caught up
//     (no records and MillisBehindLatest == 0). It does not advance while
//     calls fail. It is correct on Prism v2.77 too, whose stage watermark
//     follows the last committed bundle instead of the minimum over
//     restrictions: each shard reports no more than the committed watermark
//     of the other shards of the read in its process.
//   - Each shard is fetched in the background within its quota (5
//     GetRecords calls and 2 MiB per second, or a configured share of it)
//     into a buffer bounded by bytes; throttling, server errors, resets and
//     expired iterators are retried per shard with jittered backoff and
//     never fail a job that has read. Permanent errors (stream not found,
//     access denied, KMS key unusable, no credentials) fail it with a
//     message that says what to fix. A Kinesis that does not answer when
//     the job starts (before the first listing of the stream succeeded)
//     fails it after 30 s, naming the endpoint and region it tried.
//     Retries are logged at the first failure, then at most once per 10 s.
//   - KPL aggregates (records the Kinesis Producer Library packed
//     together) are emitted as their user records, each with its
//     partition key, explicit hash key and sub-sequence number; positions,
//     checkpoints and checkpoint stores count user records, so a read
//     resumed inside an aggregate continues at its next user record.
//     Records that are not aggregates, or whose MD5 or protobuf does not
//     check, are emitted unchanged.
//   - WithEnhancedFanOut reads with SubscribeToShard as a registered
//     consumer instead of polling, behind the same buffer, positions and
//     watermark rules (an event with no records and MillisBehindLatest 0
//     is the caught-up evidence): its own 2 MiB/s per shard and about
//     70 ms of latency. Subscriptions are renewed after the last record
//     received; ResourceInUseException, throttling and resets are waited
//     out per shard and never fail the job.
//
// Write batches PutRecords calls (500 records, 5 MiB), retries only the
// entries that failed, with backoff, and sends records it cannot write to
// WriteResult.Failed or fails the bundle; see Write. Aggregation packs
// user records into KPL aggregated records per shard. A Connection
// (region, endpoint, profile, role) serves both transforms.
//
// # Metrics
//
// In namespace MetricsNamespace ("kinesisio"); counters unless said
// otherwise. Read, polling or fan-out:
//
//   - read_records, read_bytes: records emitted, and their bytes (data +
//     partition keys).
//   - read_calls: GetRecords calls, and SubscribeToShard calls with
//     WithEnhancedFanOut.
//   - read_throttled: calls throttled.
//   - read_retries: other failed calls retried.
//   - read_iterator_renewals: expired shard iterators renewed.
//   - read_unknown_shard_positions: shards WithShardPositions names that the
//     stream does not have.
//   - read_kpl_aggregates, read_kpl_user_records: KPL aggregates
//     de-aggregated, and the user records they held.
//   - read_kpl_corrupt: records with the KPL magic whose MD5 or protobuf
//     did not check, emitted unchanged.
//   - read_kpl_outside_shard: user records whose hash key lies outside
//     their shard's range, as after a reshard between aggregation and
//     writing: emitted (KCL drops the whole aggregate).
//   - read_millis_behind_latest/<shard ID>: gauge, the MillisBehindLatest
//     of the shard's last call or event.
//
// With WithEnhancedFanOut:
//
//   - read_subscriptions: SubscribeToShard streams opened.
//   - read_subscription_renewals: subscriptions ended without an error (as
//     Kinesis ends each every 5 minutes) and renewed.
//   - read_subscribe_in_use: subscribes refused with
//     ResourceInUseException and waited out.
//   - read_events: SubscribeToShardEvents received.
//   - read_end_checks: GetRecords calls asking whether a shard whose
//     subscription went quiet has ended (read_calls counts them too).
//   - read_ends_confirmed: shards those calls ended, the subscription not
//     having said so (as on kinesis-mock).
//
// With WithCheckpoints:
//
//   - read_commits: checkpoints written to the store.
//   - read_commit_failures: writes that failed (retried later).
//   - read_commits_throttled: those of the failures the store throttled.
//   - read_millis_since_commit/<shard ID>: gauge, how long ago the
//     shard's checkpoint was written.
//
// Write:
//
//   - write_records, write_bytes: records written, and their bytes (data +
//     partition keys).
//   - write_calls: calls made, retries included.
//   - write_retries: records sent again.
//   - write_throttled: records refused for throughput.
//   - write_failures: records given up.
//   - write_batch_size: distribution, records per call.
//   - write_aggregates, write_aggregated_records: with Aggregation,
//     the aggregated records written and the user records in them (their
//     mean size). There, the other record counters count user records (an
//     aggregate retried counts its user records), write_bytes their data +
//     partition keys, and write_batch_size the Kinesis records of each
//     call. A group of one user record goes as a plain record, in neither.
//
// # Credentials
//
// Nothing secret enters the pipeline: a Read carries the stream name or
// ARN, region, endpoint, profile name and role ARN, and each worker gets
// credentials from its AWS default chain (environment, shared config and
// credentials files, SSO, web identity, IMDS), assuming the role if one is
// set.
//
// # Runners
//
// Prism (the default runner) and portable runners (Flink, Dataflow) run
// Read as described. The legacy direct runner drops the residuals of
// self-checkpointing DoFns silently, so it runs only bounded reads
// (WithStopAtLatest, WithMaxRecords, WithMaxReadTime), one shard at a
// time; an unbounded Read is refused there when the pipeline is built.
package kinesisio
