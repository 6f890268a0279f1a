package main

import (
	"crypto/rand"
	"encoding/hex"
	"sync"
	"time"
)

// The demo's tap: an observer of the windows printFn prints, used only by
// the embedded demo (no --stream) for its live status line and its final
// verification.
//
// It works because the demo runs the pipeline on in-process Prism with the
// LOOPBACK environment, where the worker is this very process and sees the
// registry below. On any other runner the worker is another process, the
// tap is not there, and printFn fails rather than ignore it; so the demo
// refuses to start on another runner or environment, and a pipeline read
// from a real --stream never sets printFn.Tap.

// taps holds the demo's taps by name.
var taps sync.Map // string -> *tap

// tap accumulates the windows printed in this process.
type tap struct {
	name string

	mu      sync.Mutex
	windows []printedWindow
	words   int64
}

// printedWindow is a window as the tap saw it.
type printedWindow struct {
	counts  WindowCounts
	printed time.Time
}

// newTap registers a tap under a random name; unregister it when done.
func newTap() *tap {
	var b [8]byte
	_, _ = rand.Read(b[:])
	t := &tap{name: "demo-" + hex.EncodeToString(b[:])}
	taps.Store(t.name, t)
	return t
}

// unregister removes the tap from the registry.
func (t *tap) unregister() { taps.Delete(t.name) }

// lookupTap returns the tap registered under name in this process.
func lookupTap(name string) (*tap, bool) {
	v, ok := taps.Load(name)
	if !ok {
		return nil, false
	}
	return v.(*tap), true
}

// observe records a printed window.
func (t *tap) observe(wc WindowCounts) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.windows = append(t.windows, printedWindow{counts: wc, printed: time.Now()})
	t.words += int64(wc.Total())
}

// snapshot returns the windows printed so far and their words.
func (t *tap) snapshot() (windows []printedWindow, words int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	return append([]printedWindow(nil), t.windows...), t.words
}
