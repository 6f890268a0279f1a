package main

import (
	"os"
	"testing"

	beamlog "github.com/apache/beam/sdks/v2/go/pkg/beam/log"

	"github.com/kinesisio/beam-kinesis/testing/beamtest"
	"github.com/kinesisio/beam-kinesis/testing/emulators"
)

func TestMain(m *testing.M) {
	emulators.UseTestCredentials()
	// Beam's and Prism's INFO logs would drown the test output.
	beamlog.LogLevel = "warn"
	// beamtest.MainRet is ptest.MainRet (flags, beam.Init, Prism as the
	// default runner), except in the worker processes that
	// RunInSeparateWorker starts from this binary.
	code := beamtest.MainRet(m)
	emulators.StopAll()
	if demoDir != "" {
		os.RemoveAll(demoDir)
	}
	os.Exit(code)
}
