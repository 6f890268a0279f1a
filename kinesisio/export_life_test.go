package kinesisio

import (
	"context"

	"github.com/kinesisio/beam-kinesis/internal/checkpoint"
)

// WrapCheckpointStores makes every checkpoint store the read's DoFns and
// CommitWhenDone open in this process go through wrap (to count its
// calls), and returns a function that restores the plain stores.
func WrapCheckpointStores(wrap func(checkpoint.Store) checkpoint.Store) (restore func()) {
	prev := openCheckpointStore
	openCheckpointStore = func(ctx context.Context, spec checkpoint.Spec) (checkpoint.Store, error) {
		st, err := prev(ctx, spec)
		if err != nil {
			return nil, err
		}
		return wrap(st), nil
	}
	return func() { openCheckpointStore = prev }
}
