package fakekinesis

import (
	"bytes"
	"fmt"
	"math"
	"strconv"
	"time"
)

// epoch is a time on the AWS JSON 1.1 wire: epoch seconds as a JSON
// number, possibly fractional.
type epoch struct{ time.Time }

// MarshalJSON writes the time as epoch seconds with millisecond precision.
func (e epoch) MarshalJSON() ([]byte, error) {
	return strconv.AppendFloat(nil, float64(e.UnixMilli())/1000, 'f', 3, 64), nil
}

// UnmarshalJSON reads epoch seconds (a JSON number).
func (e *epoch) UnmarshalJSON(b []byte) error {
	b = bytes.TrimSpace(b)
	if string(b) == "null" {
		return nil
	}
	f, err := strconv.ParseFloat(string(b), 64)
	if err != nil || math.IsNaN(f) || math.IsInf(f, 0) || math.Abs(f) > 1e12 {
		return fmt.Errorf("timestamp %q is not epoch seconds", b)
	}
	sec, frac := math.Modf(f)
	e.Time = time.Unix(int64(sec), int64(frac*1e9))
	return nil
}

// ep returns t as a wire timestamp pointer.
func ep(t time.Time) *epoch { return &epoch{t} }

// streamRef names a stream by name or ARN, as every stream call accepts.
type streamRef struct {
	StreamName *string `json:"StreamName,omitempty"`
	StreamARN  *string `json:"StreamARN,omitempty"`
}

type hashKeyRange struct {
	StartingHashKey string `json:"StartingHashKey"`
	EndingHashKey   string `json:"EndingHashKey"`
}

type seqRange struct {
	StartingSequenceNumber string  `json:"StartingSequenceNumber"`
	EndingSequenceNumber   *string `json:"EndingSequenceNumber,omitempty"`
}

type wireShard struct {
	ShardID               string       `json:"ShardId"`
	ParentShardID         *string      `json:"ParentShardId,omitempty"`
	AdjacentParentShardID *string      `json:"AdjacentParentShardId,omitempty"`
	HashKeyRange          hashKeyRange `json:"HashKeyRange"`
	SequenceNumberRange   seqRange     `json:"SequenceNumberRange"`
}

type wireChildShard struct {
	ShardID      string       `json:"ShardId"`
	ParentShards []string     `json:"ParentShards"`
	HashKeyRange hashKeyRange `json:"HashKeyRange"`
}

type streamModeDetails struct {
	StreamMode string `json:"StreamMode"`
}

type enhancedMetrics struct {
	ShardLevelMetrics []string `json:"ShardLevelMetrics"`
}

type createStreamInput struct {
	StreamName        string             `json:"StreamName"`
	ShardCount        *int               `json:"ShardCount,omitempty"`
	StreamModeDetails *streamModeDetails `json:"StreamModeDetails,omitempty"`
}

type describeStreamInput struct {
	streamRef
	Limit                 *int    `json:"Limit,omitempty"`
	ExclusiveStartShardID *string `json:"ExclusiveStartShardId,omitempty"`
}

// streamHead is what DescribeStream and DescribeStreamSummary both say
// of a stream.
type streamHead struct {
	StreamName              string            `json:"StreamName"`
	StreamARN               string            `json:"StreamARN"`
	StreamStatus            string            `json:"StreamStatus"`
	StreamModeDetails       streamModeDetails `json:"StreamModeDetails"`
	RetentionPeriodHours    int               `json:"RetentionPeriodHours"`
	StreamCreationTimestamp *epoch            `json:"StreamCreationTimestamp"`
	EnhancedMonitoring      []enhancedMetrics `json:"EnhancedMonitoring"`
	EncryptionType          string            `json:"EncryptionType"`
}

type streamDescription struct {
	streamHead
	Shards        []wireShard `json:"Shards"`
	HasMoreShards bool        `json:"HasMoreShards"`
}

type describeStreamOutput struct {
	StreamDescription streamDescription `json:"StreamDescription"`
}

type streamSummary struct {
	streamHead
	OpenShardCount int `json:"OpenShardCount"`
	ConsumerCount  int `json:"ConsumerCount"`
}

type describeStreamSummaryOutput struct {
	StreamDescriptionSummary streamSummary `json:"StreamDescriptionSummary"`
}

type listStreamsInput struct {
	Limit                    *int    `json:"Limit,omitempty"`
	ExclusiveStartStreamName *string `json:"ExclusiveStartStreamName,omitempty"`
	NextToken                *string `json:"NextToken,omitempty"`
}

type listStreamsSummary struct {
	StreamName              string            `json:"StreamName"`
	StreamARN               string            `json:"StreamARN"`
	StreamStatus            string            `json:"StreamStatus"`
	StreamModeDetails       streamModeDetails `json:"StreamModeDetails"`
	StreamCreationTimestamp *epoch            `json:"StreamCreationTimestamp"`
}

type listStreamsOutput struct {
	StreamNames     []string             `json:"StreamNames"`
	HasMoreStreams  bool                 `json:"HasMoreStreams"`
	NextToken       *string              `json:"NextToken,omitempty"`
	StreamSummaries []listStreamsSummary `json:"StreamSummaries"`
}

type shardFilter struct {
	Type      string  `json:"Type"`
	ShardID   *string `json:"ShardId,omitempty"`
	Timestamp *epoch  `json:"Timestamp,omitempty"`
}

type listShardsInput struct {
	streamRef
	NextToken               *string      `json:"NextToken,omitempty"`
	ExclusiveStartShardID   *string      `json:"ExclusiveStartShardId,omitempty"`
	MaxResults              *int         `json:"MaxResults,omitempty"`
	StreamCreationTimestamp *epoch       `json:"StreamCreationTimestamp,omitempty"`
	ShardFilter             *shardFilter `json:"ShardFilter,omitempty"`
}

type listShardsOutput struct {
	Shards    []wireShard `json:"Shards"`
	NextToken *string     `json:"NextToken,omitempty"`
}

type splitShardInput struct {
	streamRef
	ShardToSplit       string `json:"ShardToSplit"`
	NewStartingHashKey string `json:"NewStartingHashKey"`
}

type mergeShardsInput struct {
	streamRef
	ShardToMerge         string `json:"ShardToMerge"`
	AdjacentShardToMerge string `json:"AdjacentShardToMerge"`
}

type updateShardCountInput struct {
	streamRef
	TargetShardCount int    `json:"TargetShardCount"`
	ScalingType      string `json:"ScalingType"`
}

type updateShardCountOutput struct {
	StreamName        string `json:"StreamName"`
	StreamARN         string `json:"StreamARN"`
	CurrentShardCount int    `json:"CurrentShardCount"`
	TargetShardCount  int    `json:"TargetShardCount"`
}

type putRecordInput struct {
	streamRef
	Data                      []byte  `json:"Data"`
	PartitionKey              string  `json:"PartitionKey"`
	ExplicitHashKey           *string `json:"ExplicitHashKey,omitempty"`
	SequenceNumberForOrdering *string `json:"SequenceNumberForOrdering,omitempty"`
}

type putRecordOutput struct {
	ShardID        string `json:"ShardId"`
	SequenceNumber string `json:"SequenceNumber"`
	EncryptionType string `json:"EncryptionType"`
}

type putRecordsEntry struct {
	Data            []byte  `json:"Data"`
	PartitionKey    string  `json:"PartitionKey"`
	ExplicitHashKey *string `json:"ExplicitHashKey,omitempty"`
}

type putRecordsInput struct {
	streamRef
	Records []putRecordsEntry `json:"Records"`
}

type putRecordsResult struct {
	SequenceNumber *string `json:"SequenceNumber,omitempty"`
	ShardID        *string `json:"ShardId,omitempty"`
	ErrorCode      *string `json:"ErrorCode,omitempty"`
	ErrorMessage   *string `json:"ErrorMessage,omitempty"`
}

type putRecordsOutput struct {
	FailedRecordCount int                `json:"FailedRecordCount"`
	Records           []putRecordsResult `json:"Records"`
	EncryptionType    string             `json:"EncryptionType"`
}

type getShardIteratorInput struct {
	streamRef
	ShardID                string  `json:"ShardId"`
	ShardIteratorType      string  `json:"ShardIteratorType"`
	StartingSequenceNumber *string `json:"StartingSequenceNumber,omitempty"`
	Timestamp              *epoch  `json:"Timestamp,omitempty"`
}

type getShardIteratorOutput struct {
	ShardIterator string `json:"ShardIterator"`
}

type getRecordsInput struct {
	ShardIterator string  `json:"ShardIterator"`
	Limit         *int    `json:"Limit,omitempty"`
	StreamARN     *string `json:"StreamARN,omitempty"`
}

type wireRecord struct {
	SequenceNumber              string `json:"SequenceNumber"`
	ApproximateArrivalTimestamp *epoch `json:"ApproximateArrivalTimestamp"`
	Data                        []byte `json:"Data"`
	PartitionKey                string `json:"PartitionKey"`
}

type getRecordsOutput struct {
	Records            []wireRecord     `json:"Records"`
	NextShardIterator  *string          `json:"NextShardIterator,omitempty"`
	MillisBehindLatest int64            `json:"MillisBehindLatest"`
	ChildShards        []wireChildShard `json:"ChildShards,omitempty"`
}

type consumerInput struct {
	StreamARN    *string `json:"StreamARN,omitempty"`
	ConsumerName *string `json:"ConsumerName,omitempty"`
	ConsumerARN  *string `json:"ConsumerARN,omitempty"`
}

type wireConsumer struct {
	ConsumerName              string `json:"ConsumerName"`
	ConsumerARN               string `json:"ConsumerARN"`
	ConsumerStatus            string `json:"ConsumerStatus"`
	ConsumerCreationTimestamp *epoch `json:"ConsumerCreationTimestamp"`
	StreamARN                 string `json:"StreamARN,omitempty"`
}

type registerConsumerOutput struct {
	Consumer wireConsumer `json:"Consumer"`
}

type describeConsumerOutput struct {
	ConsumerDescription wireConsumer `json:"ConsumerDescription"`
}

type listConsumersInput struct {
	StreamARN  *string `json:"StreamARN,omitempty"`
	MaxResults *int    `json:"MaxResults,omitempty"`
	NextToken  *string `json:"NextToken,omitempty"`
}

type listConsumersOutput struct {
	Consumers []wireConsumer `json:"Consumers"`
	NextToken *string        `json:"NextToken,omitempty"`
}

type startingPosition struct {
	Type           string  `json:"Type"`
	SequenceNumber *string `json:"SequenceNumber,omitempty"`
	Timestamp      *epoch  `json:"Timestamp,omitempty"`
}

type subscribeInput struct {
	ConsumerARN      string           `json:"ConsumerARN"`
	ShardID          string           `json:"ShardId"`
	StartingPosition startingPosition `json:"StartingPosition"`
}

type subscribeEvent struct {
	Records                    []wireRecord     `json:"Records"`
	ContinuationSequenceNumber *string          `json:"ContinuationSequenceNumber,omitempty"`
	MillisBehindLatest         int64            `json:"MillisBehindLatest"`
	ChildShards                []wireChildShard `json:"ChildShards,omitempty"`
}

type errorBody struct {
	Type    string `json:"__type"`
	Message string `json:"message"`
}
