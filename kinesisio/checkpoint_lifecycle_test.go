//go:build linux

package kinesisio_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"

	"github.com/kinesisio/beam-kinesis/internal/checkpoint"
	"github.com/kinesisio/beam-kinesis/kinesisio"
	"github.com/kinesisio/beam-kinesis/testing/emulators"
	"github.com/kinesisio/beam-kinesis/testing/kinesistest"
)

// TestCheckpointsGracefulStop: a job in a process of its own (the crash
// test's child), asked to stop through the store (kinesisio.RequestStop)
// while a producer writes, ends by itself with every shard's final
// position written and its lease released; the next job under the same
// name starts at once (not refused) and reads nothing again: with the
// sink fused with the read, a graceful stop and restart is exactly once.
func TestCheckpointsGracefulStop(t *testing.T) {
	const stops = 3
	ctx := context.Background()
	e, store, cfg, outDir := newChildJobEnv(t)
	prod := startCrashProducer(t, e)
	defer prod.halt()
	var runs []*crashRun
	for k := 1; k <= stops; k++ {
		if k == 2 {
			e.split(t)
			t.Logf("split a shard before run 2: shards %v", e.shardIDs(t))
		}
		c, run := startCrashRun(t, cfg, outDir, k, true)
		if len(run.outs) > 1 {
			t.Errorf("run %d: refused %d times after a graceful stop: the lease was not released", k, len(run.outs)-1)
		}
		time.Sleep(1500 * time.Millisecond)
		asked := time.Now()
		if err := kinesisio.RequestStop(ctx, crashApp, kinesisio.LocalDirectory(cfg.Dir)); err != nil {
			t.Fatalf("run %d: RequestStop: %v", k, err)
		}
		run.killed = asked
		if !c.WaitExit(30 * time.Second) {
			t.Fatalf("run %d: still running 30 s after the stop request; its output:\n%s", k, c.logTail())
		}
		if c.exitCode() != 0 {
			t.Fatalf("run %d: ended with %v after the stop request; its output:\n%s", k, c.Err(), c.logTail())
		}
		stopped := time.Since(asked)
		l, ok, err := store.ReadLease(ctx, crashApp, e.stream)
		if err != nil || !ok || l.Owner != "" {
			t.Errorf("run %d: lease after a graceful stop = %+v, %v, %v; want released", k, l, ok, err)
		}
		run.cycle = time.Since(run.started)
		t.Logf("run %d: first record %v after start; stop request to the end of the process %v; %s", k,
			run.flowing.Sub(run.started).Round(time.Millisecond), stopped.Round(time.Millisecond),
			lastLine(c.logTail(), "crash child: pipeline ran"))
		runs = append(runs, run)
		if err := prod.gaveUp(); err != nil {
			t.Fatal(err)
		}
	}
	puts := prod.halt()
	_, last := runToEnd(t, cfg, outDir, stops+1, false)
	runs = append(runs, last)
	checkCrashRuns(t, runs, puts, 0, level1Check)

	// Exactly once: no record in two out files, or twice in one.
	type key struct{ shard, seq string }
	seen := map[key]string{}
	dups := 0
	for _, run := range runs {
		for _, out := range run.outs {
			for _, l := range readCrashOut(t, out) {
				k := key{l.shard, l.seq}
				if prev, ok := seen[k]; ok {
					dups++
					if dups <= 10 {
						t.Errorf("shard %s seq %s read twice: in %s and %s", l.shard, l.seq, prev, filepath.Base(out))
					}
				}
				seen[k] = filepath.Base(out)
			}
		}
	}
	t.Logf("%d records put, %d read, %d read twice after %d graceful stops", len(puts), len(seen), dups, stops)
}

// TestCheckpointsTakeoverOfKilledJob: a job killed with SIGKILL on this
// machine leaves a live lease (default timeout, 10 s), which the next job
// takes over at once: its processes are provably gone. The next job is
// not refused, and its first record comes within seconds of the kill.
func TestCheckpointsTakeoverOfKilledJob(t *testing.T) {
	ctx := context.Background()
	e, store, cfg, outDir := newChildJobEnv(t)
	cfg.LeaseTimeout = 10 * time.Second
	prod := startCrashProducer(t, e)
	defer prod.halt()
	c, first := startCrashRun(t, cfg, outDir, 1, true)
	time.Sleep(time.Second)
	first.killed = time.Now()
	c.kill()
	if !c.WaitExit(10 * time.Second) {
		t.Fatal("not reaped 10 s after SIGKILL")
	}
	l, ok, err := store.ReadLease(ctx, crashApp, e.stream)
	if err != nil || !ok || !l.Live(time.Now()) {
		t.Fatalf("lease after the kill = %+v, %v, %v; want it still live (the test shows nothing otherwise)", l, ok, err)
	}
	_, second := startCrashRun(t, cfg, outDir, 2, true)
	restart := second.flowing.Sub(first.killed)
	if len(second.outs) > 1 {
		t.Errorf("the next job was refused %d times: the killed job's lease was not taken over", len(second.outs)-1)
	}
	n, _, err := store.ReadLease(ctx, crashApp, e.stream)
	if err != nil {
		t.Fatal(err)
	}
	if n.Epoch != l.Epoch+1 {
		t.Errorf("lease after the takeover: epoch %d, want %d", n.Epoch, l.Epoch+1)
	}
	t.Logf("SIGKILL to the next job's first record: %v (lease timeout %v, its last heartbeat %v before the kill)",
		restart.Round(time.Millisecond), cfg.LeaseTimeout, first.killed.Sub(l.Heartbeat).Round(time.Millisecond))
}

// TestCheckpointsResetHolds: a forced reset while a job keeps committing
// holds, on both stores: the job fails (its lease is gone), nothing it
// commits after the reset counts (the directory store refuses it; in
// DynamoDB it lands below the lease's floor, which reads ignore), and the
// next job starts fresh, reading every record from the start.
func TestCheckpointsResetHolds(t *testing.T) {
	for _, kind := range []string{"dir", "dynamodb"} {
		t.Run(kind, func(t *testing.T) {
			ctx := context.Background()
			e := newEnv(t, emulators.Kinesalite, 2)
			st := newStoreEnv(t, kind)
			prod := startCrashProducer(t, e)
			defer prod.halt()
			p, s := beam.NewPipelineWithRoot()
			collect(s, kinesisio.Read(s, e.stream, e.opts(kinesisio.WithCheckpoints("reset", st.store),
				kinesisio.WithCommitInterval(100*time.Millisecond), kinesisio.WithLeaseTimeout(2*time.Second), kinesisio.WithMaxReadTime(time.Minute))...))
			job := runAsync(p)
			store := st.open(t)
			deadline := time.Now().Add(30 * time.Second)
			for {
				cps, err := store.Load(ctx, "reset", e.stream)
				if err != nil {
					t.Fatal(err)
				}
				if len(cps) > 0 {
					break
				}
				if time.Now().After(deadline) {
					t.Fatal("no checkpoint within 30 s")
				}
				time.Sleep(50 * time.Millisecond)
			}
			if err := store.Reset(ctx, "reset"); err != nil {
				t.Fatal(err)
			}
			reset := time.Now()
			err := await(t, job, time.Minute)
			if err == nil || !strings.Contains(err.Error(), "lease") {
				t.Errorf("the job cut off by the reset ended with %v, want a lost lease", err)
			}
			failed := time.Since(reset)
			time.Sleep(500 * time.Millisecond) // any commit still in flight lands
			if cps, err := store.Load(ctx, "reset", e.stream); err != nil || len(cps) != 0 {
				t.Errorf("after the cut-off job ended: checkpoints %+v, %v; want none (the reset holds)", cps, err)
			}
			puts := prod.halt()
			p, s = beam.NewPipelineWithRoot()
			got := collect(s, kinesisio.Read(s, e.stream, e.opts(kinesisio.WithCheckpoints("reset", st.store), kinesisio.WithStopAtLatest(), kinesisio.WithMaxReadTime(time.Minute))...))
			run(t, p)
			if n := len(got()); n != len(puts) {
				t.Errorf("the next job read %d records, want all %d put (a fresh start)", n, len(puts))
			}
			t.Logf("%s: the cut-off job failed %v after the reset; the next job read %d of %d records", kind, failed.Round(time.Millisecond), len(got()), len(puts))
		})
	}
}

// TestCheckpointsStoreTroubleAtSetupRetried: a checkpoint directory
// replaced by a file for 3 s while the job's DoFns are set up is retried
// (as store trouble during the run is), and the job reads as usual once
// it is back.
func TestCheckpointsStoreTroubleAtSetupRetried(t *testing.T) {
	e := newEnv(t, emulators.Kinesalite, 1)
	st := newStoreEnv(t, "dir")
	store := st.open(t) // makes the directory a store
	puts := e.putPerShard(t, 10, "setup")
	dir := st.store.String()[len("checkpoint directory "):]
	aside := dir + ".aside"
	if err := os.Rename(dir, aside); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dir, []byte("not a directory"), 0o644); err != nil {
		t.Fatal(err)
	}
	restored := make(chan error, 1)
	time.AfterFunc(3*time.Second, func() {
		err := os.Remove(dir)
		if err == nil {
			err = os.Rename(aside, dir)
		}
		restored <- err
	})
	p, s := beam.NewPipelineWithRoot()
	got := collect(s, kinesisio.Read(s, e.stream, e.opts(kinesisio.WithCheckpoints("setup", st.store), kinesisio.WithStopAtLatest(), kinesisio.WithMaxReadTime(time.Minute))...))
	start := time.Now()
	err := await(t, runAsync(p), 2*time.Minute)
	if rerr := <-restored; rerr != nil {
		t.Fatal(rerr)
	}
	if err != nil {
		t.Fatalf("the job failed: %v", err)
	}
	if n := len(got()); n != len(puts) {
		t.Errorf("read %d records, want %d", n, len(puts))
	}
	cps, err := store.Load(context.Background(), "setup", e.stream)
	if err != nil || len(cps) != 1 {
		t.Errorf("checkpoints after the job: %+v, %v; want one", cps, err)
	}
	t.Logf("the job ended %v after its start, the store being unusable for its first 3 s", time.Since(start).Round(time.Millisecond))
}

// TestCheckpointsTwoStreamsOneName: one pipeline reads two streams under
// one application name (each stream has its own lease), and a second
// run resumes each stream exactly where the first stopped.
func TestCheckpointsTwoStreamsOneName(t *testing.T) {
	for _, kind := range []string{"dir", "dynamodb"} {
		t.Run(kind, func(t *testing.T) {
			a := newEnv(t, emulators.Kinesalite, 2)
			b := *a
			b.stream = a.stream + "-b"
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			if _, err := kinesistest.CreateStream(ctx, a.client, b.stream, 1); err != nil {
				t.Fatal(err)
			}
			st := newStoreEnv(t, kind)
			var allA, allB []kinesistest.Put
			var readA, readB []kinesisio.Record
			for i, n := range []int{6, 4} {
				putsA, putsB := a.putPerShard(t, n, fmt.Sprintf("a%d", i)), b.putPerShard(t, n+1, fmt.Sprintf("b%d", i))
				allA, allB = append(allA, putsA...), append(allB, putsB...)
				p, s := beam.NewPipelineWithRoot()
				gotA := collect(s, kinesisio.Read(s, a.stream, a.opts(kinesisio.WithCheckpoints("two", st.store), kinesisio.WithMaxRecords(int64(len(putsA))), kinesisio.WithMaxReadTime(20*time.Second))...))
				gotB := collect(s, kinesisio.Read(s, b.stream, b.opts(kinesisio.WithCheckpoints("two", st.store), kinesisio.WithMaxRecords(int64(len(putsB))), kinesisio.WithMaxReadTime(20*time.Second))...))
				run(t, p)
				if na, nb := len(gotA()), len(gotB()); na != len(putsA) || nb != len(putsB) {
					t.Errorf("run %d: read %d and %d records, want the %d and %d put since the last run", i, na, nb, len(putsA), len(putsB))
				}
				readA, readB = append(readA, gotA()...), append(readB, gotB()...)
			}
			checkExactlyOnce(t, readA, allA)
			checkExactlyOnce(t, readB, allB)
			leases, err := st.open(t).Leases(context.Background(), "two")
			if err != nil || len(leases) != 2 || leases[0].Owner != "" || leases[1].Owner != "" {
				t.Errorf("leases after the runs: %+v, %v; want two, released", leases, err)
			}
		})
	}
}

// newChildJobEnv returns a 2-shard kinesalite stream, a checkpoint
// directory (opened as a store) and the config of a crash-test child job
// reading the stream through a detached proxy with that directory, and a
// folder for the children's output.
func newChildJobEnv(t *testing.T) (*env, checkpoint.Store, crashConfig, string) {
	t.Helper()
	e := newEnv(t, emulators.Kinesalite, 2)
	dir := t.TempDir()
	store, err := checkpoint.NewDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	return e, store, crashConfig{Endpoint: newDetachedProxy(t, e.endpoint), Stream: e.stream, Dir: dir}, t.TempDir()
}
