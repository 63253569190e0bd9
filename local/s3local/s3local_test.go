package s3local_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/mailflow/mailflow/local/s3local"
)

func client(url string) *s3.Client {
	return s3.New(s3.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(url),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider("local", "local", ""),
	})
}

func TestObjectsSurviveRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	srv, err := s3local.Open(dir, "mail-attachments")
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	body := make([]byte, 5<<20+17) // larger than one read buffer, odd size
	rand.Read(body)
	c := client(hs.URL)
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String("mail-attachments"), Key: aws.String("attachments/42/report.pdf"),
		Body: bytes.NewReader(body), ContentType: aws.String("application/pdf"),
	}); err != nil {
		t.Fatal(err)
	}
	hs.Close()

	srv, err = s3local.Open(dir, "mail-attachments")
	if err != nil {
		t.Fatal(err)
	}
	hs = httptest.NewServer(srv)
	defer hs.Close()
	c = client(hs.URL)
	out, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("mail-attachments"), Key: aws.String("attachments/42/report.pdf")})
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(out.Body)
	out.Body.Close()
	if !bytes.Equal(got, body) {
		t.Fatalf("object changed across restart: %d bytes, want %d", len(got), len(body))
	}
	if aws.ToString(out.ContentType) != "application/pdf" {
		t.Fatalf("content type %q lost", aws.ToString(out.ContentType))
	}

	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("mail-attachments"), Key: aws.String("attachments/none")})
	var nsk *types.NoSuchKey
	if !errors.As(err, &nsk) {
		t.Fatalf("missing key: %v, want NoSuchKey", err)
	}
	_, err = c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("other-bucket"), Key: aws.String("k")})
	if err == nil {
		t.Fatal("a bucket that was never created must not exist")
	}

	list, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("mail-attachments"), Prefix: aws.String("attachments/")})
	if err != nil || len(list.Contents) != 1 {
		t.Fatalf("list: %v %+v", err, list)
	}
}

func TestTraversalStaysInside(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := t.TempDir()
	srv, err := s3local.Open(dir+"/s3", "b-1")
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	defer hs.Close()
	c := client(hs.URL)
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("b-1"), Key: aws.String("../../../escape"), Body: bytes.NewReader([]byte("x"))})
	if err == nil {
		if _, statErr := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("b-1"), Key: aws.String("../../../escape")}); statErr != nil {
			t.Fatalf("stored but not readable back: %v", statErr)
		}
	}
	// The key climbs three levels from DIR/s3/buckets/b-1, which is DIR.
	if _, err := os.Stat(filepath.Join(dir, "escape")); err == nil {
		t.Fatal("a key escaped the data directory")
	}
}

func TestBucketNameValidated(t *testing.T) {
	t.Parallel()
	if _, err := s3local.Open(t.TempDir(), "Bad_Name"); err == nil {
		t.Fatal("accepted an invalid bucket name")
	}
	if _, err := s3local.Open(""); err == nil {
		t.Fatal("accepted an empty directory")
	}
}
