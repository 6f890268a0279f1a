package main

import (
	"fmt"
	"strings"

	"github.com/kinesisio/beam-kinesis/testing/bench"
)

// targetsTable compares what was measured with the project's performance
// targets. It reports; it never fails the run.
func (b *benchRun) targetsTable() *bench.Table {
	t := &bench.Table{
		Title:   "Summary against the performance targets (reported, never asserted)",
		Columns: []string{"target", "measured", "met"},
	}
	yes := func(ok bool) string {
		if ok {
			return "yes"
		}
		return "no"
	}
	for _, size := range b.c.sizes {
		for _, shards := range []int{4, 16} {
			// The unpaced pair is reported only next to the paced one.
			for _, v := range []struct{ key, name string }{{"read", "paced to the quota"}, {"read.unpaced", "WithQuotaPacing(0)"}} {
				job, ok1 := b.rep.Targets[fmt.Sprintf("%s.job.%d.%d", v.key, size, shards)]
				steady, ok2 := b.rep.Targets[fmt.Sprintf("%s.steady.%d.%d", v.key, size, shards)]
				if !ok1 || !ok2 {
					break
				}
				t.AddRow(fmt.Sprintf("read >= 0.8x bare loop, %s, %d shards, %s (whole job / 1st→last)", sizeLabel(size), shards, v.name),
					fmt.Sprintf("%s / %s", fixed(job, 2), fixed(steady, 2)), fmt.Sprintf("%s / %s", yes(job >= 0.8), yes(steady >= 0.8)))
			}
		}
	}
	for _, rate := range b.c.latencyRates {
		p50, ok := b.rep.Targets[fmt.Sprintf("latency.p50.%d", rate)]
		calls, ok2 := b.rep.Targets[fmt.Sprintf("latency.calls.max.%d", rate)]
		if !ok || !ok2 {
			continue
		}
		t.AddRow(fmt.Sprintf("p50 latency <= 250 ms within 5 calls/s per shard (%d rec/s, defaults)", rate),
			fmt.Sprintf("p50 %s ms, max %s calls/s/shard", fixed(p50, 0), fixed(calls, 2)), yes(p50 <= 250 && calls <= 5))
	}
	for _, rate := range b.c.latencyRates {
		p50, ok := b.rep.Targets[fmt.Sprintf("latency.efo.p50.%d", rate)]
		p99, ok2 := b.rep.Targets[fmt.Sprintf("latency.efo.p99.%d", rate)]
		if !ok || !ok2 {
			continue
		}
		vs := ""
		if r, ok := b.rep.Targets[fmt.Sprintf("latency.efo.ratio50.%d", rate)]; ok {
			vs = fmt.Sprintf(" (p50 %s of polling's)", fixed(r, 2))
		}
		t.AddRow(fmt.Sprintf("fan-out p50 <= 70 ms and p99 <= 200 ms (%d rec/s on %d shards)", rate, b.c.latencyShards),
			fmt.Sprintf("p50 %s ms, p99 %s ms%s", fixed(p50, 0), fixed(p99, 0), vs), yes(p50 <= 70 && p99 <= 200))
	}
	if v, ok := b.rep.Targets["startup.first"]; ok {
		t.AddRow("first record <= 2 s after start", fixed(v, 2)+" s", yes(v <= 2))
	}
	for _, shards := range b.c.scaleShards {
		keeps, ok := b.rep.Targets[fmt.Sprintf("scale.keeps.%d", shards)]
		mem, ok2 := b.rep.Targets[fmt.Sprintf("scale.mem.%d", shards)]
		calls, ok3 := b.rep.Targets[fmt.Sprintf("scale.calls.max.%d", shards)]
		if !ok || !ok2 || !ok3 {
			continue
		}
		t.AddRow(fmt.Sprintf("%d shards keep up, <= 2 MiB per shard, <= 5 calls/s per shard", shards),
			fmt.Sprintf("keeps up: %s; %s KiB/shard; max %s calls/s/shard", yes(keeps == 1), fixed(mem/1024, 0), fixed(calls, 2)),
			yes(keeps == 1 && mem <= 2<<20 && calls <= 5))
	}
	for _, k := range []int{4, 1} {
		if v, ok := b.rep.Targets[fmt.Sprintf("write.ratio1.%d", k)]; ok {
			same, _ := b.rep.Targets[fmt.Sprintf("write.ratio.%d", k)]
			t.AddRow(fmt.Sprintf("write >= 0.8x bare loop (Write with %d in flight; vs 1-goroutine loop / same in flight)", k),
				fmt.Sprintf("%s / %s", fixed(v, 2), fixed(same, 2)), fmt.Sprintf("%s / %s", yes(v >= 0.8), yes(same >= 0.8)))
		}
	}
	if len(t.Rows) == 0 {
		return nil
	}
	if len(b.rep.Failures) > 0 {
		t.Note("Functional failures: %s", strings.Join(b.rep.Failures, "; "))
	}
	return t
}
