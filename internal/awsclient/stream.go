package awsclient

import (
	"fmt"
	"regexp"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// Stream names a stream by name, or by ARN (which also gives the region
// and account, for cross-account reads with an assumed role).
type Stream struct {
	Name   string
	ARN    string
	Region string // from the ARN; "" for a bare name
}

var nameRE = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,128}$`)

// ParseStream accepts a stream name or a stream ARN
// (arn:PARTITION:kinesis:REGION:ACCOUNT:stream/NAME).
func ParseStream(s string) (Stream, error) {
	if strings.HasPrefix(s, "arn:") {
		parts := strings.SplitN(s, ":", 6)
		if len(parts) != 6 || parts[2] != "kinesis" || parts[3] == "" || parts[4] == "" || !strings.HasPrefix(parts[5], "stream/") {
			return Stream{}, fmt.Errorf("%q is not a Kinesis stream ARN (want arn:aws:kinesis:REGION:ACCOUNT:stream/NAME)", s)
		}
		name := strings.TrimPrefix(parts[5], "stream/")
		if !nameRE.MatchString(name) {
			return Stream{}, fmt.Errorf("stream ARN %q has an invalid stream name %q", s, name)
		}
		return Stream{Name: name, ARN: s, Region: parts[3]}, nil
	}
	if !nameRE.MatchString(s) {
		return Stream{}, fmt.Errorf("invalid stream name %q: want 1 to 128 of [a-zA-Z0-9_.-], or a stream ARN", s)
	}
	return Stream{Name: s}, nil
}

// String returns the ARN if there is one, else the name.
func (s Stream) String() string {
	if s.ARN != "" {
		return s.ARN
	}
	return s.Name
}

// Ref returns the StreamName and StreamARN request fields: exactly one is
// set, the ARN when known.
func (s Stream) Ref() (name, arn *string) {
	if s.ARN != "" {
		return nil, aws.String(s.ARN)
	}
	return aws.String(s.Name), nil
}
