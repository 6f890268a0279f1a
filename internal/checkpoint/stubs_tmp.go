package checkpoint

import (
	"context"
	"errors"

	"github.com/kinesisio/beam-kinesis/internal/awsclient"
)

// NewDynamoDB is implemented in dynamodb.go (placeholder).
func NewDynamoDB(ctx context.Context, table string, conn awsclient.Settings) (Store, error) {
	return nil, errors.New("checkpoint: DynamoDB store not built yet")
}

// NewDir is implemented in dir.go (placeholder).
func NewDir(path string) (Store, error) {
	return nil, errors.New("checkpoint: directory store not built yet")
}
