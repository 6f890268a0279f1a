package checkpoint

import (
	"fmt"
	"regexp"
	"time"
)

// shardName matches the stream names and shard IDs a store accepts: those
// of Kinesis ([a-zA-Z0-9_.-], 1 to 128 characters). They become file
// names of the directory store and parts of DynamoDB keys, so nothing
// else may pass (no "/", no "#").
var shardName = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,128}$`)

// validateName reports a stream name or shard ID (what names it) that a
// store cannot hold.
func validateName(what, name string) error {
	if !shardName.MatchString(name) || name == "." || name == ".." {
		return fmt.Errorf("checkpoint: invalid %s %q: want 1 to 128 of [a-zA-Z0-9_.-], and not . or .. alone", what, name)
	}
	return nil
}

// validateCheckpoint reports a checkpoint of app that a store cannot hold.
func validateCheckpoint(app string, cp Checkpoint) error {
	if err := validateAppName(app); err != nil {
		return err
	}
	if err := validateName("stream name", cp.Stream); err != nil {
		return err
	}
	if err := validateName("shard ID", cp.ShardID); err != nil {
		return err
	}
	if cp.SubSeq < 0 {
		return fmt.Errorf("checkpoint: negative sub-sequence number %d for shard %s of stream %s", cp.SubSeq, cp.ShardID, cp.Stream)
	}
	for _, p := range cp.Parents {
		if err := validateName("parent shard ID", p); err != nil {
			return err
		}
	}
	return nil
}

// validateAppName is ValidateApp with the package's prefix.
func validateAppName(app string) error {
	if err := ValidateApp(app); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}

// toMillis and fromMillis convert the stores' times: Unix milliseconds,
// read back in UTC.
func toMillis(t time.Time) int64 { return t.UnixMilli() }

func fromMillis(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

// writeTime returns the Updated time a store writes for cp: its own,
// or the store's clock when it has none, at millisecond precision.
func writeTime(cp Checkpoint) time.Time {
	if cp.Updated.IsZero() {
		return fromMillis(toMillis(time.Now()))
	}
	return fromMillis(toMillis(cp.Updated))
}
