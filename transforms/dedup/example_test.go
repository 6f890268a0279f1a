package dedup_test

import (
	"fmt"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/testing/ptest"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/transforms/top"
	"github.com/kinesisio/beam-kinesis/transforms/dedup"
)

func init() {
	register.Function2x1(less)
	register.Function1x0(printList)
}

func less(a, b string) bool { return a < b }

func printList(names []string) { fmt.Println(names) }

// Records read twice (here "a|1", as after a restart from an older
// checkpoint) come out once.
func Example() {
	p, s := beam.NewPipelineWithRoot()
	records := beam.ParDo(s, toRecord, beam.Create(s, "a|1", "b|1", "a|1"))
	unique := dedup.Records(s, records, dedup.WithHorizon(dedup.EventTime(10*time.Minute)))
	beam.ParDo0(s, printList, top.Smallest(s, names(s, unique), 10, less))

	if _, err := ptest.RunWithMetrics(p); err != nil {
		fmt.Println(err)
	}
	// Output: [a|1 b|1]
}
