package awsclient

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
)

func TestTargetOf(t *testing.T) {
	c := kinesis.New(kinesis.Options{Region: "us-est-1"})
	if got := TargetOf(c); got.Region != "us-est-1" || got.Endpoint != "https://kinesis.us-est-1.amazonaws.com" {
		t.Errorf("TargetOf(region us-est-1) = %+v", got)
	}
	c = kinesis.New(kinesis.Options{Region: "eu-west-1", BaseEndpoint: aws.String("http://127.0.0.1:4567")})
	if got := TargetOf(c); got.Region != "eu-west-1" || got.Endpoint != "http://127.0.0.1:4567" {
		t.Errorf("TargetOf(endpoint) = %+v", got)
	}
}

func TestReachedAndUnresolvedHost(t *testing.T) {
	dns := &net.DNSError{Err: "no such host", Name: "kinesis.us-est-1.amazonaws.com", IsNotFound: true}
	err := fmt.Errorf("operation error: %w", &url.Error{Op: "Post", URL: "https://kinesis.us-est-1.amazonaws.com/", Err: &net.OpError{Op: "dial", Net: "tcp", Err: dns}})
	if got, ok := Reached(err); !ok || got != "https://kinesis.us-est-1.amazonaws.com" {
		t.Errorf("Reached = %q, %v", got, ok)
	}
	if got, ok := UnresolvedHost(err); !ok || got != dns.Name {
		t.Errorf("UnresolvedHost = %q, %v", got, ok)
	}
	if Classify(err) != Transient {
		t.Errorf("an unresolved host is %v, want transient (bounded at the start by the caller)", Classify(err))
	}
	timeout := &net.DNSError{Err: "i/o timeout", Name: "x", IsTimeout: true}
	if _, ok := UnresolvedHost(timeout); ok {
		t.Error("a DNS timeout counted as a name that does not resolve")
	}
	if _, ok := Reached(errors.New("x")); ok {
		t.Error("Reached found a URL in an error without one")
	}
}

func TestExplainCredentialsNamesTheSourcesAndNoSecret(t *testing.T) {
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIDSECRETVALUE")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "")
	t.Setenv("AWS_PROFILE", "analytics")
	t.Setenv("AWS_CONFIG_FILE", "/etc/aws/config")
	t.Setenv("AWS_SHARED_CREDENTIALS_FILE", "")
	t.Setenv("AWS_EC2_METADATA_DISABLED", "")
	sdk := errors.New("operation error Kinesis: ListShards, get identity: get credentials: failed to refresh cached credentials, no EC2 IMDS role found, operation error ec2imds: GetMetadata, canceled")
	if Classify(sdk) != Permanent {
		t.Fatalf("no credentials is %v, want permanent", Classify(sdk))
	}
	err := ExplainCredentials(sdk, Settings{})
	msg := err.Error()
	for _, want := range []string{"no AWS credentials found", "AWS_ACCESS_KEY_ID set, AWS_SECRET_ACCESS_KEY not set", `profile "analytics" (AWS_PROFILE)`,
		"/etc/aws/config", ".aws/credentials", "SSO", "AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "IMDS (enabled)", "no EC2 IMDS role found"} {
		if !strings.Contains(msg, want) {
			t.Errorf("the message does not mention %q: %s", want, msg)
		}
	}
	if strings.Contains(msg, "AKIDSECRETVALUE") {
		t.Error("the message shows a key")
	}
	if !errors.Is(err, sdk) {
		t.Error("the SDK's error is not wrapped")
	}
	role := ExplainCredentials(errors.New("get identity: get credentials: operation error STS: AssumeRole, AccessDenied"), Settings{RoleARN: "arn:aws:iam::1:role/r", Profile: "p"}).Error()
	for _, want := range []string{"could not get AWS credentials", "role arn:aws:iam::1:role/r", `profile "p" (Connection.Profile)`} {
		if !strings.Contains(role, want) {
			t.Errorf("the message does not mention %q: %s", want, role)
		}
	}
}
