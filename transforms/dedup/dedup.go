package dedup

import (
	"fmt"
	"reflect"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/state"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/core/timers"
	"github.com/kinesisio/beam-kinesis/kinesisio"
)

// spec holds every setting of one Records transform; the DoFns carry it.
type spec struct {
	// Horizon is how long a key is remembered.
	Horizon time.Duration
	// EventTime measures Horizon in event time instead of processing time.
	EventTime bool
	// KeyFn is the registered name of the WithKeyFn function; empty keys
	// records by identity.
	KeyFn string
}

var recordType = reflect.TypeOf(kinesisio.Record{})

// Records drops each record of records (a PCollection of kinesisio.Record)
// whose key was seen within the horizon, and passes the others through
// with their timestamps and windows. See the package doc for keys,
// horizons and windows. It panics where TryRecords returns an error.
func Records(s beam.Scope, records beam.PCollection, opts ...Option) beam.PCollection {
	out, err := TryRecords(s, records, opts...)
	if err != nil {
		panic(err)
	}
	return out
}

// TryRecords is Records, returning an error that wraps ErrInvalidOption
// for a bad option or input instead of panicking.
func TryRecords(s beam.Scope, records beam.PCollection, opts ...Option) (beam.PCollection, error) {
	sp := spec{Horizon: DefaultHorizon.d, EventTime: DefaultHorizon.eventTime}
	for _, o := range opts {
		if o == nil {
			return beam.PCollection{}, invalid("Records", "nil option")
		}
		if err := o.apply(&sp); err != nil {
			return beam.PCollection{}, err
		}
	}
	if !records.IsValid() {
		return beam.PCollection{}, invalid("Records", "invalid input PCollection")
	}
	if t := records.Type().Type(); t != recordType {
		return beam.PCollection{}, invalid("Records", "the input holds %v, not kinesisio.Record", t)
	}
	s = s.Scope(fmt.Sprintf("dedup.Records(%v)", Horizon{sp.Horizon, sp.EventTime}))
	keyed := beam.ParDo(s, &keyFn{Spec: sp}, records)
	if sp.EventTime {
		return beam.ParDo(s, &eventTimeFn{
			Spec:   sp,
			Seen:   state.MakeValueState[bool]("seen"),
			Expiry: timers.InEventTime("expiry"),
		}, keyed), nil
	}
	return beam.ParDo(s, &processingTimeFn{
		Spec:   sp,
		Seen:   state.MakeValueState[bool]("seen"),
		Expiry: timers.InProcessingTime("expiry"),
	}, keyed), nil
}
