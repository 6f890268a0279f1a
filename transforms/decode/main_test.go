package decode_test

import (
	"os"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/kinesisio/beam-kinesis/testing/emulators"
)

func TestMain(m *testing.M) {
	emulators.UseTestCredentials()
	code := ptest.MainRet(m)
	emulators.StopAll()
	os.Exit(code)
}
