package dynamodelivery_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/mailflow/mailflow/delivery"
	"github.com/mailflow/mailflow/delivery/deliverytest"
	"github.com/mailflow/mailflow/delivery/dynamodelivery"
	"github.com/mailflow/mailflow/testkit"
)

// TestConformance runs the delivery suite against dynalite over the
// DynamoDB wire protocol.
func TestConformance(t *testing.T) {
	t.Parallel()
	client := dynamodb.NewFromConfig(testkit.AWSConfig(testkit.Dynalite(t)))
	var seq atomic.Int64
	deliverytest.Run(t, func(t *testing.T) delivery.Store {
		name := fmt.Sprintf("deliveries-%d", seq.Add(1))
		if err := dynamodelivery.CreateTable(context.Background(), client, name); err != nil {
			t.Fatal(err)
		}
		s, err := dynamodelivery.New(client, name)
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	if _, err := dynamodelivery.New(nil, "t"); err == nil {
		t.Error("nil client accepted")
	}
	if _, err := dynamodelivery.New(&dynamodb.Client{}, ""); err == nil {
		t.Error("empty table name accepted")
	}
}

// TestDeadLetterIndex runs the index cases against dynalite's global
// secondary index.
func TestDeadLetterIndex(t *testing.T) {
	t.Parallel()
	client := dynamodb.NewFromConfig(testkit.AWSConfig(testkit.Dynalite(t)))
	var seq atomic.Int64
	deliverytest.RunDeadLetterIndex(t, func(t *testing.T) deliverytest.IndexedStore {
		name := fmt.Sprintf("dl-index-%d", seq.Add(1))
		if err := dynamodelivery.CreateTable(context.Background(), client, name); err != nil {
			t.Fatal(err)
		}
		s, err := dynamodelivery.New(client, name)
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}
