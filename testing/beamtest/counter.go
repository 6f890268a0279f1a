package beamtest

import (
	"testing"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
)

// Counter returns the value of the user counter namespace/name in pr,
// summed over the steps that updated it: the committed value where the
// runner reports one, else the attempted value. An empty namespace matches
// any namespace. It works on the result of any runner.
//
// On Prism as released a counter can come back short (see CheckCounter):
// check a counter a test depends on with CheckCounter.
func Counter(pr beam.PipelineResult, namespace, name string) int64 {
	if pr == nil {
		return 0
	}
	var sum int64
	for _, c := range pr.Metrics().AllMetrics().Counters() {
		if c.Key.Name == name && (namespace == "" || c.Key.Namespace == namespace) {
			sum += c.Result()
		}
	}
	return sum
}

// CheckCounter reports an error on t unless the user counter
// namespace/name of pr (as Counter sums it) is want.
//
// Prism v2.77 loses a bundle's update of a counter when that bundle ends
// while Prism is still asking the worker what the counter's short ID
// means: the first bundles to report a new counter can overwrite each
// other's values (docs/upstream/README.md, "Prism v2.77: counter updates
// lost"). Built with the tag ExactCountersTag, as CI's race step builds
// against the patched Prism, the check is exact. Without it a value below
// want but above zero is logged as that loss, not failed; zero where want
// is not, and any value above want, still fail. Outputs are never lost
// this way: a test's passert checks stay the proof of what a transform
// emits.
func CheckCounter(t testing.TB, pr beam.PipelineResult, namespace, name string, want int64) {
	t.Helper()
	got := Counter(pr, namespace, name)
	switch {
	case got == want:
	case !exactCounters && got > 0 && got < want:
		t.Logf("counter %s/%s = %d, want %d: short by %d, taken as Prism v2.77's lost counter updates (exact with -tags %s and docs/upstream/prism-metrics-lost-payloads.patch)",
			namespace, name, got, want, want-got, ExactCountersTag)
	default:
		t.Errorf("counter %s/%s = %d, want %d", namespace, name, got, want)
	}
}

// ExactCountersTag is the build tag that makes CheckCounter exact: use it
// only where the Beam module is patched with
// docs/upstream/prism-metrics-lost-payloads.patch (CI's race step).
const ExactCountersTag = "exactcounters"
