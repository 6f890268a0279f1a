package deadletter_test

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/apache/beam/sdks/v2/go/pkg/beam/register"
	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"
	"github.com/kinesisio/beam-kinesis/kinesisio"
	"github.com/kinesisio/beam-kinesis/testing/beamtest"
	"github.com/kinesisio/beam-kinesis/testing/emulators"
	"github.com/kinesisio/beam-kinesis/testing/kinesistest"
	"github.com/kinesisio/beam-kinesis/transforms/deadletter"
	"github.com/kinesisio/beam-kinesis/transforms/decode"
)

func init() {
	beam.RegisterType(reflect.TypeOf((*payload)(nil)).Elem())
	register.Function1x1(failedCode)
	register.Function1x2(validRecord)
}

type payload struct {
	ID int `json:"id"`
}

func failedCode(f kinesisio.FailedRecord) string { return f.ErrorCode }

// validRecord is a decode function that keeps the records whose payload
// is a JSON payload, as they are.
func validRecord(r kinesisio.Record) (kinesisio.Record, error) {
	if len(r.Data) == 0 {
		return r, errors.New("empty payload")
	}
	var p payload
	if err := json.Unmarshal(r.Data, &p); err != nil {
		return r, fmt.Errorf("json: %w", err)
	}
	return r, nil
}

// newStream creates a stream of shards shards on the shared kinesalite.
func newStream(t *testing.T, endpoint, suffix string, shards int32) string {
	t.Helper()
	c := kinesistest.NewClient(endpoint)
	name := kinesistest.StreamName(t) + suffix
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := kinesistest.CreateStream(ctx, c, name, shards); err != nil {
		t.Fatalf("creating stream %s: %v", name, err)
	}
	return name
}

func readStream(t *testing.T, endpoint, stream string) []kinesistest.Got {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	got, err := kinesistest.ReadAll(ctx, kinesistest.NewClient(endpoint), stream)
	if err != nil {
		t.Fatal(err)
	}
	var all []kinesistest.Got
	for _, recs := range got {
		all = append(all, recs...)
	}
	return all
}

func writeOpts(endpoint string, extra ...kinesisio.WriteOption) []kinesisio.WriteOption {
	return append([]kinesisio.WriteOption{
		kinesisio.Connection{Endpoint: endpoint, Region: kinesistest.Region},
		kinesisio.WithRetries(0, time.Millisecond, 50*time.Millisecond),
	}, extra...)
}

func isRandomKey(k string) bool {
	b, err := hex.DecodeString(k)
	return err == nil && len(b) == 16
}

// TestToStreamRoundTrip writes letters to kinesalite with ToStream and
// reads them back intact twice: with a bare GetRecords loop and
// Unmarshal, and with kinesisio.Read and decode.With(Unmarshal). Each
// record is keyed by its source's partition key, or a random one where
// Kinesis would refuse it.
func TestToStreamRoundTrip(t *testing.T) {
	e := emulators.Require(t, emulators.Kinesalite)
	stream := newStream(t, e.Endpoint, "", 2)
	want := letters(12)
	want[1].Record.PartitionKey = ""                       // refused for its key by a Write
	want[2].Record.PartitionKey = strings.Repeat("k", 300) // too long
	want[3].Record.PartitionKey = strings.Repeat("é", 256) // 256 UTF-16 units: valid

	p, s := beam.NewPipelineWithRoot()
	res := deadletter.ToStream(s, stream, generate(s, want), writeOpts(e.Endpoint)...)
	failed := collectStrings(s, beam.ParDo(s, failedCode, res.Failed))
	pr := beamtest.Run(t, p)
	if f := failed(); len(f) != 0 {
		t.Fatalf("Write failed letters: %v", f)
	}
	beamtest.CheckCounter(t, pr, deadletter.MetricsNamespace, "stream_letters", int64(len(want)))

	recs := readStream(t, e.Endpoint, stream)
	var got []deadletter.Letter
	for _, r := range recs {
		l, err := deadletter.Unmarshal(r.Data)
		if err != nil {
			t.Fatalf("record %s/%s: %v", r.ShardID, r.SequenceNumber, err)
		}
		switch src := l.Record.PartitionKey; {
		case src == "" || len(src) == 300:
			if !isRandomKey(r.PartitionKey) {
				t.Errorf("letter of %s has partition key %q, want a random one", l.Record.SequenceNumber, r.PartitionKey)
			}
		case r.PartitionKey != src:
			t.Errorf("letter of %s has partition key %q, want its source's %q", l.Record.SequenceNumber, r.PartitionKey, src)
		}
		got = append(got, l)
	}
	sortLetters(got)
	if diff := cmp.Diff(want, got); diff != "" {
		t.Errorf("letters read back differ (-want +got):\n%s", diff)
	}

	// The same, read back in a pipeline.
	p, s = beam.NewPipelineWithRoot()
	in := kinesisio.Read(s, stream, kinesisio.Connection{Endpoint: e.Endpoint, Region: kinesistest.Region},
		kinesisio.WithStopAtLatest(), kinesisio.Polling{IdleInterval: 50 * time.Millisecond})
	back := decode.With(s, in, deadletter.Unmarshal)
	gotBack := collectLetters(s, back.Values)
	bad := collectLetters(s, back.Failed)
	beamtest.Run(t, p)
	if diff := cmp.Diff(want, gotBack()); diff != "" {
		t.Errorf("letters read back with kinesisio.Read differ (-want +got):\n%s", diff)
	}
	if b := bad(); len(b) != 0 {
		t.Errorf("%d records of the dead-letter stream did not unmarshal: %+v", len(b), b)
	}
}

// TestWiring runs the documented wiring on kinesalite: decode failures
// and Write failures (records over WithMaxRecordSize) go to a dead-letter
// stream with ToStream; the letters that stream refuses (their envelopes
// are over its record size) go to files with FromWriteFailures and
// ToFiles. Every failure lands in exactly one place, whole.
func TestWiring(t *testing.T) {
	e := emulators.Require(t, emulators.Kinesalite)
	out := newStream(t, e.Endpoint, "-out", 1)
	dl := newStream(t, e.Endpoint, "-dl", 1)
	dir := t.TempDir()

	src := func(i int, data string) kinesisio.Record {
		r := letter(i, "", data).Record
		r.Stream = "in"
		return r
	}
	recs := []kinesisio.Record{
		src(0, `{"id":0}`),
		src(1, `{"id":1}`),
		src(2, `{"id":`),   // fails decode
		src(3, ``),         // fails decode
		src(4, "not json"), // fails decode
	}
	big := fmt.Sprintf(`{"id":5,"pad":"%s"}`, strings.Repeat("x", 1500))
	recs = append(recs, src(5, big)) // decodes, fails Write (over 1,000 bytes)
	badKey := src(6, `{"id":6}`)
	badKey.PartitionKey = "key-6\xff\xc3" // decodes, fails Write (InvalidPartitionKey)
	recs = append(recs, badKey)

	p, s := beam.NewPipelineWithRoot()
	in := beam.ParDo(s, newGenRecords(recs), beam.Impulse(s))
	// The pipeline writes the records that decoded, as they are.
	dec := decode.With(s, in, validRecord)
	res := kinesisio.Write(s, out, dec.Values, writeOpts(e.Endpoint,
		kinesisio.WithMaxRecordSize(1000), kinesisio.WithFailedRecords())...)
	letters := beam.Flatten(s, dec.Failed, deadletter.FromWriteFailures(s, res.Failed))
	// The dead-letter stream takes envelopes of up to 2,000 bytes: the
	// letter of the big record (about 2,400) is refused.
	dlRes := deadletter.ToStream(s, dl, letters, writeOpts(e.Endpoint,
		kinesisio.WithMaxRecordSize(2000), kinesisio.WithFailedRecords())...)
	deadletter.ToFiles(s, filepath.Join(dir, "refused"), deadletter.FromWriteFailures(s, dlRes.Failed))
	beamtest.Run(t, p)

	ignoreTime := cmpopts.IgnoreFields(deadletter.Letter{}, "FailedAt")
	// The dead-letter stream: the three decode failures and the record
	// Write refused for its key, which comes back byte for byte.
	var inStream []deadletter.Letter
	for _, r := range readStream(t, e.Endpoint, dl) {
		l, err := deadletter.Unmarshal(r.Data)
		if err != nil {
			t.Fatal(err)
		}
		if l.FailedAt.IsZero() {
			t.Errorf("letter of %s has no FailedAt", l.Record.SequenceNumber)
		}
		inStream = append(inStream, l)
	}
	sortLetters(inStream)
	wantStream := []deadletter.Letter{
		{Record: recs[2], Stage: deadletter.StageDecode, ErrorCode: decode.ErrCodeInvalid, Error: "json: unexpected end of JSON input"},
		{Record: recs[3], Stage: deadletter.StageDecode, ErrorCode: decode.ErrCodeInvalid, Error: "empty payload"},
		{Record: recs[4], Stage: deadletter.StageDecode, ErrorCode: decode.ErrCodeInvalid, Error: "json: invalid character 'o' in literal null (expecting 'u')"},
		{Record: recs[6], Stage: deadletter.StageWrite, ErrorCode: kinesisio.ErrCodeInvalidPartitionKey, Error: "partition key is not valid UTF-8"},
	}
	if diff := cmp.Diff(wantStream, inStream, ignoreTime, cmpopts.EquateEmpty()); diff != "" {
		t.Errorf("dead-letter stream (-want +got):\n%s", diff)
	}
	// The files: the letter of the letter of the big record.
	inFiles := readFiles(t, filepath.Join(dir, "refused-*"+deadletter.FileSuffix))
	if len(inFiles) != 1 {
		t.Fatalf("files hold %d letters, want 1: %+v", len(inFiles), inFiles)
	}
	outer := inFiles[0]
	if outer.Stage != deadletter.StageWrite || outer.ErrorCode != kinesisio.ErrCodeRecordTooLarge || outer.Error == "" {
		t.Errorf("letter in the files: stage %q, code %q, error %q; want write, %s, an error", outer.Stage, outer.ErrorCode, outer.Error, kinesisio.ErrCodeRecordTooLarge)
	}
	inner, err := deadletter.Unmarshal(outer.Record.Data)
	if err != nil {
		t.Fatalf("the refused letter's record is not an envelope: %v", err)
	}
	if outer.Record.PartitionKey != recs[5].PartitionKey {
		t.Errorf("refused letter keyed %q, want its source's %q", outer.Record.PartitionKey, recs[5].PartitionKey)
	}
	wantInner := deadletter.Letter{Record: recs[5], Stage: deadletter.StageWrite, ErrorCode: kinesisio.ErrCodeRecordTooLarge, Error: inner.Error}
	if diff := cmp.Diff(wantInner, inner, ignoreTime); diff != "" || !strings.Contains(inner.Error, "1000") {
		t.Errorf("the original letter (-want +got):\n%s\nerror %q", diff, inner.Error)
	}
	// The output stream: the records that decoded and fit.
	var written []string
	for _, r := range readStream(t, e.Endpoint, out) {
		written = append(written, string(r.Data))
	}
	if diff := cmp.Diff([]string{`{"id":0}`, `{"id":1}`}, written, cmpopts.SortSlices(func(a, b string) bool { return a < b })); diff != "" {
		t.Errorf("output stream (-want +got):\n%s", diff)
	}
}
