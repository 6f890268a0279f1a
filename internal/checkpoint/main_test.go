package checkpoint_test

import (
	"os"
	"testing"

	"github.com/kinesisio/beam-kinesis/testing/emulators"
)

func TestMain(m *testing.M) {
	// A child process of a cross-process test (dir_process_test.go).
	if os.Getenv(childEnv) != "" {
		os.Exit(runChild())
	}
	// dynalite checks no signature, but the SDK wants credentials to sign
	// with; like a worker's, they come from the environment. No real AWS
	// account is reached: every test names the emulator's endpoint.
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID":           "test",
		"AWS_SECRET_ACCESS_KEY":       "test",
		"AWS_REGION":                  "us-east-1",
		"AWS_EC2_METADATA_DISABLED":   "true",
		"AWS_CONFIG_FILE":             os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE": os.DevNull,
	} {
		os.Setenv(k, v)
	}
	os.Unsetenv("AWS_PROFILE")
	os.Unsetenv("AWS_SESSION_TOKEN")
	os.Exit(emulators.Run(m))
}
