package checkpoint

import (
	"context"
	"fmt"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
)

// getLease reads app's lease, consistently; nil when there is none.
func (s *dynamoStore) getLease(ctx context.Context, app string) (*Lease, error) {
	out, err := s.client.GetItem(ctx, &dynamodb.GetItemInput{
		TableName:      aws.String(s.table),
		Key:            itemKey(app, leaseKey),
		ConsistentRead: aws.Bool(true),
	})
	if err != nil {
		return nil, fmt.Errorf("checkpoint: %s: read the lease of %s: %w", s.name(), app, err)
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
// stale lease is pinned by its heartbeat and StaleAfter too, which its
// holder may renew.
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
	default: // acquireStale
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
func (s *dynamoStore) Acquire(ctx context.Context, app, owner, job string, staleAfter time.Duration, now time.Time) (Lease, error) {
	if err := validateAcquire(app, owner, staleAfter); err != nil {
		return Lease{}, err
	}
	for range casAttempts {
		cur, err := s.getLease(ctx, app)
		if err != nil {
			return Lease{}, err
		}
		next, kind, err := decideAcquire(cur, app, owner, job, staleAfter, now)
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
			return Lease{}, fmt.Errorf("checkpoint: %s: acquire %s: %w", s.name(), app, err)
		}
	}
	return Lease{}, fmt.Errorf("checkpoint: %s: acquire %s: the lease changed under each of %d attempts", s.name(), app, casAttempts)
}

// holderCondition holds while the lease is still l's.
func holderCondition(l Lease) condition {
	return condition{
		expr:   "#owner = :owner AND #epoch = :epoch",
		names:  map[string]string{"#owner": attrOwner, "#epoch": attrEpoch},
		values: item{":owner": attrS(l.Owner), ":epoch": attrN(l.Epoch)},
	}
}

// updateLease applies update to l's lease item on condition that it is
// still l's. It reports false when the condition failed.
func (s *dynamoStore) updateLease(ctx context.Context, l Lease, update string, names map[string]string, values item) (bool, error) {
	if l.Owner == "" {
		return false, nil
	}
	c := holderCondition(l)
	for k, v := range names {
		c.names[k] = v
	}
	for k, v := range values {
		c.values[k] = v
	}
	_, err := s.client.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName:                 aws.String(s.table),
		Key:                       itemKey(l.App, leaseKey),
		UpdateExpression:          aws.String(update),
		ConditionExpression:       aws.String(c.expr),
		ExpressionAttributeNames:  c.names,
		ExpressionAttributeValues: c.values,
	})
	if isConditionFailed(err) {
		return false, nil
	}
	return err == nil, err
}

// Heartbeat implements Store.
func (s *dynamoStore) Heartbeat(ctx context.Context, l Lease, now time.Time) error {
	if err := validateAppName(l.App); err != nil {
		return err
	}
	ok, err := s.updateLease(ctx, l, "SET #hb = :now", map[string]string{"#hb": attrHeartbeat}, item{":now": attrN(toMillis(now))})
	if err != nil {
		return fmt.Errorf("checkpoint: %s: heartbeat of %s: %w", s.name(), l.App, err)
	}
	if ok {
		return nil
	}
	cur, err := s.getLease(ctx, l.App)
	if err != nil {
		return fmt.Errorf("checkpoint: heartbeat of application %s by run %s under epoch %d: %w (reading the lease then failed: %v)", l.App, l.Owner, l.Epoch, ErrLeaseLost, err)
	}
	return lostError("heartbeat", l, cur)
}

// Release implements Store. Releasing a lease that l released already
// (same epoch, no owner since) succeeds, so that a retry does.
func (s *dynamoStore) Release(ctx context.Context, l Lease) error {
	if err := validateAppName(l.App); err != nil {
		return err
	}
	ok, err := s.updateLease(ctx, l, "REMOVE #owner", nil, nil)
	if err != nil {
		return fmt.Errorf("checkpoint: %s: release %s: %w", s.name(), l.App, err)
	}
	if ok {
		return nil
	}
	cur, err := s.getLease(ctx, l.App)
	if err != nil {
		return err
	}
	if released(cur, l) {
		return nil
	}
	return lostError("release", l, cur)
}

// ReadLease implements Store.
func (s *dynamoStore) ReadLease(ctx context.Context, app string) (Lease, bool, error) {
	if err := validateAppName(app); err != nil {
		return Lease{}, false, err
	}
	cur, err := s.getLease(ctx, app)
	if err != nil || cur == nil {
		return Lease{}, false, err
	}
	return *cur, true, nil
}

// leaseEpoch is the epoch of lease l, 0 when there is none.
func leaseEpoch(l *Lease) int64 {
	if l == nil {
		return 0
	}
	return l.Epoch
}
