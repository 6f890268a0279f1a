package main

import (
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/plotutil"
	"gonum.org/v1/plot/vg"
)

// Table is one figure's results as a Markdown table.
type Table struct {
	Title   string
	Columns []string
	Rows    [][]string
}

func (t *Table) add(cells ...any) {
	row := make([]string, len(cells))
	for i, c := range cells {
		row[i] = fmt.Sprint(c)
	}
	t.Rows = append(t.Rows, row)
}

func (t *Table) write(w io.Writer) {
	fmt.Fprintf(w, "**%s**\n\n| %s |\n|%s\n", t.Title, strings.Join(t.Columns, " | "), strings.Repeat("---|", len(t.Columns)))
	for _, r := range t.Rows {
		fmt.Fprintf(w, "| %s |\n", strings.Join(r, " | "))
	}
	fmt.Fprintln(w)
}

// figure presents the results of the scenarios of its name.
type figure struct {
	name, title string
	columns     []string
	// row is a result's row of the table (nil: none).
	row func(r *result, all []*result) []any
	// draw draws its pictures, if any, named name-SUFFIX.svg.
	draw func(rs []*result) (map[string]*plot.Plot, error)
}

func figureNames() []string {
	var names []string
	for _, f := range figures {
		names = append(names, f.name)
	}
	return names
}

var figures = []figure{
	{name: "read", title: "1. Catch-up from TRIM_HORIZON, records/s per shard from the start of the read (beam.Run for Read) to the last record",
		columns: []string{"record", "shards", "records", "reader", "rec/s/shard", "÷ bare loop", "MB/s/shard", "job", "process CPU µs/rec"},
		row: func(r *result, all []*result) []any {
			base := find(all, r.sc, map[bool]reader{false: bareGet, true: bareSub}[r.sc.r == fanOut || r.sc.r == bareSub])
			return []any{sizeLabel(r.sc.size), r.sc.shards, num(float64(r.sc.n)), r.sc.r, num(r.rate()), ratio(r.rate(), base.rate()),
				fixed(r.rate()*float64(r.sc.size)/1e6, 1), secs(r.wall), fixed(r.perRec(int64(r.cpu)), 2)}
		},
		draw: drawRead},
	{name: "cpu", title: "2. CPU per record by part (CPU profile) in the steady state, catch-up of 100 B records on 4 shards, Read unpaced vs the bare loop",
		columns: []string{"reader", "process µs/rec (getrusage)", "client µs/rec (all but the server)", "client ÷ bare loop's", "records in the window: received / fetched"},
		row: func(r *result, all []*result) []any {
			base := find(all, r.sc, bareGet)
			return []any{r.sc.r, fixed(r.perRec(int64(r.cpu)), 2), fixed(r.perRec(client(r)), 2), ratio(r.perRec(client(r)), base.perRec(client(base))),
				num(float64(r.counted)) + " / " + num(float64(r.fetched))}
		},
		draw: drawCPU},
	{name: "latency", title: "3. Latency from PutRecords to the record leaving Read, producer on 4 shards",
		columns: []string{"reader", "producer rec/s", "records", "p50", "p90", "p99", "max", "arrival→emit p50", "p99", "GetRecords calls/s/shard"},
		row: func(r *result, _ []*result) []any {
			l := r.s.latency
			return []any{r.sc.r, num(r.sc.rate * float64(r.sc.shards)), num(float64(r.s.n.Load())), ms(l.Quantile(0.5)), ms(l.Quantile(0.9)),
				ms(l.Quantile(0.99)), ms(l.Max()), ms(r.s.lag.Quantile(0.5)), ms(r.s.lag.Quantile(0.99)), fixed(r.calls, 2)}
		},
		draw: drawLatency},
	{name: "startup", title: "4. Start-up: from beam.Run to the first record (a 4-shard stream with records), vs a trivial Impulse -> DoFn pipeline",
		columns: []string{"pipeline", "first record (element) after", "job"},
		row:     func(r *result, _ []*result) []any { return []any{r.sc.r, ms(r.first), ms(r.wall)} }},
	{name: "scale", title: "5. Scale on one worker, quotas on, 100 B records; CPU and lag over the producer's run",
		columns: []string{"shards", "rec/s per shard", "reader", "records", "lag p50", "p99", "max", "CPU cores (process)", "read side cores",
			"GetRecords calls/s/shard", "RSS per shard"},
		row: func(r *result, _ []*result) []any {
			lag := func(q float64) string {
				return map[bool]string{true: "-", false: ms(r.s.lag.Quantile(q))}[r.s.n.Load() == 0]
			}
			return []any{r.sc.shards, fixed(r.sc.rate, 0), r.sc.r, num(float64(r.s.n.Load())), lag(0.5), lag(0.99), lag(1), fixed(r.cpu.Seconds()/r.window.Seconds(), 2), fixed(cores(r, readSideCPU(r)), 2), fixed(r.calls, 2),
				fixed(r.rssPerShard/1024, 0) + " KiB"}
		},
		draw: drawScale},
	{name: "write", title: "6. Write vs a bare PutRecords loop (batches of 500), 100 B records on 4 shards, read back and checked",
		columns: []string{"writer", "in flight", "records", "rec/s", "÷ bare loop, same in flight", "process CPU µs/rec"},
		row: func(r *result, all []*result) []any {
			rate := func(r *result) float64 { return float64(r.sc.n) / r.wall.Seconds() }
			return []any{r.sc.r, r.sc.inFlight, num(float64(r.sc.n)), num(rate(r)), ratio(rate(r), rate(find(all, r.sc, barePut))), fixed(r.perRec(int64(r.cpu)), 2)}
		}},
}

// find is the result of reader r in the scenario like sc (same figure,
// shards, size, rate, in flight), or an empty result.
func find(all []*result, sc scenario, r reader) *result {
	for _, x := range all {
		if x.sc.fig == sc.fig && x.sc.r == r && x.sc.shards == sc.shards && x.sc.size == sc.size && x.sc.rate == sc.rate && x.sc.inFlight == sc.inFlight {
			return x
		}
	}
	return &result{s: newSink(0)}
}

// client is a profiled result's CPU outside the in-process server, ns.
func client(r *result) int64 {
	var t int64
	for i, v := range r.parts {
		if i != 0 {
			t += v
		}
	}
	return t
}

// readSideCPU is the CPU of the parts a worker reading Kinesis spends too.
func readSideCPU(r *result) int64 {
	var t int64
	for i, v := range r.parts {
		if readSide(i) {
			t += v
		}
	}
	return t
}

func cores(r *result, ns int64) float64 { return float64(ns) / float64(r.window) }

// report prints every figure with results and draws its pictures.
func (b *benchRun) report(w io.Writer) error {
	for _, f := range figures {
		var rs []*result
		for _, r := range b.results {
			if r.sc.fig == f.name {
				rs = append(rs, r)
			}
		}
		if len(rs) == 0 {
			continue
		}
		t := &Table{Title: f.title, Columns: f.columns}
		for _, r := range rs {
			t.add(f.row(r, rs)...)
		}
		t.write(w)
		if f.name == "cpu" || f.name == "scale" {
			partsTable(rs).write(w)
		}
		if f.draw == nil || b.c.plots == "" {
			continue
		}
		plots, err := f.draw(rs)
		if err != nil {
			return fmt.Errorf("figure %s: %w", f.name, err)
		}
		for suffix, p := range plots {
			name := filepath.Join(b.c.plots, f.name+suffix+"."+b.c.plotExt)
			if err := os.MkdirAll(b.c.plots, 0o755); err != nil {
				return err
			}
			if err := p.Save(7*vg.Inch, 4*vg.Inch, name); err != nil {
				return fmt.Errorf("figure %s: %w", f.name, err)
			}
			fmt.Fprintf(w, "![%s](%s)\n\n", p.Title.Text, filepath.Base(name))
		}
	}
	return nil
}

// partsTable splits the CPU of profiled results by part, in µs per record
// (cores when the scenario is live).
func partsTable(rs []*result) *Table {
	t := &Table{Title: "CPU by part (profile; µs per record, or cores for the scale runs)", Columns: []string{"part"}}
	for _, r := range rs {
		t.Columns = append(t.Columns, fmt.Sprintf("%v, %d shards%s", r.sc.r, r.sc.shards, map[bool]string{true: fmt.Sprintf(", %g rec/s/shard", r.sc.rate)}[r.sc.dur > 0]))
	}
	for i, p := range parts {
		row, nonzero := []any{p.name}, false
		for _, r := range rs {
			if len(r.parts) == 0 {
				row = append(row, "-")
				continue
			}
			nonzero = nonzero || r.parts[i] > 0
			row = append(row, fixed(partValue(r, r.parts[i]), 3))
		}
		if nonzero {
			t.add(row...)
		}
	}
	return t
}

// partValue is ns of CPU as µs per record, or cores for a live scenario.
func partValue(r *result, ns int64) float64 {
	if r.sc.dur > 0 {
		return cores(r, ns)
	}
	return r.perRec(ns)
}

// newPlot is a plot with a title and axis labels, its legend at the top
// (left or right); logX draws x on a log scale.
func newPlot(title, x, y string, logX, left bool) *plot.Plot {
	p := plot.New()
	p.Title.Text, p.X.Label.Text, p.Y.Label.Text = title, x, y
	p.Legend.Top, p.Legend.Left = true, left
	p.Add(plotter.NewGrid())
	if logX {
		p.X.Scale, p.X.Tick.Marker = plot.LogScale{}, plot.LogTicks{Prec: -1}
	}
	return p
}

// series adds one line per reader of rs, x and y taken from each result.
func series(p *plot.Plot, rs []*result, name func(*result) string, x, y func(*result) float64) error {
	var order []string
	lines := map[string]plotter.XYs{}
	for _, r := range rs {
		n := name(r)
		if _, ok := lines[n]; !ok {
			order = append(order, n)
		}
		if v := y(r); !math.IsNaN(v) && !math.IsInf(v, 0) {
			lines[n] = append(lines[n], plotter.XY{X: x(r), Y: v})
		}
	}
	var args []any
	var ticks []plot.Tick // on a log scale, a tick at every x
	for _, n := range order {
		args = append(args, n, lines[n])
		for _, xy := range lines[n] {
			ticks = append(ticks, plot.Tick{Value: xy.X, Label: strconv.FormatFloat(xy.X, 'f', -1, 64)})
		}
	}
	if _, ok := p.X.Scale.(plot.LogScale); ok {
		p.X.Tick.Marker = plot.ConstantTicks(ticks)
	}
	return plotutil.AddLinePoints(p, args...)
}

func drawRead(rs []*result) (map[string]*plot.Plot, error) {
	out := map[string]*plot.Plot{}
	for _, r := range rs {
		label := sizeLabel(r.sc.size)
		suffix := "-" + strings.ReplaceAll(label, " ", "")
		if out[suffix] != nil {
			continue
		}
		var same []*result
		for _, x := range rs {
			if x.sc.size == r.sc.size {
				same = append(same, x)
			}
		}
		p := newPlot("Catch-up, "+label+" records: records/s per shard vs shards", "shards", "records/s per shard (start to last record)", true, false)
		if err := series(p, same, func(r *result) string { return r.sc.r.String() }, func(r *result) float64 { return float64(r.sc.shards) }, (*result).rate); err != nil {
			return nil, err
		}
		out[suffix] = p
	}
	return out, nil
}

func drawCPU(rs []*result) (map[string]*plot.Plot, error) {
	p := newPlot("CPU per record by part (100 B, 4 shards)", "µs per record", "", false, false)
	var names []string
	for i := range parts {
		names = append(names, parts[len(parts)-1-i].name)
	}
	w := vg.Points(8)
	for k, r := range rs {
		vals := make(plotter.Values, len(parts))
		for i := range parts {
			if len(r.parts) > 0 {
				vals[len(parts)-1-i] = r.perRec(r.parts[i])
			}
		}
		bars, err := plotter.NewBarChart(vals, w)
		if err != nil {
			return nil, err
		}
		bars.Horizontal, bars.Offset, bars.Color, bars.LineStyle.Width = true, w*vg.Length(float64(k)-float64(len(rs)-1)/2), plotutil.Color(k), 0
		p.Add(bars)
		p.Legend.Add(r.sc.r.String(), bars)
		p.X.Max = max(p.X.Max, 1.5*slices.Max(vals)) // room for the legend
	}
	p.NominalY(names...)
	p.Legend.Top = false // the last parts are the smallest
	return map[string]*plot.Plot{"": p}, nil
}

func drawLatency(rs []*result) (map[string]*plot.Plot, error) {
	p := newPlot(fmt.Sprintf("Put-to-emit latency, %g records/s on 4 shards: cumulative distribution", rs[0].sc.rate*4), "latency (ms)", "fraction of records", true, true)
	p.Y.Min, p.Y.Max = 0, 1
	for k, r := range rs {
		ds, fs := r.s.latency.CDF()
		xys := make(plotter.XYs, len(ds))
		for i := range ds {
			xys[i] = plotter.XY{X: max(float64(ds[i])/1e6, 0.1), Y: fs[i]}
		}
		l, err := plotter.NewLine(xys)
		if err != nil {
			return nil, err
		}
		l.Color, l.Width = plotutil.Color(k), vg.Points(2)
		p.Add(l)
		p.Legend.Add(r.sc.r.String(), l)
	}
	return map[string]*plot.Plot{"": p}, nil
}

func drawScale(rs []*result) (map[string]*plot.Plot, error) {
	var busy []*result
	for _, r := range rs {
		if r.sc.rate > 0 {
			busy = append(busy, r)
		}
	}
	shards := func(r *result) float64 { return float64(r.sc.shards) }
	lag := newPlot(fmt.Sprintf("Lag vs shards, %g records/s per shard, quotas on", rs[0].sc.rate), "shards", "lag (ms)", true, true)
	for _, q := range []float64{0.5, 0.99} {
		err := series(lag, busy, func(r *result) string { return fmt.Sprintf("%v, p%g", r.sc.r, q*100) }, shards,
			func(r *result) float64 { return float64(r.s.lag.Quantile(q)) / 1e6 })
		if err != nil {
			return nil, err
		}
	}
	cpu := newPlot(fmt.Sprintf("Read side CPU vs shards, %g records/s per shard (idle: no records)", rs[0].sc.rate), "shards", "cores", true, true)
	err := series(cpu, rs, func(r *result) string {
		return fmt.Sprintf("%v%s", r.sc.r, map[bool]string{true: ", idle"}[r.sc.rate == 0])
	}, shards,
		func(r *result) float64 { return cores(r, readSideCPU(r)) })
	return map[string]*plot.Plot{"-lag": lag, "-cpu": cpu}, err
}

// Formatting.

func fixed(v float64, prec int) string {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		return "-"
	}
	return strconv.FormatFloat(v, 'f', prec, 64)
}

// num formats v with thousands separators and no decimals.
func num(v float64) string {
	s := fixed(math.Round(v), 0)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

func ratio(a, b float64) string {
	if b == 0 {
		return "-"
	}
	return fixed(a/b, 2)
}

func ms(d time.Duration) string {
	if v := float64(d) / 1e6; v < 10 {
		return fixed(v, 1) + " ms"
	}
	return num(float64(d)/1e6) + " ms"
}

func secs(d time.Duration) string { return fixed(d.Seconds(), 2) + " s" }

func sizeLabel(n int) string {
	if n >= 1024 && n%1024 == 0 {
		return fmt.Sprintf("%d KiB", n>>10)
	}
	return fmt.Sprintf("%d B", n)
}
