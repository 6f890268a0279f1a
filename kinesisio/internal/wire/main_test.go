package wire

import (
	"os"
	"testing"

	"github.com/kinesisio/beam-kinesis/testing/emulators"
)

func TestMain(m *testing.M) { os.Exit(emulators.Run(m)) }
