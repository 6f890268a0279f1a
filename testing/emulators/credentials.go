package emulators

import "os"

// UseTestCredentials sets, in this process's environment, the fixed
// credentials and region that tests sign their calls to the emulators
// and the in-process server with (they check no signature, but the SDK
// signs every call), and hides the machine's own AWS configuration, so
// that no test reaches a real account by accident. Call it first in
// TestMain: workers and children started from the test binary inherit it,
// as real workers find their credentials in their environment.
func UseTestCredentials() {
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
}
