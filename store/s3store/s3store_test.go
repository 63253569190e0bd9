package s3store_test

import (
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/mailflow/mailflow/store"
	"github.com/mailflow/mailflow/store/s3store"
	"github.com/mailflow/mailflow/store/storetest"
	"github.com/mailflow/mailflow/testkit"
)

// TestConformance runs the store suite against gofakes3 over the S3 wire
// protocol, one bucket per test.
func TestConformance(t *testing.T) {
	t.Parallel()
	var seq atomic.Int64
	var fake *testkit.FakeS3
	buckets := make([]string, 20)
	for i := range buckets {
		buckets[i] = fmt.Sprintf("bucket-%d", i)
	}
	fake = testkit.S3(t, buckets...)
	client := s3.NewFromConfig(testkit.AWSConfig(fake.URL), func(o *s3.Options) { o.UsePathStyle = true })
	storetest.Run(t, storetest.Harness{
		NewStore: func(t *testing.T) store.Store {
			s, err := s3store.New(client, buckets[seq.Add(1)])
			if err != nil {
				t.Fatal(err)
			}
			return s
		},
		Forbid: func(t *testing.T, s store.Store, key string) {
			fake.Forbid(s.(*s3store.Store).Bucket(), key)
		},
	})
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	if _, err := s3store.New(nil, "b"); err == nil {
		t.Error("nil client accepted")
	}
	if _, err := s3store.New(&s3.Client{}, ""); err == nil {
		t.Error("empty bucket accepted")
	}
}
