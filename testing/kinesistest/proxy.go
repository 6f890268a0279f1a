package kinesistest

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/kinesisio/beam-kinesis/testing/faultinject"
)

// defaultWaitFor bounds WaitFor when its context has no deadline.
const defaultWaitFor = 2 * time.Minute

// Proxy is a reverse proxy on a loopback port that forwards every request
// to a target endpoint and counts the calls by operation. It is the
// fault injector in front of the emulators: it fails whole calls
// (FailNext, FailFor, ResetNext, ResetFor) and single entries of
// PutRecords calls (FailEntries), and records PutRecords calls
// (RecordPuts). It is safe for concurrent use.
type Proxy struct {
	server    *httptest.Server
	transport *http.Transport

	faults faultinject.Injector[fault] // locks itself

	mu         sync.Mutex
	counts     map[string]int
	changed    chan struct{} // closed and replaced on every count
	recordPuts bool          // RecordPuts
	failEntry  EntryFault    // FailEntries
	puts       []PutCall
}

// NewProxy starts a Proxy to target, an endpoint URL such as an
// emulator's http://127.0.0.1:PORT. Close it when done.
func NewProxy(target string) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("kinesistest: proxy target %q: %w", target, err)
	}
	if u.Scheme == "" || u.Host == "" {
		return nil, fmt.Errorf("kinesistest: proxy target %q is not an absolute URL", target)
	}
	p := &Proxy{
		transport: &http.Transport{Proxy: nil, MaxIdleConnsPerHost: 16},
		counts:    make(map[string]int),
		changed:   make(chan struct{}),
	}
	rp := &httputil.ReverseProxy{
		Rewrite:       func(r *httputil.ProxyRequest) { r.SetURL(u) },
		Transport:     p.transport,
		FlushInterval: -1, // pass event streams (SubscribeToShard) through at once
	}
	p.server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		op := operation(r)
		p.count(op)
		if f, ok := p.takeFault(op); ok {
			serveFault(w, f)
			return
		}
		if op == "PutRecords" && p.recordingPuts() {
			p.putRecords(w, r, strings.TrimSuffix(u.String(), "/"))
			return
		}
		rp.ServeHTTP(w, r)
	}))
	return p, nil
}

// operation returns the operation named by the X-Amz-Target header, the
// part after its last dot ("Kinesis_20131202.GetRecords" gives
// "GetRecords"), or "" if there is none.
func operation(r *http.Request) string {
	target := r.Header.Get("X-Amz-Target")
	return target[strings.LastIndex(target, ".")+1:]
}

// count records one call of op and wakes the waiters.
func (p *Proxy) count(op string) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.counts[op]++
	close(p.changed)
	p.changed = make(chan struct{})
}

// Endpoint returns the proxy's base URL, http://127.0.0.1:PORT, to give
// clients instead of the target's.
func (p *Proxy) Endpoint() string {
	return p.server.URL
}

// Close cuts open connections and stops the proxy.
func (p *Proxy) Close() {
	p.server.CloseClientConnections()
	p.server.Close()
	p.transport.CloseIdleConnections()
}

// Count returns how many calls of op (such as "GetRecords") the proxy has
// received. A call is counted before it is forwarded, so every call whose
// answer a client has seen is counted.
func (p *Proxy) Count(op string) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.counts[op]
}

// WaitFor blocks until at least n calls of op have been received, or ctx
// ends; without a deadline on ctx it gives up after 2 minutes.
func (p *Proxy) WaitFor(ctx context.Context, op string, n int) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, defaultWaitFor)
		defer cancel()
	}
	for {
		p.mu.Lock()
		have, changed := p.counts[op], p.changed
		p.mu.Unlock()
		if have >= n {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("kinesistest: waiting for %d %s calls, saw %d: %w", n, op, have, ctx.Err())
		case <-changed:
		}
	}
}
