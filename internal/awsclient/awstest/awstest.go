// Package awstest serves Kinesis's own endpoints (https://kinesis.REGION
// .amazonaws.com and the account-based ones) from a loopback server, for
// tests and benchmarks of the connector's client as it calls AWS: the
// real endpoint rules, TLS and signing, with no network.
package awstest

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/kinesisio/beam-kinesis/internal/awsclient"
)

// AccessKeyID and SecretAccessKey are the static credentials Hermetic
// gives the AWS default chain.
const (
	AccessKeyID     = "AKIDEXAMPLE"
	SecretAccessKey = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
)

// Hermetic points the AWS default chain of this process at static
// credentials (AccessKeyID, SecretAccessKey) and nothing else: no shared
// files, no IMDS, no region, no FIPS or dual-stack setting.
func Hermetic(tb testing.TB) {
	tb.Helper()
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID":                AccessKeyID,
		"AWS_SECRET_ACCESS_KEY":            SecretAccessKey,
		"AWS_SESSION_TOKEN":                "",
		"AWS_PROFILE":                      "",
		"AWS_CONFIG_FILE":                  filepath.Join(tb.TempDir(), "config"),
		"AWS_SHARED_CREDENTIALS_FILE":      filepath.Join(tb.TempDir(), "credentials"),
		"AWS_EC2_METADATA_DISABLED":        "true",
		"AWS_REGION":                       "",
		"AWS_DEFAULT_REGION":               "",
		"AWS_USE_FIPS_ENDPOINT":            "",
		"AWS_USE_DUALSTACK_ENDPOINT":       "",
		"AWS_ENDPOINT_URL":                 "",
		"AWS_ENDPOINT_URL_KINESIS":         "",
		"AWS_ACCOUNT_ID_ENDPOINT_MODE":     "",
		"AWS_CA_BUNDLE":                    "",
		"AWS_LAMBDA_FUNCTION_NAME":         "",
		"AWS_REQUEST_CHECKSUM_CALCULATION": "",
	} {
		tb.Setenv(k, v)
	}
}

// Serve answers every HTTPS call of the clients built from now on
// (awsclient.New, LoadConfig) with h, whatever host they call: the
// server's certificate is valid for hosts and the AWS default chain
// trusts it (AWS_CA_BUNDLE). Call Hermetic first. Everything is undone
// when tb ends.
func Serve(tb testing.TB, h http.Handler, hosts ...string) {
	tb.Helper()
	cert, pemBytes := selfSigned(tb, hosts)
	srv := httptest.NewUnstartedServer(h)
	srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	srv.StartTLS()
	tb.Cleanup(srv.Close)
	caFile := filepath.Join(tb.TempDir(), "ca.pem")
	if err := os.WriteFile(caFile, pemBytes, 0o600); err != nil {
		tb.Fatal(err)
	}
	tb.Setenv("AWS_CA_BUNDLE", caFile)
	addr := srv.Listener.Addr().String()
	var d net.Dialer
	tb.Cleanup(awsclient.SetDialer(func(ctx context.Context, network, _ string) (net.Conn, error) {
		return d.DialContext(ctx, network, addr)
	}))
}

// selfSigned returns a certificate for hosts (wildcards allowed) that is
// its own CA, and its PEM.
func selfSigned(tb testing.TB, hosts []string) (tls.Certificate, []byte) {
	tb.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		tb.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "awstest"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		DNSNames:              hosts,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		tb.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key},
		pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}
