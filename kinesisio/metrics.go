package kinesisio

import (
	"context"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/kinesisio/beam-kinesis/kinesisio/internal/fetcher"
)

// MetricsNamespace is the Beam metrics namespace of the connector.
const MetricsNamespace = "kinesisio"

// readMetrics accumulates within one ProcessElement call and reports to
// Beam metrics at its end (fetchers run outside any bundle context).
type readMetrics struct {
	records, bytes int64

	recordsC, bytesC, calls, throttled, renewals, retried beam.Counter
	gauges                                                map[string]beam.Gauge
}

func newReadMetrics() readMetrics {
	c := func(name string) beam.Counter { return beam.NewCounter(MetricsNamespace, name) }
	return readMetrics{
		recordsC: c("records"), bytesC: c("bytes"), calls: c("getrecords_calls"),
		throttled: c("throttled_calls"), renewals: c("iterator_renewals"), retried: c("retried_errors"),
		gauges: map[string]beam.Gauge{},
	}
}

func (m *readMetrics) report(ctx context.Context, shardID string, f *fetcher.Fetcher) {
	if m.records > 0 {
		m.recordsC.Inc(ctx, m.records)
		m.bytesC.Inc(ctx, m.bytes)
		m.records, m.bytes = 0, 0
	}
	s := f.StatsDelta()
	for c, n := range map[*beam.Counter]int64{&m.calls: s.Calls, &m.throttled: s.Throttled, &m.renewals: s.Renewals, &m.retried: s.Retried} {
		if n > 0 {
			c.Inc(ctx, n)
		}
	}
	if s.MillisBehindLatest >= 0 {
		g, ok := m.gauges[shardID]
		if !ok {
			g = beam.NewGauge(MetricsNamespace, "millis_behind_latest/"+shardID)
			m.gauges[shardID] = g
		}
		g.Set(ctx, s.MillisBehindLatest)
	}
}
