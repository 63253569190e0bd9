package dynamosuppression_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/mailflow/mailflow/suppression"
	"github.com/mailflow/mailflow/suppression/dynamosuppression"
	"github.com/mailflow/mailflow/suppression/suppressiontest"
	"github.com/mailflow/mailflow/testkit"
)

var seq atomic.Int64

func newTable(t *testing.T, client *dynamodb.Client) string {
	t.Helper()
	name := fmt.Sprintf("suppressions-%d", seq.Add(1))
	if err := dynamosuppression.CreateTable(context.Background(), client, name); err != nil {
		t.Fatal(err)
	}
	return name
}

// TestConformance runs the suppression suite against dynalite over the
// DynamoDB wire protocol.
func TestConformance(t *testing.T) {
	t.Parallel()
	client := dynamodb.NewFromConfig(testkit.AWSConfig(testkit.Dynalite(t)))
	suppressiontest.Run(t, func(t *testing.T) suppression.List {
		l, err := dynamosuppression.New(client, newTable(t, client))
		if err != nil {
			t.Fatal(err)
		}
		return l
	})
}

// stingy passes requests to DynamoDB but, like a throttled table, hands
// back all but one key of every BatchGetItem request as unprocessed.
type stingy struct {
	*dynamodb.Client
	calls int
}

func (s *stingy) BatchGetItem(ctx context.Context, in *dynamodb.BatchGetItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.BatchGetItemOutput, error) {
	s.calls++
	for table, ka := range in.RequestItems {
		if len(ka.Keys) > 100 {
			return nil, fmt.Errorf("%d keys in one request", len(ka.Keys))
		}
		first := ka
		first.Keys = ka.Keys[:1]
		out, err := s.Client.BatchGetItem(ctx, &dynamodb.BatchGetItemInput{RequestItems: map[string]types.KeysAndAttributes{table: first}}, opts...)
		if err != nil || len(ka.Keys) == 1 {
			return out, err
		}
		rest := ka
		rest.Keys = ka.Keys[1:]
		out.UnprocessedKeys = map[string]types.KeysAndAttributes{table: rest}
		return out, nil
	}
	return &dynamodb.BatchGetItemOutput{}, nil
}

func TestLookupAsksAgainForUnprocessedKeys(t *testing.T) {
	t.Parallel()
	client := dynamodb.NewFromConfig(testkit.AWSConfig(testkit.Dynalite(t)))
	table := newTable(t, client)
	api := &stingy{Client: client}
	l, err := dynamosuppression.New(api, table)
	if err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 3, 1, 0, 0, 0, 0, time.UTC)
	var addrs []string
	for i := range 5 {
		a := fmt.Sprintf("u%d@example.com", i)
		addrs = append(addrs, a)
		if err := l.Put(context.Background(), suppression.Entry{Address: a, Reason: suppression.Bounce, At: at}); err != nil {
			t.Fatal(err)
		}
	}
	got, err := l.Lookup(context.Background(), addrs)
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 5 || api.calls != 5 {
		t.Errorf("%d of 5 entries in %d requests, want all in 5", len(got), api.calls)
	}
	// More unprocessed rounds than the adapter allows is an error, not a
	// silent partial answer.
	many := make([]string, 20)
	for i := range many {
		many[i] = fmt.Sprintf("x%d@example.com", i)
	}
	if _, err := l.Lookup(context.Background(), many); err == nil {
		t.Error("a lookup left unprocessed returned no error")
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	if _, err := dynamosuppression.New(nil, "t"); err == nil {
		t.Error("nil client accepted")
	}
	if _, err := dynamosuppression.New(&dynamodb.Client{}, ""); err == nil {
		t.Error("empty table name accepted")
	}
}
