package kinesistest

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
)

// fakePutRecords is a PutRecords endpoint whose answers a test scripts:
// fail(call, partitionKey) says whether to fail that entry of that call
// (calls count from 1), and shard gives the ShardId to report.
type fakePutRecords struct {
	fail  func(call int, partitionKey string) bool
	shard string

	mu    sync.Mutex
	calls [][]string // partition keys of each call
}

func (f *fakePutRecords) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if !strings.HasSuffix(r.Header.Get("X-Amz-Target"), ".PutRecords") {
		http.Error(w, `{"__type":"UnknownOperationException"}`, http.StatusBadRequest)
		return
	}
	var in struct {
		Records []struct{ PartitionKey string }
	}
	if err := json.NewDecoder(r.Body).Decode(&in); err != nil {
		http.Error(w, `{"__type":"SerializationException"}`, http.StatusBadRequest)
		return
	}
	f.mu.Lock()
	var keys []string
	for _, rec := range in.Records {
		keys = append(keys, rec.PartitionKey)
	}
	f.calls = append(f.calls, keys)
	call := len(f.calls)
	f.mu.Unlock()

	type result struct {
		SequenceNumber, ShardId, ErrorCode, ErrorMessage string `json:",omitempty"`
	}
	out := struct {
		FailedRecordCount int
		Records           []result
	}{}
	for _, k := range keys {
		if f.fail(call, k) {
			out.FailedRecordCount++
			out.Records = append(out.Records, result{ErrorCode: "ProvisionedThroughputExceededException", ErrorMessage: "slow down"})
			continue
		}
		out.Records = append(out.Records, result{SequenceNumber: fmt.Sprintf("%d-%s", call, k), ShardId: f.shard})
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	json.NewEncoder(w).Encode(out)
}

func (f *fakePutRecords) callKeys() [][]string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.calls
}

// entriesWithKeys returns entries whose partition keys and data are keys.
func entriesWithKeys(keys ...string) []entry {
	out := make([]entry, len(keys))
	for i, k := range keys {
		out[i] = entry{data: []byte("data-" + k), partitionKey: k}
	}
	return out
}

func TestPutRetriesFailedEntriesInOrder(t *testing.T) {
	t.Parallel()
	f := &fakePutRecords{shard: "shardId-000000000000", fail: func(call int, k string) bool {
		return call == 1 && (k == "b" || k == "d")
	}}
	srv := httptest.NewServer(f)
	defer srv.Close()
	puts, err := putEntries(t.Context(), NewClient(srv.URL), "s", "shardId-000000000000", entriesWithKeys("a", "b", "c", "d"))
	if err != nil {
		t.Fatal(err)
	}
	wantSeq := []string{"1-a", "2-b", "1-c", "2-d"}
	for i, p := range puts {
		if p.SequenceNumber != wantSeq[i] || p.ShardID != "shardId-000000000000" || string(p.Data) != "data-"+p.PartitionKey {
			t.Errorf("puts[%d] = %+v, want sequence %s", i, p, wantSeq[i])
		}
	}
	if got := fmt.Sprint(f.callKeys()); got != "[[a b c d] [b d]]" {
		t.Errorf("calls = %s, want [[a b c d] [b d]]", got)
	}
}

func TestPutGivesUpOnEntriesThatKeepFailing(t *testing.T) {
	t.Parallel()
	f := &fakePutRecords{shard: "shardId-000000000000", fail: func(_ int, k string) bool { return k == "bad" }}
	srv := httptest.NewServer(f)
	defer srv.Close()
	_, err := putEntries(t.Context(), NewClient(srv.URL), "s", "", entriesWithKeys("ok", "bad"))
	if err == nil || !strings.Contains(err.Error(), "still failed") || !strings.Contains(err.Error(), "ProvisionedThroughputExceededException") {
		t.Errorf("error = %v, want one about records that still failed", err)
	}
	if n := len(f.callKeys()); n != maxPutAttempts {
		t.Errorf("made %d calls, want %d", n, maxPutAttempts)
	}
}

func TestPutRejectsRecordsOnAnotherShard(t *testing.T) {
	t.Parallel()
	f := &fakePutRecords{shard: "shardId-000000000001", fail: func(int, string) bool { return false }}
	srv := httptest.NewServer(f)
	defer srv.Close()
	_, err := putEntries(t.Context(), NewClient(srv.URL), "s", "shardId-000000000000", entriesWithKeys("a"))
	if err == nil || !strings.Contains(err.Error(), "landed on shardId-000000000001") {
		t.Errorf("error = %v, want one about the wrong shard", err)
	}
}
