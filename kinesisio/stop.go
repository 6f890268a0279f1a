package kinesisio

import (
	"context"
	"fmt"

	"github.com/kinesisio/beam-kinesis/internal/checkpoint"
)

// RequestStop asks the jobs reading under application app in store
// (WithCheckpoints) to stop gracefully, on whatever runner and in
// whatever process they run: the request is recorded in the store, each
// job sees it at its next heartbeat (within about 2.5 s), and every shard
// then ends as a bounded read ends: its position is written once the
// runner committed the records before it (with WithCommitsAfterSink,
// once CommitWhenDone committed them), shards not started yet are not
// started, the lease is released, and the job ends by itself. A job
// started afterwards under the same name resumes right after what was
// committed, at once.
//
// It returns an error when no job holds app (none runs, or it has not
// taken its lease yet), naming the store.
func RequestStop(ctx context.Context, app string, store CheckpointStore) error {
	if err := store.check("RequestStop", app); err != nil {
		return err
	}
	st, err := checkpoint.Open(ctx, store.spec)
	if err != nil {
		return fmt.Errorf("kinesisio: RequestStop: opening %v: %w", store.spec, err)
	}
	defer st.Close()
	if _, err := st.RequestStop(ctx, app, ""); err != nil {
		return fmt.Errorf("kinesisio: RequestStop: application %s in %v: %w", app, store.spec, err)
	}
	return nil
}
