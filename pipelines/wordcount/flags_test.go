package main

import (
	"context"
	"errors"
	"flag"
	"os/exec"
	"regexp"
	"strings"
	"testing"
	"time"
)

// TestHelpListsEveryFlag checks that -h lists every flag of the command.
func TestHelpListsEveryFlag(t *testing.T) {
	bin := buildDemo(t)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	out, err := exec.CommandContext(ctx, bin, "-h").CombinedOutput()
	if err != nil {
		t.Fatalf("wordcount -h: %v\n%s", err, out)
	}
	want := []string{"window", "output", "log_level", "stream", "kinesis_region", "kinesis_endpoint", "start",
		"max_records", "max_read_time", "checkpoint_app", "checkpoint_dir", "checkpoint_table", "checkpoint_region",
		"checkpoint_endpoint", "commit_interval", "rate", "words_per_record", "duration", "shards", "seed", "forever",
		"dedup_by", "dedup_horizon"}
	ownFlags.VisitAll(func(f *flag.Flag) { want = append(want, f.Name) })
	for _, name := range append(append([]string{}, streamOnlyFlags...), demoOnlyFlags...) {
		if ownFlags.Lookup(name) == nil {
			t.Errorf("--%s is listed as a flag of one mode, and is not a flag of the command", name)
		}
	}
	for _, name := range want {
		if !regexp.MustCompile(`(?m)^  --` + name + `( |$)`).Match(out) {
			t.Errorf("wordcount -h does not list --%s:\n%s", name, out)
		}
	}
}

// TestFlagErrorsNameFlags checks that a bad flag value is reported with
// the flag's name, not the name of the kinesisio option it becomes.
func TestFlagErrorsNameFlags(t *testing.T) {
	bin := buildDemo(t)
	dir := t.TempDir()
	arn := "arn:aws:kinesis:eu-west-1:123456789012:stream/words"
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--stream", arn, "--kinesis_region", "us-east-1"}, `--kinesis_region: region "us-east-1" is not the region of stream ARN`},
		{[]string{"--stream", "words", "--start", "2099-01-01T00:00:00Z"}, "--start: start time 2099-01-01T00:00:00Z is "},
		{[]string{"--stream", "words", "--max_records", "-5"}, "--max_records: -5 is not positive"},
		{[]string{"--stream", "words", "--max_read_time", "-1s"}, "--max_read_time: -1s is not positive"},
		{[]string{"--stream", "words", "--checkpoint_app", "wc", "--checkpoint_dir", dir, "--commit_interval", "1ms"}, "--commit_interval: 1ms is below 100 ms"},
		{[]string{"--stream", "words", "--checkpoint_app", "a/b", "--checkpoint_dir", dir}, `--checkpoint_app: invalid application name "a/b"`},
		{[]string{"--stream", "words", "--checkpoint_app", "wc", "--checkpoint_table", "x"}, `--checkpoint_table: invalid DynamoDB table name "x"`},
		{[]string{"--stream", "a b"}, `--stream: invalid stream name "a b"`},
		// demoEnv sets no region: the in-process worker would find none.
		{[]string{"--stream", "words"}, "no AWS region for stream words: give --kinesis_region, a stream ARN, or set AWS_REGION"},
		{[]string{"--stream", "words", "--kinesis_region", "us-east-1", "--checkpoint_app", "wc", "--checkpoint_table", "wc-checkpoints"}, "no AWS region for --checkpoint_table wc-checkpoints: give --checkpoint_region"},
	} {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		cmd := exec.CommandContext(ctx, bin, tc.args...)
		cmd.Env = demoEnv(t)
		out, err := cmd.CombinedOutput()
		cancel()
		var exit *exec.ExitError
		if !errors.As(err, &exit) || exit.ExitCode() != 1 || !strings.Contains(string(out), "wordcount: "+tc.want) {
			t.Errorf("wordcount %s: %v, output %q; want exit 1 and %q", strings.Join(tc.args, " "), err, out, tc.want)
		}
		if strings.Contains(string(out), "With") || strings.Contains(string(out), "AtTimestamp") {
			t.Errorf("wordcount %s: the error names a Go option: %s", strings.Join(tc.args, " "), out)
		}
	}
}
