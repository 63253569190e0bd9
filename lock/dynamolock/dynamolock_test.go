package dynamolock_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/mailflow/mailflow/lock"
	"github.com/mailflow/mailflow/lock/dynamolock"
	"github.com/mailflow/mailflow/lock/locktest"
	"github.com/mailflow/mailflow/testkit"
)

// TestConformance runs the lock suite against dynalite over the DynamoDB
// wire protocol.
func TestConformance(t *testing.T) {
	t.Parallel()
	client := dynamodb.NewFromConfig(testkit.AWSConfig(testkit.Dynalite(t)))
	var seq atomic.Int64
	locktest.Run(t, locktest.Harness{
		NewTable: func(t *testing.T) lock.Table {
			name := fmt.Sprintf("locks-%d", seq.Add(1))
			if err := dynamolock.CreateTable(context.Background(), client, name); err != nil {
				t.Fatal(err)
			}
			tbl, err := dynamolock.New(client, name)
			if err != nil {
				t.Fatal(err)
			}
			return tbl
		},
		Races:      300,
		Contenders: 3,
	})
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	if _, err := dynamolock.New(nil, "t"); err == nil {
		t.Error("nil client accepted")
	}
	if _, err := dynamolock.New(&dynamodb.Client{}, ""); err == nil {
		t.Error("empty table name accepted")
	}
}
