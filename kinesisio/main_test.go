package kinesisio_test

import (
	"os"
	"testing"

	"github.com/kinesisio/beam-kinesis/testing/beamtest"
	"github.com/kinesisio/beam-kinesis/testing/emulators"
)

func TestMain(m *testing.M) {
	// The emulators do not check signatures, but the SDK wants credentials
	// to sign with. Workers find them in their environment, like real ones.
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID":         "test",
		"AWS_SECRET_ACCESS_KEY":     "test",
		"AWS_REGION":                "us-east-1",
		"AWS_EC2_METADATA_DISABLED": "true",
	} {
		os.Setenv(k, v)
	}
	// beamtest.MainRet is ptest.MainRet, except in the worker processes
	// that RunInSeparateWorker starts from this binary.
	code := beamtest.MainRet(m)
	emulators.StopAll()
	os.Exit(code)
}
