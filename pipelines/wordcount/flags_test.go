package main

import (
	"context"
	"flag"
	"os/exec"
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
		if !strings.Contains(string(out), "\n  --"+name+" ") {
			t.Errorf("wordcount -h does not list --%s:\n%s", name, out)
		}
	}
}
