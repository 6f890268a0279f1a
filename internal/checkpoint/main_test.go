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
	emulators.UseTestCredentials()
	os.Exit(emulators.Run(m))
}
