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

// Commit implements Store. Under app's lock, the lease must still be
// under l's epoch (a reset or a takeover fences the commit off at once).
func (s *dirStore) Commit(ctx context.Context, l Lease, cp Checkpoint) error {
	if err := validateCheckpoint(l.App, cp); err != nil {
		return err
	}
	if cp.Stream != l.Stream {
		return fmt.Errorf("checkpoint: commit of shard %s of stream %s under the lease of %s", cp.ShardID, cp.Stream, l.Name())
	}
	cp.Epoch, cp.Owner, cp.Updated = l.Epoch, l.Owner, writeTime(cp)
	return s.update(ctx, l.App, func(dir string) error {
		cur, err := readDirLease(dir, l.App, l.Stream)
		if err != nil {
			return err
		}
		if cur == nil || cur.Epoch != l.Epoch {
			return fmt.Errorf("checkpoint: commit of shard %s of %s under epoch %d: %w (%v)", cp.ShardID, l.Name(), l.Epoch, ErrFenced, lostError("commit", l, cur))
		}
		return s.writeCheckpoint(dir, l.App, cp)
	})
}

// Set implements Store. It keeps cp.Owner, naming who set it, and takes
// the epoch of the stream's lease (0 when there is none). A stored
// checkpoint of a newer epoch than the lease gives ErrFenced, as on
// DynamoDB.
func (s *dirStore) Set(ctx context.Context, app string, cp Checkpoint) error {
	if err := validateCheckpoint(app, cp); err != nil {
		return err
	}
	cp.Updated = writeTime(cp)
	return s.update(ctx, app, func(dir string) error {
		l, err := readDirLease(dir, app, cp.Stream)
		if err != nil {
			return err
		}
		cp.Epoch = 0
		if l != nil {
			cp.Epoch = l.Epoch
		}
		return s.writeCheckpoint(dir, app, cp)
	})
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
	var out, cps []Checkpoint
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
				cps = append(cps, *cp)
			}
		}
		// The lease is read after the checkpoints: a Reset in between
		// raised the floor over what it did not delete.
		l, err := readDirLease(dir, app, st)
		if err != nil {
			return nil, err
		}
		out = append(out, counting(l, cps)...)
		cps = cps[:0]
	}
	sortCheckpoints(out)
	return out, nil
}

// counting returns the checkpoints of cps that count under the lease l
// of their stream (nil: there is none, and all count).
func counting(l *Lease, cps []Checkpoint) []Checkpoint {
	var out []Checkpoint
	for _, cp := range cps {
		if l == nil || l.Counts(cp.Epoch) {
			out = append(out, cp)
		}
	}
	return out
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
	l, err := readDirLease(dir, app, stream)
	if err != nil {
		return nil, err
	}
	return l.drop(out), nil
}

// Reset implements Store. It first moves the checkpoints out of sight
// with one rename, then releases each lease under a new epoch that
// becomes its floor, then deletes the moved files: a crash part way
// leaves either everything or no checkpoints under the old leases (run
// Reset again to finish). The app's lock is held throughout, so no
// Commit comes in between, and every later one of the cut-off holder is
// refused.
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
	leases, err := readDirLeases(dir, app)
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
	for _, l := range leases {
		if err := writeDirLease(dir, resetLease(l)); err != nil {
			return fmt.Errorf("checkpoint: reset %s: the checkpoints are gone, but releasing the lease of stream %s under a new epoch failed (run Reset again): %w", app, l.Stream, err)
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
