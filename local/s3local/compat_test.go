package s3local_test

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/mailflow/mailflow/local/s3local"
)

// endpoint serves a fresh store over TLS (so the SDK streams uploads with
// trailing checksums, aws-chunked) or plain HTTP (checksums in headers).
func endpoint(t *testing.T, tls bool, buckets ...string) *s3.Client {
	t.Helper()
	srv, err := s3local.Open(filepath.Join(t.TempDir(), "s3"), buckets...)
	if err != nil {
		t.Fatal(err)
	}
	var hs *httptest.Server
	if tls {
		hs = httptest.NewTLSServer(srv)
	} else {
		hs = httptest.NewServer(srv)
	}
	t.Cleanup(hs.Close)
	return s3.New(s3.Options{
		Region: "us-east-1", BaseEndpoint: aws.String(hs.URL), UsePathStyle: true,
		HTTPClient:  hs.Client(),
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", ""),
		Retryer:     aws.NopRetryer{},
		// What config.LoadDefaultConfig gives: a CRC32 on every upload.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenSupported,
	})
}

func apiCode(t *testing.T, err error) (string, int) {
	t.Helper()
	if err == nil {
		return "", 200
	}
	status := 0
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		status = re.HTTPStatusCode()
	}
	var ae smithy.APIError
	if errors.As(err, &ae) {
		return ae.ErrorCode(), status
	}
	return err.Error(), status
}

func put(t *testing.T, c *s3.Client, bucket, key, body string) *s3.PutObjectOutput {
	t.Helper()
	out, err := c.PutObject(context.Background(), &s3.PutObjectInput{Bucket: aws.String(bucket), Key: aws.String(key), Body: strings.NewReader(body)})
	if err != nil {
		t.Fatalf("put %s: %v", key, err)
	}
	return out
}

func TestMultipartETagAndCompositeChecksum(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := endpoint(t, true, "b-1")
	parts := [][]byte{make([]byte, 5<<20), make([]byte, 1234)}
	for _, p := range parts {
		rand.Read(p)
	}
	create, err := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("b-1"), Key: aws.String("big.bin"), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32})
	if err != nil {
		t.Fatal(err)
	}
	var done []types.CompletedPart
	etags, crcs := md5.New(), crc32.NewIEEE()
	for i, p := range parts {
		out, err := c.UploadPart(ctx, &s3.UploadPartInput{
			Bucket: aws.String("b-1"), Key: aws.String("big.bin"), UploadId: create.UploadId,
			PartNumber: aws.Int32(int32(i + 1)), Body: bytes.NewReader(p), ChecksumAlgorithm: types.ChecksumAlgorithmCrc32,
		})
		if err != nil {
			t.Fatalf("part %d: %v", i+1, err)
		}
		sum := md5.Sum(p)
		etags.Write(sum[:])
		raw := crc32.ChecksumIEEE(p)
		crcs.Write([]byte{byte(raw >> 24), byte(raw >> 16), byte(raw >> 8), byte(raw)})
		done = append(done, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.ETag, ChecksumCRC32: out.ChecksumCRC32})
	}
	complete, err := c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{
		Bucket: aws.String("b-1"), Key: aws.String("big.bin"), UploadId: create.UploadId,
		MultipartUpload: &types.CompletedMultipartUpload{Parts: done},
	})
	if err != nil {
		t.Fatal(err)
	}
	wantETag := fmt.Sprintf(`"%s-2"`, hex.EncodeToString(etags.Sum(nil)))
	wantCRC := base64.StdEncoding.EncodeToString(crcs.Sum(nil)) + "-2"
	if aws.ToString(complete.ETag) != wantETag || aws.ToString(complete.ChecksumCRC32) != wantCRC {
		t.Fatalf("complete: ETag %s CRC32 %s, want %s %s", aws.ToString(complete.ETag), aws.ToString(complete.ChecksumCRC32), wantETag, wantCRC)
	}
	head, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("b-1"), Key: aws.String("big.bin"), ChecksumMode: types.ChecksumModeEnabled})
	if err != nil {
		t.Fatal(err)
	}
	if aws.ToString(head.ETag) != wantETag || aws.ToString(head.ChecksumCRC32) != wantCRC || head.ChecksumType != types.ChecksumTypeComposite {
		t.Fatalf("head: ETag %s CRC32 %s type %s", aws.ToString(head.ETag), aws.ToString(head.ChecksumCRC32), head.ChecksumType)
	}
	get, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("b-1"), Key: aws.String("big.bin")})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(get.Body)
	get.Body.Close()
	if aws.ToString(get.ETag) != wantETag || !bytes.Equal(body, append(slices.Clone(parts[0]), parts[1]...)) {
		t.Fatalf("get: ETag %s, %d bytes", aws.ToString(get.ETag), len(body))
	}
	// GetObject?partNumber reads one part, as the SDK's transfer managers do.
	part2, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("b-1"), Key: aws.String("big.bin"), PartNumber: aws.Int32(2)})
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(part2.Body)
	part2.Body.Close()
	if !bytes.Equal(body, parts[1]) || aws.ToInt32(part2.PartsCount) != 2 || aws.ToString(part2.ContentRange) != fmt.Sprintf("bytes %d-%d/%d", 5<<20, 5<<20+1233, 5<<20+1234) {
		t.Fatalf("part 2: %d bytes, %d parts, %s", len(body), aws.ToInt32(part2.PartsCount), aws.ToString(part2.ContentRange))
	}
	_, err = c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("b-1"), Key: aws.String("big.bin"), PartNumber: aws.Int32(3)})
	if _, status := apiCode(t, err); status != 416 {
		t.Fatalf("part 3 of 2: %v, want 416", err)
	}
	list, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("b-1")})
	if err != nil || len(list.Contents) != 1 || aws.ToString(list.Contents[0].ETag) != wantETag {
		t.Fatalf("list: %v %+v", err, list)
	}

	// A part smaller than 5 MiB that is not the last is refused, as on S3.
	small, _ := c.CreateMultipartUpload(ctx, &s3.CreateMultipartUploadInput{Bucket: aws.String("b-1"), Key: aws.String("small")})
	var smallParts []types.CompletedPart
	for i := range 2 {
		out, err := c.UploadPart(ctx, &s3.UploadPartInput{Bucket: aws.String("b-1"), Key: aws.String("small"), UploadId: small.UploadId, PartNumber: aws.Int32(int32(i + 1)), Body: strings.NewReader("tiny")})
		if err != nil {
			t.Fatal(err)
		}
		smallParts = append(smallParts, types.CompletedPart{PartNumber: aws.Int32(int32(i + 1)), ETag: out.ETag})
	}
	_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("b-1"), Key: aws.String("small"), UploadId: small.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: smallParts}})
	if code, _ := apiCode(t, err); code != "EntityTooSmall" {
		t.Fatalf("small parts: %v, want EntityTooSmall", err)
	}
	// A wrong part ETag is InvalidPart.
	smallParts[0].ETag = aws.String(`"00000000000000000000000000000000"`)
	_, err = c.CompleteMultipartUpload(ctx, &s3.CompleteMultipartUploadInput{Bucket: aws.String("b-1"), Key: aws.String("small"), UploadId: small.UploadId, MultipartUpload: &types.CompletedMultipartUpload{Parts: smallParts}})
	if code, _ := apiCode(t, err); code != "InvalidPart" {
		t.Fatalf("wrong ETag: %v, want InvalidPart", err)
	}
}

func TestChecksumsVerifiedStoredEchoed(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, tls := range []bool{false, true} {
		c := endpoint(t, tls, "b-1")
		for _, alg := range []types.ChecksumAlgorithm{"", types.ChecksumAlgorithmCrc32, types.ChecksumAlgorithmCrc32c, types.ChecksumAlgorithmCrc64nvme, types.ChecksumAlgorithmSha1, types.ChecksumAlgorithmSha256} {
			key := fmt.Sprintf("k-%s", alg)
			out, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("b-1"), Key: aws.String(key), Body: strings.NewReader("checksummed body"), ChecksumAlgorithm: alg})
			if err != nil {
				t.Fatalf("tls=%v %s: put: %v", tls, alg, err)
			}
			get, err := c.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String("b-1"), Key: aws.String(key), ChecksumMode: types.ChecksumModeEnabled})
			if err != nil {
				t.Fatalf("tls=%v %s: get: %v", tls, alg, err)
			}
			body, err := io.ReadAll(get.Body) // the SDK validates the checksum as it reads
			get.Body.Close()
			if err != nil || string(body) != "checksummed body" {
				t.Fatalf("tls=%v %s: read %q %v", tls, alg, body, err)
			}
			sent := map[types.ChecksumAlgorithm][2]*string{
				"":                               {out.ChecksumCRC32, get.ChecksumCRC32}, // the SDK's default
				types.ChecksumAlgorithmCrc32:     {out.ChecksumCRC32, get.ChecksumCRC32},
				types.ChecksumAlgorithmCrc32c:    {out.ChecksumCRC32C, get.ChecksumCRC32C},
				types.ChecksumAlgorithmCrc64nvme: {out.ChecksumCRC64NVME, get.ChecksumCRC64NVME},
				types.ChecksumAlgorithmSha1:      {out.ChecksumSHA1, get.ChecksumSHA1},
				types.ChecksumAlgorithmSha256:    {out.ChecksumSHA256, get.ChecksumSHA256},
			}[alg]
			if aws.ToString(sent[0]) == "" || aws.ToString(sent[0]) != aws.ToString(sent[1]) || get.ChecksumType != types.ChecksumTypeFullObject {
				t.Fatalf("tls=%v %s: put answered %q, get %q (%s)", tls, alg, aws.ToString(sent[0]), aws.ToString(sent[1]), get.ChecksumType)
			}
		}
		// A checksum that does not match the body is BadDigest, and nothing is stored.
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("b-1"), Key: aws.String("bad"), Body: strings.NewReader("body"), ChecksumCRC32: aws.String("AAAAAA==")})
		if code, status := apiCode(t, err); code != "BadDigest" || status != 400 {
			t.Fatalf("tls=%v wrong CRC32: %s %d, want 400 BadDigest", tls, code, status)
		}
		_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("b-1"), Key: aws.String("bad"), Body: strings.NewReader("body"), ChecksumSHA256: aws.String("not base64!")})
		if code, status := apiCode(t, err); code != "InvalidRequest" || status != 400 {
			t.Fatalf("tls=%v malformed SHA256: %s %d, want 400 InvalidRequest", tls, code, status)
		}
		if _, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("b-1"), Key: aws.String("bad")}); err == nil {
			t.Fatalf("tls=%v: a refused upload was stored", tls)
		}
	}
}

func TestListPaging(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := endpoint(t, false, "b-1")
	keys := []string{"a/1", "a/2", "b", "c/x/1", "c/y", "d e", "e"}
	for _, k := range keys {
		put(t, c, "b-1", k, "x")
	}
	// Page by page, two at a time, with the SDK's paginator.
	var got []string
	pages := 0
	p := s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String("b-1"), MaxKeys: aws.Int32(2)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		pages++
		if int(aws.ToInt32(page.KeyCount)) != len(page.Contents) || len(page.Contents) > 2 {
			t.Fatalf("page %d: KeyCount %d with %d keys", pages, aws.ToInt32(page.KeyCount), len(page.Contents))
		}
		for _, o := range page.Contents {
			got = append(got, aws.ToString(o.Key))
		}
	}
	if !slices.Equal(got, keys) || pages != 4 {
		t.Fatalf("paged keys %v in %d pages, want %v in 4", got, pages, keys)
	}

	// With a delimiter, common prefixes count against MaxKeys and are not repeated.
	var items []string
	p = s3.NewListObjectsV2Paginator(c, &s3.ListObjectsV2Input{Bucket: aws.String("b-1"), Delimiter: aws.String("/"), MaxKeys: aws.Int32(1)})
	for p.HasMorePages() {
		page, err := p.NextPage(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if n := len(page.Contents) + len(page.CommonPrefixes); n != int(aws.ToInt32(page.KeyCount)) || n > 1 {
			t.Fatalf("KeyCount %d for %d items", aws.ToInt32(page.KeyCount), n)
		}
		for _, cp := range page.CommonPrefixes {
			items = append(items, aws.ToString(cp.Prefix))
		}
		for _, o := range page.Contents {
			items = append(items, aws.ToString(o.Key))
		}
	}
	if want := []string{"a/", "b", "c/", "d e", "e"}; !slices.Equal(items, want) {
		t.Fatalf("delimited: %v, want %v", items, want)
	}

	// Prefix and StartAfter.
	out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("b-1"), Prefix: aws.String("c/"), Delimiter: aws.String("/")})
	if err != nil || len(out.Contents) != 1 || aws.ToString(out.Contents[0].Key) != "c/y" || len(out.CommonPrefixes) != 1 || aws.ToString(out.CommonPrefixes[0].Prefix) != "c/x/" {
		t.Fatalf("prefix c/: %v %+v", err, out)
	}
	out, err = c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("b-1"), StartAfter: aws.String("c/y")})
	if err != nil || len(out.Contents) != 2 || aws.ToString(out.Contents[0].Key) != "d e" || aws.ToBool(out.IsTruncated) {
		t.Fatalf("start-after: %v %+v", err, out)
	}

	// EncodingType=url encodes keys.
	out, err = c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("b-1"), Prefix: aws.String("d"), EncodingType: types.EncodingTypeUrl})
	if err != nil || len(out.Contents) != 1 || aws.ToString(out.Contents[0].Key) != "d+e" {
		t.Fatalf("url encoding: %v %+v", err, out)
	}

	// An invalid continuation token and max-keys are InvalidArgument.
	_, err = c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("b-1"), ContinuationToken: aws.String("bm90LW91cnM")})
	if code, status := apiCode(t, err); code != "InvalidArgument" || status != 400 {
		t.Fatalf("bad token: %s %d", code, status)
	}
	_, err = c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("b-1"), MaxKeys: aws.Int32(-1)})
	if code, _ := apiCode(t, err); code != "InvalidArgument" {
		t.Fatalf("negative max-keys: %s", code)
	}

	// v1: Marker pages; NextMarker only with a delimiter.
	v1, err := c.ListObjects(ctx, &s3.ListObjectsInput{Bucket: aws.String("b-1"), MaxKeys: aws.Int32(3)})
	if err != nil || len(v1.Contents) != 3 || !aws.ToBool(v1.IsTruncated) || v1.NextMarker != nil {
		t.Fatalf("v1 without delimiter: %v %+v", err, v1)
	}
	v1, err = c.ListObjects(ctx, &s3.ListObjectsInput{Bucket: aws.String("b-1"), Marker: aws.String("b"), MaxKeys: aws.Int32(1), Delimiter: aws.String("/")})
	if err != nil || len(v1.CommonPrefixes) != 1 || aws.ToString(v1.NextMarker) != "c/" || !aws.ToBool(v1.IsTruncated) {
		t.Fatalf("v1 with delimiter: %v %+v", err, v1)
	}
	v1, err = c.ListObjects(ctx, &s3.ListObjectsInput{Bucket: aws.String("b-1"), Marker: v1.NextMarker, Delimiter: aws.String("/")})
	if err != nil || len(v1.CommonPrefixes) != 0 || len(v1.Contents) != 2 || aws.ToBool(v1.IsTruncated) {
		t.Fatalf("v1 after NextMarker: %v %+v", err, v1)
	}
}

func TestDeleteBucketIgnoresEmptyDirectories(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := endpoint(t, false, "b-1")
	put(t, c, "b-1", "deep/er/key", "x")
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("b-1"), Key: aws.String("deep/er/key")}); err != nil {
		t.Fatal(err)
	}
	out, err := c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String("b-1"), Delimiter: aws.String("/")})
	if err != nil || len(out.CommonPrefixes)+len(out.Contents) != 0 {
		t.Fatalf("after delete: %v %+v", err, out)
	}
	put(t, c, "b-1", "other", "x")
	_, err = c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("b-1")})
	if code, status := apiCode(t, err); code != "BucketNotEmpty" || status != 409 {
		t.Fatalf("non-empty bucket: %s %d", code, status)
	}
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("b-1"), Key: aws.String("other")}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.DeleteBucket(ctx, &s3.DeleteBucketInput{Bucket: aws.String("b-1")}); err != nil {
		t.Fatalf("empty bucket: %v", err)
	}
}

func TestConditionalWrites(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := endpoint(t, true, "b-1")
	first := put(t, c, "b-1", "k", "one")
	_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("b-1"), Key: aws.String("k"), Body: strings.NewReader("two"), IfNoneMatch: aws.String("*")})
	if code, status := apiCode(t, err); code != "PreconditionFailed" || status != 412 {
		t.Fatalf("If-None-Match on an existing key: %s %d", code, status)
	}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("b-1"), Key: aws.String("new"), Body: strings.NewReader("n"), IfNoneMatch: aws.String("*")}); err != nil {
		t.Fatalf("If-None-Match on a new key: %v", err)
	}
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("b-1"), Key: aws.String("k"), Body: strings.NewReader("two"), IfMatch: aws.String(`"0123"`)})
	if code, status := apiCode(t, err); code != "PreconditionFailed" || status != 412 {
		t.Fatalf("If-Match with another ETag: %s %d", code, status)
	}
	if _, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("b-1"), Key: aws.String("k"), Body: strings.NewReader("two"), IfMatch: first.ETag}); err != nil {
		t.Fatalf("If-Match with its ETag: %v", err)
	}
	_, err = c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("b-1"), Key: aws.String("none"), Body: strings.NewReader("x"), IfMatch: first.ETag})
	if code, status := apiCode(t, err); code != "NoSuchKey" || status != 404 {
		t.Fatalf("If-Match on a missing key: %s %d", code, status)
	}

	// A delete that lands while a conditional write's body is arriving
	// makes the write a ConditionalRequestConflict.
	current := put(t, c, "b-1", "raced", "v1")
	pr, pw := io.Pipe()
	result := make(chan error, 1)
	go func() {
		_, err := c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("b-1"), Key: aws.String("raced"), Body: pr, ContentLength: aws.Int64(8), IfMatch: current.ETag})
		result <- err
	}()
	if _, err := pw.Write([]byte("half")); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond) // the server reads the first chunk
	if _, err := c.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String("b-1"), Key: aws.String("raced")}); err != nil {
		t.Fatal(err)
	}
	pw.Write([]byte("full"))
	pw.Close()
	if code, status := apiCode(t, <-result); code != "ConditionalRequestConflict" || status != 409 {
		t.Fatalf("write racing a delete: %s %d", code, status)
	}
}

func TestConditionalAndRangeReads(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	c := endpoint(t, false, "b-1")
	etag := put(t, c, "b-1", "k", "0123456789").ETag
	get := func(in *s3.GetObjectInput) (string, *s3.GetObjectOutput, error) {
		in.Bucket, in.Key = aws.String("b-1"), aws.String("k")
		out, err := c.GetObject(ctx, in)
		if err != nil {
			return "", nil, err
		}
		defer out.Body.Close()
		b, err := io.ReadAll(out.Body)
		return string(b), out, err
	}
	past, future := time.Now().Add(-time.Hour), time.Now().Add(time.Hour)
	for name, tc := range map[string]struct {
		in     s3.GetObjectInput
		status int
	}{
		"If-None-Match matching":        {s3.GetObjectInput{IfNoneMatch: etag}, 304},
		"If-Match other":                {s3.GetObjectInput{IfMatch: aws.String(`"nope"`)}, 412},
		"If-Modified-Since future":      {s3.GetObjectInput{IfModifiedSince: &future}, 304},
		"If-Unmodified-Since past":      {s3.GetObjectInput{IfUnmodifiedSince: &past}, 412},
		"If-Match wins over Unmodified": {s3.GetObjectInput{IfMatch: etag, IfUnmodifiedSince: &past}, 200},
		"If-None-Match other":           {s3.GetObjectInput{IfNoneMatch: aws.String(`"other"`), IfModifiedSince: &future}, 200},
		"If-Modified-Since past":        {s3.GetObjectInput{IfModifiedSince: &past}, 200},
	} {
		_, _, err := get(&tc.in)
		if _, status := apiCode(t, err); status != tc.status {
			t.Errorf("%s: %d (%v), want %d", name, status, err, tc.status)
		}
	}
	_, err := c.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("b-1"), Key: aws.String("k"), IfNoneMatch: etag})
	if _, status := apiCode(t, err); status != 304 {
		t.Errorf("HEAD If-None-Match: %d", status)
	}

	for rng, want := range map[string][2]string{
		"bytes=2-4":    {"234", "bytes 2-4/10"},
		"bytes=7-":     {"789", "bytes 7-9/10"},
		"bytes=-3":     {"789", "bytes 7-9/10"},
		"bytes=8-100":  {"89", "bytes 8-9/10"},
		"bytes=-100":   {"0123456789", "bytes 0-9/10"},
		"bytes=5-2":    {"0123456789", ""}, // does not parse: ignored, as HTTP says
		"bytes=0-1,3-": {"0123456789", ""}, // several ranges: the whole object, as on S3
	} {
		body, out, err := get(&s3.GetObjectInput{Range: aws.String(rng)})
		if err != nil || body != want[0] || aws.ToString(out.ContentRange) != want[1] {
			t.Errorf("%s: %q %v, want %q %q", rng, body, err, want[0], want[1])
		}
	}
	_, _, err = get(&s3.GetObjectInput{Range: aws.String("bytes=10-")})
	if code, status := apiCode(t, err); code != "InvalidRange" || status != 416 {
		t.Errorf("unsatisfiable range: %s %d", code, status)
	}
}
