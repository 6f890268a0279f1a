package checkpoint

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kinesisio/beam-kinesis/internal/awsclient"
	"github.com/kinesisio/beam-kinesis/internal/backoff"
)

// noSDKRetry turns off the SDK's retries of one call: opening the store
// retries by itself, within its own bound.
func noSDKRetry(o *dynamodb.Options) { o.Retryer = aws.NopRetryer{} }

// ensureTable makes sure s.table exists with the store's key schema and
// is active, creating it when absent.
func (s *dynamoStore) ensureTable(ctx context.Context, o dynamoOptions) error {
	rctx, cancel := context.WithTimeout(ctx, o.reach)
	desc, attempts, err := retryTransient(rctx, o.retry, s.describe)
	timedOut := rctx.Err() != nil && ctx.Err() == nil
	cancel()
	switch {
	case err == nil:
	case timedOut:
		return fmt.Errorf("checkpoint: open %s: no answer within %v (%d attempts): %w; check the endpoint or region, that this machine reaches it, and its AWS credentials",
			s.name(), o.reach, attempts, err)
	case ctx.Err() != nil:
		return fmt.Errorf("checkpoint: open %s: %w", s.name(), err)
	default:
		return fmt.Errorf("checkpoint: open %s: %w; check the region or endpoint, and that this machine's AWS credentials may describe (and create) the table", s.name(), err)
	}
	actx, cancel := context.WithTimeout(ctx, o.active)
	defer cancel()
	if desc == nil {
		if desc, err = s.create(actx, o.retry); err != nil {
			return err
		}
	}
	if err := s.checkKeySchema(desc); err != nil {
		return err
	}
	first := true
	return backoff.Retry{Policy: o.retry, Interrupted: func(error) error {
		return fmt.Errorf("checkpoint: open %s: still %s after %v: %w", s.name(), desc.TableStatus, o.active, actx.Err())
	}}.Do(actx, func(ctx context.Context) error {
		if !first {
			next, _, err := retryTransient(ctx, o.retry, s.describe)
			if err != nil {
				return backoff.Stop(fmt.Errorf("checkpoint: open %s: waiting until it is active: %w", s.name(), err))
			}
			if next != nil { // nil: a new table not visible yet
				desc = next
			}
		}
		first = false
		switch desc.TableStatus {
		case types.TableStatusActive, types.TableStatusUpdating:
			return nil
		case types.TableStatusDeleting, types.TableStatusArchiving, types.TableStatusArchived, types.TableStatusInaccessibleEncryptionCredentials:
			return backoff.Stop(fmt.Errorf("checkpoint: open %s: the table is %s", s.name(), desc.TableStatus))
		}
		return errNotActive
	})
}

// errNotActive is the attempt of a table not active yet.
var errNotActive = errors.New("the table is not active yet")

// describe returns the table's description; nil when it does not exist.
func (s *dynamoStore) describe(ctx context.Context) (*types.TableDescription, error) {
	out, err := s.client.DescribeTable(ctx, &dynamodb.DescribeTableInput{TableName: aws.String(s.table)}, noSDKRetry)
	var nf *types.ResourceNotFoundException
	if errors.As(err, &nf) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if out.Table == nil {
		return nil, fmt.Errorf("DescribeTable returned no table")
	}
	return out.Table, nil
}

// create creates the table, on demand, and returns its description.
// When another process created it meanwhile, that one is described.
func (s *dynamoStore) create(ctx context.Context, p backoff.Policy) (*types.TableDescription, error) {
	in := &dynamodb.CreateTableInput{
		TableName: aws.String(s.table),
		AttributeDefinitions: []types.AttributeDefinition{
			{AttributeName: aws.String(attrApp), AttributeType: types.ScalarAttributeTypeS},
			{AttributeName: aws.String(attrKey), AttributeType: types.ScalarAttributeTypeS},
		},
		KeySchema: []types.KeySchemaElement{
			{AttributeName: aws.String(attrApp), KeyType: types.KeyTypeHash},
			{AttributeName: aws.String(attrKey), KeyType: types.KeyTypeRange},
		},
		BillingMode: types.BillingModePayPerRequest,
	}
	out, _, err := retryTransient(ctx, p, func(ctx context.Context) (*dynamodb.CreateTableOutput, error) {
		return s.client.CreateTable(ctx, in, noSDKRetry)
	})
	var inUse *types.ResourceInUseException
	switch {
	case errors.As(err, &inUse):
		// Created by another process since we looked.
	case err != nil:
		return nil, fmt.Errorf("checkpoint: create %s: %w", s.name(), err)
	case out.TableDescription != nil:
		return out.TableDescription, nil
	}
	var desc *types.TableDescription
	err = backoff.Retry{Policy: p, Interrupted: func(error) error {
		return fmt.Errorf("checkpoint: create %s: the table is not visible: %w", s.name(), ctx.Err())
	}}.Do(ctx, func(ctx context.Context) (err error) {
		if desc, _, err = retryTransient(ctx, p, s.describe); err != nil {
			return backoff.Stop(fmt.Errorf("checkpoint: create %s: %w", s.name(), err))
		}
		if desc == nil {
			return errNotVisible
		}
		return nil
	})
	return desc, err
}

// errNotVisible is the attempt of a new table not visible yet.
var errNotVisible = errors.New("the table is not visible yet")

// checkKeySchema reports a table whose key schema is not the store's,
// with an error wrapping ErrForeign.
func (s *dynamoStore) checkKeySchema(t *types.TableDescription) error {
	attrTypes := map[string]types.ScalarAttributeType{}
	for _, d := range t.AttributeDefinitions {
		attrTypes[aws.ToString(d.AttributeName)] = d.AttributeType
	}
	var have []string
	for _, k := range t.KeySchema {
		name := aws.ToString(k.AttributeName)
		have = append(have, fmt.Sprintf("%s (%s, %s)", name, attrTypes[name], k.KeyType))
	}
	want := []string{"app (S, HASH)", "key (S, RANGE)"}
	if slices.Equal(have, want) {
		return nil
	}
	if len(have) == 0 {
		have = []string{"none"}
	}
	return fmt.Errorf("checkpoint: %s has the key schema %s, not the checkpoint store's %s; name another table: %w",
		s.name(), strings.Join(have, ", "), strings.Join(want, ", "), ErrForeign)
}

// retryTransient calls call until it succeeds, fails with an error that
// is not transient (isTransient), or
// ctx ends, waiting p.Delay(k) before retry k. It returns the number of
// calls made and, when ctx ended, the last error of a call wrapped with
// ctx's.
func retryTransient[T any](ctx context.Context, p backoff.Policy, call func(context.Context) (T, error)) (T, int, error) {
	var v T
	var last error
	k := 0
	err := backoff.Retry{Policy: p, Next: func(_ int, err error, wait time.Duration) (time.Duration, error) {
		if ctx.Err() != nil {
			if last == nil || !errors.Is(err, ctx.Err()) {
				last = err
			}
			return 0, backoff.WithCtxErr(ctx, last)
		}
		last = err
		if !isTransient(err) {
			return 0, err
		}
		return wait, nil
	}}.Do(ctx, func(ctx context.Context) (err error) {
		k++
		v, err = call(ctx)
		return err
	})
	if err != nil {
		var zero T
		return zero, k, err
	}
	return v, k, nil
}

// isTransient reports an error that a retry may cure: transient or
// throttling by awsclient.Classify, except the DynamoDB errors that
// answer the request (the table exists, or a condition failed).
func isTransient(err error) bool {
	var inUse *types.ResourceInUseException
	if errors.As(err, &inUse) || isConditionFailed(err) {
		return false
	}
	c := awsclient.Classify(err)
	return c == awsclient.Transient || c == awsclient.Throttled
}
