package checkpoint

import (
	"context"
	"fmt"
	"strconv"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kinesisio/beam-kinesis/internal/procid"
)

// getLease reads the lease of app and stream, consistently; nil when
// there is none.
func (s *dynamoStore) getLease(ctx context.Context, app, stream string) (*Lease, error) {
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            itemKey(app, leaseKey(stream)),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %s: read the lease of application %s, stream %s: %w", s.name(), app, stream, err)
	}
	if len(out.Item) == 0 {
		return nil, nil
	}
	l, err := s.decodeLease(out.Item)
	if err != nil {
		return nil, err
	}
	return &l, nil
}

// condition is a condition expression with its names and values.
type condition struct {
	expr   string
	names  map[string]string
	values item
}

// acquireCondition is the condition under which the lease Acquire read,
// cur, is still the one it decided on (kind): the write takes the lease
// only if nobody changed it since. Every change of owner increments the
// epoch, so the epoch with the owner (or its absence) pins the lease; a
// stale or dead one is pinned by its heartbeat and StaleAfter too, which
// its holder may renew.
func acquireCondition(kind acquireKind, cur *Lease) condition {
	if kind == acquireNew {
		return condition{expr: "attribute_not_exists(#app)", names: map[string]string{"#app": attrApp}}
	}
	c := condition{
		names:  map[string]string{"#epoch": attrEpoch, "#owner": attrOwner},
		values: item{":epoch": attrN(cur.Epoch)},
	}
	switch kind {
	case acquireReleased:
		c.expr = "#epoch = :epoch AND attribute_not_exists(#owner)"
	case acquireRetry:
		c.expr = "#epoch = :epoch AND #owner = :owner"
		c.values[":owner"] = attrS(cur.Owner)
	default: // acquireStale, acquireDead
		c.expr = "#epoch = :epoch AND #owner = :owner AND #hb = :hb AND #stale = :stale"
		c.names["#hb"], c.names["#stale"] = attrHeartbeat, attrStaleAfter
		c.values[":owner"] = attrS(cur.Owner)
		c.values[":hb"] = attrN(toMillis(cur.Heartbeat))
		c.values[":stale"] = attrN(cur.StaleAfter.Milliseconds())
	}
	return c
}

// Acquire implements Store: it reads the lease, decides as the directory
// store does, and writes the new lease on condition that the lease is
// still the one read; when it is not, it reads again (a bounded number of
// times).
func (s *dynamoStore) Acquire(ctx context.Context, want Lease, now time.Time) (Lease, error) {
	if err := validateAcquire(want); err != nil {
		return Lease{}, err
	}
	for range casAttempts {
		cur, err := s.getLease(ctx, want.App, want.Stream)
		if err != nil {
			return Lease{}, err
		}
		next, kind, err := decideAcquire(cur, want, now)
		if err != nil {
			return Lease{}, err
		}
		c := acquireCondition(kind, cur)
		_, err = s.client.PutItem(ctx, &dynamodb.PutItemInput{
			TableName:                 aws.String(s.table),
			Item:                      leaseItem(next),
			ConditionExpression:       aws.String(c.expr),
			ExpressionAttributeNames:  c.names,
			ExpressionAttributeValues: c.values,
		})
		if err == nil {
			return next, nil
		}
		if !isConditionFailed(err) {
			return Lease{}, fmt.Errorf("checkpoint: %s: acquire %s: %w", s.name(), want.Name(), err)
		}
	}
	return Lease{}, fmt.Errorf("checkpoint: %s: acquire %s: the lease changed under each of %d attempts", s.name(), want.Name(), casAttempts)
}

// holderCondition holds while the lease is still l's.
func holderCondition(l Lease) condition {
	return condition{
		expr:   "#owner = :owner AND #epoch = :epoch",
		names:  map[string]string{"#owner": attrOwner, "#epoch": attrEpoch},
		values: item{":owner": attrS(l.Owner), ":epoch": attrN(l.Epoch)},
	}
}

// updateLease applies update to the lease item of l on condition c (with
// the update's names and values added), returning the item as stored
// after it. It reports false when the condition failed.
func (s *dynamoStore) updateLease(ctx context.Context, l Lease, c condition, update string, names map[string]string, values item) (*Lease, bool, error) {
	for k, v := range names {
		c.names[k] = v
	}
	if len(values) > 0 && c.values == nil {
		c.values = item{}
	}
	for k, v := range values {
		c.values[k] = v
	}
	in := &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       itemKey(l.App, leaseKey(l.Stream)),
		UpdateExpression:          aws.String(update),
		ConditionExpression:       aws.String(c.expr),
		ExpressionAttributeNames:  c.names,
		ExpressionAttributeValues: c.values,
		ReturnValues:              types.ReturnValueAllNew,
	}
	if len(c.values) == 0 {
		in.ExpressionAttributeValues = nil
	}
	out, err := s.client.UpdateItem(ctx, in)
	if isConditionFailed(err) {
		return nil, false, nil
	}
	if err != nil {
		return nil, false, err
	}
	got, err := s.decodeLease(out.Attributes)
	if err != nil {
		return nil, false, err
	}
	return &got, true, nil
}

// lost is the ErrLeaseLost of op by l, describing the lease as it is now.
func (s *dynamoStore) lost(ctx context.Context, op string, l Lease) error {
	cur, err := s.getLease(ctx, l.App, l.Stream)
	if err != nil {
		return fmt.Errorf("checkpoint: %s of %s by run %s under epoch %d: %w (reading the lease then failed: %v)", op, l.Name(), l.Owner, l.Epoch, ErrLeaseLost, err)
	}
	return lostError(op, l, cur)
}

// Heartbeat implements Store.
func (s *dynamoStore) Heartbeat(ctx context.Context, l Lease, me procid.ID, now time.Time) (Lease, error) {
	if err := validateLeaseName(l.App, l.Stream); err != nil {
		return Lease{}, err
	}
	if l.Owner == "" {
		return Lease{}, lostError("heartbeat", l, nil)
	}
	update := "SET #hb = :now, #procs.#me = :now"
	names := map[string]string{"#hb": attrHeartbeat, "#procs": attrProcs, "#me": procKey(me)}
	remove := ""
	for i, p := range l.Procs {
		if p.ID != me && droppable(p, l, now) {
			n := "#old" + strconv.Itoa(i)
			names[n] = procKey(p.ID)
			if remove != "" {
				remove += ", "
			}
			remove += "#procs." + n
		}
	}
	if remove != "" {
		update += " REMOVE " + remove
	}
	got, ok, err := s.updateLease(ctx, l, holderCondition(l), update, names, item{":now": attrN(toMillis(now))})
	if err != nil {
		return Lease{}, fmt.Errorf("checkpoint: %s: heartbeat of %s: %w", s.name(), l.Name(), err)
	}
	if ok {
		return *got, nil
	}
	return Lease{}, s.lost(ctx, "heartbeat", l)
}

// Release implements Store. Releasing a lease that l released already
// (same epoch, no owner since) succeeds, so that a retry does.
func (s *dynamoStore) Release(ctx context.Context, l Lease) error {
	if err := validateLeaseName(l.App, l.Stream); err != nil {
		return err
	}
	if l.Owner == "" {
		return lostError("release", l, nil)
	}
	_, ok, err := s.updateLease(ctx, l, holderCondition(l), "REMOVE #owner", nil, nil)
	if err != nil {
		return fmt.Errorf("checkpoint: %s: release %s: %w", s.name(), l.Name(), err)
	}
	if ok {
		return nil
	}
	cur, err := s.getLease(ctx, l.App, l.Stream)
	if err != nil {
		return err
	}
	if released(cur, l) {
		return nil
	}
	return lostError("release", l, cur)
}

// MarkSink implements Store.
func (s *dynamoStore) MarkSink(ctx context.Context, l Lease) error {
	if err := validateLeaseName(l.App, l.Stream); err != nil {
		return err
	}
	c := condition{expr: "#epoch = :epoch", names: map[string]string{"#epoch": attrEpoch}, values: item{":epoch": attrN(l.Epoch)}}
	_, ok, err := s.updateLease(ctx, l, c, "SET #sink = :epoch", map[string]string{"#sink": attrSinkEpoch}, nil)
	if err != nil {
		return fmt.Errorf("checkpoint: %s: mark the sink of %s: %w", s.name(), l.Name(), err)
	}
	if !ok {
		return notHeldError(l.App, l.Stream)
	}
	return nil
}

// RequestStop implements Store.
func (s *dynamoStore) RequestStop(ctx context.Context, app, stream string) ([]Lease, error) {
	var leases []Lease
	if stream != "" {
		if err := validateLeaseName(app, stream); err != nil {
			return nil, err
		}
		leases = []Lease{{App: app, Stream: stream}}
	} else {
		var err error
		if leases, err = s.Leases(ctx, app); err != nil {
			return nil, err
		}
	}
	var asked []Lease
	for _, l := range leases {
		c := condition{expr: "attribute_exists(#owner)", names: map[string]string{"#owner": attrOwner}}
		got, ok, err := s.updateLease(ctx, l, c, "SET #stop = #epoch", map[string]string{"#stop": attrStopEpoch, "#epoch": attrEpoch}, nil)
		if err != nil {
			return asked, fmt.Errorf("checkpoint: %s: ask the holder of %s to stop: %w", s.name(), l.Name(), err)
		}
		if ok {
			asked = append(asked, *got)
		}
	}
	if len(asked) == 0 {
		return nil, notHeldError(app, stream)
	}
	return asked, nil
}

// ReadLease implements Store.
func (s *dynamoStore) ReadLease(ctx context.Context, app, stream string) (Lease, bool, error) {
	if err := validateLeaseName(app, stream); err != nil {
		return Lease{}, false, err
	}
	cur, err := s.getLease(ctx, app, stream)
	if err != nil || cur == nil {
		return Lease{}, false, err
	}
	return *cur, true, nil
}

// Leases implements Store.
func (s *dynamoStore) Leases(ctx context.Context, app string) ([]Lease, error) {
	if err := validateAppName(app); err != nil {
		return nil, err
	}
	var out []Lease
	err := s.query(ctx, app, leaseKey(""), "", func(it item) error {
		l, err := s.decodeLease(it)
		if err == nil {
			out = append(out, l)
		}
		return err
	})
	return out, err
}

// leaseEpoch is the epoch of lease l, 0 when there is none.
func leaseEpoch(l *Lease) int64 {
	if l == nil {
		return 0
	}
	return l.Epoch
}
