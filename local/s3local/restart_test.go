package s3local_test

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/base64"
	"hash/crc32"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/mailflow/mailflow/local/s3local"
)

func reopen(t *testing.T, dir string) *s3.Client {
	t.Helper()
	srv, err := s3local.Open(dir, "b-1")
	if err != nil {
		t.Fatal(err)
	}
	hs := httptest.NewServer(srv)
	t.Cleanup(hs.Close)
	return s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(hs.URL), UsePathStyle: true,
		Credentials:                credentials.NewStaticCredentialsProvider("local", "local", ""),
		Retryer:                    aws.NopRetryer{},
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenSupported,
	})
}

// TestMultipartAcrossRestart: an upload begun before a restart completes
// after it, with a FULL_OBJECT CRC32C of the whole body, and its ETag and
// checksum survive a second restart.
func TestMultipartAcrossRestart(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	dir := filepath.Join(t.TempDir(), "s3")
	c := reopen(t, dir)
	body := make([]byte, 5<<20+99)
	rand.Read(body)
	create, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{
		Bucket: aws.String("b-1"), Key: aws.String("k"),
		ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c, ChecksumType: types.ChecksumTypeFullObject,
	})
	if err != nil {
		t.Fatal(err)
	}
	p1, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("b-1"), Key: aws.String("k"), UploadId: create.UploadId, PartNumber: aws.Int32(1), Body: bytes.NewReader(body[:5<<20]), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c})
	if err != nil {
		t.Fatal(err)
	}

	c = reopen(t, dir)
	p2, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("b-1"), Key: aws.String("k"), UploadId: create.UploadId, PartNumber: aws.Int32(2), Body: bytes.NewReader(body[5<<20:]), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32c})
	if err != nil {
		t.Fatal(err)
	}
	parts, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("b-1"), Key: aws.String("k"), UploadId: create.UploadId})
	if err != nil || len(parts.Parts) != 2 {
		t.Fatalf("list parts after restart: %v %+v", err, parts)
	}
	crc := crc32.Checksum(body, crc32.MakeTable(crc32.Castagnoli))
	want := base64.StdEncoding.EncodeToString([]byte{byte(crc >> 24), byte(crc >> 16), byte(crc >> 8), byte(crc)})
	done, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: aws.String("b-1"), Key: aws.String("k"), UploadId: create.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: []types.CompletedPart{
			{PartNumber: aws.Int32(1), ETag: p1.ETag, ChecksumCRC32C: p1.ChecksumCRC32C},
			{PartNumber: aws.Int32(2), ETag: p2.ETag, ChecksumCRC32C: p2.ChecksumCRC32C},
		}},
	})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(done.ChecksumCRC32C) != want || done.ChecksumType != types.ChecksumTypeFullObject || !strings.HasSuffix(aws.ToString(done.ETag), `-2"`) {
		t.Fatalf("complete: %s %s %s, want CRC32C %s FULL_OBJECT", aws.ToString(done.ChecksumCRC32C), done.ChecksumType, aws.ToString(done.ETag), want)
	}

	c = reopen(t, dir)
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("b-1"), Key: aws.String("k"), ChecksumMode: types.ChecksumModeEnabled})
	if err != nil || aws.ToString(head.ETag) != aws.ToString(done.ETag) || aws.ToString(head.ChecksumCRC32C) != want || aws.ToInt64(head.ContentLength) != int64(len(body)) {
		t.Fatalf("head after restart: %v %+v", err, head)
	}
	// The upload is gone once completed.
	if _, err := c.ListParts(ctx, &s3.ListPartsInput{Bucket: aws.String("b-1"), Key: aws.String("k"), UploadId: create.UploadId}); err == nil {
		t.Fatal("a completed upload still lists its parts")
	}
	// A FULL_OBJECT upload cannot use SHA256, as on S3.
	_, err = c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("b-1"), Key: aws.String("x"), ChecksumAlgorithm: types.ChecksumAlgorithmSha256, ChecksumType: types.ChecksumTypeFullObject})
	if code, _ := apiCode(t, err); code != "InvalidRequest" {
		t.Fatalf("FULL_OBJECT SHA256: %v", err)
	}
}
