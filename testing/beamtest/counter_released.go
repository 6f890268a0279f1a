//go:build !exactcounters

package beamtest

// exactCounters is false on Prism as released: it can lose counter
// updates (see CheckCounter).
const exactCounters = false
