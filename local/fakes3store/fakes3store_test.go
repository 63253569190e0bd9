package fakes3store_test

import (
	"bytes"
	"context"
	"io"
	"net/http/httptest"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/mailflow/mailflow/local/fakes3store"
	"github.com/mailflow/mailflow/local/s3local"
	"github.com/mailflow/mailflow/store"
	"github.com/mailflow/mailflow/store/storetest"
)

// forbidding denies access to chosen keys, as a bucket policy or a KMS key
// the caller may not use would.
type forbidding struct {
	gofakes3.Backend
	mu     sync.Mutex
	denied map[string]bool
}

func (f *forbidding) deny(key string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.denied[key]
}

func (f *forbidding) GetObject(b, k string, r *gofakes3.ObjectRangeRequest) (*gofakes3.Object, error) {
	if f.deny(k) {
		return nil, fakes3store.ErrAccessDenied
	}
	return f.Backend.GetObject(b, k, r)
}

func (f *forbidding) HeadObject(b, k string) (*gofakes3.Object, error) {
	if f.deny(k) {
		return nil, fakes3store.ErrAccessDenied
	}
	return f.Backend.HeadObject(b, k)
}

func (f *forbidding) PutObject(b, k string, m map[string]string, in io.Reader, size int64, c *gofakes3.PutConditions) (gofakes3.PutObjectResult, error) {
	if f.deny(k) {
		return gofakes3.PutObjectResult{}, fakes3store.ErrAccessDenied
	}
	return f.Backend.PutObject(b, k, m, in, size, c)
}

func open(t *testing.T) *s3local.Server {
	t.Helper()
	srv, err := s3local.Open(t.TempDir(), "bucket")
	if err != nil {
		t.Fatal(err)
	}
	return srv
}

// TestConformance runs the store suite on gofakes3's in-memory backend.
// (The on-disk backend the local runtime serves keeps each key segment
// within the file system's 255-byte name limit, for S3 clients and this
// adapter alike; TestSharedWithEndpoint covers it.)
func TestConformance(t *testing.T) {
	t.Parallel()
	storetest.Run(t, storetest.Harness{
		NewStore: func(t *testing.T) store.Store {
			mem := s3mem.New()
			if err := mem.CreateBucket("bucket"); err != nil {
				t.Fatal(err)
			}
			fb := &forbidding{Backend: mem, denied: map[string]bool{}}
			s, err := fakes3store.New(fb, "bucket")
			if err != nil {
				t.Fatal(err)
			}
			return &withBackend{Store: s, fb: fb}
		},
		Forbid: func(t *testing.T, s store.Store, key string) {
			fb := s.(*withBackend).fb
			fb.mu.Lock()
			fb.denied[key] = true
			fb.mu.Unlock()
		},
	})
}

type withBackend struct {
	*fakes3store.Store
	fb *forbidding
}

// TestSharedWithEndpoint: what S3 clients upload through the endpoint is
// what the adapter reads, and the other way round.
func TestSharedWithEndpoint(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	srv := open(t)
	hs := httptest.NewServer(srv)
	defer hs.Close()
	c := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(hs.URL), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("a", "b", "")})
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("bucket"), Key: aws.String("attachments/a.pdf"), Body: bytes.NewReader([]byte("pdf"))}); err != nil {
		t.Fatal(err)
	}
	s, err := fakes3store.New(srv.Backend(), "bucket")
	if err != nil {
		t.Fatal(err)
	}
	rc, info, err := s.Open(ctx, "attachments/a.pdf")
	if err != nil || info.Size != 3 {
		t.Fatalf("open: %v %+v", err, info)
	}
	got, _ := io.ReadAll(rc)
	rc.Close()
	if string(got) != "pdf" {
		t.Fatalf("read %q", got)
	}
	if err := s.Put(ctx, "staging/m.eml", bytes.NewReader([]byte("mime")), 4); err != nil {
		t.Fatal(err)
	}
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("bucket"), Key: aws.String("staging/m.eml")})
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(out.Body)
	if string(b) != "mime" {
		t.Fatalf("endpoint read %q", b)
	}
}

// TestWrongLengthStoresNothing covers a body that cannot seek.
func TestWrongLengthStoresNothing(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	s, err := fakes3store.New(open(t).Backend(), "bucket")
	if err != nil {
		t.Fatal(err)
	}
	for _, size := range []int64{3, 5} {
		if err := s.Put(ctx, "k", io.MultiReader(bytes.NewReader([]byte("abcd"))), size); err == nil {
			t.Errorf("size %d for 4 bytes accepted", size)
		}
		if _, err := s.Stat(ctx, "k"); err == nil {
			t.Errorf("size %d: something was stored", size)
		}
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	b := open(t).Backend()
	if _, err := fakes3store.New(nil, "bucket"); err == nil {
		t.Error("nil backend accepted")
	}
	if _, err := fakes3store.New(b, ""); err == nil {
		t.Error("empty bucket accepted")
	}
	if _, err := fakes3store.New(b, "other"); err == nil {
		t.Error("missing bucket accepted")
	}
}
