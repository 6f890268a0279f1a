package kinesisio

import (
	"testing"

	"github.com/kinesisio/beam-kinesis/internal/awsclient"
)

// TestConnectionsAndPollingsCombine: several Connections (or Pollings)
// given to one Read combine, each non-empty (non-zero) field of a later
// one replacing the value set before; a zero field keeps the default.
func TestConnectionsAndPollingsCombine(t *testing.T) {
	spec := defaultReadSpec()
	for _, o := range []ReadOption{
		Connection{Region: "eu-west-1", Endpoint: "http://a", RoleARN: "arn:aws:iam::123456789012:role/r", ExternalID: "x"},
		Connection{Endpoint: "http://b", Profile: "p"},
		Polling{},
		Polling{Unpaced: true, RecordsPerCall: 5},
		Polling{IdleInterval: 7},
	} {
		if err := o.applyRead(&spec); err != nil {
			t.Fatal(err)
		}
	}
	want := awsclient.Settings{Region: "eu-west-1", Endpoint: "http://b", Profile: "p", RoleARN: "arn:aws:iam::123456789012:role/r", ExternalID: "x"}
	if spec.Conn.Client != want {
		t.Errorf("settings %+v, want %+v", spec.Conn.Client, want)
	}
	def := defaultReadSpec()
	if spec.QuotaShare != 0 || spec.RecordsPerCall != 5 || spec.IdlePoll != 7 || spec.MaxBufferedBytes != def.MaxBufferedBytes {
		t.Errorf("polling: share %v, records %d, idle %v; want 0, 5, 7", spec.QuotaShare, spec.RecordsPerCall, spec.IdlePoll)
	}
	if err := (Polling{}).applyRead(&def); err != nil || def.QuotaShare != 1 || def.RecordsPerCall != defaultReadSpec().RecordsPerCall || def.IdlePoll != defaultReadSpec().IdlePoll {
		t.Errorf("Polling{} changed the defaults: %v, %+v", err, def)
	}
	st := DynamoDBTable("table", Connection{Region: "eu-central-1"}, Connection{Endpoint: "http://d"})
	if st.err != nil || st.spec.Conn.Region != "eu-central-1" || st.spec.Conn.Endpoint != "http://d" {
		t.Errorf("DynamoDBTable: %v, %+v", st.err, st.spec.Conn)
	}
}
