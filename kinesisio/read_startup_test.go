package kinesisio_test

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/apache/beam/sdks/v2/go/pkg/beam"
	"github.com/kinesisio/beam-kinesis/internal/awsclient"
	"github.com/kinesisio/beam-kinesis/kinesisio"
	"github.com/kinesisio/beam-kinesis/testing/emulators"
	"github.com/kinesisio/beam-kinesis/testing/kinesistest"
)

// warning is one WARN line of the connector, as the runner
// logged it.
type warning struct {
	at  time.Time
	msg string
}

// warningsHandler passes records on to the runner's handler and keeps the
// connector's WARN lines.
type warningsHandler struct {
	slog.Handler
	mu   *sync.Mutex
	seen *[]warning
}

func (h warningsHandler) Handle(ctx context.Context, r slog.Record) error {
	if r.Level == slog.LevelWarn && strings.Contains(r.Message, "kinesisio: ") {
		h.mu.Lock()
		*h.seen = append(*h.seen, warning{at: time.Now(), msg: r.Message})
		h.mu.Unlock()
	}
	return h.Handler.Handle(ctx, r)
}

func (h warningsHandler) WithAttrs(as []slog.Attr) slog.Handler {
	return warningsHandler{h.Handler.WithAttrs(as), h.mu, h.seen}
}

func (h warningsHandler) WithGroup(g string) slog.Handler {
	return warningsHandler{h.Handler.WithGroup(g), h.mu, h.seen}
}

// captureWarnings keeps the connector's WARN lines that mention about
// (a stream name) until the test ends. Prism logs what workers log
// through slog's default logger ("[SDK] ..."), so these are the lines a
// user sees.
func captureWarnings(t *testing.T, about string) func() []warning {
	t.Helper()
	prev := slog.Default()
	var mu sync.Mutex
	var seen []warning
	slog.SetDefault(slog.New(warningsHandler{prev.Handler(), &mu, &seen}))
	t.Cleanup(func() { slog.SetDefault(prev) })
	return func() []warning {
		mu.Lock()
		defer mu.Unlock()
		var ws []warning
		for _, w := range seen {
			if strings.Contains(w.msg, about) {
				ws = append(ws, w)
			}
		}
		return ws
	}
}

// errorText is the connector's part of a job's error.
func errorText(err error) string {
	msg := err.Error()
	return msg[strings.LastIndex(msg, "failed:\n")+len("failed:\n"):]
}

// countBetween counts the warnings logged in [from, to).
func countBetween(ws []warning, from, to time.Time) int {
	n := 0
	for _, w := range ws {
		if !w.at.Before(from) && w.at.Before(to) {
			n++
		}
	}
	return n
}

// closedEndpoint returns the URL of a loopback port nothing listens on.
func closedEndpoint(t *testing.T) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return "http://" + addr
}

// loopbackOnly makes the connector's clients dial loopback addresses
// only: any other host fails as a name that does not resolve would
// (without asking DNS), and is recorded.
func loopbackOnly(t *testing.T) func() []string {
	t.Helper()
	var mu sync.Mutex
	var refused []string
	var d net.Dialer
	restore := awsclient.SetDialer(func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if err != nil {
			return nil, err
		}
		if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() || host == "localhost" {
			return d.DialContext(ctx, network, addr)
		}
		mu.Lock()
		refused = append(refused, addr)
		mu.Unlock()
		return nil, &net.OpError{Op: "dial", Net: network, Err: &net.DNSError{Err: "no such host", Name: host, IsNotFound: true}}
	})
	t.Cleanup(restore)
	return func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), refused...)
	}
}

// TestReadFailsWhenKinesisIsUnreachableAtStart: a job whose Kinesis
// cannot be reached when it starts (an emulator not running, a region
// that has no endpoint) fails after the start-up bound, saying which
// endpoint and region it tried and what to check, instead of retrying
// forever; and it logs a bounded number of lines meanwhile.
func TestReadFailsWhenKinesisIsUnreachableAtStart(t *testing.T) {
	const bound = 3 * time.Second
	closed := closedEndpoint(t)
	cases := []struct {
		name string
		opts []kinesisio.ReadOption
		want []string
	}{
		{"emulator not running", []kinesisio.ReadOption{kinesisio.Connection{Endpoint: closed, Region: "us-east-1"}},
			[]string{closed, "us-east-1", "Connection.Endpoint", "running"}},
		{"emulator not running, bounded read", []kinesisio.ReadOption{kinesisio.Connection{Endpoint: closed, Region: "us-east-1"}, kinesisio.WithStopAtLatest()},
			[]string{closed, "us-east-1", "Connection.Endpoint", "running"}},
		{"region typo", []kinesisio.ReadOption{kinesisio.Connection{Region: "us-est-1"}},
			[]string{"https://kinesis.us-est-1.amazonaws.com", "us-est-1", "does not resolve", "Connection.Region"}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			refused := loopbackOnly(t)
			stream := fmt.Sprintf("unreachable-%d", i)
			warnings := captureWarnings(t, stream)
			p, s := beam.NewPipelineWithRoot()
			kinesisio.Read(s, stream, append(tc.opts, kinesisio.WithStartupTimeout(bound))...)
			start := time.Now()
			err := await(t, runAsync(p), bound+30*time.Second)
			took := time.Since(start)
			if err == nil {
				t.Fatal("the job succeeded")
			}
			msg := errorText(err)
			t.Logf("failed after %v with %d WARN lines: %s", took.Round(time.Millisecond), len(warnings()), msg)
			for _, w := range tc.want {
				if !strings.Contains(msg, w) {
					t.Errorf("the error does not mention %q", w)
				}
			}
			if n := len(warnings()); n > 3 {
				t.Errorf("%d WARN lines while waiting %v, want at most 3 (the first failure and one per 10 s)", n, bound)
			}
			for _, a := range refused() {
				if !strings.Contains(a, "amazonaws.com") {
					t.Errorf("dialed %s, outside loopback", a)
				}
			}
		})
	}
}

// TestReadFailsWhenKinesisIsUnreachableAtStartDefaultBound is the default
// path, without the test's short bound: a job whose emulator is not
// running fails after 30 s.
func TestReadFailsWhenKinesisIsUnreachableAtStartDefaultBound(t *testing.T) {
	closed := closedEndpoint(t)
	warnings := captureWarnings(t, "unreachable-default")
	p, s := beam.NewPipelineWithRoot()
	kinesisio.Read(s, "unreachable-default", kinesisio.Connection{Endpoint: closed, Region: "us-east-1"})
	start := time.Now()
	err := await(t, runAsync(p), 2*time.Minute)
	took := time.Since(start)
	if err == nil {
		t.Fatal("the job succeeded")
	}
	ws := warnings()
	t.Logf("failed after %v; %d WARN lines, %d in the first 10 s: %s", took.Round(time.Millisecond), len(ws), countBetween(ws, start, start.Add(10*time.Second)), errorText(err))
	for _, w := range []string{closed, "us-east-1", "30s", "Connection.Endpoint"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not mention %q", err, w)
		}
	}
	if n := len(ws); n > 5 {
		t.Errorf("%d WARN lines in %v, want at most 5", n, took)
	}
}

// TestReadWithoutCredentialsSaysWhatToSet: with no credentials anywhere
// in the default chain, the job fails at once and names the sources the
// chain tried and what to set, not only the SDK's last words ("no EC2
// IMDS role found").
func TestReadWithoutCredentialsSaysWhatToSet(t *testing.T) {
	dir := t.TempDir()
	cfg, creds := filepath.Join(dir, "config"), filepath.Join(dir, "credentials")
	for _, f := range []string{cfg, creds} {
		if err := os.WriteFile(f, nil, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	for _, k := range []string{"AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", "AWS_SESSION_TOKEN", "AWS_PROFILE",
		"AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI"} {
		t.Setenv(k, "")
		os.Unsetenv(k)
	}
	t.Setenv("AWS_CONFIG_FILE", cfg)
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", creds)
	t.Setenv("AWS_EC2_METADATA_DISABLED", "true") // no IMDS probe leaves loopback
	refused := loopbackOnly(t)
	// A server that would answer: the job must fail before any call.
	e := newFakeEnv(t, 1)

	p, s := beam.NewPipelineWithRoot()
	kinesisio.Read(s, e.stream, kinesisio.Connection{Endpoint: e.endpoint, Region: kinesistest.Region})
	start := time.Now()
	err := await(t, runAsync(p), time.Minute)
	if err == nil {
		t.Fatal("the job succeeded without credentials")
	}
	msg := errorText(err)
	t.Logf("failed after %v: %s", time.Since(start).Round(time.Millisecond), msg)
	for _, w := range []string{"no AWS credentials", "AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY", cfg, creds, "AWS_PROFILE",
		"SSO", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS", "IMDS", "AWS_EC2_METADATA_DISABLED", "no EC2 IMDS role found"} {
		if !strings.Contains(msg, w) {
			t.Errorf("the error does not mention %q", w)
		}
	}
	if n := e.srv.Calls("ListShards"); n != 0 {
		t.Errorf("%d ListShards calls reached the server", n)
	}
	if r := refused(); len(r) > 0 {
		t.Errorf("dialed %v, outside loopback", r)
	}
}

// portGate forwards a loopback port to an emulator and can go down (the port
// refuses connections, open ones are cut) and come back on the same port:
// an emulator that stops and restarts.
type portGate struct {
	target string
	addr   string

	mu    sync.Mutex
	ln    net.Listener
	conns map[net.Conn]bool
	wg    sync.WaitGroup
}

func newPortGate(t *testing.T, target string) *portGate {
	t.Helper()
	g := &portGate{target: strings.TrimPrefix(target, "http://"), addr: "127.0.0.1:0", conns: map[net.Conn]bool{}}
	if err := g.up(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(g.down)
	return g
}

func (g *portGate) endpoint() string { return "http://" + g.addr }

func (g *portGate) up() error {
	ln, err := net.Listen("tcp", g.addr)
	if err != nil {
		return err
	}
	g.mu.Lock()
	g.ln, g.addr = ln, ln.Addr().String()
	g.mu.Unlock()
	g.wg.Add(1)
	go func() {
		defer g.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			up, err := net.Dial("tcp", g.target)
			if err != nil {
				c.Close()
				continue
			}
			g.mu.Lock()
			g.conns[c], g.conns[up] = true, true
			g.mu.Unlock()
			go func() { _, _ = io.Copy(up, c); up.Close() }()
			go func() { _, _ = io.Copy(c, up); c.Close() }()
		}
	}()
	return nil
}

func (g *portGate) down() {
	g.mu.Lock()
	if g.ln != nil {
		g.ln.Close()
		g.ln = nil
	}
	for c := range g.conns {
		c.Close()
	}
	g.conns = map[net.Conn]bool{}
	g.mu.Unlock()
	g.wg.Wait()
}

// TestReadWaitsOutAnOutageAfterStart: once a job has read, Kinesis going
// away (kinesalite behind a port that stops answering for 12 s) is waited
// out, with backoff and a bounded number of log lines, and the job reads
// everything once the emulator is back.
func TestReadWaitsOutAnOutageAfterStart(t *testing.T) {
	e := newEnv(t, emulators.Kinesalite, 2)
	g := newPortGate(t, e.endpoint)
	before := e.putPerShard(t, 50, "before")
	warnings := captureWarnings(t, e.stream)

	const outage = 12 * time.Second
	p, s := beam.NewPipelineWithRoot()
	got := collect(s, kinesisio.Read(s, e.stream, kinesisio.Connection{Endpoint: g.endpoint(), Region: kinesistest.Region},
		kinesisio.Polling{IdleInterval: 50 * time.Millisecond}, kinesisio.WithMaxRecords(200), kinesisio.WithStartupTimeout(3*time.Second)))
	done, res := runAsyncResult(p)
	deadline := time.Now().Add(time.Minute)
	for len(got()) < len(before) {
		if time.Now().After(deadline) {
			t.Fatalf("read %d of the first %d records in a minute", len(got()), len(before))
		}
		time.Sleep(20 * time.Millisecond)
	}
	g.down()
	down := time.Now()
	time.Sleep(outage)
	if err := g.up(); err != nil {
		t.Fatalf("the emulator's port could not be opened again: %v", err)
	}
	back := time.Now()
	after := e.putPerShard(t, 50, "after")
	if err := await(t, done, 2*time.Minute); err != nil {
		t.Fatalf("the job failed after the outage: %v", err)
	}
	checkExactlyOnce(t, got(), append(before, after...))

	ws := warnings()
	during := countBetween(ws, down, back)
	first10 := countBetween(ws, down, down.Add(10*time.Second))
	retries := counter(*res, "read_retries")
	t.Logf("outage of %v: %d WARN lines (%d in its first 10 s), %d fetcher retries on 2 shards", back.Sub(down).Round(time.Millisecond), during, first10, retries)
	for _, w := range ws {
		t.Logf("  %s %.200s", w.at.Format("15:04:05.000"), w.msg)
	}
	if during == 0 {
		t.Error("nothing was logged about the outage")
	}
	// One line from discovery and one from the shards' fetchers, then one
	// each per 10 s.
	if first10 > 4 {
		t.Errorf("%d WARN lines in the first 10 s of the outage, want at most 4", first10)
	}
	// Backoff: at 5 calls a second each shard would retry ~60 times.
	if retries > 2*20 {
		t.Errorf("%d retries on 2 shards in an outage of %v: no backoff", retries, outage)
	}
}
