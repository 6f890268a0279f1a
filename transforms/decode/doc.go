// Package decode decodes the payloads of Kinesis records into values of a
// user type, with dead letters: nothing is dropped silently.
//
// JSON decodes each kinesisio.Record's Data with encoding/json; With
// decodes it with a registered function of the user's. Both return a
// Result: Values, the decoded values, and Failed, a deadletter.Letter for
// each record that did not decode, holding the record whole (payload and
// source position) and the error's text, ready to be written elsewhere
// with deadletter.ToStream or deadletter.ToFiles. Every input record lands
// in exactly one of the two, with the timestamp and window it had.
//
//	records := kinesisio.Read(s, "orders")
//	res := decode.JSON(s, records, reflect.TypeOf(Order{}))
//	// res.Values is a PCollection of Order.
//	deadletter.ToStream(s, "orders-dead-letters", res.Failed)
//
// A decode function that panics does not fail the bundle: the panic is
// recovered and the record goes to Failed with ErrCodePanic and the
// panic's value.
//
// # Metrics
//
// In namespace MetricsNamespace ("transforms/decode"): counters decoded
// (records decoded) and failed (records sent to Failed).
package decode
