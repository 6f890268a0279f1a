package emulators

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"syscall"
	"time"

	"github.com/kinesisio/beam-kinesis/testing/childproc"
)

const (
	// NodeModulesEnv names the environment variable that, when set, gives
	// the node_modules folder to run the emulators from. Nothing is
	// installed there automatically.
	NodeModulesEnv = "KINESISIO_NODE_MODULES"

	installTimeout = 5 * time.Minute
	// lockTimeout bounds the wait for another test binary's install.
	lockTimeout  = installTimeout + time.Minute
	lockPoll     = 200 * time.Millisecond
	lockFileName = ".install.lock"
	// npmHiddenLockfile is written by npm at the end of a successful
	// install; its presence tells a complete install from an interrupted one.
	npmHiddenLockfile = ".package-lock.json"
)

// entryFiles are the files each package must have to be usable.
var entryFiles = map[string]string{
	"kinesalite":      "index.js",
	"kinesis-local":   "main.js",
	"dynalite":        "cli.js",
	"aws-kinesis-agg": "index.js", // AWS's KPL aggregation library, for testing/kplagg
}

// installMu serialises installs within this process; the file lock
// serialises them across processes.
var installMu sync.Mutex

// NodeModules returns the node_modules folder that holds the npm package
// pkg, which must be one of those pinned in package.json beside this file
// (the emulators, and aws-kinesis-agg for testing/kplagg). When
// KINESISIO_NODE_MODULES is set it returns that folder, or an error if pkg
// is not installed there. Otherwise it uses testing/emulators/node_modules
// of the module root, first installing the pinned packages there with npm
// ci when pkg is missing (at most once at a time across test processes,
// within 5 minutes). ctx bounds the install and the wait for another
// process's install.
func NodeModules(ctx context.Context, pkg string) (string, error) {
	if _, ok := entryFiles[pkg]; !ok {
		return "", fmt.Errorf("emulators: %q is not one of the npm packages pinned in testing/emulators/package.json", pkg)
	}
	return nodeModules(ctx, pkg)
}

// nodeModules returns the node_modules folder that holds pkg, installing
// the pinned packages first when the default folder lacks it.
func nodeModules(ctx context.Context, pkg string) (string, error) {
	if dir := os.Getenv(NodeModulesEnv); dir != "" {
		if !hasPackage(dir, pkg, false) {
			return "", fmt.Errorf("emulators: %s=%s has no usable npm package %s (run npm ci in testing/emulators, or unset %s to install automatically)",
				NodeModulesEnv, dir, pkg, NodeModulesEnv)
		}
		return dir, nil
	}
	root, err := moduleRoot()
	if err != nil {
		return "", err
	}
	project := filepath.Join(root, "testing", "emulators")
	nm := filepath.Join(project, "node_modules")
	if hasPackage(nm, pkg, true) {
		return nm, nil
	}
	installMu.Lock()
	defer installMu.Unlock()
	if err := install(ctx, project, nm, pkg); err != nil {
		return "", err
	}
	return nm, nil
}

// hasPackage reports whether nm holds pkg's entry file and, when complete
// is set, the marker of a finished npm install.
func hasPackage(nm, pkg string, complete bool) bool {
	entry, ok := entryFiles[pkg]
	if !ok {
		return false
	}
	if _, err := os.Stat(filepath.Join(nm, pkg, entry)); err != nil {
		return false
	}
	if complete {
		if _, err := os.Stat(filepath.Join(nm, npmHiddenLockfile)); err != nil {
			return false
		}
	}
	return true
}

// moduleRoot walks up from the current folder to the one holding go.mod.
func moduleRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", fmt.Errorf("emulators: find the module root: %w", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("emulators: no go.mod above the current folder; set %s to a node_modules folder", NodeModulesEnv)
		}
		dir = parent
	}
}

// install runs npm ci (npm install if that fails) in project, holding an
// exclusive lock on a file there so that parallel test binaries install
// once.
func install(ctx context.Context, project, nm, pkg string) error {
	if _, err := os.Stat(filepath.Join(project, "package.json")); err != nil {
		return fmt.Errorf("emulators: cannot install node modules: %w", err)
	}
	npm, err := exec.LookPath("npm")
	if err != nil {
		return fmt.Errorf("emulators: %s is not installed in %s and npm is not available to install it (install Node.js and npm, e.g. apt-get install nodejs npm): %w", pkg, nm, err)
	}
	unlock, err := lockFile(ctx, filepath.Join(project, lockFileName))
	if err != nil {
		return err
	}
	defer unlock()
	if hasPackage(nm, pkg, true) {
		return nil // another process installed it while we waited
	}

	ctx, cancel := context.WithTimeout(ctx, installTimeout)
	defer cancel()

	ciErr := runNPM(ctx, npm, project, "ci")
	if ciErr == nil && hasPackage(nm, pkg, true) {
		return nil
	}
	if ctx.Err() != nil {
		return fmt.Errorf("emulators: npm ci in %s: %w", project, errors.Join(ciErr, ctx.Err()))
	}
	installErr := runNPM(ctx, npm, project, "install", "--no-save")
	if installErr != nil {
		return fmt.Errorf("emulators: install node modules in %s: %w", project, errors.Join(ciErr, installErr))
	}
	if !hasPackage(nm, pkg, true) {
		return fmt.Errorf("emulators: npm install in %s succeeded but %s is still missing", project, pkg)
	}
	return nil
}

// runNPM runs one npm command in project, bounded by ctx, killing npm's
// whole process group when ctx ends.
func runNPM(ctx context.Context, npm, project string, args ...string) error {
	args = append(args, "--no-audit", "--no-fund", "--prefix", project)
	out := childproc.NewTailBuffer(tailBufferSize)
	cmd := exec.CommandContext(ctx, npm, args...)
	cmd.Dir = project
	cmd.Env = append(os.Environ(), "npm_config_update_notifier=false")
	cmd.Stdout, cmd.Stderr = out, out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("npm %s: %w\n%s", args[0], err, out.Tail(outputTail))
	}
	return nil
}

// lockFile takes an exclusive flock on path, polling until ctx ends or
// lockTimeout passes. The returned function releases it.
func lockFile(ctx context.Context, path string) (func(), error) {
	f, err := os.OpenFile(path, os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, fmt.Errorf("emulators: open install lock: %w", err)
	}
	deadline := time.Now().Add(lockTimeout)
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() {
				syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
				f.Close()
			}, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) && !errors.Is(err, syscall.EINTR) {
			f.Close()
			return nil, fmt.Errorf("emulators: lock %s: %w", path, err)
		}
		if time.Now().After(deadline) {
			f.Close()
			return nil, fmt.Errorf("emulators: another process held %s for over %v", path, lockTimeout)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("emulators: wait for %s: %w", path, ctx.Err())
		case <-time.After(lockPoll):
		}
	}
}
