package checkpoint_test

import (
	"context"
	"fmt"
	"github.com/kinesisio/beam-kinesis/internal/procid"
	"testing"
	"time"

	"github.com/kinesisio/beam-kinesis/internal/checkpoint"
)

// benchStores runs f against a directory store and a dynalite store.
func benchStores(b *testing.B, f func(b *testing.B, s checkpoint.Store)) {
	b.Run("dir", func(b *testing.B) {
		s, err := checkpoint.NewDir(b.TempDir())
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		f(b, s)
	})
	b.Run("dynalite", func(b *testing.B) {
		e := dynalite(b)
		s, err := checkpoint.NewDynamoDB(context.Background(), fmt.Sprintf("ckpt-bench-%d", time.Now().UnixNano()), e)
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		f(b, s)
	})
}

// BenchmarkCommit measures one Commit (a conditional write; on the
// directory store with its fsyncs) of one of 16 shards.
func BenchmarkCommit(b *testing.B) {
	benchStores(b, func(b *testing.B, s checkpoint.Store) {
		ctx := context.Background()
		l, err := s.Acquire(ctx, checkpoint.Lease{App: "bench", Stream: "stream", Owner: "run", Job: "job", StaleAfter: time.Minute}, time.Now())
		if err != nil {
			b.Fatal(err)
		}
		i := 0
		for b.Loop() {
			cp := checkpoint.Checkpoint{Stream: "stream", ShardID: fmt.Sprintf("shard-%d", i%16), Seq: fmt.Sprintf("4965000000000000000000000000000000000000%016d", i)}
			if err := s.Commit(ctx, l, cp); err != nil {
				b.Fatal(err)
			}
			i++
		}
	})
}

// BenchmarkHeartbeat measures one Heartbeat.
func BenchmarkHeartbeat(b *testing.B) {
	benchStores(b, func(b *testing.B, s checkpoint.Store) {
		ctx := context.Background()
		now := time.Now()
		l, err := s.Acquire(ctx, checkpoint.Lease{App: "bench", Stream: "stream", Owner: "run", Job: "job", StaleAfter: time.Minute}, now)
		if err != nil {
			b.Fatal(err)
		}
		i := 0
		for b.Loop() {
			i++
			if _, err := s.Heartbeat(ctx, l, procid.Self(), now.Add(time.Duration(i)*time.Millisecond)); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkLoad100 measures loading 100 checkpoints.
func BenchmarkLoad100(b *testing.B) {
	benchStores(b, func(b *testing.B, s checkpoint.Store) {
		ctx := context.Background()
		l, err := s.Acquire(ctx, checkpoint.Lease{App: "bench", Stream: "stream", Owner: "run", Job: "job", StaleAfter: time.Minute}, time.Now())
		if err != nil {
			b.Fatal(err)
		}
		for i := range 100 {
			if err := s.Commit(ctx, l, checkpoint.Checkpoint{Stream: "stream", ShardID: fmt.Sprintf("shard-%03d", i), Seq: "1"}); err != nil {
				b.Fatal(err)
			}
		}
		for b.Loop() {
			if cps, err := s.Load(ctx, "bench", ""); err != nil || len(cps) != 100 {
				b.Fatal(len(cps), err)
			}
		}
	})
}
