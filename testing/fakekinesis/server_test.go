package fakekinesis

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
)

func TestBadInputDoesNotPanic(t *testing.T) {
	s, c := newServer(t)
	mustCreate(t, c, "s", 1)
	cases := []struct{ target, body, want string }{
		{"Kinesis_20131202.PutRecord", "{not json", errSerialization},
		{"Kinesis_20131202.PutRecord", `{"StreamName":"s","PartitionKey":"k","Data":"***"}`, errSerialization},
		{"Kinesis_20131202.GetShardIterator", `{"StreamName":"s","ShardId":"shardId-000000000000","ShardIteratorType":"AT_TIMESTAMP","Timestamp":"x"}`, errSerialization},
		{"Kinesis_20131202.GetShardIterator", `{"StreamName":"s","ShardId":"shardId-000000000000","ShardIteratorType":"AT_SEQUENCE_NUMBER"}`, errInvalidArgument},
		{"Kinesis_20131202.GetRecords", `{"ShardIterator":"fki1.!!!"}`, errInvalidArgument},
		{"Kinesis_20131202.ListShards", `{"NextToken":"@@@"}`, errInvalidArgument},
		{"Kinesis_20131202.SplitShard", `{"StreamName":"s","ShardToSplit":"shardId-000000000000","NewStartingHashKey":"-1"}`, errValidation},
		{"Kinesis_20131202.ListShards", `{"StreamARN":"arn:aws:kinesis:us-east-1:000000000000:stream/"}`, errInvalidArgument},
		{"Kinesis_20131202.NoSuchOp", `{}`, errUnknownOperation},
		{"Other.ListStreams", `{}`, errUnknownOperation},
	}
	for _, tc := range cases {
		req, _ := http.NewRequest(http.MethodPost, s.Endpoint(), strings.NewReader(tc.body))
		req.Header.Set("X-Amz-Target", tc.target)
		req.Header.Set("Content-Type", "application/x-amz-json-1.1")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		var eb errorBody
		if err := json.Unmarshal(b, &eb); err != nil || resp.StatusCode != http.StatusBadRequest || eb.Type != tc.want {
			t.Errorf("%s %s: HTTP %d %s, want 400 %s", tc.target, tc.body, resp.StatusCode, b, tc.want)
		}
	}
}
