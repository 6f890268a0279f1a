package awsclient

import (
	"context"
	"fmt"
	"sort"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	"github.com/aws/aws-sdk-go-v2/service/kinesis/types"
)

// ShardLister is the part of the Kinesis API that lists shards.
type ShardLister interface {
	ListShards(context.Context, *kinesis.ListShardsInput, ...func(*kinesis.Options)) (*kinesis.ListShardsOutput, error)
}

// MaxShardPages bounds one listing, against a server that never ends it.
const MaxShardPages = 100000

// ShardPager pages through ListShards, in the shape of the SDK's
// paginators (the SDK has none for ListShards). Follow-up pages carry the
// token alone: AWS refuses it together with the stream name or a filter,
// which the SDK's generic pagination would send (apache/beam#33478 and
// others got this wrong).
type ShardPager struct {
	api    ShardLister
	stream Stream
	in     *kinesis.ListShardsInput
	pages  int
	done   bool
}

// NewShardPager returns a pager over the shards of stream that filter
// selects (nil: all), pageSize per page (0: the service's default).
func NewShardPager(api ShardLister, stream Stream, filter *types.ShardFilter, pageSize int32) *ShardPager {
	name, arn := stream.Ref()
	in := &kinesis.ListShardsInput{StreamName: name, StreamARN: arn, ShardFilter: filter}
	if pageSize > 0 {
		in.MaxResults = aws.Int32(pageSize)
	}
	return &ShardPager{api: api, stream: stream, in: in}
}

// HasMorePages reports whether NextPage has a page to return.
func (p *ShardPager) HasMorePages() bool { return !p.done }

// NextPage returns the next page of shards.
func (p *ShardPager) NextPage(ctx context.Context) ([]types.Shard, error) {
	if p.done {
		return nil, fmt.Errorf("kinesisio: no more ListShards pages")
	}
	if p.pages >= MaxShardPages {
		p.done = true
		return nil, fmt.Errorf("kinesisio: ListShards of %v did not end after %d pages", p.stream, p.pages)
	}
	out, err := p.api.ListShards(ctx, p.in)
	if err != nil {
		return nil, err
	}
	p.pages++
	if aws.ToString(out.NextToken) == "" {
		p.done = true
	} else {
		p.in = &kinesis.ListShardsInput{NextToken: out.NextToken, MaxResults: p.in.MaxResults}
	}
	return out.Shards, nil
}

// ListShards returns every shard of stream that filter selects, sorted by
// shard ID (creation order: parents before their children).
func ListShards(ctx context.Context, api ShardLister, stream Stream, filter *types.ShardFilter, pageSize int32) ([]types.Shard, error) {
	var shards []types.Shard
	for p := NewShardPager(api, stream, filter, pageSize); p.HasMorePages(); {
		page, err := p.NextPage(ctx)
		if err != nil {
			return nil, err
		}
		shards = append(shards, page...)
	}
	sort.Slice(shards, func(i, j int) bool {
		return ShardIDLess(aws.ToString(shards[i].ShardId), aws.ToString(shards[j].ShardId))
	})
	return shards, nil
}

// ShardIDLess orders shard IDs as Kinesis assigns them: by length, then
// lexicographically.
func ShardIDLess(a, b string) bool { return len(a) < len(b) || len(a) == len(b) && a < b }

// ParentIDs returns the IDs of the shard's parents (none, one, or two for
// a merge).
func ParentIDs(s types.Shard) []string {
	var ids []string
	for _, p := range []*string{s.ParentShardId, s.AdjacentParentShardId} {
		if p != nil && *p != "" {
			ids = append(ids, *p)
		}
	}
	return ids
}
