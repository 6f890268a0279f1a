package kinesisio_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/kinesisio/beam-kinesis/kinesisio"
)

// TestCheckpointStoreRefusedAlike: WithCheckpoints, CommitWhenDone and
// RequestStop refuse an application name or a store alike, each saying
// what is wrong (not only that the store is invalid).
func TestCheckpointStoreRefusedAlike(t *testing.T) {
	cases := []struct {
		name  string
		app   string
		store kinesisio.CheckpointStore
		want  string
	}{
		{"no store", "app", kinesisio.CheckpointStore{}, "no store: use DynamoDBTable or LocalDirectory"},
		{"empty directory", "app", kinesisio.LocalDirectory(""), "empty directory path"},
		{"bad table name", "app", kinesisio.DynamoDBTable("x"), "invalid DynamoDB table name"},
		{"bad role", "app", kinesisio.DynamoDBTable("table", kinesisio.Connection{RoleARN: "role"}), `RoleARN "role" is not a role ARN`},
		{"bad app", "a/b", kinesisio.LocalDirectory(t.TempDir()), "invalid application name"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			errs := map[string]error{}
			_, s := beam.NewPipelineWithRoot()
			_, errs["WithCheckpoints"] = kinesisio.TryRead(s, "stream", kinesisio.WithCheckpoints(tc.app, tc.store))
			imp := beam.Impulse(s)
			errs["CommitWhenDone"] = kinesisio.CommitWhenDone(s, tc.app, tc.store, imp, imp)
			errs["RequestStop"] = kinesisio.RequestStop(context.Background(), tc.app, tc.store)
			for who, err := range errs {
				if !errors.Is(err, kinesisio.ErrInvalidOption) || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), who) {
					t.Errorf("%s: %v, want an ErrInvalidOption naming %s and saying %q", who, err, who, tc.want)
				}
			}
		})
	}
}
