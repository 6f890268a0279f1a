package awsclient

import (
	"context"
	"sync"

	"github.com/aws/aws-sdk-go-v2/service/kinesis"
	smithyendpoints "github.com/aws/smithy-go/endpoints"
)

// maxCachedEndpoints bounds an endpointCache. Its keys vary only with a
// call's stream, consumer or resource ARN (and the caller's account ID in
// account-based endpoint modes), so a worker needs a handful; past the
// bound, calls resolve as the SDK does, uncached.
const maxCachedEndpoints = 256

// endpointCache is a kinesis.EndpointResolverV2 that remembers what the
// wrapped resolver (the SDK's rules engine) returned for each set of
// parameter values. The SDK resolves the endpoint again on every call,
// though the rules are a pure function of those values: region, FIPS,
// dual-stack, base endpoint, operation type, the stream/consumer/resource
// ARNs and account ID of the call. Errors are not cached.
//
// The cached Endpoint is handed to every call with those values; the
// SDK's middleware reads its Headers and Properties and modifies only its
// own copy of the URI.
type endpointCache struct {
	next kinesis.EndpointResolverV2

	mu sync.RWMutex
	m  map[endpointKey]smithyendpoints.Endpoint
}

// optString is a *string parameter's value: set is false for nil.
type optString struct {
	v   string
	set bool
}

func optS(p *string) optString {
	if p == nil {
		return optString{}
	}
	return optString{*p, true}
}

// optBool is a *bool parameter's value: 0 nil, 1 false, 2 true.
type optBool uint8

func optB(p *bool) optBool {
	switch {
	case p == nil:
		return 0
	case !*p:
		return 1
	}
	return 2
}

// endpointKey holds every field of kinesis.EndpointParameters by value.
// keyOf and TestEndpointKeyCoversParameters keep the two in step.
type endpointKey struct {
	region, endpoint, operationType, streamID, streamARN, consumerARN,
	resourceARN, channelARN, accountID, accountIDEndpointMode optString
	useDualStack, useFIPS optBool
}

func keyOf(p kinesis.EndpointParameters) endpointKey {
	return endpointKey{
		region:                optS(p.Region),
		endpoint:              optS(p.Endpoint),
		operationType:         optS(p.OperationType),
		streamID:              optS(p.StreamId),
		streamARN:             optS(p.StreamARN),
		consumerARN:           optS(p.ConsumerARN),
		resourceARN:           optS(p.ResourceARN),
		channelARN:            optS(p.ChannelARN),
		accountID:             optS(p.AccountId),
		accountIDEndpointMode: optS(p.AccountIdEndpointMode),
		useDualStack:          optB(p.UseDualStack),
		useFIPS:               optB(p.UseFIPS),
	}
}

// newEndpointCache wraps next.
func newEndpointCache(next kinesis.EndpointResolverV2) *endpointCache {
	return &endpointCache{next: next, m: make(map[endpointKey]smithyendpoints.Endpoint)}
}

// ResolveEndpoint returns the endpoint for params: the cached one, else
// the wrapped resolver's.
func (c *endpointCache) ResolveEndpoint(ctx context.Context, params kinesis.EndpointParameters) (smithyendpoints.Endpoint, error) {
	k := keyOf(params)
	c.mu.RLock()
	e, ok := c.m[k]
	c.mu.RUnlock()
	if ok {
		return e, nil
	}
	e, err := c.next.ResolveEndpoint(ctx, params)
	if err != nil {
		return e, err
	}
	c.mu.Lock()
	if len(c.m) < maxCachedEndpoints {
		c.m[k] = e
	}
	c.mu.Unlock()
	return e, nil
}
