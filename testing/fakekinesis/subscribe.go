package fakekinesis

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws/protocol/eventstream"
)

// subscription is an open SubscribeToShard stream.
type subscription struct {
	stream   *stream
	consumer *consumer
	started  time.Time
	ctx      context.Context // ends with the subscription
	cancel   context.CancelFunc
	reset    chan struct{} // closed by ResetSubscriptions
}

// eventWriter writes event-stream messages and flushes them.
type eventWriter struct {
	w   http.ResponseWriter
	rc  *http.ResponseController
	enc *eventstream.Encoder
	buf bytes.Buffer
}

// write sends one message with the given headers and JSON payload.
func (e *eventWriter) write(headers map[string]string, payload any) error {
	b, err := json.Marshal(payload)
	if err != nil {
		return fmt.Errorf("encode event payload: %w", err)
	}
	var msg eventstream.Message
	for _, k := range []string{":message-type", ":event-type", ":exception-type", ":content-type"} {
		if v, ok := headers[k]; ok {
			msg.Headers.Set(k, eventstream.StringValue(v))
		}
	}
	msg.Payload = b
	e.buf.Reset()
	if err := e.enc.Encode(&e.buf, msg); err != nil {
		return fmt.Errorf("encode event: %w", err)
	}
	if _, err := e.w.Write(e.buf.Bytes()); err != nil {
		return fmt.Errorf("write event: %w", err)
	}
	if err := e.rc.Flush(); err != nil {
		return fmt.Errorf("flush event: %w", err)
	}
	return nil
}

// event sends a SubscribeToShardEvent.
func (e *eventWriter) event(ev subscribeEvent) error {
	return e.write(map[string]string{
		":message-type": "event",
		":event-type":   "SubscribeToShardEvent",
		":content-type": "application/json",
	}, ev)
}

// exception sends an exception message and is the stream's last message.
func (e *eventWriter) exception(typ, msg string) error {
	return e.write(map[string]string{
		":message-type":   "exception",
		":exception-type": typ,
		":content-type":   "application/json",
	}, map[string]string{"message": msg})
}

// startSubscription validates a SubscribeToShard request and registers
// the subscription.
func (c *call) startSubscription(ctx context.Context, in subscribeInput) (*subscription, *shard, int, error) {
	s := c.s
	s.mu.Lock()
	defer s.mu.Unlock()
	st, cn, err := s.consumerLocked(consumerInput{ConsumerARN: &in.ConsumerARN})
	if err != nil {
		return nil, nil, 0, err
	}
	sh, err := s.shardLocked(st, in.ShardID)
	if err != nil {
		return nil, nil, 0, err
	}
	if cn.status(c.now) != "ACTIVE" {
		return nil, nil, 0, errf(errResourceInUse, "Consumer %s is not ACTIVE.", cn.arn)
	}
	p := in.StartingPosition
	pos, err := s.startIndex(st, sh, p.Type, p.SequenceNumber, p.Timestamp)
	if err != nil {
		return nil, nil, 0, err
	}
	key := cn.arn + "|" + sh.id
	if old, ok := s.subs[key]; ok {
		if c.now.Sub(old.started) < s.opts.subscribeReuse {
			return nil, nil, 0, errf(errResourceInUse, "Another active subscription exists for consumer %s on shard %s.", cn.arn, sh.id)
		}
		old.cancel()
	}
	sub := &subscription{stream: st, consumer: cn, started: c.now, reset: make(chan struct{})}
	sub.ctx, sub.cancel = context.WithTimeout(ctx, s.opts.subscription)
	s.subs[key] = sub
	return sub, sh, pos, nil
}

// handleSubscribe serves SubscribeToShard as an event stream: an
// initial-response event, then SubscribeToShardEvent events until the
// subscription's time is up, the shard's end is reached or the client
// leaves.
func (s *Server) handleSubscribe(c *call, w http.ResponseWriter, body []byte) {
	var in subscribeInput
	if err := decode(body, &in); err != nil {
		s.writeCallError(w, c.r, err)
		return
	}
	s.countShards(c.op, in.ShardID)
	if err := c.fault(in.ShardID); err != nil {
		s.writeCallError(w, c.r, err)
		return
	}
	sub, sh, pos, err := c.startSubscription(c.r.Context(), in)
	if err != nil {
		s.writeCallError(w, c.r, err)
		return
	}
	defer sub.cancel()
	defer func() {
		s.mu.Lock()
		key := sub.consumer.arn + "|" + sh.id
		if s.subs[key] == sub {
			delete(s.subs, key)
		}
		s.mu.Unlock()
	}()

	w.Header().Set("Content-Type", "application/vnd.amazon.eventstream")
	w.WriteHeader(http.StatusOK)
	ew := &eventWriter{w: w, rc: http.NewResponseController(w), enc: eventstream.NewEncoder()}
	if err := ew.write(map[string]string{
		":message-type": "event",
		":event-type":   "initial-response",
		":content-type": "application/x-amz-json-1.1",
	}, struct{}{}); err != nil {
		return
	}
	if s.pump(sub.ctx, ew, sub, sh, pos) {
		// Reset: end the response without its end, as a broken
		// connection does (HTTP/1.1: the connection is closed; HTTP/2:
		// the stream is reset).
		panic(http.ErrAbortHandler)
	}
}

// ResetSubscriptions breaks the open SubscribeToShard streams of shard
// ("" = of every shard) mid-stream, as a connection reset would, and
// returns how many it broke. Their clients see a read error, not the end
// of the stream.
func (s *Server) ResetSubscriptions(shard string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	n := 0
	for key, sub := range s.subs {
		if shard != "" && !strings.HasSuffix(key, "|"+shard) {
			continue
		}
		select {
		case <-sub.reset:
		default:
			close(sub.reset)
			n++
		}
	}
	return n
}

// Subscriptions returns how many SubscribeToShard streams are open.
func (s *Server) Subscriptions() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.subs)
}

// pump sends events from pos until ctx ends or the shard's end (never,
// with WithoutSubscriptionShardEnd). It
// returns true when the subscription was reset (ResetSubscriptions).
func (s *Server) pump(ctx context.Context, ew *eventWriter, sub *subscription, sh *shard, pos int) bool {
	heartbeat := time.NewTimer(0)
	defer heartbeat.Stop()
	due := true // send an event at once, as AWS does
	maxBytes := s.opts.subscribeEventKB << 10
	for ctx.Err() == nil {
		now := time.Now()
		s.mu.Lock()
		st, ok := s.streams[sub.stream.name]
		if !ok || st != sub.stream {
			s.mu.Unlock()
			_ = ew.exception(errResourceNotFound, fmt.Sprintf("Stream %s was deleted.", sub.stream.name))
			return false
		}
		n, _ := readBatch(sh.records, pos, maxGetRecordsRecords, maxBytes)
		ev := subscribeEvent{Records: wireRecords(sh.records[pos : pos+n])}
		pos += n
		ev.MillisBehindLatest = millisBehind(sh, pos, now)
		end := !sh.open() && pos >= len(sh.records) && !s.opts.noSubscribeEnd
		if end {
			ev.ChildShards = st.childShards(sh)
		} else {
			cont := sh.startSeq
			if pos > 0 {
				cont = sh.records[pos-1].seq
			}
			ev.ContinuationSequenceNumber = &cont
		}
		changed := s.changed
		s.mu.Unlock()
		if n > 0 || end || due {
			if ew.event(ev) != nil {
				return false
			}
			due = false
			heartbeat.Reset(s.opts.heartbeat)
		}
		if end {
			return false
		}
		select {
		case <-sub.reset:
			return true
		default:
		}
		if n > 0 {
			continue
		}
		select {
		case <-ctx.Done():
		case <-s.done:
			return false
		case <-sub.reset:
			return true
		case <-changed:
		case <-heartbeat.C:
			due = true
		}
	}
	return false
}
