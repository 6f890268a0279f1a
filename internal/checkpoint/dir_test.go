package checkpoint_test

import (
	"context"
	"errors"
	"github.com/kinesisio/beam-kinesis/internal/procid"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/kinesisio/beam-kinesis/internal/checkpoint"
	"github.com/kinesisio/beam-kinesis/internal/checkpoint/checkpointtest"
)

// commitOne takes the lease of application "app", stream "st", in s and
// commits one checkpoint under it (shard "sh", sequence number 1).
func commitOne(t *testing.T, s checkpoint.Store) checkpoint.Lease {
	t.Helper()
	l, err := s.Acquire(context.Background(), checkpoint.Lease{App: "app", Stream: "st", Owner: "run", Job: "job", StaleAfter: time.Minute}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Commit(context.Background(), l, checkpoint.Checkpoint{Stream: "st", ShardID: "sh", Seq: "1"}); err != nil {
		t.Fatal(err)
	}
	return l
}

func openDir(t *testing.T, path string) checkpoint.Store {
	t.Helper()
	s, err := checkpoint.NewDir(path)
	if err != nil {
		t.Fatalf("NewDir(%s): %v", path, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestDirConformance(t *testing.T) {
	checkpointtest.Run(t, func(t *testing.T) checkpoint.Store {
		return openDir(t, t.TempDir())
	})
}

func TestDirOpenSpec(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "ckpt")
	s, err := checkpoint.Open(context.Background(), checkpoint.Spec{Kind: checkpoint.Dir, Path: dir})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	s.Close()
	if _, err := os.Stat(filepath.Join(dir, "kinesisio-checkpoints.json")); err != nil {
		t.Errorf("no marker after Open: %v", err)
	}
}

// tree returns the files under root with their contents.
func tree(t *testing.T, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, path)
		if d.IsDir() {
			out[rel+"/"] = ""
			return nil
		}
		data, err := os.ReadFile(path)
		out[rel] = string(data)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func TestDirCreatesMissingOrEmpty(t *testing.T) {
	for name, path := range map[string]string{
		"missing": filepath.Join(t.TempDir(), "a", "b"),
		"empty":   t.TempDir(),
	} {
		t.Run(name, func(t *testing.T) {
			s := openDir(t, path)
			want := map[string]string{"./": "", "kinesisio-checkpoints.json": "{\n  \"format\": 1\n}\n"}
			if diff := cmp.Diff(want, tree(t, path)); diff != "" {
				t.Errorf("new store (-want +got):\n%s", diff)
			}
			commitOne(t, s)
			// The layout, and a second store on it sees the data.
			for _, f := range []string{"app/lock", "app/leases/st.json", "app/shards/st/sh.json"} {
				if _, err := os.Stat(filepath.Join(path, f)); err != nil {
					t.Errorf("layout: %v", err)
				}
			}
			got, err := openDir(t, path).Load(context.Background(), "app", "")
			if err != nil || len(got) != 1 || got[0].Seq != "1" {
				t.Errorf("Load from a second store = %+v, %v", got, err)
			}
		})
	}
}

func TestDirForeign(t *testing.T) {
	for _, tc := range []struct {
		name  string
		files map[string]string
	}{
		{"other files", map[string]string{"notes.txt": "mine"}},
		{"other folder", map[string]string{"sub/x": "y"}},
		{"marker of another format", map[string]string{"kinesisio-checkpoints.json": `{"format":2}`}},
		{"corrupt marker", map[string]string{"kinesisio-checkpoints.json": `{"format":`}},
		{"marker is not an object", map[string]string{"kinesisio-checkpoints.json": `[1]`}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := t.TempDir()
			for name, data := range tc.files {
				os.MkdirAll(filepath.Dir(filepath.Join(root, name)), 0o755)
				if err := os.WriteFile(filepath.Join(root, name), []byte(data), 0o644); err != nil {
					t.Fatal(err)
				}
			}
			before := tree(t, root)
			_, err := checkpoint.NewDir(root)
			if !errors.Is(err, checkpoint.ErrForeign) {
				t.Fatalf("NewDir = %v, want ErrForeign", err)
			}
			if !strings.Contains(err.Error(), root) {
				t.Errorf("error %q does not name %s", err, root)
			}
			if diff := cmp.Diff(before, tree(t, root)); diff != "" {
				t.Errorf("NewDir wrote to a foreign directory (-before +after):\n%s", diff)
			}
		})
	}
	t.Run("a file", func(t *testing.T) {
		path := filepath.Join(t.TempDir(), "f")
		os.WriteFile(path, []byte("x"), 0o644)
		if _, err := checkpoint.NewDir(path); !errors.Is(err, checkpoint.ErrForeign) {
			t.Errorf("NewDir of a file = %v, want ErrForeign", err)
		}
	})
}

func TestDirCorruptFiles(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	s := openDir(t, root)
	l := commitOne(t, s)
	// Cut each file in half, as a write without rename could leave it.
	for _, f := range []string{"app/shards/st/sh.json", "app/leases/st.json"} {
		path := filepath.Join(root, f)
		data, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, data[:len(data)/2], 0o644); err != nil {
			t.Fatal(err)
		}
	}
	check := func(op string, err error, file string) {
		t.Helper()
		if err == nil || !strings.Contains(err.Error(), filepath.Join(root, file)) || !strings.Contains(err.Error(), "corrupt") {
			t.Errorf("%s on a corrupt %s = %v, want an error naming it", op, file, err)
		}
	}
	_, err := s.Load(ctx, "app", "")
	check("Load", err, "app/shards/st/sh.json")
	_, err = s.Get(ctx, "app", "st", []string{"sh"})
	check("Get", err, "app/shards/st/sh.json")
	_, _, err = s.ReadLease(ctx, "app", "st")
	check("ReadLease", err, "app/leases/st.json")
	_, err = s.Acquire(ctx, checkpoint.Lease{App: "app", Stream: "st", Owner: "run", Job: "job", StaleAfter: time.Minute}, time.Now())
	check("Acquire", err, "app/leases/st.json")
	_, err = s.Heartbeat(ctx, l, procid.Self(), time.Now())
	check("Heartbeat", err, "app/leases/st.json")
	check("Set", s.Set(ctx, "app", checkpoint.Checkpoint{Stream: "st", ShardID: "x"}), "app/leases/st.json")
	check("Commit", s.Commit(ctx, l, checkpoint.Checkpoint{Stream: "st", ShardID: "sh"}), "app/leases/st.json")
	// A file that holds another shard's checkpoint is corrupt too.
	if err := os.WriteFile(filepath.Join(root, "app/shards/st/sh.json"), []byte(`{"stream":"st","shard_id":"other"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = s.Load(ctx, "app", "st")
	check("Load", err, "app/shards/st/sh.json")
}

func TestDirIgnoresTemporaryFiles(t *testing.T) {
	ctx := context.Background()
	root := t.TempDir()
	// A temporary marker left by a crash does not make a fresh directory
	// foreign.
	if err := os.WriteFile(filepath.Join(root, ".kinesisio-checkpoints.json.tmp-123"), []byte("{"), 0o644); err != nil {
		t.Fatal(err)
	}
	s := openDir(t, root)
	commitOne(t, s)
	for _, f := range []string{"app/shards/st/.sh.json.tmp-99", "app/shards/st/.x.json.tmp-1", "app/leases/.st.json.tmp-5", "app/shards/st/README"} {
		if err := os.WriteFile(filepath.Join(root, f), []byte(`{"torn`), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := s.Load(ctx, "app", "")
	if err != nil || len(got) != 1 || got[0].ShardID != "sh" {
		t.Errorf("Load with temporary files = %+v, %v; want sh only", got, err)
	}
	if _, ok, err := s.ReadLease(ctx, "app", "st"); err != nil || !ok {
		t.Errorf("ReadLease with temporary files: %v, %v", ok, err)
	}
	if err := s.Reset(ctx, "app"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "app", "shards")); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("the shards folder after Reset: %v", err)
	}
}

func TestDirReservedAppNames(t *testing.T) {
	s := openDir(t, t.TempDir())
	for _, app := range []string{"kinesisio-checkpoints.json", ".kinesisio-checkpoints.json.tmp-1"} {
		if _, err := s.Acquire(context.Background(), checkpoint.Lease{App: app, Stream: "st", Owner: "run", Job: "job", StaleAfter: time.Minute}, time.Now()); err == nil {
			t.Errorf("Acquire(%q) succeeded", app)
		}
	}
}
