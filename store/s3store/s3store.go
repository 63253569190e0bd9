// Package s3store implements the [store.Store] port on one S3 bucket with
// aws-sdk-go-v2.
//
// The adapter is bound to its bucket: callers pass keys only, checked with
// store.ValidateKey before any request. Errors map by type and HTTP status:
// NoSuchKey / 404 → store.ErrNotFound, 403 (AccessDenied, a KMS key the role
// may not use) → store.ErrForbidden. Put sends the body with its length; the
// body must be an io.ReadSeeker (a file or a byte reader) so the request can
// be signed over plain HTTP too (emulators). Reads stream: nothing is
// buffered beyond the SDK's own transport buffers.
package s3store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/s3/types"
	"github.com/aws/smithy-go"

	"github.com/mailflow/mailflow/store"
)

// API is the part of the S3 client the adapter uses.
type API interface {
	HeadObject(context.Context, *s3.HeadObjectInput, ...func(*s3.Options)) (*s3.HeadObjectOutput, error)
	GetObject(context.Context, *s3.GetObjectInput, ...func(*s3.Options)) (*s3.GetObjectOutput, error)
	PutObject(context.Context, *s3.PutObjectInput, ...func(*s3.Options)) (*s3.PutObjectOutput, error)
	DeleteObject(context.Context, *s3.DeleteObjectInput, ...func(*s3.Options)) (*s3.DeleteObjectOutput, error)
}

// Store is one S3 bucket.
type Store struct {
	api    API
	bucket string
}

var _ store.Store = (*Store)(nil)

// New returns the adapter for bucket.
func New(api API, bucket string) (*Store, error) {
	if api == nil {
		return nil, errors.New("s3store: nil client")
	}
	if bucket == "" {
		return nil, errors.New("s3store: empty bucket name")
	}
	return &Store{api: api, bucket: bucket}, nil
}

// Bucket is the bucket the store is bound to.
func (s *Store) Bucket() string { return s.bucket }

// Stat implements [store.Store].
func (s *Store) Stat(ctx context.Context, key string) (store.Info, error) {
	if err := store.ValidateKey(key); err != nil {
		return store.Info{}, err
	}
	out, err := s.api.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil {
		return store.Info{}, s.mapErr("stat", key, err)
	}
	return store.Info{Size: aws.ToInt64(out.ContentLength)}, nil
}

// Open implements [store.Store].
func (s *Store) Open(ctx context.Context, key string) (io.ReadCloser, store.Info, error) {
	if err := store.ValidateKey(key); err != nil {
		return nil, store.Info{}, err
	}
	out, err := s.api.GetObject(ctx, &s3.GetObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil {
		return nil, store.Info{}, s.mapErr("open", key, err)
	}
	return out.Body, store.Info{Size: aws.ToInt64(out.ContentLength)}, nil
}

// Put implements [store.Store].
func (s *Store) Put(ctx context.Context, key string, body io.Reader, size int64) error {
	if err := store.ValidateKey(key); err != nil {
		return err
	}
	rs, ok := body.(io.ReadSeeker)
	if !ok {
		return fmt.Errorf("s3store: put %q: body %T is not an io.ReadSeeker", key, body)
	}
	cur, err := rs.Seek(0, io.SeekCurrent)
	if err != nil {
		return fmt.Errorf("s3store: put %q: %w", key, err)
	}
	end, err := rs.Seek(0, io.SeekEnd)
	if err != nil {
		return fmt.Errorf("s3store: put %q: %w", key, err)
	}
	if _, err := rs.Seek(cur, io.SeekStart); err != nil {
		return fmt.Errorf("s3store: put %q: %w", key, err)
	}
	if end-cur != size {
		return fmt.Errorf("s3store: put %q: body has %d bytes, size says %d", key, end-cur, size)
	}
	_, err = s.api.PutObject(ctx, &s3.PutObjectInput{
		Bucket: aws.String(s.bucket), Key: aws.String(key), Body: rs, ContentLength: aws.Int64(size),
	})
	if err != nil {
		return s.mapErr("put", key, err)
	}
	return nil
}

// Delete implements [store.Store].
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := store.ValidateKey(key); err != nil {
		return err
	}
	_, err := s.api.DeleteObject(ctx, &s3.DeleteObjectInput{Bucket: aws.String(s.bucket), Key: aws.String(key)})
	if err != nil {
		if err := s.mapErr("delete", key, err); errors.Is(err, store.ErrNotFound) {
			return nil
		} else {
			return err
		}
	}
	return nil
}

func (s *Store) mapErr(op, key string, err error) error {
	var nsk *types.NoSuchKey
	var nf *types.NotFound
	switch {
	case errors.As(err, &nsk), errors.As(err, &nf):
		return fmt.Errorf("s3store: %s s3://%s/%s: %w (%w)", op, s.bucket, key, store.ErrNotFound, err)
	}
	var re *awshttp.ResponseError
	if errors.As(err, &re) {
		switch re.HTTPStatusCode() {
		case http.StatusNotFound:
			return fmt.Errorf("s3store: %s s3://%s/%s: %w (%w)", op, s.bucket, key, store.ErrNotFound, err)
		case http.StatusForbidden:
			return fmt.Errorf("s3store: %s s3://%s/%s: %w (%w)", op, s.bucket, key, store.ErrForbidden, err)
		}
	}
	var ae smithy.APIError
	if errors.As(err, &ae) && ae.ErrorCode() == "AccessDenied" {
		return fmt.Errorf("s3store: %s s3://%s/%s: %w (%w)", op, s.bucket, key, store.ErrForbidden, err)
	}
	return fmt.Errorf("s3store: %s s3://%s/%s: %w", op, s.bucket, key, err)
}
