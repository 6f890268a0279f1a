package kplagg

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/kinesisio/beam-kinesis/testing/childproc"
	"github.com/kinesisio/beam-kinesis/testing/emulators"
)

const (
	// packageName is the npm package run, pinned in testing/emulators.
	packageName = "aws-kinesis-agg"
	// callTimeout bounds one node run, on top of the caller's context.
	callTimeout = 60 * time.Second
	// setupTimeout bounds Require's look-up, including a first npm install.
	setupTimeout = 10 * time.Minute
	// waitDelay is how long a killed node may take to close its pipes.
	waitDelay = 5 * time.Second
	// stderrTail is how much of node's stderr errors quote.
	stderrTail = 4 << 10
)

// script is the node program, run with node -e.
//
//go:embed kplagg.js
var script string

// env is where node and the library are, once found.
type env struct {
	node string // node executable
	lib  string // the aws-kinesis-agg package folder
}

var (
	setupMu sync.Mutex
	found   *env // nil until a setup succeeds; failures are retried
)

// setup finds node and aws-kinesis-agg, installing the npm packages of
// testing/emulators if needed (bounded by ctx).
func setup(ctx context.Context) (env, error) {
	setupMu.Lock()
	defer setupMu.Unlock()
	if found != nil {
		return *found, nil
	}
	node, err := exec.LookPath("node")
	if err != nil {
		return env{}, fmt.Errorf("kplagg: node is not available (install Node.js and npm, e.g. apt-get install nodejs npm): %w", err)
	}
	nm, err := emulators.NodeModules(ctx, packageName)
	if err != nil {
		return env{}, fmt.Errorf("kplagg: %w", err)
	}
	lib, err := filepath.Abs(filepath.Join(nm, packageName))
	if err != nil {
		return env{}, fmt.Errorf("kplagg: %w", err)
	}
	found = &env{node: node, lib: lib}
	return *found, nil
}

// Require makes sure that node and aws-kinesis-agg are available,
// installing the pinned npm packages on first use. If they are not, it
// fails the test when the environment variable CI is "true" and skips it
// otherwise.
func Require(t testing.TB) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), setupTimeout)
	defer cancel()
	if _, err := setup(ctx); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("kplagg: node and %s are required (CI=true): %v", packageName, err)
		}
		t.Skipf("kplagg: skipping (with CI=true this fails): %v", err)
	}
}

// run sends req to the node script and decodes its answer into res. ctx
// bounds the install on first use; the node run is bounded by ctx and by
// callTimeout, and node is killed when either ends.
func run(ctx context.Context, req, res any) error {
	e, err := setup(ctx)
	if err != nil {
		return err
	}
	in, err := json.Marshal(req)
	if err != nil {
		return fmt.Errorf("kplagg: encode the request: %w", err)
	}
	ctx, cancel := context.WithTimeout(ctx, callTimeout)
	defer cancel()
	var stdout bytes.Buffer
	stderr := childproc.NewTailBuffer(stderrTail)
	cmd := exec.CommandContext(ctx, e.node, "-e", script, e.lib)
	cmd.Stdin = bytes.NewReader(in)
	cmd.Stdout, cmd.Stderr = &stdout, stderr
	cmd.WaitDelay = waitDelay
	// childproc ties node to this process: it dies with the test binary.
	p, err := childproc.Start(cmd)
	if err != nil {
		return fmt.Errorf("kplagg: start node: %w", err)
	}
	<-p.Done()
	if err := p.Err(); err != nil {
		if ctx.Err() != nil {
			err = errors.Join(err, ctx.Err())
		}
		return fmt.Errorf("kplagg: node running %s: %w\nstderr:\n%s", packageName, err, stderr.String())
	}
	if err := json.Unmarshal(stdout.Bytes(), res); err != nil {
		return fmt.Errorf("kplagg: decode node's answer (%d bytes): %w\nstderr:\n%s", stdout.Len(), err, stderr.String())
	}
	return nil
}
