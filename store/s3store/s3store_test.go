package s3store_test

import (
	"fmt"
	"path/filepath"
	"sync/atomic"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/mailflow/mailflow/local/s3local"
	"github.com/mailflow/mailflow/store"
	"github.com/mailflow/mailflow/store/s3store"
	"github.com/mailflow/mailflow/store/storetest"
	"github.com/mailflow/mailflow/testkit"
)

// TestConformance runs the store suite over the S3 wire protocol, one
// bucket per test: against gofakes3 in memory, and against s3local, the S3
// endpoint of the local runtime (gofakes3 over files in a data directory).
func TestConformance(t *testing.T) {
	t.Parallel()
	buckets := make([]string, 20)
	for i := range buckets {
		buckets[i] = fmt.Sprintf("bucket-%d", i)
	}
	for _, backend := range []struct {
		name  string
		serve func(t *testing.T) *testkit.FakeS3
		// maxKey: s3local answers longer keys with 500 InternalError (a
		// name in its data directory outgrows the file system's 255 bytes).
		maxKey int
	}{
		{"GoFakeS3", func(t *testing.T) *testkit.FakeS3 { return testkit.S3(t, buckets...) }, 0},
		{"S3Local", func(t *testing.T) *testkit.FakeS3 {
			srv, err := s3local.Open(filepath.Join(t.TempDir(), "s3"), buckets...)
			if err != nil {
				t.Fatal(err)
			}
			return testkit.ServeS3(t, srv)
		}, 222},
	} {
		t.Run(backend.name, func(t *testing.T) {
			t.Parallel()
			var seq atomic.Int64
			fake := backend.serve(t)
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
				MaxKeyBytes: backend.maxKey,
			})
		})
	}
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
