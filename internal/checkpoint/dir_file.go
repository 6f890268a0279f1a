package checkpoint

import (
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// writeFileAtomic replaces dir/name with data so that a reader, or the
// file system after a crash, sees either the old file or the new one,
// never a part: it writes a temporary file in dir, syncs it, renames it
// over name and syncs dir. Temporary files are named ".<name>.tmp-*",
// which no reader takes for a store file.
func writeFileAtomic(dir, name string, data []byte) error {
	f, err := os.CreateTemp(dir, "."+name+".tmp-*")
	if err != nil {
		return fmt.Errorf("checkpoint: write %s: %w", filepath.Join(dir, name), err)
	}
	tmp := f.Name()
	fail := func(err error) error {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("checkpoint: write %s: %w", filepath.Join(dir, name), err)
	}
	if _, err := f.Write(data); err != nil {
		return fail(err)
	}
	if err := f.Chmod(0o644); err != nil {
		return fail(err)
	}
	if err := f.Sync(); err != nil {
		return fail(err)
	}
	if err := f.Close(); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("checkpoint: write %s: %w", filepath.Join(dir, name), err)
	}
	if err := os.Rename(tmp, filepath.Join(dir, name)); err != nil {
		os.Remove(tmp)
		return fmt.Errorf("checkpoint: write %s: %w", filepath.Join(dir, name), err)
	}
	return syncDir(dir)
}

// writeJSONAtomic is writeFileAtomic of v encoded as JSON.
func writeJSONAtomic(dir, name string, v any) error {
	data, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return fmt.Errorf("checkpoint: encode %s: %w", filepath.Join(dir, name), err)
	}
	return writeFileAtomic(dir, name, append(data, '\n'))
}

// readJSON decodes the file at path into v. It reports false, and no
// error, when the file does not exist; a file that is not valid JSON
// gives an error naming it.
func readJSON(path string, v any) (bool, error) {
	data, err := os.ReadFile(path)
	if errors.Is(err, fs.ErrNotExist) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("checkpoint: read %s: %w", path, err)
	}
	if err := json.Unmarshal(data, v); err != nil {
		return false, fmt.Errorf("checkpoint: %s is corrupt (not the JSON the store wrote; fix or delete it): %w", path, err)
	}
	return true, nil
}

// syncDir flushes dir's entries (a rename, a new file or folder in it) to
// disk.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("checkpoint: sync folder: %w", err)
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("checkpoint: sync folder %s: %w", dir, err)
	}
	return nil
}

// mkdirSynced creates the folder dir, whose parent exists, unless it
// exists, and syncs the parent so that the new entry is on disk.
func mkdirSynced(dir string) error {
	err := os.Mkdir(dir, 0o755)
	if errors.Is(err, fs.ErrExist) {
		if fi, serr := os.Stat(dir); serr == nil && !fi.IsDir() {
			return fmt.Errorf("checkpoint: %s exists and is not a folder", dir)
		}
		return nil
	}
	if err != nil {
		return fmt.Errorf("checkpoint: create folder: %w", err)
	}
	return syncDir(filepath.Dir(dir))
}

// exists reports whether path exists; when it cannot tell, true, so that
// the caller goes on and meets the error.
func exists(path string) bool {
	_, err := os.Stat(path)
	return !errors.Is(err, fs.ErrNotExist)
}
