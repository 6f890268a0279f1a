package fakekinesis

import (
	"fmt"
	"os"
	"testing"

	"github.com/kinesisio/beam-kinesis/testing/emulators"
)

func TestMain(m *testing.M) {
	code := m.Run()
	if err := emulators.StopAll(); err != nil {
		fmt.Fprintln(os.Stderr, "StopAll:", err)
		if code == 0 {
			code = 1
		}
	}
	os.Exit(code)
}
