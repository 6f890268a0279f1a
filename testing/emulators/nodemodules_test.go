package emulators_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/kinesisio/beam-kinesis/testing/emulators"
)

func TestNodeModulesUnknownPackage(t *testing.T) {
	_, err := emulators.NodeModules(t.Context(), "left-pad")
	if err == nil || !strings.Contains(err.Error(), "not one of the npm packages pinned") {
		t.Fatalf("NodeModules(left-pad): got %v; want an error naming the pinned packages", err)
	}
}

func TestNodeModulesOverride(t *testing.T) {
	dir := t.TempDir()
	t.Setenv(emulators.NodeModulesEnv, dir)
	if _, err := emulators.NodeModules(t.Context(), "aws-kinesis-agg"); err == nil || !strings.Contains(err.Error(), emulators.NodeModulesEnv) {
		t.Fatalf("NodeModules with an empty %s: got %v; want an error naming it", emulators.NodeModulesEnv, err)
	}
	pkg := filepath.Join(dir, "aws-kinesis-agg")
	if err := os.MkdirAll(pkg, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pkg, "index.js"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	got, err := emulators.NodeModules(t.Context(), "aws-kinesis-agg")
	if err != nil || got != dir {
		t.Fatalf("NodeModules: got %q, %v; want %q", got, err, dir)
	}
}
