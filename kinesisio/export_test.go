package kinesisio

import "time"

// SetClock replaces the clock start positions are checked against when a
// pipeline is built, and returns a function that restores it.
func SetClock(now func() time.Time) (restore func()) {
	prev := clock
	clock = now
	return func() { clock = prev }
}
