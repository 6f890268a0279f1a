package kinesisio

import (
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"

	"github.com/kinesisio/beam-kinesis/internal/awsclient"
)

// TestExplainNamesTheRegionUsed checks that a stream-not-found error
// names the region the call went to, also when it came from the default
// chain (AWS_REGION), not "the default region".
func TestExplainNamesTheRegionUsed(t *testing.T) {
	t.Setenv("AWS_REGION", "eu-west-3")
	notFound := &types.ResourceNotFoundException{Message: aws.String("Stream words under account 000000000000 not found.")}
	stream := awsclient.Stream{Name: "words"}
	for _, tc := range []struct {
		settings awsclient.Settings
		want     string
	}{
		{awsclient.Settings{Endpoint: "http://127.0.0.1:4567"}, "kinesisio: stream words not found in eu-west-3 at http://127.0.0.1:4567: "},
		{awsclient.Settings{}, "kinesisio: stream words not found in eu-west-3: "},
		{awsclient.Settings{Region: "ap-south-1"}, "kinesisio: stream words not found in ap-south-1: "},
	} {
		err := explain(notFound, stream, tc.settings, readAccess)
		if !strings.HasPrefix(err.Error(), tc.want) {
			t.Errorf("explain with %+v: %q, want it to start with %q", tc.settings, err, tc.want)
		}
	}
}
