package cliflags

import (
	"flag"
	"strings"
	"testing"
	"time"
)

func TestPrintAll(t *testing.T) {
	fs := flag.NewFlagSet("x", flag.ContinueOnError)
	fs.String("kinesis_endpoint", "", "Kinesis endpoint `URL`")
	fs.Duration("timeout", 30*time.Second, "bound on the command")
	fs.Int("count", 0, "records to put (0: no limit)")
	fs.Bool("force", false, "go ahead")
	var b strings.Builder
	PrintAll(&b, fs)
	want := "  --count int\n    \trecords to put (0: no limit)\n" +
		"  --force\n    \tgo ahead\n" +
		"  --kinesis_endpoint URL\n    \tKinesis endpoint URL\n" +
		"  --timeout duration\n    \tbound on the command (default 30s)\n"
	if b.String() != want {
		t.Errorf("PrintAll:\n%s\nwant:\n%s", b.String(), want)
	}
}
