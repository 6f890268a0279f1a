package awsclient

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
)

// Target is where a client sends its calls, for messages: the region
// and endpoint actually used, whichever way they were configured.
type Target struct {
	Region   string
	Endpoint string // the base URL
}

// TargetOf returns where c sends its calls: the endpoint given with
// Connection.Endpoint, or the one the SDK resolves for the region. (With a
// stream ARN, Kinesis calls may go to an account-specific host of that
// region; Reached reports the URL a failed call went to.)
func TargetOf(c *kinesis.Client) Target {
	o := c.Options()
	t := Target{Region: o.Region}
	if o.BaseEndpoint != nil {
		t.Endpoint = *o.BaseEndpoint
		return t
	}
	p := kinesis.EndpointParameters{
		Region:       aws.String(o.Region),
		UseFIPS:      aws.Bool(o.EndpointOptions.UseFIPSEndpoint == aws.FIPSEndpointStateEnabled),
		UseDualStack: aws.Bool(o.EndpointOptions.UseDualStackEndpoint == aws.DualStackEndpointStateEnabled),
	}
	if ep, err := kinesis.NewDefaultEndpointResolverV2().ResolveEndpoint(context.Background(), p); err == nil {
		t.Endpoint = ep.URI.String()
	}
	return t
}

// Reached returns the endpoint a failed call was sent to (scheme and
// host of its URL), when err says.
func Reached(err error) (string, bool) {
	var ue *url.Error
	if !errors.As(err, &ue) {
		return "", false
	}
	u, perr := url.Parse(ue.URL)
	if perr != nil || u.Host == "" {
		return "", false
	}
	return u.Scheme + "://" + u.Host, true
}

// UnresolvedHost returns the host name of a call that failed because the
// name does not resolve (no such host): a region with no such endpoint,
// or a typo in an endpoint.
func UnresolvedHost(err error) (string, bool) {
	var de *net.DNSError
	if errors.As(err, &de) && de.IsNotFound {
		return de.Name, true
	}
	return "", false
}

// IsCredentialError reports a failure to obtain credentials on this
// worker. The SDK reports it as an untyped error from its signing
// middleware ("get identity: ..."), so the message is all there is to go
// on.
func IsCredentialError(err error) bool {
	return err != nil && strings.Contains(err.Error(), "get identity: ")
}

// ExplainCredentials turns a failure to obtain credentials into a message
// that names the sources the SDK's default chain looked at on this
// worker (with the settings that steer each, and whether they are set)
// and what to set. No secret is printed: only whether the key variables
// are set, and file paths.
func ExplainCredentials(err error, s Settings) error {
	lead := "the workers could not get AWS credentials"
	if strings.Contains(err.Error(), "no EC2 IMDS role found") {
		// The chain's last source failed too: none had credentials.
		lead = "no AWS credentials found on this worker"
	}
	if s.RoleARN != "" {
		lead += fmt.Sprintf(" (to call Kinesis as role %s, the workers first need credentials of their own)", s.RoleARN)
	}
	profile, from := s.Profile, "Connection.Profile"
	if profile == "" {
		profile, from = os.Getenv("AWS_PROFILE"), "AWS_PROFILE"
	}
	if profile == "" {
		profile, from = "default", "neither Connection.Profile nor AWS_PROFILE set"
	}
	imds := "enabled"
	if strings.EqualFold(os.Getenv("AWS_EC2_METADATA_DISABLED"), "true") {
		imds = "disabled by AWS_EC2_METADATA_DISABLED=true"
	}
	return fmt.Errorf("%s. The AWS SDK's default chain looked at: "+
		"(1) the environment variables AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (%s); "+
		"(2) profile %q (%s) in the shared config file %s and credentials file %s (AWS_CONFIG_FILE, AWS_SHARED_CREDENTIALS_FILE): static keys, SSO (sso_session; run `aws sso login --profile %s`), credential_process, or a role to assume; "+
		"(3) web identity: AWS_WEB_IDENTITY_TOKEN_FILE with AWS_ROLE_ARN (%s); "+
		"(4) the container credentials endpoint: AWS_CONTAINER_CREDENTIALS_RELATIVE_URI or AWS_CONTAINER_CREDENTIALS_FULL_URI (%s); "+
		"(5) EC2 instance metadata, IMDS (%s). "+
		"Set AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY (with AWS_SESSION_TOKEN for temporary keys) in the workers' environment, "+
		"or name a profile of the shared files with AWS_PROFILE or kinesisio.Connection.Profile, "+
		"or run the workers with a role (EC2 instance profile, ECS task role, EKS IRSA or Pod Identity): %w",
		lead,
		setOrNot("AWS_ACCESS_KEY_ID", "AWS_SECRET_ACCESS_KEY"),
		profile, from, sharedFile("AWS_CONFIG_FILE", config.DefaultSharedConfigFilename()), sharedFile("AWS_SHARED_CREDENTIALS_FILE", config.DefaultSharedCredentialsFilename()), profile,
		setOrNot("AWS_WEB_IDENTITY_TOKEN_FILE", "AWS_ROLE_ARN"),
		setOrNot("AWS_CONTAINER_CREDENTIALS_RELATIVE_URI", "AWS_CONTAINER_CREDENTIALS_FULL_URI"),
		imds, err)
}

// setOrNot says which of the environment variables names are set,
// without their values.
func setOrNot(names ...string) string {
	var set, unset []string
	for _, n := range names {
		if os.Getenv(n) != "" {
			set = append(set, n)
		} else {
			unset = append(unset, n)
		}
	}
	switch {
	case len(set) == 0:
		return "not set"
	case len(unset) == 0:
		return "set"
	}
	return strings.Join(set, ", ") + " set, " + strings.Join(unset, ", ") + " not set"
}

// sharedFile is the path of a shared file the SDK reads: the variable's
// value, or the default path.
func sharedFile(env, def string) string {
	if v := os.Getenv(env); v != "" {
		return v
	}
	return def
}
