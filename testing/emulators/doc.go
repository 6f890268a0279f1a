// Package emulators starts third-party Kinesis and DynamoDB emulators on
// the loopback interface for tests.
//
// The emulators are npm packages pinned in package.json and
// package-lock.json beside this file: kinesalite (the fast "volume"
// emulator), kinesis-local (etspaceman/kinesis-mock compiled to JavaScript,
// the conformance emulator) and dynalite (DynamoDB). They run under node.
// The same files pin aws-kinesis-agg, AWS's JavaScript KPL aggregation
// library, which testing/kplagg runs; NodeModules finds (or installs) any
// of these packages for other test helpers.
// The node modules are installed on first use with npm ci into
// testing/emulators/node_modules of the module root, or taken from the
// folder named by the KINESISIO_NODE_MODULES environment variable.
//
// Tests normally call Require, which starts one shared instance of each
// kind per test binary and skips the test (or fails it when CI=true) when
// the emulator cannot be started. TestMain should stop them at the end,
// which Run does:
//
//	func TestMain(m *testing.M) { os.Exit(emulators.Run(m)) }
//
// Known gaps of the emulators (no StreamARN on kinesalite, no throttling on
// either, MillisBehindLatest always 0 on kinesalite, ...) are described in
// the project's research notes; tests must not rely on behaviour an
// emulator lacks.
package emulators
