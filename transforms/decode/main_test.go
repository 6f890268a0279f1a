package decode_test

import (
	"os"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
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
	code := ptest.MainRet(m)
	emulators.StopAll()
	os.Exit(code)
}
