package main

import (
	"io"
	"testing"
)

// TestFlagNames checks the flags' spelling: snake_case, and the Kinesis
// connection flags prefixed kinesis_, as in the word count and
// kinesischeckpoints.
func TestFlagNames(t *testing.T) {
	var o options
	fs := newFlagSet(&o)
	fs.SetOutput(io.Discard)
	err := fs.Parse([]string{"--stream", "words", "--kinesis_endpoint", "http://127.0.0.1:4567", "--kinesis_region", "eu-west-1",
		"--create_shards", "2", "--words_per_record", "3", "--rate", "50", "--count", "10", "--duration", "1s", "--seed", "9"})
	if err != nil {
		t.Fatal(err)
	}
	if o.stream != "words" || o.endpoint != "http://127.0.0.1:4567" || o.region != "eu-west-1" || o.create != 2 || o.perRecord != 3 ||
		o.rate != 50 || o.count != 10 || o.duration.Seconds() != 1 || o.seed != 9 {
		t.Errorf("parsed %+v", o)
	}
	for _, old := range []string{"--endpoint", "--region", "--create-shards", "--words-per-record"} {
		fs := newFlagSet(&o)
		fs.SetOutput(io.Discard)
		if err := fs.Parse([]string{old, "1"}); err == nil {
			t.Errorf("%s is accepted", old)
		}
	}
}
