//go:build !linux

package procid

import (
	"runtime"
	"testing"
)

// TestNothingProvenElsewhere: off Linux, not even a reused PID is dead.
func TestNothingProvenElsewhere(t *testing.T) {
	id := Self()
	id.Start++
	if dead, why := Dead(id); dead {
		t.Errorf("Dead(%+v) = true, %q on %s", id, why, runtime.GOOS)
	}
}
