package checkpoint_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/kinesisio/beam-kinesis/internal/awsclient"
	"github.com/kinesisio/beam-kinesis/internal/checkpoint"
	"github.com/kinesisio/beam-kinesis/internal/checkpoint/checkpointtest"
	"github.com/kinesisio/beam-kinesis/testing/emulators"
)

// dynalite returns the settings that reach the shared dynalite (TestMain
// puts static credentials in the environment).
func dynalite(t testing.TB) awsclient.Settings {
	t.Helper()
	e := emulators.Require(t, emulators.Dynalite)
	return awsclient.Settings{Region: "us-east-1", Endpoint: e.Endpoint}
}

// freshTable returns a table name no other test uses.
func freshTable(t *testing.T) string {
	b := make([]byte, 6)
	rand.Read(b)
	return "ckpt-test-" + hex.EncodeToString(b)
}

func openDynamoDB(t *testing.T, table string, conn awsclient.Settings) checkpoint.Store {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	s, err := checkpoint.NewDynamoDB(ctx, table, conn)
	if err != nil {
		t.Fatalf("NewDynamoDB(%s): %v", table, err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// sdkClient is a plain DynamoDB client of the emulator, for what the
// store does not do.
func sdkClient(t *testing.T, conn awsclient.Settings) *dynamodb.Client {
	t.Helper()
	cfg, err := awsclient.LoadConfig(context.Background(), conn)
	if err != nil {
		t.Fatal(err)
	}
	return dynamodb.NewFromConfig(cfg, func(o *dynamodb.Options) { o.BaseEndpoint = aws.String(conn.Endpoint) })
}

func TestDynamoDBConformance(t *testing.T) {
	conn := dynalite(t)
	checkpointtest.Run(t, func(t *testing.T) checkpoint.Store {
		return openDynamoDB(t, freshTable(t), conn)
	})
}

// TestDynamoDBConformancePaged runs the suite with Query pages of 2
// items, so that Load and Reset follow LastEvaluatedKey.
func TestDynamoDBConformancePaged(t *testing.T) {
	conn := dynalite(t)
	checkpointtest.Run(t, func(t *testing.T) checkpoint.Store {
		s, err := checkpoint.NewDynamoDBPaged(context.Background(), freshTable(t), conn, 2)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { s.Close() })
		return s
	})
}

func TestDynamoDBOpenSpec(t *testing.T) {
	conn := dynalite(t)
	spec := checkpoint.Spec{Kind: checkpoint.DynamoDB, Table: freshTable(t), Conn: conn}
	s, err := checkpoint.Open(context.Background(), spec)
	if err != nil {
		t.Fatalf("Open(%v): %v", spec, err)
	}
	s.Close()
}

func TestDynamoDBCreatesOnDemandTable(t *testing.T) {
	conn := dynalite(t)
	table := freshTable(t)
	openDynamoDB(t, table, conn)
	out, err := sdkClient(t, conn).DescribeTable(context.Background(), &dynamodb.DescribeTableInput{TableName: aws.String(table)})
	if err != nil {
		t.Fatal(err)
	}
	if out.Table.TableStatus != types.TableStatusActive {
		t.Errorf("table status %s, want ACTIVE", out.Table.TableStatus)
	}
	if bm := out.Table.BillingModeSummary; bm == nil || bm.BillingMode != types.BillingModePayPerRequest {
		t.Errorf("billing mode %+v, want PAY_PER_REQUEST", bm)
	}
}

// TestDynamoDBConcurrentOpen opens one new table from several goroutines
// at once (as the workers of one job do): one creates it, the others find
// it being created or created.
func TestDynamoDBConcurrentOpen(t *testing.T) {
	conn := dynalite(t)
	table := freshTable(t)
	const n = 6
	stores := make([]checkpoint.Store, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			stores[i], errs[i] = checkpoint.NewDynamoDB(ctx, table, conn)
		})
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("NewDynamoDB %d: %v", i, err)
		}
		defer stores[i].Close()
	}
	ctx := context.Background()
	l, err := stores[0].Acquire(ctx, checkpoint.Lease{App: "app", Stream: "stream", Owner: "run", Job: "job", StaleAfter: time.Minute}, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	if err := stores[1].Commit(ctx, l, checkpoint.Checkpoint{Stream: "s", ShardID: "x", Seq: "7"}); err != nil {
		t.Fatal(err)
	}
	got, err := stores[n-1].Load(ctx, "app", "")
	if err != nil || len(got) != 1 || got[0].Seq != "7" {
		t.Errorf("Load from another store = %+v, %v", got, err)
	}
}

func TestDynamoDBForeignTable(t *testing.T) {
	conn := dynalite(t)
	client := sdkClient(t, conn)
	ctx := context.Background()
	s := func(name string, typ types.ScalarAttributeType) types.AttributeDefinition {
		return types.AttributeDefinition{AttributeName: aws.String(name), AttributeType: typ}
	}
	k := func(name string, typ types.KeyType) types.KeySchemaElement {
		return types.KeySchemaElement{AttributeName: aws.String(name), KeyType: typ}
	}
	for _, tc := range []struct {
		name   string
		attrs  []types.AttributeDefinition
		keys   []types.KeySchemaElement
		schema string
	}{
		{"hash only", []types.AttributeDefinition{s("id", types.ScalarAttributeTypeS)},
			[]types.KeySchemaElement{k("id", types.KeyTypeHash)}, "id (S, HASH)"},
		{"app without range", []types.AttributeDefinition{s("app", types.ScalarAttributeTypeS)},
			[]types.KeySchemaElement{k("app", types.KeyTypeHash)}, "app (S, HASH)"},
		{"numeric range key", []types.AttributeDefinition{s("app", types.ScalarAttributeTypeS), s("key", types.ScalarAttributeTypeN)},
			[]types.KeySchemaElement{k("app", types.KeyTypeHash), k("key", types.KeyTypeRange)}, "app (S, HASH), key (N, RANGE)"},
		{"other range key", []types.AttributeDefinition{s("app", types.ScalarAttributeTypeS), s("sk", types.ScalarAttributeTypeS)},
			[]types.KeySchemaElement{k("app", types.KeyTypeHash), k("sk", types.KeyTypeRange)}, "app (S, HASH), sk (S, RANGE)"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			table := freshTable(t)
			_, err := client.CreateTable(ctx, &dynamodb.CreateTableInput{
				TableName: aws.String(table), AttributeDefinitions: tc.attrs, KeySchema: tc.keys,
				BillingMode: types.BillingModePayPerRequest,
			})
			if err != nil {
				t.Fatal(err)
			}
			_, err = checkpoint.NewDynamoDB(ctx, table, conn)
			if !errors.Is(err, checkpoint.ErrForeign) {
				t.Fatalf("NewDynamoDB on a foreign table = %v, want ErrForeign", err)
			}
			for _, w := range []string{table, tc.schema} {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not name %s", err, w)
				}
			}
			out, err := client.Scan(ctx, &dynamodb.ScanInput{TableName: aws.String(table)})
			if err != nil || out.Count != 0 {
				t.Errorf("the foreign table holds %d items (%v), want none", out.Count, err)
			}
		})
	}
}

func TestDynamoDBCorruptItem(t *testing.T) {
	conn := dynalite(t)
	table := freshTable(t)
	s := openDynamoDB(t, table, conn)
	ctx := context.Background()
	_, err := sdkClient(t, conn).PutItem(ctx, &dynamodb.PutItemInput{
		TableName: aws.String(table),
		Item: map[string]types.AttributeValue{
			"app": &types.AttributeValueMemberS{Value: "app"}, "key": &types.AttributeValueMemberS{Value: "lease#stream"},
			"stream": &types.AttributeValueMemberS{Value: "stream"},
			"epoch":  &types.AttributeValueMemberS{Value: "one"},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	_, _, err = s.ReadLease(ctx, "app", "stream")
	if err == nil || !strings.Contains(err.Error(), "corrupt") || !strings.Contains(err.Error(), "epoch") || !strings.Contains(err.Error(), table) {
		t.Errorf("ReadLease of a corrupt item = %v, want an error naming the table, the item and epoch", err)
	}
	if _, err := s.Acquire(ctx, checkpoint.Lease{App: "app", Stream: "stream", Owner: "run", Job: "job", StaleAfter: time.Minute}, time.Now()); err == nil {
		t.Errorf("Acquire over a corrupt lease succeeded")
	}
}

// TestDynamoDBClosedPort opens a store on a port nobody listens on: it
// must give up within its bound, with a message that names the table and
// the endpoint.
func TestDynamoDBClosedPort(t *testing.T) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	endpoint := "http://" + l.Addr().String()
	l.Close()
	const bound = 1500 * time.Millisecond
	start := time.Now()
	_, err = checkpoint.NewDynamoDBWithin(context.Background(), "ckpt-closed", awsclient.Settings{Region: "us-east-1", Endpoint: endpoint}, bound)
	took := time.Since(start)
	if err == nil {
		t.Fatal("NewDynamoDB on a closed port succeeded")
	}
	t.Logf("after %v: %v", took, err)
	if took < bound/2 || took > bound+3*time.Second {
		t.Errorf("gave up after %v, want about %v", took, bound)
	}
	for _, w := range []string{"DynamoDB table ckpt-closed", endpoint, "connection refused", "check the endpoint"} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("error %q does not name %q", err, w)
		}
	}
	if errors.Is(err, checkpoint.ErrForeign) {
		t.Errorf("error is ErrForeign")
	}
}

func TestDynamoDBInvalidTable(t *testing.T) {
	if _, err := checkpoint.NewDynamoDB(context.Background(), "a/b", awsclient.Settings{Region: "us-east-1", Endpoint: "http://127.0.0.1:1"}); err == nil {
		t.Error("NewDynamoDB with an invalid table name succeeded")
	}
}
