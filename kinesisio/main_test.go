package kinesisio_test

import (
	"os"
	"testing"

	"github.com/kinesisio/beam-kinesis/testing/beamtest"
	"github.com/kinesisio/beam-kinesis/testing/emulators"
)

// childModeEnv names the mode of a child process that a test started from
// this binary; childModes (filled by the tests' init functions) maps each
// mode to the function that runs it and returns the exit code.
const childModeEnv = "KINESISIO_TEST_CHILD"

var childModes = map[string]func() int{}

func TestMain(m *testing.M) {
	emulators.UseTestCredentials()
	// A test that re-executes this binary as a job of its own (not as a
	// Beam worker) names the child's mode in childModeEnv.
	if f := childModes[os.Getenv(childModeEnv)]; f != nil {
		os.Exit(f())
	}
	// beamtest.MainRet is ptest.MainRet, except in the worker processes
	// that RunInSeparateWorker starts from this binary.
	code := beamtest.MainRet(m)
	emulators.StopAll()
	os.Exit(code)
}
