package dynamopacer_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/mailflow/mailflow/lock"
	"github.com/mailflow/mailflow/lock/dynamolock"
	"github.com/mailflow/mailflow/pacer"
	"github.com/mailflow/mailflow/pacer/dynamopacer"
	"github.com/mailflow/mailflow/pacer/pacertest"
	"github.com/mailflow/mailflow/testkit"
)

// TestConformance runs the pacer suite against dynalite over the DynamoDB
// wire protocol, each bucket in a lock table of its own (where it lives on
// AWS).
func TestConformance(t *testing.T) {
	t.Parallel()
	client := dynamodb.NewFromConfig(testkit.AWSConfig(testkit.Dynalite(t)))
	var seq atomic.Int64
	pacertest.Run(t, pacertest.Harness{
		NewBucket: func(t *testing.T) pacer.Bucket {
			name := fmt.Sprintf("pacer-%d", seq.Add(1))
			if err := dynamolock.CreateTable(context.Background(), client, name); err != nil {
				t.Fatal(err)
			}
			b, err := dynamopacer.New(client, name, dynamopacer.Options{})
			if err != nil {
				t.Fatal(err)
			}
			return b
		},
		Contenders: 4,
		Races:      15,
	})
}

// TestBesideLocks: the pacer item and lock records share the lock table
// without touching each other, and two adapters (two Lambda instances)
// share the bucket.
func TestBesideLocks(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	client := dynamodb.NewFromConfig(testkit.AWSConfig(testkit.Dynalite(t)))
	if err := dynamolock.CreateTable(ctx, client, "locks"); err != nil {
		t.Fatal(err)
	}
	locks, _ := dynamolock.New(client, "locks")
	now := time.Now()
	if _, err := locks.Acquire(ctx, lock.AcquireParams{MailID: "m-1", Owner: "o", ContentHash: "h", Now: now,
		LeaseUntil: now.Add(time.Minute), ExpiresAt: now.Add(time.Hour)}); err != nil {
		t.Fatal(err)
	}
	a, _ := dynamopacer.New(client, "locks", dynamopacer.Options{})
	b, _ := dynamopacer.New(client, "locks", dynamopacer.Options{})
	p := pacer.TakeParams{Cost: 1, Rate: 1, Burst: 2, Now: now}
	for i, bk := range []*dynamopacer.Bucket{a, b, a} {
		r, err := bk.Take(ctx, p)
		if err != nil {
			t.Fatal(err)
		}
		if want := i < 2; r.OK != want {
			t.Fatalf("take %d: OK=%v, want %v", i+1, r.OK, want)
		}
	}
	rec, ok, err := locks.Get(ctx, "m-1")
	if err != nil || !ok || rec.Owner != "o" {
		t.Fatalf("lock record after pacing: %+v %v %v", rec, ok, err)
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	if _, err := dynamopacer.New(nil, "t", dynamopacer.Options{}); err == nil {
		t.Error("nil client accepted")
	}
	if _, err := dynamopacer.New(&dynamodb.Client{}, "", dynamopacer.Options{}); err == nil {
		t.Error("empty table name accepted")
	}
}
