// Runs aws-kinesis-agg for package kplagg (see run.go): node -e <this>
// <aws-kinesis-agg folder>. Reads one JSON request on stdin and writes one
// JSON response on stdout; binary data is base64. The library's own errors
// go into the response; anything else (bad request, crash) goes to stderr
// with exit code 1.
"use strict";
const path = require("path");
const lib = process.argv[1];
const agg = require(lib);
const common = require(path.join(lib, "lib", "common.js"));

function message(e) {
  return e && e.message ? e.message : String(e);
}

// aggregate feeds req.records to RecordAggregator.aggregateRecords with
// forceFlush, collecting the encoded records and the errors it reports.
// With req.verify it then decodes every encoded record with the library's
// own protobuf type and reports an error unless the user records come out
// as they went in.
function aggregate(req) {
  const input = req.records.map((r) => {
    const rec = { partitionKey: r.partitionKey, data: Buffer.from(r.data || "", "base64") };
    if (r.explicitHashKey) rec.explicitHashKey = r.explicitHashKey;
    return rec;
  });
  const encoded = [];
  const errors = [];
  try {
    new agg.RecordAggregator().aggregateRecords(input, true, (err, enc) => {
      if (err) errors.push(message(err));
      else if (enc) encoded.push(enc);
    });
  } catch (e) {
    errors.push("aggregateRecords threw: " + message(e));
  }
  if (errors.length === 0 && req.verify) {
    const e = verify(req.records, encoded);
    if (e) errors.push(e);
  }
  return {
    errors: errors,
    records: encoded.map((enc) => ({
      partitionKey: enc.partitionKey,
      // kpl-agg.js sets "ExplicitHashKey", capitalised, beside "partitionKey".
      explicitHashKey: enc.ExplicitHashKey,
      data: enc.data.toString("base64"),
    })),
  };
}

// verify returns a description of the first user record that the encoded
// records do not reproduce, or "" when all of them do.
function verify(want, encoded) {
  let n = 0;
  for (let a = 0; a < encoded.length; a++) {
    const buf = encoded[a].data;
    const msg = common.AggregatedRecord.decode(buf.slice(4, buf.length - 16));
    for (const item of msg.records) {
      const got = {
        partitionKey: msg.partition_key_table[item.partition_key_index],
        explicitHashKey: Object.prototype.hasOwnProperty.call(item, "explicit_hash_key_index")
          ? msg.explicit_hash_key_table[item.explicit_hash_key_index] : "",
      };
      const w = want[n] || {};
      const exp = { partitionKey: w.partitionKey, explicitHashKey: w.explicitHashKey || "" };
      const sameData = Buffer.from(w.data || "", "base64").equals(Buffer.from(item.data));
      if (got.partitionKey !== exp.partitionKey || got.explicitHashKey !== exp.explicitHashKey || !sameData) {
        return "aws-kinesis-agg mis-encoded user record " + n + " (aggregate " + a + "): wrote partition key " +
          JSON.stringify(got.partitionKey) + ", explicit hash key " + JSON.stringify(got.explicitHashKey) +
          (sameData ? "" : " and other data") + " for " + JSON.stringify(exp.partitionKey) + ", " + JSON.stringify(exp.explicitHashKey) +
          " (its key tables are JavaScript objects: keys that are array indices such as \"7\" are reordered, \"__proto__\" is lost)";
      }
      n++;
    }
  }
  if (n !== want.length) {
    return "aws-kinesis-agg encoded " + n + " user records of " + want.length;
  }
  return "";
}

// deaggregate runs deaggregateSync with checksums on each of req.records,
// given in the Lambda event format the library expects.
function deaggregate(req) {
  return {
    results: req.records.map((r) => {
      const rec = { data: r.data || "", partitionKey: r.partitionKey, sequenceNumber: r.sequenceNumber };
      if (r.explicitHashKey) rec.explicitPartitionKey = r.explicitHashKey;
      let error = "";
      let records = [];
      try {
        // deaggregateSync calls back once, or more than once when a user
        // record fails: keep the first error and the last record list.
        agg.deaggregateSync(rec, true, (err, userRecords) => {
          if (err && !error) error = message(err);
          if (userRecords) records = userRecords;
        });
      } catch (e) {
        error = "deaggregateSync threw: " + message(e);
      }
      return { error: error, records: records };
    }),
  };
}

const chunks = [];
process.stdin.on("data", (c) => chunks.push(c));
process.stdin.on("end", () => {
  const req = JSON.parse(Buffer.concat(chunks).toString("utf8"));
  let res;
  if (req.op === "aggregate") res = aggregate(req);
  else if (req.op === "deaggregate") res = deaggregate(req);
  else throw new Error("unknown op " + JSON.stringify(req.op));
  process.stdout.write(JSON.stringify(res));
});
