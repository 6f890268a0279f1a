package kinesistest

import (
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
)

// Region is the AWS region NewClient's clients use.
const Region = "us-east-1"

// NewClient returns a Kinesis client for endpoint (such as an emulator's
// http://127.0.0.1:PORT) in region us-east-1 with static credentials
// "test"/"test", the SDK's default retries and HTTPClient(). It reads no AWS
// configuration from the environment or files.
func NewClient(endpoint string) *kinesis.Client {
	return kinesis.New(kinesis.Options{
		Region:       Region,
		Credentials:  credentials.NewStaticCredentialsProvider("test", "test", ""),
		BaseEndpoint: aws.String(endpoint),
		HTTPClient:   HTTPClient(),
	})
}
