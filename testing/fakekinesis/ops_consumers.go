package fakekinesis

import (
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"time"
)

var consumerNamePattern = regexp.MustCompile(`^[a-zA-Z0-9_.-]{1,128}$`)

// consumer is a registered enhanced fan-out consumer.
type consumer struct {
	name    string
	arn     string
	created time.Time
	active  time.Time // when it is ACTIVE (WithConsumerActivation)
}

// status is the consumer's ConsumerStatus at now.
func (cn *consumer) status(now time.Time) string {
	if now.Before(cn.active) {
		return "CREATING"
	}
	return "ACTIVE"
}

// wire returns the consumer as the consumer operations describe it.
func (cn *consumer) wire(streamARN string) wireConsumer {
	return wireConsumer{
		ConsumerName:              cn.name,
		ConsumerARN:               cn.arn,
		ConsumerStatus:            cn.status(time.Now()),
		ConsumerCreationTimestamp: ep(cn.created),
		StreamARN:                 streamARN,
	}
}

// consumerLocked finds the consumer named by ARN or by stream ARN and
// name. s.mu must be held.
func (s *Server) consumerLocked(in consumerInput) (*stream, *consumer, error) {
	var arn string
	switch {
	case in.ConsumerARN != nil:
		arn = *in.ConsumerARN
	case in.StreamARN != nil && in.ConsumerName != nil:
	default:
		return nil, nil, errf(errInvalidArgument, "Either ConsumerARN or both StreamARN and ConsumerName must be provided.")
	}
	ref := in.StreamARN
	if arn != "" {
		ref = &arn
	}
	st, err := s.lookupLocked(streamRef{StreamARN: ref})
	if err != nil {
		return nil, nil, err
	}
	for _, cn := range st.consumers {
		if (arn != "" && cn.arn == arn) || (arn == "" && cn.name == *in.ConsumerName) {
			return st, cn, nil
		}
	}
	return nil, nil, errf(errResourceNotFound, "Consumer %s not found.", strOr(in.ConsumerARN, in.ConsumerName))
}

// strOr returns the first non-nil string.
func strOr(a, b *string) string {
	if a != nil {
		return *a
	}
	if b != nil {
		return *b
	}
	return ""
}

func (c *call) registerConsumer(body []byte) (any, error) {
	var in consumerInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if in.StreamARN == nil || in.ConsumerName == nil || !consumerNamePattern.MatchString(*in.ConsumerName) {
		return nil, errf(errValidation, "StreamARN and a valid ConsumerName are required.")
	}
	st, unlock, err := c.lockStream(streamRef{StreamARN: in.StreamARN})
	if err != nil {
		return nil, err
	}
	defer unlock()
	for _, cn := range st.consumers {
		if cn.name == *in.ConsumerName {
			return nil, errf(errResourceInUse, "Consumer %s already exists.", cn.arn)
		}
	}
	if len(st.consumers) >= maxConsumersPerStream {
		return nil, errf(errLimitExceeded, "Stream %s already has %d consumers.", st.name, maxConsumersPerStream)
	}
	cn := &consumer{
		name:    *in.ConsumerName,
		arn:     fmt.Sprintf("%s/consumer/%s:%s", st.arn, *in.ConsumerName, strconv.FormatInt(c.now.Unix(), 10)),
		created: c.now,
		active:  c.now.Add(c.s.opts.activation),
	}
	st.consumers = append(st.consumers, cn)
	w := cn.wire("")
	return registerConsumerOutput{Consumer: w}, nil
}

func (c *call) describeConsumer(body []byte) (any, error) {
	var in consumerInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := c.fault(); err != nil {
		return nil, err
	}
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	st, cn, err := c.s.consumerLocked(in)
	if err != nil {
		return nil, err
	}
	return describeConsumerOutput{ConsumerDescription: cn.wire(st.arn)}, nil
}

func (c *call) deregisterConsumer(body []byte) (any, error) {
	var in consumerInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	if err := c.fault(); err != nil {
		return nil, err
	}
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	st, cn, err := s.consumerLocked(in)
	if err != nil {
		return nil, err
	}
	st.consumers = slices.DeleteFunc(st.consumers, func(x *consumer) bool { return x == cn })
	for key, sub := range s.subs {
		if sub.consumer == cn {
			sub.cancel()
			delete(s.subs, key)
		}
	}
	return struct{}{}, nil
}

func (c *call) listConsumers(body []byte) (any, error) {
	var in listConsumersInput
	if err := decode(body, &in); err != nil {
		return nil, err
	}
	limit, err := pageSize(in.MaxResults, "MaxResults", 100, 10000)
	if err != nil {
		return nil, err
	}
	after := ""
	if in.NextToken != nil {
		t, err := c.decodeToken(*in.NextToken)
		if err != nil {
			return nil, err
		}
		after = t.After
	}
	st, unlock, err := c.lockStream(streamRef{StreamARN: in.StreamARN})
	if err != nil {
		return nil, err
	}
	defer unlock()
	out := listConsumersOutput{Consumers: []wireConsumer{}}
	started := after == ""
	for _, cn := range st.consumers {
		if !started {
			started = cn.arn == after
			continue
		}
		if len(out.Consumers) == limit {
			out.NextToken = encodeToken(pageToken{After: out.Consumers[limit-1].ConsumerARN, Issued: c.now.UnixNano()})
			break
		}
		out.Consumers = append(out.Consumers, cn.wire(""))
	}
	return out, nil
}
