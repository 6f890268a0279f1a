//go:build exactcounters

package beamtest

// exactCounters is true in builds tagged exactcounters, against a Prism
// patched with docs/upstream/prism-metrics-lost-payloads.patch.
const exactCounters = true
