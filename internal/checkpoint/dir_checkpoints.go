package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// dirCheckpoint is the file of one shard's checkpoint.
type dirCheckpoint struct {
	Stream    string   `json:"stream"`
	ShardID   string   `json:"shard_id"`
	Seq       string   `json:"seq"`
	SubSeq    int64    `json:"sub_seq"`
	Finished  bool     `json:"finished"`
	EndSeq    string   `json:"end_seq,omitempty"`
	Parents   []string `json:"parents,omitempty"`
	Epoch     int64    `json:"epoch"`
	Owner     string   `json:"owner"`
	UpdatedMS int64    `json:"updated_ms"`
}

func toDirCheckpoint(cp Checkpoint) dirCheckpoint {
	return dirCheckpoint{
		Stream:    cp.Stream,
		ShardID:   cp.ShardID,
		Seq:       cp.Seq,
		SubSeq:    cp.SubSeq,
		Finished:  cp.Finished,
		EndSeq:    cp.EndSeq,
		Parents:   cp.Parents,
		Epoch:     cp.Epoch,
		Owner:     cp.Owner,
		UpdatedMS: toMillis(cp.Updated),
	}
}

func (d dirCheckpoint) checkpoint() Checkpoint {
	var parents []string
	if len(d.Parents) > 0 {
		parents = d.Parents
	}
	return Checkpoint{
		Stream:   d.Stream,
		ShardID:  d.ShardID,
		Seq:      d.Seq,
		SubSeq:   d.SubSeq,
		Finished: d.Finished,
		EndSeq:   d.EndSeq,
		Parents:  parents,
		Epoch:    d.Epoch,
		Owner:    d.Owner,
		Updated:  fromMillis(d.UpdatedMS),
	}
}

// streamDir is the folder of stream's checkpoints in app's folder.
func streamDir(appDir, stream string) string {
	return filepath.Join(appDir, shardsDirName, stream)
}

// readDirCheckpoint reads the checkpoint of shard in the folder of
// stream; nil when there is none.
func readDirCheckpoint(sdir, stream, shard string) (*Checkpoint, error) {
	var d dirCheckpoint
	path := filepath.Join(sdir, shard+jsonExt)
	ok, err := readJSON(path, &d)
	if err != nil || !ok {
		return nil, err
	}
	if d.Stream != stream || d.ShardID != shard {
		return nil, fmt.Errorf("checkpoint: %s is corrupt: it holds the checkpoint of shard %q of stream %q", path, d.ShardID, d.Stream)
	}
	cp := d.checkpoint()
	return &cp, nil
}

// Commit implements Store.
func (s *dirStore) Commit(ctx context.Context, l Lease, cp Checkpoint) error {
	if err := validateCheckpoint(l.App, cp); err != nil {
		return err
	}
	dir, err := s.appDir(l.App)
	if err != nil {
		return err
	}
	cp.Epoch, cp.Owner, cp.Updated = l.Epoch, l.Owner, writeTime(cp)
	unlock, err := s.lock(ctx, l.App)
	if err != nil {
		return err
	}
	defer unlock()
	return s.writeCheckpoint(dir, l.App, cp)
}

// Set implements Store. It keeps cp.Owner, naming who set it, and takes
// the epoch of the lease (0 when there is none). A stored checkpoint of a
// newer epoch than the lease (possible only when the lease was deleted
// after it was written: the Reset of earlier versions did) gives
// ErrFenced, as on DynamoDB.
func (s *dirStore) Set(ctx context.Context, app string, cp Checkpoint) error {
	if err := validateCheckpoint(app, cp); err != nil {
		return err
	}
	dir, err := s.appDir(app)
	if err != nil {
		return err
	}
	cp.Updated = writeTime(cp)
	unlock, err := s.lock(ctx, app)
	if err != nil {
		return err
	}
	defer unlock()
	l, err := readDirLease(dir, app)
	if err != nil {
		return err
	}
	cp.Epoch = 0
	if l != nil {
		cp.Epoch = l.Epoch
	}
	return s.writeCheckpoint(dir, app, cp)
}

// writeCheckpoint writes cp unless the stored one has a newer epoch
// (ErrFenced). The caller holds app's lock.
func (s *dirStore) writeCheckpoint(dir, app string, cp Checkpoint) error {
	sdir := streamDir(dir, cp.Stream)
	cur, err := readDirCheckpoint(sdir, cp.Stream, cp.ShardID)
	if err != nil {
		return err
	}
	if cur != nil && cur.Epoch > cp.Epoch {
		return fencedError(app, cp, cur.Epoch)
	}
	if err := mkdirSynced(filepath.Join(dir, shardsDirName)); err != nil {
		return err
	}
	if err := mkdirSynced(sdir); err != nil {
		return err
	}
	return writeJSONAtomic(sdir, cp.ShardID+jsonExt, toDirCheckpoint(cp))
}

// fencedError is the ErrFenced of writing cp of app over a checkpoint of
// epoch stored.
func fencedError(app string, cp Checkpoint, stored int64) error {
	return fmt.Errorf("checkpoint: commit of shard %s of stream %s of application %s under epoch %d: %w (epoch %d)",
		cp.ShardID, cp.Stream, app, cp.Epoch, ErrFenced, stored)
}

// Load implements Store.
func (s *dirStore) Load(ctx context.Context, app, stream string) ([]Checkpoint, error) {
	dir, err := s.appDir(app)
	if err != nil {
		return nil, err
	}
	var streams []string
	if stream != "" {
		if err := validateName("stream name", stream); err != nil {
			return nil, err
		}
		streams = []string{stream}
	} else {
		entries, err := readDirIfExists(filepath.Join(dir, shardsDirName))
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			if e.IsDir() && validateName("stream name", e.Name()) == nil {
				streams = append(streams, e.Name())
			}
		}
	}
	var out []Checkpoint
	for _, st := range streams {
		if err := ctx.Err(); err != nil {
			return nil, fmt.Errorf("checkpoint: load %s: %w", app, err)
		}
		sdir := streamDir(dir, st)
		entries, err := readDirIfExists(sdir)
		if err != nil {
			return nil, err
		}
		for _, e := range entries {
			shard, ok := strings.CutSuffix(e.Name(), jsonExt)
			if !ok || !e.Type().IsRegular() || validateName("shard ID", shard) != nil {
				continue // a temporary file or another's
			}
			cp, err := readDirCheckpoint(sdir, st, shard)
			if err != nil {
				return nil, err
			}
			if cp != nil { // nil: removed since the listing
				out = append(out, *cp)
			}
		}
	}
	sortCheckpoints(out)
	return out, nil
}

// readDirIfExists lists dir; nothing when it does not exist.
func readDirIfExists(dir string) ([]os.DirEntry, error) {
	entries, err := os.ReadDir(dir)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("checkpoint: list %s: %w", dir, err)
	}
	return entries, nil
}

// sortCheckpoints sorts cps by stream, then shard ID.
func sortCheckpoints(cps []Checkpoint) {
	slices.SortFunc(cps, func(a, b Checkpoint) int {
		if c := strings.Compare(a.Stream, b.Stream); c != 0 {
			return c
		}
		return strings.Compare(a.ShardID, b.ShardID)
	})
}

// Get implements Store.
func (s *dirStore) Get(ctx context.Context, app, stream string, shardIDs []string) (map[string]Checkpoint, error) {
	dir, err := s.appDir(app)
	if err != nil {
		return nil, err
	}
	if err := validateName("stream name", stream); err != nil {
		return nil, err
	}
	out := make(map[string]Checkpoint, len(shardIDs))
	sdir := streamDir(dir, stream)
	for _, id := range shardIDs {
		if err := validateName("shard ID", id); err != nil {
			return nil, err
		}
		cp, err := readDirCheckpoint(sdir, stream, id)
		if err != nil {
			return nil, err
		}
		if cp != nil {
			out[id] = *cp
		}
	}
	return out, nil
}

// Reset implements Store. It first moves the checkpoints out of sight
// with one rename, then releases the lease under a new epoch, then
// deletes the moved files: a crash part way leaves either everything or
// no checkpoints under the old lease (run Reset again to finish). The
// app's lock is held throughout, so no Commit comes in between.
func (s *dirStore) Reset(ctx context.Context, app string) error {
	dir, err := s.appDir(app)
	if err != nil {
		return err
	}
	if !exists(dir) {
		return nil
	}
	unlock, err := s.lock(ctx, app)
	if err != nil {
		return err
	}
	defer unlock()
	l, err := readDirLease(dir, app)
	if err != nil {
		return err
	}
	shards := filepath.Join(dir, shardsDirName)
	if _, err := os.Stat(shards); err == nil {
		trash, err := os.MkdirTemp(dir, trashPrefix+"*")
		if err != nil {
			return fmt.Errorf("checkpoint: reset %s: %w", app, err)
		}
		if err := os.Rename(shards, filepath.Join(trash, shardsDirName)); err != nil {
			return fmt.Errorf("checkpoint: reset %s: %w", app, err)
		}
		if err := syncDir(dir); err != nil {
			return err
		}
	}
	if l != nil {
		l.Owner, l.Epoch = "", l.Epoch+1
		if err := writeJSONAtomic(dir, leaseFileName, toDirLease(*l)); err != nil {
			return fmt.Errorf("checkpoint: reset %s: the checkpoints are gone, but releasing the lease under a new epoch failed (run Reset again): %w", app, err)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return fmt.Errorf("checkpoint: reset %s: %w", app, err)
	}
	var errs []error
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), trashPrefix) {
			errs = append(errs, os.RemoveAll(filepath.Join(dir, e.Name())))
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("checkpoint: reset %s: the checkpoints are gone, but removing their files failed: %w", app, err)
	}
	return nil
}
