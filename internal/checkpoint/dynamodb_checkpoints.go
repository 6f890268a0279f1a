package checkpoint

import (
	"context"
	"fmt"
	"github.com/kinesisio/beam-kinesis/internal/backoff"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// putFenced writes cp of app on condition that the stored checkpoint, if
// any, has no newer epoch than cp's. It reports false when it has.
func (s *dynamoStore) putFenced(ctx context.Context, app string, cp Checkpoint) (bool, error) {
	_, err := s.client.PutItem(ctx, &dynamodb.PutItemInput{
		TableName:                 aws.String(s.table),
		Item:                      checkpointItem(app, cp),
		ConditionExpression:       aws.String("attribute_not_exists(#epoch) OR #epoch <= :epoch"),
		ExpressionAttributeNames:  map[string]string{"#epoch": attrEpoch},
		ExpressionAttributeValues: item{":epoch": attrN(cp.Epoch)},
	})
	if isConditionFailed(err) {
		return false, nil
	}
	if err != nil {
		return false, fmt.Errorf("checkpoint: %s: write the checkpoint of shard %s of stream %s of %s: %w", s.name(), cp.ShardID, cp.Stream, app, err)
	}
	return true, nil
}

// fenced is the ErrFenced of writing cp of app, naming the stored epoch
// when it can read it.
func (s *dynamoStore) fenced(ctx context.Context, app string, cp Checkpoint) error {
	got, err := s.Get(ctx, app, cp.Stream, []string{cp.ShardID})
	if stored, ok := got[cp.ShardID]; ok && err == nil {
		return fencedError(app, cp, stored.Epoch)
	}
	return fmt.Errorf("checkpoint: commit of shard %s of stream %s of application %s under epoch %d: %w",
		cp.ShardID, cp.Stream, app, cp.Epoch, ErrFenced)
}

// Commit implements Store.
func (s *dynamoStore) Commit(ctx context.Context, l Lease, cp Checkpoint) error {
	if err := validateCheckpoint(l.App, cp); err != nil {
		return err
	}
	cp.Epoch, cp.Owner, cp.Updated = l.Epoch, l.Owner, writeTime(cp)
	ok, err := s.putFenced(ctx, l.App, cp)
	if err != nil || ok {
		return err
	}
	return s.fenced(ctx, l.App, cp)
}

// Set implements Store. It keeps cp.Owner, naming who set it, and takes
// the epoch of the lease (0 when there is none), writing on condition
// that the stored checkpoint has no newer one; when it has, and the
// lease's epoch has not changed meanwhile (the stored checkpoint is newer
// than the lease, which happens only when the lease was deleted after it
// was written), ErrFenced.
func (s *dynamoStore) Set(ctx context.Context, app string, cp Checkpoint) error {
	if err := validateCheckpoint(app, cp); err != nil {
		return err
	}
	cp.Updated = writeTime(cp)
	l, err := s.getLease(ctx, app, cp.Stream)
	if err != nil {
		return err
	}
	for range casAttempts {
		cp.Epoch = leaseEpoch(l)
		ok, err := s.putFenced(ctx, app, cp)
		if err != nil || ok {
			return err
		}
		if l, err = s.getLease(ctx, app, cp.Stream); err != nil {
			return err
		}
		if leaseEpoch(l) == cp.Epoch {
			return s.fenced(ctx, app, cp)
		}
	}
	return fmt.Errorf("checkpoint: %s: set the checkpoint of shard %s of stream %s of %s: the lease changed under each of %d attempts",
		s.name(), cp.ShardID, cp.Stream, app, casAttempts)
}

// query calls each with the items of app whose sort key begins with
// prefix, page by page (at most maxPages). projection, when not empty,
// names the only attributes to read.
func (s *dynamoStore) query(ctx context.Context, app, prefix string, projection string, each func(item) error) error {
	in := &dynamodb.QueryInput{
		TableName:                 aws.String(s.table),
		KeyConditionExpression:    aws.String("#app = :app AND begins_with(#key, :prefix)"),
		ExpressionAttributeNames:  map[string]string{"#app": attrApp, "#key": attrKey},
		ExpressionAttributeValues: item{":app": attrS(app), ":prefix": attrS(prefix)},
		ConsistentRead:            aws.Bool(true),
	}
	if prefix == "" {
		in.KeyConditionExpression = aws.String("#app = :app")
		delete(in.ExpressionAttributeValues, ":prefix")
	}
	if projection != "" {
		in.ProjectionExpression = aws.String(projection)
	}
	if s.limit > 0 {
		in.Limit = aws.Int32(s.limit)
	}
	for range maxPages {
		out, err := s.client.Query(ctx, in)
		if err != nil {
			return fmt.Errorf("checkpoint: %s: query %s: %w", s.name(), app, err)
		}
		for _, it := range out.Items {
			if err := each(it); err != nil {
				return err
			}
		}
		if len(out.LastEvaluatedKey) == 0 {
			return nil
		}
		in.ExclusiveStartKey = out.LastEvaluatedKey
	}
	return fmt.Errorf("checkpoint: %s: query %s: more than %d pages", s.name(), app, maxPages)
}

// Load implements Store.
func (s *dynamoStore) Load(ctx context.Context, app, stream string) ([]Checkpoint, error) {
	if err := validateAppName(app); err != nil {
		return nil, err
	}
	prefix := shardKey("", "")
	if stream != "" {
		if err := validateName("stream name", stream); err != nil {
			return nil, err
		}
		prefix = shardKey(stream, "")
	}
	var all []Checkpoint
	err := s.query(ctx, app, prefix, "", func(it item) error {
		cp, err := s.decodeCheckpoint(it)
		if err == nil {
			all = append(all, cp)
		}
		return err
	})
	if err != nil {
		return nil, err
	}
	// The leases are read after the checkpoints: a Reset in between
	// raised the floor over what it did not delete.
	var leases []Lease
	if stream != "" {
		l, err := s.getLease(ctx, app, stream)
		if err != nil {
			return nil, err
		}
		if l != nil {
			leases = append(leases, *l)
		}
	} else if leases, err = s.Leases(ctx, app); err != nil {
		return nil, err
	}
	byStream := map[string]*Lease{}
	for i := range leases {
		byStream[leases[i].Stream] = &leases[i]
	}
	var out []Checkpoint
	for _, cp := range all {
		out = append(out, counting(byStream[cp.Stream], []Checkpoint{cp})...)
	}
	sortCheckpoints(out)
	return out, nil
}

// Get implements Store, with BatchGetItem calls of up to 100 keys.
func (s *dynamoStore) Get(ctx context.Context, app, stream string, shardIDs []string) (map[string]Checkpoint, error) {
	if err := validateAppName(app); err != nil {
		return nil, err
	}
	if err := validateName("stream name", stream); err != nil {
		return nil, err
	}
	var keys []item
	seen := map[string]bool{}
	for _, id := range shardIDs {
		if err := validateName("shard ID", id); err != nil {
			return nil, err
		}
		if !seen[id] { // BatchGetItem refuses duplicate keys
			seen[id] = true
			keys = append(keys, itemKey(app, shardKey(stream, id)))
		}
	}
	out := make(map[string]Checkpoint, len(keys))
	for len(keys) > 0 {
		n := min(len(keys), 100)
		if err := s.batchGet(ctx, keys[:n], func(it item) error {
			cp, err := s.decodeCheckpoint(it)
			if err == nil {
				out[cp.ShardID] = cp
			}
			return err
		}); err != nil {
			return nil, err
		}
		keys = keys[n:]
	}
	l, err := s.getLease(ctx, app, stream)
	if err != nil {
		return nil, err
	}
	return l.drop(out), nil
}

// batchGet reads keys (at most 100) consistently, calling each with every
// item found, and retries the unprocessed keys (at most batchRounds).
func (s *dynamoStore) batchGet(ctx context.Context, keys []item, each func(item) error) error {
	req := map[string]types.KeysAndAttributes{s.table: {Keys: keys, ConsistentRead: aws.Bool(true)}}
	for k := 1; k <= batchRounds; k++ {
		out, err := s.client.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: req})
		if err != nil {
			return fmt.Errorf("checkpoint: %s: read checkpoints: %w", s.name(), err)
		}
		for _, it := range out.Responses[s.table] {
			if err := each(it); err != nil {
				return err
			}
		}
		if len(out.UnprocessedKeys[s.table].Keys) == 0 {
			return nil
		}
		req = out.UnprocessedKeys
		if err := backoff.Sleep(ctx, batchRetry.Delay(k)); err != nil {
			return fmt.Errorf("checkpoint: %s: read checkpoints: %w", s.name(), err)
		}
	}
	return fmt.Errorf("checkpoint: %s: read checkpoints: keys still unprocessed after %d rounds", s.name(), batchRounds)
}

// Reset implements Store: it deletes app's checkpoints, then releases
// each of its leases under a new epoch, which becomes the lease's floor,
// with one conditional update each. A commit by a holder that lands
// after the deletes is under an epoch below the floor, which reads
// ignore and any later lease commits over; a Reset cut short leaves
// some leases as they were (run it again to finish).
func (s *dynamoStore) Reset(ctx context.Context, app string) error {
	if err := validateAppName(app); err != nil {
		return err
	}
	var keys []item
	err := s.query(ctx, app, shardKey("", ""), "#app, #key", func(it item) error {
		keys = append(keys, itemKey(app, (&itemReader{it: it}).s(attrKey, false)))
		return nil
	})
	if err != nil {
		return err
	}
	leases, err := s.Leases(ctx, app)
	if err != nil {
		return err
	}
	for len(keys) > 0 {
		n := min(len(keys), 25)
		if err := s.batchDelete(ctx, keys[:n]); err != nil {
			return fmt.Errorf("checkpoint: %s: reset %s: %w", s.name(), app, err)
		}
		keys = keys[n:]
	}
	for _, l := range leases {
		c := condition{expr: "attribute_exists(#epoch)", names: map[string]string{"#epoch": attrEpoch}}
		_, _, err := s.updateLease(ctx, l, c, "SET #epoch = #epoch + :one, #floor = #epoch + :one, #procs = :none REMOVE #owner, #stop, #sink",
			map[string]string{"#floor": attrFloor, "#owner": attrOwner, "#stop": attrStopEpoch, "#sink": attrSinkEpoch, "#procs": attrProcs},
			item{":one": attrN(1), ":none": &types.AttributeValueMemberM{Value: item{}}})
		if err != nil {
			return fmt.Errorf("checkpoint: %s: reset %s: the checkpoints are gone, but releasing the lease of stream %s under a new epoch failed (run reset again): %w", s.name(), app, l.Stream, err)
		}
	}
	return nil
}

// batchDelete deletes keys (at most 25), retrying the unprocessed ones
// (at most batchRounds).
func (s *dynamoStore) batchDelete(ctx context.Context, keys []item) error {
	reqs := make([]types.WriteRequest, len(keys))
	for i, k := range keys {
		reqs[i] = types.WriteRequest{DeleteRequest: &types.DeleteRequest{Key: k}}
	}
	req := map[string][]types.WriteRequest{s.table: reqs}
	for k := 1; k <= batchRounds; k++ {
		out, err := s.client.BatchWriteItem(ctx, &dynamodb.BatchWriteItemInput{RequestItems: req})
		if err != nil {
			return err
		}
		if len(out.UnprocessedItems[s.table]) == 0 {
			return nil
		}
		req = out.UnprocessedItems
		if err := backoff.Sleep(ctx, batchRetry.Delay(k)); err != nil {
			return err
		}
	}
	return fmt.Errorf("items still unprocessed after %d rounds", batchRounds)
}
