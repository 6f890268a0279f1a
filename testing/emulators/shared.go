package emulators

import (
	"context"
	"errors"
	"fmt"
	"os"
	"sync"
	"testing"
	"time"
)

// sharedStartTimeout bounds starting a shared emulator, including the
// first npm install.
const sharedStartTimeout = 10 * time.Minute

// slot holds the shared emulator of one kind.
type slot struct {
	mu  sync.Mutex
	emu *Emulator
	err error // why the last start failed; not retried
}

var (
	slotsMu sync.Mutex
	slots   = map[Kind]*slot{}
)

// slotFor returns the slot of kind, creating it.
func slotFor(kind Kind) *slot {
	slotsMu.Lock()
	defer slotsMu.Unlock()
	s, ok := slots[kind]
	if !ok {
		s = &slot{}
		slots[kind] = s
	}
	return s
}

// Require returns the emulator of kind shared by the whole test binary,
// starting it on first use (and again if it has died; a restarted
// emulator has lost its streams). If it cannot start, Require fails the
// test when the environment variable CI is "true" and skips it otherwise.
// A failed start is not retried within the process. Call StopAll at the
// end of TestMain.
func Require(t testing.TB, kind Kind) *Emulator {
	t.Helper()
	s := slotFor(kind)
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err == nil && s.emu != nil && s.emu.exited() {
		t.Logf("emulators: shared %s had exited; restarting it. Its output:\n%s", kind, s.emu.Output())
		s.emu = nil
	}
	if s.err == nil && s.emu == nil {
		ctx, cancel := context.WithTimeout(context.Background(), sharedStartTimeout)
		s.emu, s.err = Start(ctx, kind)
		cancel()
	}
	if s.err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("emulators: %s is required (CI=true) but could not start: %v", kind, s.err)
		}
		t.Skipf("emulators: skipping: %s could not start (with CI=true this fails): %v", kind, s.err)
	}
	return s.emu
}

// StopAll stops every emulator started by Require and forgets failed
// starts, so that a later Require starts afresh. It returns the errors of
// the Stop calls, joined.
func StopAll() error {
	slotsMu.Lock()
	all := make([]*slot, 0, len(slots))
	for _, s := range slots {
		all = append(all, s)
	}
	slotsMu.Unlock()
	var errs []error
	for _, s := range all {
		s.mu.Lock()
		if s.emu != nil {
			errs = append(errs, s.emu.Stop())
		}
		s.emu, s.err = nil, nil
		s.mu.Unlock()
	}
	return errors.Join(errs...)
}

// Run runs the tests of m, stops every emulator they started, and returns
// the exit code: a test failure's, or 1 if an emulator would not stop.
// A TestMain that needs nothing else is os.Exit(emulators.Run(m)).
func Run(m *testing.M) int {
	code := m.Run()
	if err := StopAll(); err != nil {
		fmt.Fprintln(os.Stderr, "emulators: StopAll:", err)
		if code == 0 {
			code = 1
		}
	}
	return code
}
