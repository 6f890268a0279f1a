//go:build !race

package wire

// raceEnabled: the race detector changes what the heap holds, so heap
// figures are not checked under it.
const raceEnabled = false
