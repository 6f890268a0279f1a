// Package bench holds the measuring tools of the project's benchmark
// command (testing/cmd/kinesisbench), usable by other benchmarks too:
//
//   - Histogram: a lock-free log-linear histogram of durations (about 1.6 %
//     resolution, fixed 30 KiB), for latency percentiles without keeping
//     every sample;
//   - CPUTime: user + system CPU time of this process (getrusage);
//   - RSS and RSSSampler: resident set size from /proc/self/status, sampled
//     in the background;
//   - Table: result tables printed as aligned text or as Markdown;
//   - Machine: a one-paragraph description of the machine and toolchain;
//   - ParseProfile: the pprof CPU profiles runtime/pprof writes, read with
//     github.com/google/pprof/profile into stacks, values and labels,
//     enough to split CPU time by goroutine label and stack and to list
//     the top functions.
//
// Nothing here asserts a timing: benchmarks report, tests check behaviour.
package bench
