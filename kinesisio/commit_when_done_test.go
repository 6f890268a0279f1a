package kinesisio_test

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/transforms/stats"
	"github.com/kinesisio/beam-kinesis/kinesisio"
	"github.com/kinesisio/beam-kinesis/testing/emulators"
)

func init() {
	register.Function1x1(shardOf)
	register.Function3x0(emitShard)
}

func shardOf(r kinesisio.Record) string { return r.ShardID }

// emitShard is a sink of per-window counts that emits each count it
// wrote: its output's watermark tells CommitWhenDone what is done.
func emitShard(shard string, _ int, emit func(string)) { emit(shard) }

// TestCommitWhenDoneAfterGroupByKey: a windowed count behind a
// GroupByKey commits through CommitWhenDone; a second run under the same
// name reads only the records put since, and the store holds each shard's
// last record.
func TestCommitWhenDoneAfterGroupByKey(t *testing.T) {
	e := newEnv(t, emulators.Kinesalite, 2)
	st := newStoreEnv(t, "dir")
	var read []kinesisio.Record
	var all []putRecord
	for i, n := range []int{15, 8} {
		puts := e.putPerShard(t, n, "sink"+string(rune('a'+i)))
		for _, p := range puts {
			all = append(all, putRecord{p.ShardID, p.SequenceNumber})
		}
		p, s := beam.NewPipelineWithRoot()
		recs := kinesisio.Read(s, e.stream, e.opts(kinesisio.WithCheckpoints("sink", st.store), kinesisio.WithCommitsAfterSink(), kinesisio.WithMaxRecords(int64(len(puts))), kinesisio.WithMaxReadTime(20*time.Second))...)
		got := collect(s, recs)
		windowed := beam.WindowInto(s, window.NewFixedWindows(500*time.Millisecond), recs)
		counts := stats.Count(s, beam.ParDo(s, shardOf, windowed))
		done := beam.ParDo(s, emitShard, counts)
		if err := kinesisio.CommitWhenDone(s, "sink", st.store, windowed, done); err != nil {
			t.Fatal(err)
		}
		run(t, p)
		recsRead := got()
		if len(recsRead) != len(puts) {
			t.Errorf("run %d: read %d records, want the %d put since the last run", i, len(recsRead), len(puts))
		}
		read = append(read, recsRead...)
	}
	last := map[string]string{}
	for _, p := range all {
		if last[p.shard] == "" || seqLess(last[p.shard], p.seq) {
			last[p.shard] = p.seq
		}
	}
	cps, err := st.open(t).Load(context.Background(), "sink", e.stream)
	if err != nil {
		t.Fatal(err)
	}
	if len(cps) != len(last) {
		t.Fatalf("checkpoints %+v, want one per shard", cps)
	}
	for _, cp := range cps {
		if cp.Seq != last[cp.ShardID] {
			t.Errorf("shard %s: committed %s, want its last record %s", cp.ShardID, cp.Seq, last[cp.ShardID])
		}
	}
	if len(read) != len(all) {
		t.Errorf("read %d records in all, want %d", len(read), len(all))
	}
}

type putRecord struct{ shard, seq string }

// TestCommitWhenDoneWaitsForTheWindow: behind a GroupByKey with windows
// longer than the read, nothing is committed while the windows are open
// (level 1 would have written every shard within its commit interval),
// and everything is once the bounded read ends and they fire.
func TestCommitWhenDoneWaitsForTheWindow(t *testing.T) {
	e := newEnv(t, emulators.Kinesalite, 2)
	st := newStoreEnv(t, "dir")
	puts := e.putPerShard(t, 10, "open")
	p, s := beam.NewPipelineWithRoot()
	recs := kinesisio.Read(s, e.stream, e.opts(kinesisio.WithCheckpoints("open", st.store), kinesisio.WithCommitsAfterSink(), kinesisio.WithCommitInterval(100*time.Millisecond), kinesisio.WithMaxReadTime(4*time.Second))...)
	got := collect(s, recs)
	windowed := beam.WindowInto(s, window.NewFixedWindows(time.Hour), recs)
	done := beam.ParDo(s, emitShard, stats.Count(s, beam.ParDo(s, shardOf, windowed)))
	if err := kinesisio.CommitWhenDone(s, "open", st.store, windowed, done); err != nil {
		t.Fatal(err)
	}
	finished := runAsync(p)
	store := st.open(t)
	deadline := time.Now().Add(30 * time.Second)
	for len(got()) < len(puts) && time.Now().Before(deadline) {
		time.Sleep(20 * time.Millisecond)
	}
	if n := len(got()); n < len(puts) {
		t.Fatalf("read %d of %d records within 30 s", n, len(puts))
	}
	time.Sleep(time.Second) // 10 commit intervals
	cps, err := store.Load(context.Background(), "open", e.stream)
	if err != nil {
		t.Fatal(err)
	}
	for _, cp := range cps {
		if cp.Seq != "" {
			t.Errorf("shard %s committed at %s while its window is open", cp.ShardID, cp.Seq)
		}
	}
	if err := await(t, finished, time.Minute); err != nil {
		t.Fatal(err)
	}
	cps, err = store.Load(context.Background(), "open", e.stream)
	if err != nil {
		t.Fatal(err)
	}
	if len(cps) != 2 {
		t.Errorf("after the run: checkpoints %+v, want both shards", cps)
	}
}

// TestCommitWhenDoneWiringMistakes: the two silent mistakes of level 2
// fail the job within seconds, with a message that says what to fix: a
// CommitWhenDone under another application name than its Read's, and a
// Read with WithCommitsAfterSink and no CommitWhenDone. A CommitWhenDone
// after a Read that commits by itself fails too.
func TestCommitWhenDoneWiringMistakes(t *testing.T) {
	e := newEnv(t, emulators.Kinesalite, 1)
	st := newStoreEnv(t, "dir")
	e.putPerShard(t, 5, "wiring")
	for _, tc := range []struct {
		name      string
		afterSink bool
		sinkApp   string // "" = no CommitWhenDone
		want      []string
	}{
		{"another application name", true, "wiring-typo", []string{"CommitWhenDone", "wiring-typo", "no job holds that application name"}},
		{"no CommitWhenDone", true, "", []string{"no CommitWhenDone", "add kinesisio.CommitWhenDone"}},
		{"a Read that commits by itself", false, "wiring", []string{"commits positions itself", "WithCommitsAfterSink"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, s := beam.NewPipelineWithRoot()
			opts := []kinesisio.ReadOption{kinesisio.WithCheckpoints("wiring", st.store), kinesisio.WithMaxReadTime(time.Minute), kinesisio.WithSinkGrace(2 * time.Second), kinesisio.WithLeaseTimeout(time.Second)}
			if tc.afterSink {
				opts = append(opts, kinesisio.WithCommitsAfterSink())
			}
			recs := kinesisio.Read(s, e.stream, e.opts(opts...)...)
			windowed := beam.WindowInto(s, window.NewFixedWindows(500*time.Millisecond), recs)
			done := beam.ParDo(s, emitShard, stats.Count(s, beam.ParDo(s, shardOf, windowed)))
			if tc.sinkApp != "" {
				if err := kinesisio.CommitWhenDone(s, tc.sinkApp, st.store, windowed, done); err != nil {
					t.Fatal(err)
				}
			}
			start := time.Now()
			err := await(t, runAsync(p), time.Minute)
			if err == nil {
				t.Fatalf("the job succeeded; want it to fail naming the mistake")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			if tc.sinkApp != "" && !errors.Is(err, kinesisio.ErrInvalidOption) && !strings.Contains(err.Error(), "invalid option") {
				t.Errorf("error %v is not an ErrInvalidOption", err)
			}
			t.Logf("failed after %v: %v", time.Since(start).Round(time.Millisecond), err)
			// Wait out the failed job's lease for the next case.
			time.Sleep(1500 * time.Millisecond)
		})
	}
}
