package main

import (
	"os"
	"testing"

	beamlog "github.com/apache/beam/sdks/v2/go/pkg/beam/log"

	"github.com/kinesisio/beam-kinesis/testing/beamtest"
	"github.com/kinesisio/beam-kinesis/testing/emulators"
)

func TestMain(m *testing.M) {
	// The emulators and the fake server do not check signatures, but the
	// SDK wants credentials to sign with. Workers find them in their
	// environment, like real ones.
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID":         "test",
		"AWS_SECRET_ACCESS_KEY":     "test",
		"AWS_REGION":                "us-east-1",
		"AWS_EC2_METADATA_DISABLED": "true",
	} {
		os.Setenv(k, v)
	}
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
