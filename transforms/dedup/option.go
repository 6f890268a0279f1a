package dedup

import (
	"errors"
	"fmt"
	"reflect"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/runtime"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/util/reflectx"
	"github.com/kinesisio/beam-kinesis/kinesisio"
)

// ErrInvalidOption is wrapped by every error TryRecords returns for a bad
// option.
var ErrInvalidOption = errors.New("dedup: invalid option")

// DefaultHorizon is the horizon without WithHorizon: EventTime(10 min).
// (Beam Java's default is 10 minutes of processing time; event time works
// on every runner with timers, and a bounded input ends at once.)
var DefaultHorizon = EventTime(10 * time.Minute)

// Horizon says how long a key is remembered and in which time domain:
// ProcessingTime or EventTime. See the package doc.
type Horizon struct {
	d         time.Duration
	eventTime bool
}

// ProcessingTime remembers a key for d of wall-clock time after its first
// record was processed.
func ProcessingTime(d time.Duration) Horizon { return Horizon{d: d} }

// EventTime remembers a key until the watermark passes the event time of
// its first record plus d.
func EventTime(d time.Duration) Horizon { return Horizon{d: d, eventTime: true} }

// String describes h, e.g. "event time 10m0s".
func (h Horizon) String() string {
	if h.eventTime {
		return "event time " + h.d.String()
	}
	return "processing time " + h.d.String()
}

// Option configures Records. A bad one makes TryRecords fail with an
// error that wraps ErrInvalidOption and names the option.
type Option interface {
	apply(*spec) error
}

type optionFunc func(*spec) error

func (f optionFunc) apply(s *spec) error { return f(s) }

func invalid(option, format string, args ...any) error {
	return fmt.Errorf("%w: %s: %s", ErrInvalidOption, option, fmt.Sprintf(format, args...))
}

// WithHorizon sets how long keys are remembered (default DefaultHorizon).
// The duration must be positive.
func WithHorizon(h Horizon) Option {
	return optionFunc(func(s *spec) error {
		if h.d <= 0 {
			return invalid("WithHorizon", "the horizon must be positive, got %v", h.d)
		}
		s.Horizon, s.EventTime = h.d, h.eventTime
		return nil
	})
}

// WithKeyFn keys records by fn(record) instead of their identity (stream,
// shard, sequence and sub-sequence number). fn must be registered with
// beam.RegisterFunction (or register.Function1x1) in an init function, so
// that workers find it; it runs on every record, and a panic in it fails
// the bundle, which the runner retries.
func WithKeyFn(fn func(kinesisio.Record) string) Option {
	return optionFunc(func(s *spec) error {
		if fn == nil {
			return invalid("WithKeyFn", "nil function")
		}
		name := reflectx.FunctionName(fn)
		if _, err := runtime.ResolveFunction(name, reflect.TypeOf(fn)); err != nil {
			return invalid("WithKeyFn", "%s is not registered: call beam.RegisterFunction(%s) in an init() function", name, name)
		}
		s.KeyFn = name
		return nil
	})
}
