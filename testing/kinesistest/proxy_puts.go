package kinesistest

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
)

// PutCall is one PutRecords call the proxy recorded (RecordPuts): its
// entries, their bytes (data and partition keys) and how many of them
// the proxy failed itself (FailEntries).
type PutCall struct{ Records, Bytes, Failed int }

// EntryFault returns the error code (such as
// "ProvisionedThroughputExceededException") the proxy answers entry i of
// recorded PutRecords call n (both from 0), whose partition key is key,
// with, or "" to forward the entry. failedKeys holds the keys of the
// entries of the call failed so far.
type EntryFault func(n, i int, key string, failedKeys map[string]bool) string

// RecordPuts makes the proxy record the PutRecords calls it forwards
// (PutCalls). Calls a FailNext, FailFor or ResetNext fault answers are
// counted (Count) but not recorded.
func (p *Proxy) RecordPuts() {
	p.mu.Lock()
	p.recordPuts = true
	p.mu.Unlock()
}

// FailEntries makes the proxy fail single entries of the PutRecords calls
// it records, as Kinesis's partial failures do: f picks them. Those are
// answered with f's error code and not forwarded, so the stream gets only
// the rest. It implies RecordPuts; nil stops failing entries.
func (p *Proxy) FailEntries(f EntryFault) {
	p.mu.Lock()
	p.recordPuts, p.failEntry = true, f
	p.mu.Unlock()
}

// PutCalls returns the PutRecords calls recorded so far, in the order
// they arrived.
func (p *Proxy) PutCalls() []PutCall {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]PutCall(nil), p.puts...)
}

// recordingPuts reports whether PutRecords calls are recorded.
func (p *Proxy) recordingPuts() bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.recordPuts
}

type putEntry struct {
	Data            []byte
	PartitionKey    string
	ExplicitHashKey *string `json:",omitempty"`
}

type putRequest struct {
	Records    []putEntry
	StreamName *string `json:",omitempty"`
	StreamARN  *string `json:",omitempty"`
}

type putResultEntry struct {
	ErrorCode      *string `json:",omitempty"`
	ErrorMessage   *string `json:",omitempty"`
	SequenceNumber *string `json:",omitempty"`
	ShardId        *string `json:",omitempty"`
}

type putResponse struct {
	FailedRecordCount int
	Records           []putResultEntry
}

// putRecords records a PutRecords call, fails the entries failEntry
// picks, forwards the others to target and answers with both merged in
// the call's order.
func (p *Proxy) putRecords(w http.ResponseWriter, r *http.Request, target string) {
	body, err := io.ReadAll(r.Body)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	var req putRequest
	if err := json.Unmarshal(body, &req); err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	p.mu.Lock()
	n := len(p.puts)
	call := PutCall{Records: len(req.Records)}
	codes := make([]string, len(req.Records))
	failedKeys := map[string]bool{}
	var forward []putEntry
	for i, e := range req.Records {
		call.Bytes += len(e.Data) + len(e.PartitionKey)
		if p.failEntry != nil {
			codes[i] = p.failEntry(n, i, e.PartitionKey, failedKeys)
		}
		if codes[i] != "" {
			failedKeys[e.PartitionKey] = true
			call.Failed++
		} else {
			forward = append(forward, e)
		}
	}
	p.puts = append(p.puts, call)
	p.mu.Unlock()

	var fwd putResponse
	if len(forward) > 0 {
		req.Records = forward
		out, err := json.Marshal(req)
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		freq, err := http.NewRequestWithContext(r.Context(), http.MethodPost, target+"/", bytes.NewReader(out))
		if err != nil {
			http.Error(w, err.Error(), http.StatusInternalServerError)
			return
		}
		for _, h := range []string{"Content-Type", "X-Amz-Target", "Authorization", "X-Amz-Date"} {
			freq.Header.Set(h, r.Header.Get(h))
		}
		resp, err := p.transport.RoundTrip(freq)
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadGateway)
			return
		}
		defer resp.Body.Close()
		rb, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusOK {
			// A whole-call error: pass it on as it is.
			for k, v := range resp.Header {
				w.Header()[k] = v
			}
			w.WriteHeader(resp.StatusCode)
			w.Write(rb)
			return
		}
		if err := json.Unmarshal(rb, &fwd); err != nil || len(fwd.Records) != len(forward) {
			http.Error(w, fmt.Sprintf("bad answer %q: %v", rb, err), http.StatusBadGateway)
			return
		}
	}
	var out putResponse
	j := 0
	for _, code := range codes {
		if code != "" {
			msg := "injected by kinesistest.Proxy"
			out.Records = append(out.Records, putResultEntry{ErrorCode: &code, ErrorMessage: &msg})
			out.FailedRecordCount++
			continue
		}
		out.Records = append(out.Records, fwd.Records[j])
		if fwd.Records[j].ErrorCode != nil {
			out.FailedRecordCount++
		}
		j++
	}
	b, err := json.Marshal(out)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	w.Write(b)
}
