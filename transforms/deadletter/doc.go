// Package deadletter keeps the records a pipeline could not process:
// records that failed to decode (package transforms/decode) and records
// kinesisio.Write could not write. Each is a Letter: the record whole
// (payload and source position), the stage that failed, and why.
//
// FromWriteFailures turns Write's failed records into letters. ToStream
// writes letters to a Kinesis dead-letter stream, ToFiles to files of JSON
// lines on any Beam file system. Both write each letter as its envelope.
//
// # Envelope
//
// A letter outside Beam is one JSON object on one line, written by
// Marshal and read by Unmarshal or any JSON reader (shown here spread
// out, with comments that are not part of it):
//
//	{
//	  "v": 2,                          // EnvelopeVersion
//	  "stage": "decode",               // Letter.Stage
//	  "error": "unexpected end of JSON input",
//	  "errorCode": "Invalid",          // omitted when empty
//	  "attempts": 0,
//	  "failedAt": "2026-03-01T12:00:00.123456789Z",   // RFC 3339, UTC; omitted when zero
//	  "source": {                      // the failed record's position
//	    "stream": "orders",
//	    "shardId": "shardId-000000000001",
//	    "sequenceNumber": "49590338271490256608559692538361571095921575989136588898",
//	    "subSequenceNumber": 0,
//	    "partitionKey": "order-17",
//	    "explicitHashKey": "",         // omitted when empty
//	    "arrival": "2026-03-01T11:59:59.5Z"           // omitted when zero
//	  },
//	  "data": "eyJpZCI6",              // the record's payload, base64 (standard, padded)
//	  "raw": {                         // omitted when every text is valid UTF-8; for a
//	    "source.partitionKey": "b3JkZXL/"  // key "order\xff", written "order\ufffd" above
//	  }
//	}
//
// Text fields are JSON strings, which hold only valid UTF-8: in one that
// is not (a partition key Write refused as InvalidPartitionKey, and the
// error quoting it), each invalid byte is written as U+FFFD, so the text
// stays readable, and "raw" holds the exact bytes in base64 (standard,
// padded) under the field's name: "stage", "error", "errorCode", or
// "source." and the name of a source field (all but "arrival"). A reader
// takes the text of a field named in "raw" from there: Marshal and
// Unmarshal round-trip every field exactly.
//
// Readers must ignore fields they do not know; a change that readers
// cannot ignore gets a new "v". Version 2 added "raw"; Unmarshal also
// reads version 1, the same without it. In Beam a Letter has a binary
// coder of its own; the envelope is only for what leaves the pipeline.
//
// # Wiring
//
// One way to keep every failure of a pipeline, shown in the package
// example: send the letters of a decode and of a Write to a dead-letter
// stream with ToStream and WithFailedRecords(), and the letters
// that stream refuses (an envelope over its record size: base64 makes a
// payload 4/3 as large) to files with FromWriteFailures and ToFiles, in
// fixed windows if the pipeline is unbounded. Letters read back from the
// stream with kinesisio.Read and decode.With(s, records, Unmarshal) can be
// replayed: their Record is the original one.
//
// # Metrics
//
// In namespace MetricsNamespace ("transforms/deadletter"): counters
// write_failure_letters (letters FromWriteFailures made), stream_letters
// (letters ToStream gave Write; Write's own metrics in namespace
// kinesisio say how many it wrote), file_letters (letters ToFiles wrote)
// and files (files ToFiles wrote).
package deadletter
