package checkpoint

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
)

// The directory store's layout:
//
//	<root>/kinesisio-checkpoints.json           the marker, {"format":1}
//	<root>/<app>/lock                           flocked by writers
//	<root>/<app>/leases/<stream>.json           one lease per stream
//	<root>/<app>/shards/<stream>/<shard>.json   one checkpoint per shard
//
// (<root>/<app>/lease.json, the one lease per application of earlier
// versions, is no longer read.)
//
// Every file is replaced whole by a rename (writeFileAtomic), so readers
// need no lock; writers hold app's lock for each read-check-write.
const (
	markerName    = "kinesisio-checkpoints.json"
	dirFormat     = 1
	leasesDirName = "leases"
	shardsDirName = "shards"
	trashPrefix   = ".trash-"
	jsonExt       = ".json"
)

// dirMarker is the content of the marker file.
type dirMarker struct {
	Format int `json:"format"`
}

// dirStore is the Store of NewDir.
type dirStore struct {
	root string
	mu   sync.Mutex
	sems map[string]chan struct{} // by app, see semaphore
}

// NewDir returns a store kept in the local directory path, for jobs that
// run on one machine: its writes are atomic across the processes of that
// machine (flock), not across machines (a network file system may not
// honour flock). path is created when absent; an existing empty directory
// is made a store; an existing directory that holds other files and no
// store marker gives an error wrapping ErrForeign, and nothing is written
// to it.
func NewDir(path string) (Store, error) {
	if path == "" {
		return nil, fmt.Errorf("checkpoint: empty checkpoint directory")
	}
	root, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("checkpoint: checkpoint directory %s: %w", path, err)
	}
	if err := openDirRoot(root); err != nil {
		return nil, err
	}
	return &dirStore{root: root, sems: map[string]chan struct{}{}}, nil
}

// openDirRoot checks that root is a store, making it one when it is
// absent or empty.
func openDirRoot(root string) error {
	fi, err := os.Stat(root)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		if err := os.MkdirAll(root, 0o755); err != nil {
			return fmt.Errorf("checkpoint: create checkpoint directory: %w", err)
		}
		if err := syncDir(filepath.Dir(root)); err != nil {
			return err
		}
	case err != nil:
		return fmt.Errorf("checkpoint: checkpoint directory: %w", err)
	case !fi.IsDir():
		return fmt.Errorf("checkpoint: checkpoint directory %s is a file: %w", root, ErrForeign)
	}
	ok, err := readMarker(root)
	if err != nil || ok {
		return err
	}
	entries, err := os.ReadDir(root)
	if err != nil {
		return fmt.Errorf("checkpoint: checkpoint directory: %w", err)
	}
	var others []string
	for _, e := range entries {
		// Temporary markers, of a process making the directory a store
		// now or of one that crashed doing so, do not make it foreign.
		if !strings.HasPrefix(e.Name(), "."+markerName+".tmp-") && e.Name() != markerName {
			others = append(others, e.Name())
		}
	}
	if len(others) > 0 {
		if len(others) > 5 {
			others = append(others[:5], "...")
		}
		return fmt.Errorf("checkpoint: checkpoint directory %s holds other files (%s) and no %s; use an empty or new directory: %w",
			root, strings.Join(others, ", "), markerName, ErrForeign)
	}
	if err := writeJSONAtomic(root, markerName, dirMarker{Format: dirFormat}); err != nil {
		return err
	}
	// Another process may have made it a store meanwhile with the same
	// marker; either way it must read back.
	if ok, err := readMarker(root); err != nil || !ok {
		return errors.Join(err, fmt.Errorf("checkpoint: checkpoint directory %s: the marker %s vanished after it was written", root, markerName))
	}
	return nil
}

// readMarker reports whether root holds a valid marker; a marker of
// another format or content gives an error wrapping ErrForeign.
func readMarker(root string) (bool, error) {
	path := filepath.Join(root, markerName)
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("checkpoint: read the marker of the checkpoint directory: %w", err)
	}
	var m dirMarker
	if err := json.Unmarshal(data, &m); err != nil {
		return false, fmt.Errorf("checkpoint: %s is not the marker of a checkpoint directory (%v): %w", path, err, ErrForeign)
	}
	if m.Format != dirFormat {
		return false, fmt.Errorf("checkpoint: checkpoint directory %s has format %d, this version reads format %d: %w", root, m.Format, dirFormat, ErrForeign)
	}
	return true, nil
}

// appDir returns the folder of app, after checking its name.
func (s *dirStore) appDir(app string) (string, error) {
	if err := validateAppName(app); err != nil {
		return "", err
	}
	if strings.HasPrefix(app, markerName) || strings.HasPrefix(app, "."+markerName) {
		return "", fmt.Errorf("checkpoint: application name %q is reserved by the checkpoint directory", app)
	}
	return filepath.Join(s.root, app), nil
}

// Close implements Store; the directory store holds nothing open.
func (s *dirStore) Close() error { return nil }
