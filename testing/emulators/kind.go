package emulators

import (
	"fmt"
	"path/filepath"
	"strconv"
)

// Kind names an emulator that Start can run.
type Kind string

const (
	// Kinesalite is kinesalite, a fast in-memory Kinesis emulator. It lacks
	// StreamARN parameters, ShardFilter, paging, UpdateShardCount, stream
	// consumers and ChildShards, and always reports MillisBehindLatest 0.
	Kinesalite Kind = "kinesalite"
	// KinesisMock is kinesis-mock (npm package kinesis-local), a slower but
	// more faithful Kinesis emulator. It also listens on a TLS port, see
	// Emulator.TLSEndpoint.
	KinesisMock Kind = "kinesis-mock"
	// Dynalite is dynalite, an in-memory DynamoDB emulator.
	Dynalite Kind = "dynalite"
)

// Readiness probe targets and content types, by protocol.
const (
	kinesisProbeTarget  = "Kinesis_20131202.ListStreams"
	kinesisContentType  = "application/x-amz-json-1.1"
	dynamoProbeTarget   = "DynamoDB_20120810.ListTables"
	dynamoContentType   = "application/x-amz-json-1.0"
	kinesisSigningScope = "kinesis"
	dynamoSigningScope  = "dynamodb"
)

// kinesaliteLauncher runs kinesalite through its library API rather than
// its CLI, because only the API lets it bind to 127.0.0.1. Arguments: the
// kinesalite package folder, the port. kinesalite 3.3.3 rethrows the error
// of a request whose client went away mid-call (index.js: req.on('error',
// ... throw err)), which ends the whole emulator when a test kills a
// client process; the launcher logs those and carries on.
const kinesaliteLauncher = `process.on("uncaughtException", function (err) {
  if (err && (err.code === "ECONNRESET" || err.message === "aborted")) {
    console.error("kinesalite: a client went away mid-request: " + err.message);
    return;
  }
  throw err;
});
var port = +process.argv[2];
var server = require(process.argv[1])({createStreamMs: 0, deleteStreamMs: 0, updateStreamMs: 0, shardLimit: 1000});
server.listen(port, "127.0.0.1", function () {
  console.log("kinesalite listening at http://127.0.0.1:%d", port);
});`

// spec says how to run one emulator of a kind.
type spec struct {
	pkg          string   // npm package that must be installed
	args         []string // node arguments
	env          []string // extra environment variables
	tlsPort      int      // 0 unless the emulator also serves TLS
	probeTarget  string   // X-Amz-Target of the readiness probe
	contentType  string   // Content-Type of the readiness probe
	signingScope string   // service name in the dummy Authorization header
}

// packageName returns the npm package that provides kind.
func packageName(kind Kind) (string, error) {
	switch kind {
	case Kinesalite:
		return "kinesalite", nil
	case KinesisMock:
		return "kinesis-local", nil
	case Dynalite:
		return "dynalite", nil
	default:
		return "", fmt.Errorf("emulators: unknown kind %q", kind)
	}
}

// portsNeeded returns how many loopback ports kind listens on.
func portsNeeded(kind Kind) int {
	if kind == KinesisMock {
		return 2
	}
	return 1
}

// newSpec returns how to run kind from nodeModules on the given ports
// (len(ports) == portsNeeded(kind)).
func newSpec(kind Kind, nodeModules string, ports []int) (spec, error) {
	pkg, err := packageName(kind)
	if err != nil {
		return spec{}, err
	}
	dir := filepath.Join(nodeModules, pkg)
	port := strconv.Itoa(ports[0])
	s := spec{
		pkg:          pkg,
		probeTarget:  kinesisProbeTarget,
		contentType:  kinesisContentType,
		signingScope: kinesisSigningScope,
	}
	switch kind {
	case Kinesalite:
		s.args = []string{"-e", kinesaliteLauncher, dir, port}
	case KinesisMock:
		// kinesis-mock always binds 0.0.0.0; it has no host setting.
		s.tlsPort = ports[1]
		s.args = []string{filepath.Join(dir, "main.js")}
		s.env = []string{
			"KINESIS_MOCK_CERT_PATH=" + filepath.Join(dir, "server.json"),
			"KINESIS_MOCK_PLAIN_PORT=" + port,
			"KINESIS_MOCK_TLS_PORT=" + strconv.Itoa(ports[1]),
			"CREATE_STREAM_DURATION=0ms",
			"DELETE_STREAM_DURATION=0ms",
			"SPLIT_SHARD_DURATION=0ms",
			"MERGE_SHARDS_DURATION=0ms",
			"UPDATE_SHARD_COUNT_DURATION=0ms",
			"UPDATE_STREAM_MODE_DURATION=0ms",
			"REGISTER_STREAM_CONSUMER_DURATION=0ms",
			"DEREGISTER_STREAM_CONSUMER_DURATION=0ms",
			"START_STREAM_ENCRYPTION_DURATION=0ms",
			"STOP_STREAM_ENCRYPTION_DURATION=0ms",
			"SHARD_LIMIT=1000",
			"LOG_LEVEL=WARN",
		}
	case Dynalite:
		s.args = []string{filepath.Join(dir, "cli.js"), "--host", "127.0.0.1", "--port", port,
			"--createTableMs", "0", "--deleteTableMs", "0", "--updateTableMs", "0"}
		s.probeTarget = dynamoProbeTarget
		s.contentType = dynamoContentType
		s.signingScope = dynamoSigningScope
	}
	return s, nil
}
