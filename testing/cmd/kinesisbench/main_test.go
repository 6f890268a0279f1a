package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"
	"time"
)

// TestSmoke runs every figure of the command with --smoke in this process
// and checks only that it worked: every record counted, every pipeline
// done, every table printed. Timings are never checked.
func TestSmoke(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var stdout, stderr bytes.Buffer
	start := time.Now()
	rep, err := run(ctx, []string{"--smoke", "--markdown"}, &stdout, &stderr)
	t.Logf("smoke run took %v", time.Since(start).Round(time.Millisecond))
	if testing.Verbose() {
		t.Logf("stdout:\n%s", stdout.String())
	}
	if err != nil {
		t.Fatalf("run: %v\nstderr:\n%s", err, stderr.String())
	}
	if len(rep.Failures) > 0 {
		t.Fatalf("functional failures:\n  %s\nstderr:\n%s", strings.Join(rep.Failures, "\n  "), stderr.String())
	}
	out := stdout.String()
	for _, title := range []string{"1a. Read throughput", "1b. ", "1c. Catch-up", "2a. CPU per record", "2b. ", "2c. ", "2d. ", "2e. ",
		"3. Latency", "3b. The same latency with enhanced fan-out", "4. Start-up", "5a. Scale", "5b. Memory", "5c. Lag",
		"5g. CPU per record on one worker, enhanced fan-out", "5h. ", "5i. ", "6. Write throughput", "Summary against the performance targets",
		"---- Markdown ----", "| record | shards |"} {
		if !strings.Contains(out, title) {
			t.Errorf("output lacks %q", title)
		}
	}
	// Every figure's main table has rows (a figure that failed to measure
	// would have reported a failure above; this catches empty tables).
	for _, tb := range rep.Tables {
		if len(tb.Rows) == 0 {
			t.Errorf("table %q has no rows", tb.Title)
		}
	}
}

func TestFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		ok   bool
	}{
		{[]string{"--only=read,write"}, true},
		{[]string{"--only=latency,scale", "--fanout=false"}, true},
		{[]string{"--only=all", "--smoke"}, true},
		{[]string{"--sizes=100,10KiB", "--read-bytes-per-shard=2MiB"}, true},
		{[]string{"--only=nope"}, false},
		{[]string{"--only="}, false},
		{[]string{"--sizes=8"}, false},
		{[]string{"--read-bound=sometimes"}, false},
		{[]string{"--latency-duration=0s"}, false},
		{[]string{"stray"}, false},
	} {
		c, err := parseFlags(tc.args, io.Discard)
		if tc.ok != (err == nil) {
			t.Errorf("parseFlags(%q): err = %v, want ok = %v", tc.args, err, tc.ok)
		}
		if !tc.ok && !errors.As(err, new(usageError)) {
			t.Errorf("parseFlags(%q): %v is not a usage error", tc.args, err)
		}
		if tc.ok && len(c.only) == 0 {
			t.Errorf("parseFlags(%q): no figure selected", tc.args)
		}
	}
	c, err := parseFlags([]string{"--smoke", "--shards=2"}, io.Discard)
	if err != nil {
		t.Fatal(err)
	}
	if len(c.shards) != 1 || c.shards[0] != 2 {
		t.Errorf("--smoke overrode an explicit --shards: %v", c.shards)
	}
	if c.cpuRecords != 20000 {
		t.Errorf("--smoke did not shrink --cpu-records: %d", c.cpuRecords)
	}
	if got := c.readBytes(100); got != 200000 {
		t.Errorf("smoke readBytes(100) = %d", got)
	}
}
