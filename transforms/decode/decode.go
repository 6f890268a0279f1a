package decode

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"reflect"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/runtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/util/reflectx"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/kinesisio/beam-kinesis/kinesisio"
	"github.com/kinesisio/beam-kinesis/transforms/deadletter"
)

func init() {
	register.DoFn4x0[context.Context, kinesisio.Record, func(beam.X), func(deadletter.Letter)](&jsonFn{})
	register.DoFn4x0[context.Context, kinesisio.Record, func(beam.X), func(deadletter.Letter)](&funcFn{})
	register.Emitter1[beam.X]()
	register.Emitter1[deadletter.Letter]()
}

// MetricsNamespace is the namespace of this package's metrics: counters
// decoded and failed.
const MetricsNamespace = "transforms/decode"

// Error codes of the letters of records that failed to decode
// (deadletter.Letter.ErrorCode).
const (
	// ErrCodeEmptyPayload: the record's data is empty (JSON only).
	ErrCodeEmptyPayload = "EmptyPayload"
	// ErrCodeNullPayload: the record's data is the JSON value null,
	// which decodes to no value (JSON only).
	ErrCodeNullPayload = "NullPayload"
	// ErrCodeInvalid: the payload did not decode; Error says why.
	ErrCodeInvalid = "Invalid"
	// ErrCodePanic: the decode function panicked; Error holds the panic's
	// value.
	ErrCodePanic = "Panic"
)

// ErrInvalidOption is wrapped by every error an option or a transform of
// this package returns for a bad argument.
var ErrInvalidOption = errors.New("decode: invalid option")

func invalid(what, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalidOption, what, fmt.Sprintf(format, args...))
}

// Result holds the outputs of a decode. Every input record lands in
// exactly one of them, with its timestamp and window.
type Result struct {
	// Values holds the decoded values, of the type decoded into.
	Values beam.PCollection
	// Failed holds a deadletter.Letter for each record that did not
	// decode: the record whole, Stage deadletter.StageDecode (or
	// WithStage's), one of the ErrCode constants and the error's text.
	Failed beam.PCollection
}

// Option configures JSON and With. A bad one makes TryJSON or TryWith
// fail with an error that wraps ErrInvalidOption.
type Option interface {
	apply(*spec) error
}

type optionFunc func(*spec) error

func (f optionFunc) apply(s *spec) error { return f(s) }

type spec struct {
	Stage                 string
	DisallowUnknownFields bool
}

// WithStage sets the Stage of the failures' letters (default
// deadletter.StageDecode), to tell several decodes of a pipeline apart.
func WithStage(name string) Option {
	return optionFunc(func(s *spec) error {
		if name == "" {
			return invalid("WithStage", "empty stage name")
		}
		s.Stage = name
		return nil
	})
}

// DisallowUnknownFields makes JSON fail records whose objects have a field
// the type does not have (json.Decoder.DisallowUnknownFields). With does
// not take it.
func DisallowUnknownFields() Option {
	return optionFunc(func(s *spec) error {
		s.DisallowUnknownFields = true
		return nil
	})
}

func newSpec(opts []Option) (spec, error) {
	s := spec{Stage: deadletter.StageDecode}
	for _, o := range opts {
		if o == nil {
			return s, invalid("Option", "nil option")
		}
		if err := o.apply(&s); err != nil {
			return s, err
		}
	}
	return s, nil
}

var recordType = reflect.TypeOf((*kinesisio.Record)(nil)).Elem()

func checkRecords(records beam.PCollection) error {
	if !records.IsValid() {
		return invalid("records", "invalid PCollection")
	}
	if t := records.Type().Type(); t != recordType {
		return invalid("records", "want a PCollection of kinesisio.Record, not of %v", t)
	}
	return nil
}

// JSON decodes the Data of each record of records (a PCollection of
// kinesisio.Record) with encoding/json into a new value of type t, and
// returns the values (a PCollection of t) and the failures. A record
// fails if its data is empty (ErrCodeEmptyPayload), is the JSON value
// null (ErrCodeNullPayload: it decodes to no value; encoding/json would
// leave t's zero value), or is not exactly one JSON value that decodes
// into t (ErrCodeInvalid). Whitespace around the value is allowed,
// anything else after it is not.
//
// A named t must be registered with beam.RegisterType in an init()
// function, as every type that crosses workers must; JSON checks it.
//
// JSON panics if an argument or option is invalid; TryJSON returns the
// error instead.
func JSON(s beam.Scope, records beam.PCollection, t reflect.Type, opts ...Option) Result {
	res, err := TryJSON(s, records, t, opts...)
	if err != nil {
		panic(err)
	}
	return res
}

// TryJSON is JSON, returning an error instead of panicking.
func TryJSON(s beam.Scope, records beam.PCollection, t reflect.Type, opts ...Option) (Result, error) {
	s = s.Scope("decode.JSON")
	sp, err := newSpec(opts)
	if err != nil {
		return Result{}, err
	}
	if t == nil {
		return Result{}, invalid("t", "nil type")
	}
	if err := checkValueType(t); err != nil {
		return Result{}, err
	}
	if err := checkRecords(records); err != nil {
		return Result{}, err
	}
	fn := &jsonFn{Type: beam.EncodedType{T: t}, Stage: sp.Stage, DisallowUnknownFields: sp.DisallowUnknownFields}
	return parDo(s, fn, records, t)
}

// checkValueType refuses the types Beam cannot carry between workers.
func checkValueType(t reflect.Type) error {
	switch t.Kind() {
	case reflect.Func, reflect.Chan, reflect.UnsafePointer, reflect.Interface:
		return invalid("t", "cannot decode into %v, a %v: Beam cannot encode it", t, t.Kind())
	}
	base := t
	for base.Kind() == reflect.Pointer {
		base = base.Elem()
	}
	if key, named := runtime.TypeKey(base); named {
		if _, ok := runtime.LookupType(key); !ok {
			return invalid("t", "type %v is not registered: call beam.RegisterType(reflect.TypeOf((*%v)(nil)).Elem()) in an init() function", base, base)
		}
	}
	return nil
}

func parDo(s beam.Scope, fn any, records beam.PCollection, t reflect.Type) (Result, error) {
	outs, err := beam.TryParDo(s, fn, records, beam.TypeDefinition{Var: beam.XType, T: t})
	if err != nil {
		return Result{}, err
	}
	return Result{Values: outs[0], Failed: outs[1]}, nil
}

var (
	decoded = beam.NewCounter(MetricsNamespace, "decoded")
	failed  = beam.NewCounter(MetricsNamespace, "failed")
)

// letter makes the letter of a record that failed.
func letter(r kinesisio.Record, stage, code string, err error) deadletter.Letter {
	return deadletter.Letter{Record: r, Stage: stage, Error: err.Error(), ErrorCode: code, FailedAt: time.Now().UTC()}
}

type jsonFn struct {
	Type                  beam.EncodedType `json:"type"`
	Stage                 string           `json:"stage"`
	DisallowUnknownFields bool             `json:"disallowUnknownFields"`
}

var (
	errEmpty = errors.New("empty payload")
	errNull  = errors.New("JSON null payload: it decodes to no value")
)

// jsonSpace is the whitespace JSON allows around a value.
const jsonSpace = " \t\r\n"

var jsonNull = []byte("null")

func (fn *jsonFn) ProcessElement(ctx context.Context, r kinesisio.Record, emit func(beam.X), fail func(deadletter.Letter)) {
	v, code, err := fn.decode(r.Data)
	if err != nil {
		failed.Inc(ctx, 1)
		fail(letter(r, fn.Stage, code, err))
		return
	}
	decoded.Inc(ctx, 1)
	emit(v)
}

func (fn *jsonFn) decode(data []byte) (any, string, error) {
	if len(data) == 0 {
		return nil, ErrCodeEmptyPayload, errEmpty
	}
	if bytes.Equal(bytes.Trim(data, jsonSpace), jsonNull) {
		// encoding/json leaves the value as it is: no value was sent.
		return nil, ErrCodeNullPayload, errNull
	}
	p := reflect.New(fn.Type.T)
	if !fn.DisallowUnknownFields {
		// json.Unmarshal checks the whole input: one value, and only
		// whitespace after it.
		if err := json.Unmarshal(data, p.Interface()); err != nil {
			return nil, ErrCodeInvalid, err
		}
		return p.Elem().Interface(), "", nil
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(p.Interface()); err != nil {
		return nil, ErrCodeInvalid, err
	}
	if _, err := dec.Token(); err != io.EOF {
		return nil, ErrCodeInvalid, errors.New("invalid data after the top-level value")
	}
	return p.Elem().Interface(), "", nil
}

var (
	errorType = reflect.TypeOf((*error)(nil)).Elem()
	bytesType = reflect.TypeOf([]byte(nil))
)

// With decodes each record of records (a PCollection of kinesisio.Record)
// with fn, and returns what fn returns (a PCollection of T) and the
// failures. fn is a top-level function of one of the forms
//
//	func(kinesisio.Record) (T, error)
//	func([]byte) (T, error)    // given the record's Data
//
// registered in an init() function (register.Function1x2(fn), or
// beam.RegisterFunction(fn)), so that workers in other processes find it;
// T is registered too if it is a named type (beam.RegisterType). A record
// fails when fn returns an error (ErrCodeInvalid) or panics
// (ErrCodePanic: the panic is recovered and its value becomes the
// letter's Error, so that bad input never loses a record nor fails the
// bundle). Unlike JSON, With gives fn empty payloads too.
//
// For example, deadletter.Unmarshal is such a function: With(s, records,
// deadletter.Unmarshal) reads back the letters of a dead-letter stream.
//
// With panics if an argument or option is invalid; TryWith returns the
// error instead.
func With(s beam.Scope, records beam.PCollection, fn any, opts ...Option) Result {
	res, err := TryWith(s, records, fn, opts...)
	if err != nil {
		panic(err)
	}
	return res
}

// TryWith is With, returning an error instead of panicking.
func TryWith(s beam.Scope, records beam.PCollection, fn any, opts ...Option) (Result, error) {
	s = s.Scope("decode.With")
	sp, err := newSpec(opts)
	if err != nil {
		return Result{}, err
	}
	if sp.DisallowUnknownFields {
		return Result{}, invalid("DisallowUnknownFields", "applies to JSON only")
	}
	if fn == nil {
		return Result{}, invalid("fn", "nil function")
	}
	ft := reflect.TypeOf(fn)
	if ft.Kind() != reflect.Func || ft.NumIn() != 1 || ft.NumOut() != 2 || ft.IsVariadic() ||
		(ft.In(0) != recordType && ft.In(0) != bytesType) || ft.Out(1) != errorType {
		return Result{}, invalid("fn", "%v is not a func(kinesisio.Record) (T, error) or func([]byte) (T, error)", ft)
	}
	if reflect.ValueOf(fn).IsNil() {
		return Result{}, invalid("fn", "nil function")
	}
	name := reflectx.FunctionName(fn)
	if _, err := runtime.ResolveFunction(name, ft); err != nil {
		return Result{}, invalid("fn", "%s is not registered: call register.Function1x2(%s) in an init() function (closures and methods cannot be registered)", name, name)
	}
	t := ft.Out(0)
	if err := checkValueType(t); err != nil {
		return Result{}, err
	}
	if err := checkRecords(records); err != nil {
		return Result{}, err
	}
	dofn := &funcFn{Fn: beam.EncodedFunc{Fn: reflectx.MakeFunc(fn)}, Stage: sp.Stage, Bytes: ft.In(0) == bytesType}
	return parDo(s, dofn, records, t)
}

type funcFn struct {
	Fn    beam.EncodedFunc `json:"fn"`
	Stage string           `json:"stage"`
	// Bytes says fn takes the record's Data rather than the record.
	Bytes bool `json:"bytes"`

	call reflectx.Func1x2
}

func (fn *funcFn) Setup() {
	fn.call = reflectx.ToFunc1x2(fn.Fn.Fn)
}

func (fn *funcFn) ProcessElement(ctx context.Context, r kinesisio.Record, emit func(beam.X), fail func(deadletter.Letter)) {
	v, code, err := fn.decode(r)
	if err != nil {
		failed.Inc(ctx, 1)
		fail(letter(r, fn.Stage, code, err))
		return
	}
	decoded.Inc(ctx, 1)
	emit(v)
}

func (fn *funcFn) decode(r kinesisio.Record) (v any, code string, err error) {
	defer func() {
		if p := recover(); p != nil {
			v, code, err = nil, ErrCodePanic, fmt.Errorf("panic: %v", p)
		}
	}()
	var in any = r
	if fn.Bytes {
		in = r.Data
	}
	v, e := fn.call.Call1x2(in)
	if e != nil {
		return nil, ErrCodeInvalid, e.(error)
	}
	return v, "", nil
}
