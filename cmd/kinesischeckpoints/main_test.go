package main

import (
	"bytes"
	"context"
	"errors"
	"flag"
	"github.com/google/go-cmp/cmp"
	"github.com/kinesisio/beam-kinesis/internal/procid"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/kinesisio/beam-kinesis/internal/checkpoint"
	"github.com/kinesisio/beam-kinesis/testing/emulators"
)

func TestMain(m *testing.M) {
	// The command takes its credentials from the default chain, here the
	// environment. No real AWS account is reached: every test names an
	// emulator's endpoint.
	emulators.UseTestCredentials()
	os.Exit(emulators.Run(m))
}

// result is what one run of the command gave.
type result struct {
	code           int
	stdout, stderr string
}

// runCmd runs the command with args.
func runCmd(t *testing.T, args ...string) result {
	t.Helper()
	var out, errw bytes.Buffer
	code := run(context.Background(), args, &out, &errw)
	r := result{code: code, stdout: out.String(), stderr: errw.String()}
	t.Logf("kinesischeckpoints %s: exit %d\nstdout:\n%sstderr:\n%s", strings.Join(args, " "), r.code, r.stdout, r.stderr)
	return r
}

// wantCode fails the test unless r exited with code.
func (r result) wantCode(t *testing.T, code int) {
	t.Helper()
	if r.code != code {
		t.Fatalf("exit status %d, want %d\nstdout:\n%s\nstderr:\n%s", r.code, code, r.stdout, r.stderr)
	}
}

// wantOut fails the test unless stdout holds every one of subs.
func (r result) wantOut(t *testing.T, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(r.stdout, s) {
			t.Errorf("stdout lacks %q:\n%s", s, r.stdout)
		}
	}
}

// wantErr fails the test unless stderr holds every one of subs.
func (r result) wantErr(t *testing.T, subs ...string) {
	t.Helper()
	for _, s := range subs {
		if !strings.Contains(r.stderr, s) {
			t.Errorf("stderr lacks %q:\n%s", s, r.stderr)
		}
	}
}

const (
	app    = "orders"
	stream = "orders-stream"
	shard0 = "shardId-000000000000"
	shard1 = "shardId-000000000001"
	shard2 = "shardId-000000000002"
	seq0   = "49650000000000000000000000000000000000000000000000000001"
	seq2   = "49650000000000000000000000000000000000000000000000000042"
)

// dirStore returns a new directory store and its path.
func dirStore(t *testing.T) (checkpoint.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ckpt")
	st, err := checkpoint.Open(context.Background(), checkpoint.Spec{Kind: checkpoint.Dir, Path: path})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st, path
}

// fillLease is how fill leaves the lease.
type fillLease int

const (
	leaseLive fillLease = iota
	leaseStale
	leaseReleased
)

// fill takes app's lease as run "run-1" would and commits three
// checkpoints of stream under it: shard 0 at seq0, shard 1 read to its
// end, and shard 2, a child of both, at seq2 (sub-sequence 3). It
// returns the lease.
func fill(t *testing.T, st checkpoint.Store, state fillLease) checkpoint.Lease {
	t.Helper()
	ctx := context.Background()
	now, staleAfter := time.Now(), time.Hour
	if state == leaseStale {
		now, staleAfter = now.Add(-time.Hour), time.Minute
	}
	l, err := st.Acquire(ctx, checkpoint.Lease{App: app, Stream: stream, Owner: "run-1", Job: "host h, pid 1, stream " + stream, StaleAfter: staleAfter}, now)
	if err != nil {
		t.Fatal(err)
	}
	for _, cp := range []checkpoint.Checkpoint{
		{Stream: stream, ShardID: shard0, Seq: seq0},
		{Stream: stream, ShardID: shard1, Seq: "7", Finished: true},
		{Stream: stream, ShardID: shard2, Seq: seq2, SubSeq: 3, Parents: []string{shard0, shard1}},
	} {
		if err := st.Commit(ctx, l, cp); err != nil {
			t.Fatal(err)
		}
	}
	if state == leaseReleased {
		if err := st.Release(ctx, l); err != nil {
			t.Fatal(err)
		}
	}
	return l
}

// load returns app's checkpoints by shard ID.
func load(t *testing.T, st checkpoint.Store) map[string]checkpoint.Checkpoint {
	t.Helper()
	cps, err := st.Load(context.Background(), app, "")
	if err != nil {
		t.Fatal(err)
	}
	m := map[string]checkpoint.Checkpoint{}
	for _, cp := range cps {
		m[cp.ShardID] = cp
	}
	return m
}

// readLease returns app's lease.
func readLease(t *testing.T, st checkpoint.Store) (checkpoint.Lease, bool) {
	t.Helper()
	l, ok, err := st.ReadLease(context.Background(), app, stream)
	if err != nil {
		t.Fatal(err)
	}
	return l, ok
}

func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"no arguments", nil, "no command"},
		{"unknown command", []string{"--dir", dir, "--app", app, "lsit"}, `unknown command "lsit"`},
		{"unknown flag", []string{"--dir", dir, "--app", app, "-bogus", "list"}, "flag provided but not defined: -bogus"},
		{"no app", []string{"--dir", dir, "list"}, "--app is required"},
		{"invalid app", []string{"--dir", dir, "--app", "a/b", "list"}, "invalid application name"},
		{"no store", []string{"--app", app, "list"}, "no store"},
		{"both stores", []string{"--dir", dir, "--table", "ckpt", "--app", app, "list"}, "not both"},
		{"region with dir", []string{"--dir", dir, "--table_region", "eu-west-1", "--app", app, "list"}, "--table_region names the DynamoDB table's region"},
		{"bad table", []string{"--table", "x", "--app", app, "list"}, "invalid DynamoDB table name"},
		{"external id alone", []string{"--table", "ckpt", "--external_id", "e", "--app", app, "list"}, "--external_id needs --role_arn"},
		{"list argument", []string{"--dir", dir, "--app", app, "list", "extra"}, "list takes no arguments"},
		{"kinesis flag without stream", []string{"--dir", dir, "--app", app, "--kinesis_endpoint", "http://127.0.0.1:1", "list"}, "--kinesis_endpoint needs --stream"},
		{"stream on reset", []string{"--dir", dir, "--app", app, "--stream", stream, "reset"}, "--stream does not apply"},
		{"stream on release", []string{"--dir", dir, "--app", app, "--stream", stream, "release"}, "--stream does not apply"},
		{"bad stream", []string{"--dir", dir, "--app", app, "--stream", "a b", "list"}, "invalid stream name"},
		{"region conflict", []string{"--dir", dir, "--app", app, "--stream", "arn:aws:kinesis:eu-west-1:123456789012:stream/s", "--kinesis_region", "us-east-1", "list"}, "differs from the region"},
		{"set without stream", []string{"--dir", dir, "--app", app, "set", shard0, seq0}, "set needs --stream"},
		{"set one argument", []string{"--dir", dir, "--app", app, "--stream", stream, "set", shard0}, "set wants two arguments"},
		{"set letters", []string{"--dir", dir, "--app", app, "--stream", stream, "set", shard0, "12a"}, "invalid sequence number"},
		{"set leading zero", []string{"--dir", dir, "--app", app, "--stream", stream, "set", shard0, "0123"}, "invalid sequence number"},
		{"set negative", []string{"--dir", dir, "--app", app, "--stream", stream, "set", "--", shard0, "-1"}, "invalid sequence number"},
		{"set 130 digits", []string{"--dir", dir, "--app", app, "--stream", stream, "set", shard0, "1" + strings.Repeat("0", 129)}, "invalid sequence number"},
		{"set bad shard", []string{"--dir", dir, "--app", app, "--stream", stream, "set", "shard/0", seq0}, "invalid shard ID"},
		{"zero timeout", []string{"--dir", dir, "--app", app, "--timeout", "0s", "list"}, "--timeout"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := runCmd(t, tc.args...)
			r.wantCode(t, exitUsage)
			r.wantErr(t, tc.want, "kinesischeckpoints -h")
			if r.stdout != "" {
				t.Errorf("stdout: %q, want nothing", r.stdout)
			}
		})
	}
	// A usage error touches no store.
	if entries, _ := os.ReadDir(dir); len(entries) != 0 {
		t.Errorf("the directory holds %d entries after usage errors", len(entries))
	}
}

func TestUsageAccepts(t *testing.T) {
	// The longest sequence number Kinesis allows: 129 digits.
	_, path := dirStore(t)
	r := runCmd(t, "--dir", path, "--app", app, "--stream", stream, "set", shard0, "1"+strings.Repeat("0", 128))
	r.wantCode(t, exitOK)
}

func TestHelp(t *testing.T) {
	for _, args := range [][]string{{"-h"}, {"-help"}, {"help"}, {"--dir", "x", "list", "-h"}} {
		r := runCmd(t, args...)
		r.wantCode(t, exitOK)
		r.wantOut(t, "Usage:", "list", "reset", "set SHARD SEQ", "release")
		// Every flag, spelt as the documentation spells it.
		var o options
		newFlagSet(&o).VisitAll(func(f *flag.Flag) { r.wantOut(t, "\n  --"+f.Name) })
	}
	for _, name := range []string{"dir", "table", "table_region", "table_endpoint", "profile", "role_arn", "external_id", "app", "stream", "kinesis_endpoint", "kinesis_region", "force", "timeout"} {
		var o options
		if newFlagSet(&o).Lookup(name) == nil {
			t.Errorf("no flag --%s", name)
		}
	}
}

func TestFlagsAfterCommand(t *testing.T) {
	st, path := dirStore(t)
	fill(t, st, leaseLive)
	r := runCmd(t, "list", "--dir", path, "--app", app)
	r.wantCode(t, exitOK)
	r.wantOut(t, shard0)
	r = runCmd(t, "--dir", path, "set", shard0, seq2, "--app", app, "--stream", stream, "--force")
	r.wantCode(t, exitOK)
	if got := load(t, st)[shard0].Seq; got != seq2 {
		t.Errorf("shard 0 at %s, want %s", got, seq2)
	}
}

func TestListLive(t *testing.T) {
	st, path := dirStore(t)
	fill(t, st, leaseLive)
	r := runCmd(t, "--dir", path, "--app", app, "list")
	r.wantCode(t, exitOK)
	r.wantOut(t,
		"application orders in checkpoint directory "+path,
		"lease of stream "+stream+": live, held by run run-1 (host h, pid 1, stream orders-stream), epoch 1, last heartbeat ",
		"stale after 1h0m0s",
		"checkpoints: 3",
	)
	lines := strings.Split(strings.TrimSpace(r.stdout), "\n")
	if len(lines) != 7 {
		t.Fatalf("%d lines, want 7 (3 of header, 1 of columns, 3 checkpoints)", len(lines))
	}
	want := [][]string{
		{"STREAM", "SHARD", "SEQUENCE", "SUBSEQ", "FINISHED", "PARENTS", "UPDATED", "EPOCH"},
		{stream, shard0, seq0, "0", "false", "-", "ago", "1"},
		{stream, shard1, "7", "0", "true", "-", "ago", "1"},
		{stream, shard2, seq2, "3", "false", shard0 + "," + shard1, "ago", "1"},
	}
	for i, w := range want {
		f := strings.Fields(lines[3+i])
		if i > 0 {
			// UPDATED is two fields, "0.1s ago".
			f = append(f[:6], f[7:]...)
		}
		if strings.Join(f, " ") != strings.Join(w, " ") {
			t.Errorf("line %d: %q, want fields %q", 4+i, lines[3+i], w)
		}
	}
}

func TestListReleasedAndStale(t *testing.T) {
	st, path := dirStore(t)
	fill(t, st, leaseReleased)
	r := runCmd(t, "--dir", path, "--app", app, "list")
	r.wantCode(t, exitOK)
	r.wantOut(t, "lease of stream "+stream+": released, epoch 1, last held by host h, pid 1, stream orders-stream", "checkpoints: 3", shard2)

	st, path = dirStore(t)
	fill(t, st, leaseStale)
	r = runCmd(t, "--dir", path, "--app", app, "list")
	r.wantCode(t, exitOK)
	r.wantOut(t, "lease of stream "+stream+": stale, held by run run-1", "last heartbeat 1h0m0s ago", "stale after 1m0s")
}

func TestListEmptyAndMissing(t *testing.T) {
	_, path := dirStore(t)
	r := runCmd(t, "--dir", path, "--app", app, "list")
	r.wantCode(t, exitOK)
	r.wantOut(t, "lease: none", "checkpoints: 0")
	if strings.Contains(r.stdout, "STREAM") {
		t.Errorf("a table without rows:\n%s", r.stdout)
	}

	missing := filepath.Join(t.TempDir(), "typo")
	for _, command := range []string{"list", "reset", "release"} {
		r = runCmd(t, "--dir", missing, "--app", app, command)
		r.wantCode(t, exitFailure)
		r.wantErr(t, "checkpoint directory "+missing+" does not exist")
	}
	if _, err := os.Stat(missing); err == nil {
		t.Errorf("%s was created", missing)
	}

	// A foreign directory is named in the error.
	foreign := t.TempDir()
	os.WriteFile(filepath.Join(foreign, "notes.txt"), []byte("x"), 0o644)
	r = runCmd(t, "--dir", foreign, "--app", app, "list")
	r.wantCode(t, exitFailure)
	r.wantErr(t, "opening checkpoint directory "+foreign, "not a kinesisio checkpoint store")
}

func TestResetRefusedWhileLive(t *testing.T) {
	st, path := dirStore(t)
	l := fill(t, st, leaseLive)
	r := runCmd(t, "--dir", path, "--app", app, "reset")
	r.wantCode(t, exitFailure)
	r.wantErr(t, "is held by a live lease on stream "+stream+": live, held by run run-1", "stop it first (`stop`), or pass --force to reset anyway")
	if n := len(load(t, st)); n != 3 {
		t.Errorf("%d checkpoints after a refused reset, want 3", n)
	}
	if cur, ok := readLease(t, st); !ok || !cmp.Equal(cur, l) {
		t.Errorf("lease after a refused reset: %+v, %v; want %+v", cur, ok, l)
	}
}

func TestResetForce(t *testing.T) {
	st, path := dirStore(t)
	l := fill(t, st, leaseLive)
	r := runCmd(t, "--dir", path, "--app", app, "--force", "reset")
	r.wantCode(t, exitOK)
	r.wantOut(t,
		"reset application orders in checkpoint directory "+path,
		"released the lease under a new epoch: released, epoch 2",
		"it was live, held by run run-1",
		"deleted 3 checkpoints:",
		"stream orders-stream shard "+shard0+": after "+seq0+", epoch 1",
		"stream orders-stream shard "+shard1+": read to its end, epoch 1",
		"stream orders-stream shard "+shard2+": after "+seq2+" (sub-sequence 3), epoch 1",
	)
	r.wantErr(t, "warning: --force", "run-1")
	if n := len(load(t, st)); n != 0 {
		t.Errorf("%d checkpoints after reset", n)
	}
	if cur, ok := readLease(t, st); !ok || cur.Owner != "" || cur.Epoch != 2 {
		t.Errorf("lease after reset: %+v, %v; want released under epoch 2", cur, ok)
	}
	// The job that held it is cut off: its heartbeat and its release fail.
	ctx := context.Background()
	if _, err := st.Heartbeat(ctx, l, procid.Self(), time.Now()); !errors.Is(err, checkpoint.ErrLeaseLost) {
		t.Errorf("heartbeat after reset: %v, want ErrLeaseLost", err)
	}
	if err := st.Release(ctx, l); !errors.Is(err, checkpoint.ErrLeaseLost) {
		t.Errorf("release after reset: %v, want ErrLeaseLost", err)
	}
	// A commit it makes before it notices is refused (the reset holds),
	// and does not fence the next job.
	if err := st.Commit(ctx, l, checkpoint.Checkpoint{Stream: stream, ShardID: shard0, Seq: "8"}); !errors.Is(err, checkpoint.ErrFenced) {
		t.Errorf("commit of the cut-off run after reset: %v, want ErrFenced", err)
	}
	nl, err := st.Acquire(ctx, checkpoint.Lease{App: app, Stream: stream, Owner: "run-2", Job: "", StaleAfter: time.Minute}, time.Now())
	if err != nil || nl.Epoch != 3 {
		t.Fatalf("acquire after reset: %+v, %v; want epoch 3", nl, err)
	}
	if err := st.Commit(ctx, nl, checkpoint.Checkpoint{Stream: stream, ShardID: shard0, Seq: "9"}); err != nil {
		t.Errorf("the next job's commit over the cut-off run's: %v", err)
	}
}

func TestResetStaleAndReleased(t *testing.T) {
	for _, state := range []fillLease{leaseStale, leaseReleased} {
		st, path := dirStore(t)
		fill(t, st, state)
		r := runCmd(t, "--dir", path, "--app", app, "reset")
		r.wantCode(t, exitOK)
		// The command took the lease (epoch 2), and Reset released it
		// under epoch 3.
		r.wantOut(t, "released the lease under a new epoch: released, epoch 3, last held by kinesischeckpoints reset",
			"it was "+[]string{leaseStale: "stale", leaseReleased: "released"}[state]+", ", "deleted 3 checkpoints:")
		if r.stderr != "" {
			t.Errorf("stderr: %q", r.stderr)
		}
		if n := len(load(t, st)); n != 0 {
			t.Errorf("%d checkpoints after reset", n)
		}
		if cur, ok := readLease(t, st); !ok || cur.Owner != "" || cur.Epoch != 3 {
			t.Errorf("lease after reset: %+v, %v; want released under epoch 3", cur, ok)
		}
		// A new job starts fresh.
		l, err := st.Acquire(context.Background(), checkpoint.Lease{App: app, Stream: stream, Owner: "run-2", Job: "", StaleAfter: time.Minute}, time.Now())
		if err != nil || l.Epoch != 4 {
			t.Errorf("acquire after reset: %+v, %v; want epoch 4", l, err)
		}
	}
	// Checkpoints and no lease (an operator's set before any job): the
	// command's own lease is left released.
	st, path := dirStore(t)
	if err := st.Set(context.Background(), app, checkpoint.Checkpoint{Stream: stream, ShardID: shard0, Seq: seq0, Owner: "op"}); err != nil {
		t.Fatal(err)
	}
	r := runCmd(t, "--dir", path, "--app", app, "reset")
	r.wantCode(t, exitOK)
	r.wantOut(t, "released the lease under a new epoch: released, epoch 2", "there was no lease before", "deleted 1 checkpoint:")
	if n := len(load(t, st)); n != 0 {
		t.Errorf("%d checkpoints after reset", n)
	}
	if cur, ok := readLease(t, st); !ok || cur.Owner != "" || cur.Epoch != 2 {
		t.Errorf("lease after reset: %+v, %v; want released under epoch 2", cur, ok)
	}
	_, path = dirStore(t)
	r = runCmd(t, "--dir", path, "--app", app, "reset")
	r.wantCode(t, exitOK)
	r.wantOut(t, "has no lease and no checkpoints: nothing to delete")
}

func TestSet(t *testing.T) {
	st, path := dirStore(t)
	fill(t, st, leaseStale)
	r := runCmd(t, "--dir", path, "--app", app, "--stream", stream, "set", shard2, "123")
	r.wantCode(t, exitOK)
	r.wantOut(t, "set shard "+shard2+" of stream orders-stream of application orders in checkpoint directory "+path+": it resumes after sequence number 123",
		"it was: after "+seq2+" (sub-sequence 3), epoch 1")
	cps := load(t, st)
	got := cps[shard2]
	if got.Seq != "123" || got.SubSeq != 0 || got.Finished || strings.Join(got.Parents, ",") != shard0+","+shard1 {
		t.Errorf("checkpoint after set: %+v", got)
	}
	// The command took the stale lease (epoch 2) to write, and released it.
	if got.Epoch != 2 || !strings.HasPrefix(got.Owner, "kinesischeckpoints-") {
		t.Errorf("checkpoint after set: epoch %d, owner %q; want 2, kinesischeckpoints-...", got.Epoch, got.Owner)
	}
	l, ok := readLease(t, st)
	if !ok || l.Owner != "" || l.Epoch != 2 {
		t.Errorf("lease after set: %+v; want released under epoch 2", l)
	}
	if cps[shard0].Seq != seq0 || !cps[shard1].Finished {
		t.Errorf("set changed other shards: %+v", cps)
	}
	// The old run can no longer overwrite it.
	old := checkpoint.Lease{App: app, Stream: stream, Owner: "run-1", Epoch: 1}
	if err := st.Commit(context.Background(), old, checkpoint.Checkpoint{Stream: stream, ShardID: shard2, Seq: "999"}); !errors.Is(err, checkpoint.ErrFenced) {
		t.Errorf("commit of the old run after set: %v, want ErrFenced", err)
	}

	// A finished shard is no longer finished; a new shard is noted.
	r = runCmd(t, "--dir", path, "--app", app, "--stream", stream, "set", shard1, "8")
	r.wantCode(t, exitOK)
	r.wantErr(t, "was marked read to its end")
	if cp := load(t, st)[shard1]; cp.Finished || cp.Seq != "8" {
		t.Errorf("shard 1 after set: %+v", cp)
	}
	r = runCmd(t, "--dir", path, "--app", app, "--stream", stream, "set", "shardId-000000000009", "0")
	r.wantCode(t, exitOK)
	r.wantOut(t, "it had no checkpoint")
	r.wantErr(t, "check that the stream has this shard")
	if cp := load(t, st)["shardId-000000000009"]; cp.Seq != "0" || cp.Stream != stream {
		t.Errorf("new shard after set: %+v", cp)
	}
}

func TestSetLive(t *testing.T) {
	st, path := dirStore(t)
	l := fill(t, st, leaseLive)
	r := runCmd(t, "--dir", path, "--app", app, "--stream", stream, "set", shard0, "5")
	r.wantCode(t, exitFailure)
	r.wantErr(t, "held by a live lease", "--force")
	if cp := load(t, st)[shard0]; cp.Seq != seq0 {
		t.Errorf("a refused set wrote %+v", cp)
	}

	r = runCmd(t, "--dir", path, "--app", app, "--stream", stream, "--force", "set", shard0, "5")
	r.wantCode(t, exitOK)
	r.wantErr(t, "warning: --force", "its next commit of shard "+shard0+" replaces this one")
	if cp := load(t, st)[shard0]; cp.Seq != "5" || cp.Epoch != l.Epoch {
		t.Errorf("after a forced set: %+v; want seq 5 under the live epoch %d", cp, l.Epoch)
	}
	if cur, _ := readLease(t, st); !cmp.Equal(cur, l) {
		t.Errorf("a forced set changed the lease: %+v, want %+v", cur, l)
	}
}

func TestSetCreatesStore(t *testing.T) {
	path := filepath.Join(t.TempDir(), "new")
	r := runCmd(t, "--dir", path, "--app", app, "--stream", stream, "set", shard0, "5")
	r.wantCode(t, exitOK)
	r.wantErr(t, "did not exist; it was created")
	st, err := checkpoint.Open(context.Background(), checkpoint.Spec{Kind: checkpoint.Dir, Path: path})
	if err != nil {
		t.Fatal(err)
	}
	if cp := load(t, st)[shard0]; cp.Seq != "5" {
		t.Errorf("after set: %+v", cp)
	}
}

func TestRelease(t *testing.T) {
	ctx := context.Background()
	st, path := dirStore(t)
	l := fill(t, st, leaseLive)
	r := runCmd(t, "--dir", path, "--app", app, "release")
	r.wantCode(t, exitFailure)
	r.wantErr(t, "held by a live lease on stream "+stream+": live, held by run run-1", "pass --force to release it anyway")
	if cur, _ := readLease(t, st); !cmp.Equal(cur, l) {
		t.Errorf("a refused release changed the lease: %+v", cur)
	}

	r = runCmd(t, "--dir", path, "--app", app, "--force", "release")
	r.wantCode(t, exitOK)
	r.wantOut(t, "released the lease of application orders, stream "+stream+" in checkpoint directory "+path,
		"it was live, held by run run-1 (host h, pid 1, stream orders-stream), epoch 1",
		"A new job may read stream "+stream+" under application orders at once.")
	r.wantErr(t, "warning: --force: run run-1 held a live lease")
	cur, ok := readLease(t, st)
	if !ok || cur.Owner != "" || cur.Epoch != 2 {
		t.Errorf("lease after release: %+v; want released under epoch 2", cur)
	}
	// The run that held it is cut off: its heartbeat fails, and the lease
	// it would then read is not its own released one.
	if _, err := st.Heartbeat(ctx, l, procid.Self(), time.Now()); !errors.Is(err, checkpoint.ErrLeaseLost) {
		t.Errorf("heartbeat of the released run: %v, want ErrLeaseLost", err)
	}
	// A new job takes the name at once; the checkpoints stay.
	nl, err := st.Acquire(ctx, checkpoint.Lease{App: app, Stream: stream, Owner: "run-2", Job: "", StaleAfter: time.Minute}, time.Now())
	if err != nil || nl.Epoch != 3 {
		t.Errorf("acquire after release: %+v, %v; want epoch 3", nl, err)
	}
	if n := len(load(t, st)); n != 3 {
		t.Errorf("%d checkpoints after release, want 3", n)
	}
}

func TestReleaseStaleAndNone(t *testing.T) {
	st, path := dirStore(t)
	fill(t, st, leaseStale)
	r := runCmd(t, "--dir", path, "--app", app, "release")
	r.wantCode(t, exitOK)
	r.wantOut(t, "it was stale, held by run run-1")
	if r.stderr != "" {
		t.Errorf("stderr: %q", r.stderr)
	}
	if cur, _ := readLease(t, st); cur.Owner != "" || cur.Epoch != 2 {
		t.Errorf("lease after release: %+v; want released under epoch 2", cur)
	}
	r = runCmd(t, "--dir", path, "--app", app, "release")
	r.wantCode(t, exitOK)
	r.wantOut(t, "is already released, epoch 2")

	_, path = dirStore(t)
	r = runCmd(t, "--dir", path, "--app", app, "release")
	r.wantCode(t, exitOK)
	r.wantOut(t, "has no lease: nothing to release")
}

func TestOtherApplicationUntouched(t *testing.T) {
	// Other applications of the same store are left alone.
	st, path := dirStore(t)
	fill(t, st, leaseReleased)
	r := runCmd(t, "--dir", path, "--app", "other.app_1", "reset")
	r.wantCode(t, exitOK)
	r.wantOut(t, "nothing to delete")
	if n := len(load(t, st)); n != 3 {
		t.Errorf("resetting another application left %d checkpoints, want 3", n)
	}
}

func TestTimeout(t *testing.T) {
	// A Kinesis endpoint that accepts connections and never answers.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	st, path := dirStore(t)
	fill(t, st, leaseReleased)
	start := time.Now()
	r := runCmd(t, "--dir", path, "--app", app, "--stream", stream, "--kinesis_endpoint", "http://"+ln.Addr().String(), "--timeout", "500ms", "list")
	r.wantCode(t, exitFailure)
	r.wantErr(t, "listing the shards of stream "+stream, "the command's --timeout of 500ms passed")
	r.wantOut(t, "lease of stream "+stream+": released")
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("list took %v with --timeout 500ms", d)
	}
}

func TestStop(t *testing.T) {
	st, path := dirStore(t)
	r := runCmd(t, "--dir", path, "--app", app, "stop")
	r.wantCode(t, exitFailure)
	r.wantErr(t, "no job holds application orders")
	l := fill(t, st, leaseLive)
	r = runCmd(t, "--dir", path, "--app", app, "stop")
	r.wantCode(t, exitOK)
	r.wantOut(t, "asked run run-1 (host h, pid 1, stream orders-stream) to stop reading stream "+stream)
	if cur, _ := readLease(t, st); !cur.StopRequested() {
		t.Errorf("lease after stop: %+v, want a stop request", cur)
	}
	// --wait returns once the job released its lease (here, 300 ms later).
	go func() {
		time.Sleep(300 * time.Millisecond)
		st.Release(context.Background(), l)
	}()
	r = runCmd(t, "--dir", path, "--app", app, "--wait", "--timeout", "20s", "stop")
	r.wantCode(t, exitOK)
	r.wantOut(t, "stream "+stream+": the job stopped and released its lease")
}
