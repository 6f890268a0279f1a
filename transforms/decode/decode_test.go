package decode_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/mtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/graph/window"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/kinesisio/beam-kinesis/kinesisio"
	"github.com/kinesisio/beam-kinesis/testing/beamtest"
	"github.com/kinesisio/beam-kinesis/transforms/deadletter"
	"github.com/kinesisio/beam-kinesis/transforms/decode"
)

// order is the user type the tests decode into.
type order struct {
	ID  string `json:"id"`
	Qty int    `json:"qty"`
}

// unregistered is a named type nobody registers.
type unregistered struct{ A int }

func init() {
	beam.RegisterType(reflect.TypeOf((*order)(nil)).Elem())
	register.DoFn2x0[[]byte, func(beam.EventTime, kinesisio.Record)](&genFn{})
	register.Emitter2[beam.EventTime, kinesisio.Record]()
	register.Function1x2(parseOrder)
	register.Function1x2(shardOf)
	register.Function1x2(notAFunc)
}

// parseOrder is a strict user decoder: "id:qty".
func parseOrder(b []byte) (order, error) {
	id, q, ok := strings.Cut(string(b), ":")
	if !ok || id == "" {
		return order{}, fmt.Errorf("want id:qty, got %q", b)
	}
	var n int
	if _, err := fmt.Sscanf(q, "%d", &n); err != nil {
		return order{}, fmt.Errorf("quantity %q: %v", q, err)
	}
	return order{ID: id, Qty: n}, nil
}

// shardOf decodes a whole record; it panics on records of shard "boom".
func shardOf(r kinesisio.Record) (string, error) {
	if r.ShardID == "boom" {
		panic("shard boom")
	}
	if len(r.Data) == 0 {
		return "", errors.New("no data")
	}
	return r.ShardID + "/" + string(r.Data), nil
}

// notAFunc has the right shape but is an unregistered closure's sibling:
// it is registered, to tell registration from shape in the tests.
func notAFunc(s string) (int, error) { return len(s), nil }

func unregisteredDecoder([]byte) (order, error) { return order{}, nil }

// ---- input and collection ----

var base = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// record i has a full source position and arrives at base + i*40s, so
// that one-minute windows hold one or two records.
func record(i int, data string) kinesisio.Record {
	r := kinesisio.Record{
		Stream:                      "orders",
		ShardID:                     fmt.Sprintf("shardId-%012d", i%2),
		SequenceNumber:              fmt.Sprintf("4959%040d", i),
		SubSequenceNumber:           int64(i % 3),
		PartitionKey:                fmt.Sprintf("key-%d", i),
		ApproximateArrivalTimestamp: base.Add(time.Duration(i) * 40 * time.Second),
	}
	if data != "" {
		r.Data = []byte(data)
	}
	return r
}

// genFn emits its records, each at its arrival time.
type genFn struct{ Recs []kinesisio.Record }

func (f *genFn) ProcessElement(_ []byte, emit func(beam.EventTime, kinesisio.Record)) {
	for _, r := range f.Recs {
		emit(mtime.FromTime(r.ApproximateArrivalTimestamp), r)
	}
}

// placed is an output element with its window and timestamp.
type placed[T any] struct {
	V      T
	Window string
	At     time.Time
}

// collectPlaced adds a sink to col and returns a function giving what
// it got, each element with its window and timestamp.
func collectPlaced[T any](s beam.Scope, col beam.PCollection) func() []placed[T] {
	got := beamtest.Collect[T](s, col)
	return func() []placed[T] {
		var out []placed[T]
		for _, c := range got() {
			out = append(out, placed[T]{c.Value, c.Window, c.EventTime})
		}
		return out
	}
}

// sunk is what the sinks of collectResult got.
type sunk[T any] struct {
	values  []placed[T]
	letters []placed[deadletter.Letter]
}

// collectResult adds sinks to a decode's values and failures and returns
// a function giving what they got.
func collectResult[T any](s beam.Scope, values, failed beam.PCollection) func() sunk[T] {
	v, f := collectPlaced[T](s, values), collectPlaced[deadletter.Letter](s, failed)
	return func() sunk[T] { return sunk[T]{v(), f()} }
}

// windowed emits recs at their arrival times in one-minute windows.
func windowed(s beam.Scope, recs []kinesisio.Record) beam.PCollection {
	in := beam.ParDo(s, &genFn{Recs: recs}, beam.Impulse(s))
	return beam.WindowInto(s, window.NewFixedWindows(time.Minute), in)
}

// windowOf is how a record's one-minute window prints.
func windowOf(r kinesisio.Record) string {
	start := r.ApproximateArrivalTimestamp.Truncate(time.Minute)
	return fmt.Sprint(window.IntervalWindow{Start: mtime.FromTime(start), End: mtime.FromTime(start.Add(time.Minute))})
}

// wantFailure is a letter expected in Failed: its record, code and a
// part of its error text.
type wantFailure struct {
	Rec  kinesisio.Record
	Code string
	Err  string
}

// checkFailed compares letters with want (in any order): the whole
// record, the stage, the code, the error text, a failure time, and the
// record's window and timestamp.
func checkFailed(t *testing.T, got []placed[deadletter.Letter], stage string, want []wantFailure) {
	t.Helper()
	sort.Slice(got, func(i, j int) bool { return got[i].V.Record.SequenceNumber < got[j].V.Record.SequenceNumber })
	sort.Slice(want, func(i, j int) bool { return want[i].Rec.SequenceNumber < want[j].Rec.SequenceNumber })
	if len(got) != len(want) {
		t.Fatalf("Failed has %d letters, want %d: %+v", len(got), len(want), got)
	}
	for i, w := range want {
		g := got[i]
		if diff := cmp.Diff(w.Rec, g.V.Record, cmpopts.EquateEmpty()); diff != "" {
			t.Errorf("letter %d: record differs (-want +got):\n%s", i, diff)
		}
		if g.V.Stage != stage || g.V.ErrorCode != w.Code || !strings.Contains(g.V.Error, w.Err) {
			t.Errorf("letter of %q: stage %q, code %q, error %q; want %q, %q, error containing %q",
				w.Rec.Data, g.V.Stage, g.V.ErrorCode, g.V.Error, stage, w.Code, w.Err)
		}
		if g.V.FailedAt.IsZero() || g.V.FailedAt.Location() != time.UTC {
			t.Errorf("letter of %q: FailedAt %v, want a time in UTC", w.Rec.Data, g.V.FailedAt)
		}
		if g.Window != windowOf(w.Rec) || !g.At.Equal(w.Rec.ApproximateArrivalTimestamp) {
			t.Errorf("letter of %q: in window %s at %v, want %s at %v", w.Rec.Data, g.Window, g.At, windowOf(w.Rec), w.Rec.ApproximateArrivalTimestamp)
		}
	}
}

// ---- tests ----

// TestJSON decodes valid, invalid and empty payloads on Prism: each
// record lands in exactly one output, values with the exact contents,
// failures with the whole record and the error, all in their input's
// window and at its timestamp; the counters agree.
func TestJSON(t *testing.T) {
	valid := map[int]order{
		0: {ID: "a", Qty: 1},
		1: {ID: "b", Qty: 2},
		2: {ID: "c"}, // unknown fields are ignored by default
		3: {},        // an empty object is a value: the zero value
	}
	recs := []kinesisio.Record{
		record(0, `{"id":"a","qty":1}`),
		record(1, " \n{\"qty\": 2, \"id\": \"b\"}\n "),
		record(2, `{"id":"c","colour":"red"}`),
		record(3, `{}`),
		record(4, ``),
		record(5, `{"id":`),
		record(6, `{"id":"d"} {"id":"e"}`),
		record(7, `{"id":"f"}x`),
		record(8, `{"qty":"many"}`),
		record(9, `[1,2]`),
		record(10, "\xff\xfe"),
		record(11, `null`),
		record(12, " \tnull\r\n"),
	}
	want := []wantFailure{
		{recs[11], decode.ErrCodeNullPayload, "JSON null"},
		{recs[12], decode.ErrCodeNullPayload, "JSON null"},
		{recs[4], decode.ErrCodeEmptyPayload, "empty payload"},
		{recs[5], decode.ErrCodeInvalid, "unexpected end of JSON input"},
		{recs[6], decode.ErrCodeInvalid, "after top-level value"},
		{recs[7], decode.ErrCodeInvalid, "after top-level value"},
		{recs[8], decode.ErrCodeInvalid, "cannot unmarshal string"},
		{recs[9], decode.ErrCodeInvalid, "cannot unmarshal array"},
		{recs[10], decode.ErrCodeInvalid, "invalid character"},
	}
	p, s := beam.NewPipelineWithRoot()
	res := decode.JSON(s, windowed(s, recs), reflect.TypeOf(order{}))
	collected := collectResult[order](s, res.Values, res.Failed)
	pr := beamtest.Run(t, p)
	got := collected()
	var wantValues []placed[order]
	for i, v := range valid {
		wantValues = append(wantValues, placed[order]{v, windowOf(recs[i]), recs[i].ApproximateArrivalTimestamp})
	}
	byAt := func(a, b placed[order]) bool { return a.At.Before(b.At) }
	if diff := cmp.Diff(wantValues, got.values, cmpopts.SortSlices(byAt)); diff != "" {
		t.Errorf("Values differ (-want +got):\n%s", diff)
	}
	checkFailed(t, got.letters, deadletter.StageDecode, want)
	if len(got.values)+len(got.letters) != len(recs) {
		t.Errorf("%d values + %d failures for %d records", len(got.values), len(got.letters), len(recs))
	}
	beamtest.CheckCounter(t, pr, decode.MetricsNamespace, "decoded", int64(len(valid)))
	beamtest.CheckCounter(t, pr, decode.MetricsNamespace, "failed", int64(len(want)))
}

// TestJSONDisallowUnknownFields: with the option, unknown fields and
// trailing data fail; WithStage names the letters' stage.
func TestJSONDisallowUnknownFields(t *testing.T) {
	recs := []kinesisio.Record{
		record(0, `{"id":"a","qty":1}`),
		record(1, `{"id":"c","colour":"red"}`),
		record(2, `{"id":"d"} {"id":"e"}`),
		record(3, `{"id":"f"}  `),
		record(4, `{"id":"g"}]`),
		record(5, ` null `),
	}
	p, s := beam.NewPipelineWithRoot()
	res := decode.JSON(s, windowed(s, recs), reflect.TypeOf(order{}), decode.DisallowUnknownFields(), decode.WithStage("orders-v2"))
	collected := collectResult[order](s, res.Values, res.Failed)
	beamtest.Run(t, p)
	got := collected()
	wantValues := []placed[order]{
		{order{ID: "a", Qty: 1}, windowOf(recs[0]), recs[0].ApproximateArrivalTimestamp},
		{order{ID: "f"}, windowOf(recs[3]), recs[3].ApproximateArrivalTimestamp},
	}
	byAt := func(a, b placed[order]) bool { return a.At.Before(b.At) }
	if diff := cmp.Diff(wantValues, got.values, cmpopts.SortSlices(byAt)); diff != "" {
		t.Errorf("Values differ (-want +got):\n%s", diff)
	}
	checkFailed(t, got.letters, "orders-v2", []wantFailure{
		{recs[1], decode.ErrCodeInvalid, `unknown field "colour"`},
		{recs[2], decode.ErrCodeInvalid, "data after the top-level value"},
		{recs[4], decode.ErrCodeInvalid, "data after the top-level value"},
		{recs[5], decode.ErrCodeNullPayload, "JSON null"},
	})
}

// TestWithBytes decodes with a registered func([]byte) (T, error):
// empty payloads reach the function, its errors become letters.
func TestWithBytes(t *testing.T) {
	recs := []kinesisio.Record{
		record(0, "a:1"),
		record(1, "b:22"),
		record(2, "no colon"),
		record(3, ""),
		record(4, "c:x"),
	}
	p, s := beam.NewPipelineWithRoot()
	res := decode.With(s, windowed(s, recs), parseOrder)
	collected := collectResult[order](s, res.Values, res.Failed)
	pr := beamtest.Run(t, p)
	got := collected()
	wantValues := []placed[order]{
		{order{ID: "a", Qty: 1}, windowOf(recs[0]), recs[0].ApproximateArrivalTimestamp},
		{order{ID: "b", Qty: 22}, windowOf(recs[1]), recs[1].ApproximateArrivalTimestamp},
	}
	byAt := func(a, b placed[order]) bool { return a.At.Before(b.At) }
	if diff := cmp.Diff(wantValues, got.values, cmpopts.SortSlices(byAt)); diff != "" {
		t.Errorf("Values differ (-want +got):\n%s", diff)
	}
	checkFailed(t, got.letters, deadletter.StageDecode, []wantFailure{
		{recs[2], decode.ErrCodeInvalid, `want id:qty, got "no colon"`},
		{recs[3], decode.ErrCodeInvalid, `want id:qty, got ""`},
		{recs[4], decode.ErrCodeInvalid, `quantity "x"`},
	})
	beamtest.CheckCounter(t, pr, decode.MetricsNamespace, "decoded", 2)
	beamtest.CheckCounter(t, pr, decode.MetricsNamespace, "failed", 3)
}

// TestWithRecordAndPanic decodes with a registered
// func(kinesisio.Record) (T, error) that panics on some records: the
// panic is recovered into Failed and the other records go on.
func TestWithRecordAndPanic(t *testing.T) {
	recs := []kinesisio.Record{record(0, "x"), record(1, "y"), record(2, ""), record(3, "z")}
	recs[3].ShardID = "boom"
	p, s := beam.NewPipelineWithRoot()
	res := decode.With(s, windowed(s, recs), shardOf)
	collected := collectResult[string](s, res.Values, res.Failed)
	beamtest.Run(t, p)
	got := collected()
	wantValues := []placed[string]{
		{recs[0].ShardID + "/x", windowOf(recs[0]), recs[0].ApproximateArrivalTimestamp},
		{recs[1].ShardID + "/y", windowOf(recs[1]), recs[1].ApproximateArrivalTimestamp},
	}
	byAt := func(a, b placed[string]) bool { return a.At.Before(b.At) }
	if diff := cmp.Diff(wantValues, got.values, cmpopts.SortSlices(byAt)); diff != "" {
		t.Errorf("Values differ (-want +got):\n%s", diff)
	}
	checkFailed(t, got.letters, deadletter.StageDecode, []wantFailure{
		{recs[2], decode.ErrCodeInvalid, "no data"},
		{recs[3], decode.ErrCodePanic, "panic: shard boom"},
	})
}

// TestConstructionErrors: bad arguments are refused when the pipeline is
// built, with errors that wrap ErrInvalidOption and say what to fix; the
// non-Try forms panic with them.
func TestConstructionErrors(t *testing.T) {
	_, s := beam.NewPipelineWithRoot()
	recs := beam.Create(s, record(0, "{}"))
	strs := beam.Create(s, "not a record")
	closure := func([]byte) (order, error) { return order{}, nil }
	for _, tc := range []struct {
		name string
		try  func() error
		want string
	}{
		{"JSON nil type", func() error { _, err := decode.TryJSON(s, recs, nil); return err }, "nil type"},
		{"JSON unregistered type", func() error { _, err := decode.TryJSON(s, recs, reflect.TypeOf(unregistered{})); return err }, "beam.RegisterType"},
		{"JSON unregistered pointer type", func() error { _, err := decode.TryJSON(s, recs, reflect.TypeOf(&unregistered{})); return err }, "not registered"},
		{"JSON chan type", func() error { _, err := decode.TryJSON(s, recs, reflect.TypeOf(make(chan int))); return err }, "cannot decode into"},
		{"JSON interface type", func() error { _, err := decode.TryJSON(s, recs, reflect.TypeOf((*any)(nil)).Elem()); return err }, "cannot decode into"},
		{"JSON not records", func() error { _, err := decode.TryJSON(s, strs, reflect.TypeOf(order{})); return err }, "kinesisio.Record"},
		{"JSON invalid PCollection", func() error { _, err := decode.TryJSON(s, beam.PCollection{}, reflect.TypeOf(order{})); return err }, "invalid PCollection"},
		{"JSON nil option", func() error { _, err := decode.TryJSON(s, recs, reflect.TypeOf(order{}), nil); return err }, "nil option"},
		{"WithStage empty", func() error {
			_, err := decode.TryJSON(s, recs, reflect.TypeOf(order{}), decode.WithStage(""))
			return err
		}, "empty stage"},
		{"With nil", func() error { _, err := decode.TryWith(s, recs, nil); return err }, "nil function"},
		{"With nil func value", func() error {
			var f func([]byte) (order, error)
			_, err := decode.TryWith(s, recs, f)
			return err
		}, "nil function"},
		{"With unregistered", func() error { _, err := decode.TryWith(s, recs, unregisteredDecoder); return err }, "register.Function1x2"},
		{"With closure", func() error { _, err := decode.TryWith(s, recs, closure); return err }, "not registered"},
		{"With wrong input", func() error { _, err := decode.TryWith(s, recs, notAFunc); return err }, "is not a func(kinesisio.Record)"},
		{"With one result", func() error { _, err := decode.TryWith(s, recs, func([]byte) order { return order{} }); return err }, "is not a func"},
		{"With not a func", func() error { _, err := decode.TryWith(s, recs, 42); return err }, "is not a func"},
		{"With not records", func() error { _, err := decode.TryWith(s, strs, parseOrder); return err }, "kinesisio.Record"},
		{"With DisallowUnknownFields", func() error {
			_, err := decode.TryWith(s, recs, parseOrder, decode.DisallowUnknownFields())
			return err
		}, "JSON only"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := tc.try()
			if !errors.Is(err, decode.ErrInvalidOption) {
				t.Fatalf("error %v, want one wrapping ErrInvalidOption", err)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %q does not say %q", err, tc.want)
			}
		})
	}
	for name, f := range map[string]func(){
		"JSON": func() { decode.JSON(s, recs, nil) },
		"With": func() { decode.With(s, recs, unregisteredDecoder) },
	} {
		t.Run(name+" panics", func(t *testing.T) {
			defer func() {
				err, _ := recover().(error)
				if !errors.Is(err, decode.ErrInvalidOption) {
					t.Errorf("panicked with %v, want an ErrInvalidOption error", err)
				}
			}()
			f()
		})
	}
}

// TestJSONValuesCrossTheCoder: decoded values are encoded by Beam between
// stages (a GroupByKey), and arrive whole.
func TestJSONValuesCrossTheCoder(t *testing.T) {
	var recs []kinesisio.Record
	var want []order
	for i := range 20 {
		o := order{ID: fmt.Sprintf("o%02d", i), Qty: i}
		b, _ := json.Marshal(o)
		recs = append(recs, record(i, string(b)))
		want = append(want, o)
	}
	p, s := beam.NewPipelineWithRoot()
	res := decode.JSON(s, beam.ParDo(s, &genFn{Recs: recs}, beam.Impulse(s)), reflect.TypeOf(order{}))
	shuffled := beam.Reshuffle(s, res.Values)
	collected := collectPlaced[order](s, shuffled)
	beamtest.Run(t, p)
	var got []order
	for _, o := range collected() {
		got = append(got, o.V)
	}
	if diff := cmp.Diff(want, got, cmpopts.SortSlices(func(a, b order) bool { return a.ID < b.ID })); diff != "" {
		t.Errorf("values differ after a reshuffle (-want +got):\n%s", diff)
	}
}
