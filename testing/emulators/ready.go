package emulators

import (
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"
)

// probeInterval is the pause between readiness probes.
const probeInterval = 100 * time.Millisecond

// waitReady probes the emulator until it answers HTTP 200 (and its TLS
// port, if any, accepts connections), it exits, ctx ends or readyTimeout
// passes.
func (e *Emulator) waitReady(ctx context.Context, s spec) error {
	ctx, cancel := context.WithTimeout(ctx, readyTimeout)
	defer cancel()
	client := &http.Client{
		Timeout:   2 * time.Second,
		Transport: &http.Transport{Proxy: nil, DisableKeepAlives: true},
	}
	defer client.CloseIdleConnections()
	last := "no probe answered"
	for {
		ok, detail := probe(ctx, client, e.Endpoint, s)
		if ok && s.tlsPort != 0 {
			ok, detail = dial(ctx, s.tlsPort)
		}
		if ok {
			return nil
		}
		last = detail
		select {
		case <-e.proc.Done():
			return fmt.Errorf("emulators: %s %w (last probe: %s); output:\n%s", e.Kind, errExitedEarly, last, e.Output())
		case <-ctx.Done():
			return fmt.Errorf("emulators: %s not ready at %s (last probe: %s): %w; output:\n%s", e.Kind, e.Endpoint, last, ctx.Err(), e.Output())
		case <-time.After(probeInterval):
		}
	}
}

// dial reports whether the TLS port accepts connections, or else why not.
func dial(ctx context.Context, port int) (bool, string) {
	d := net.Dialer{Timeout: time.Second}
	conn, err := d.DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(port)))
	if err != nil {
		return false, "TLS port: " + err.Error()
	}
	conn.Close()
	return true, ""
}

// probe sends one List call and reports whether it got HTTP 200, or else
// what happened.
func probe(ctx context.Context, client *http.Client, endpoint string, s spec) (bool, string) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, endpoint+"/", strings.NewReader("{}"))
	if err != nil {
		return false, err.Error()
	}
	req.Header.Set("X-Amz-Target", s.probeTarget)
	req.Header.Set("Content-Type", s.contentType)
	// Neither emulator checks signatures, but both want the headers.
	req.Header.Set("X-Amz-Date", "20200101T000000Z")
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=test/20200101/us-east-1/"+s.signingScope+
		"/aws4_request, SignedHeaders=host;x-amz-date, Signature=x")
	resp, err := client.Do(req)
	if err != nil {
		return false, err.Error()
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	if resp.StatusCode != http.StatusOK {
		return false, fmt.Sprintf("HTTP %d: %s", resp.StatusCode, body)
	}
	return true, ""
}
