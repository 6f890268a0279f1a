// Package bench holds what the project's benchmarks share: CPUTime, the
// user + system CPU time of this process (getrusage). The benchmark
// command (testing/cmd/kinesisbench, a module of its own) keeps its other
// measuring tools to itself.
//
// Nothing here asserts a timing: benchmarks report, tests check behaviour.
package bench
