// Package fakes3store implements the [store.Store] port directly on a
// gofakes3 backend, in process: the local runtime's tasks read attachments
// and stage messages in the very bucket its S3 endpoint serves
// (local/s3local), without a loopback HTTP round trip, SigV4 signing and
// the SDK's middleware stack per object.
//
// Why: profiling the local pipeline showed most of a mail's wall time in
// the S3 client calls to our own endpoint (two per mail: stage, then read).
// Objects written here are visible to S3 clients and the other way round,
// because both go through the same backend.
//
// Errors map by gofakes3 error code: NoSuchKey → store.ErrNotFound,
// AccessDenied or a permission error → store.ErrForbidden. Put checks the body's length before
// writing when the body can seek (files, byte readers: what callers pass)
// and otherwise deletes what it wrote when the length turns out wrong, so a
// body of the wrong length stores nothing.
package fakes3store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"

	"github.com/johannesboyne/gofakes3"

	"github.com/mailflow/mailflow/store"
)

// ErrAccessDenied is the gofakes3 error code S3 answers a denied request
// with (gofakes3 has no constant for it); a backend that returns it, or a
// file-system permission error, is reported as store.ErrForbidden.
const ErrAccessDenied gofakes3.ErrorCode = "AccessDenied"

// Store is one bucket of a gofakes3 backend.
type Store struct {
	backend gofakes3.Backend
	bucket  string
}

var _ store.Store = (*Store)(nil)

// New returns the adapter for bucket, which must exist.
func New(backend gofakes3.Backend, bucket string) (*Store, error) {
	if backend == nil {
		return nil, errors.New("fakes3store: nil backend")
	}
	if bucket == "" {
		return nil, errors.New("fakes3store: empty bucket name")
	}
	ok, err := backend.BucketExists(bucket)
	if err != nil {
		return nil, fmt.Errorf("fakes3store: %w", err)
	}
	if !ok {
		return nil, fmt.Errorf("fakes3store: bucket %q does not exist", bucket)
	}
	return &Store{backend: backend, bucket: bucket}, nil
}

func (s *Store) mapErr(op, key string, err error) error {
	switch {
	case gofakes3.HasErrorCode(err, gofakes3.ErrNoSuchKey):
		return fmt.Errorf("fakes3store: %s %q: %w", op, key, store.ErrNotFound)
	case gofakes3.HasErrorCode(err, ErrAccessDenied), errors.Is(err, fs.ErrPermission):
		return fmt.Errorf("fakes3store: %s %q: %w", op, key, store.ErrForbidden)
	}
	return fmt.Errorf("fakes3store: %s %q: %w", op, key, err)
}

// Stat implements [store.Store].
func (s *Store) Stat(ctx context.Context, key string) (store.Info, error) {
	if err := store.ValidateKey(key); err != nil {
		return store.Info{}, err
	}
	if err := ctx.Err(); err != nil {
		return store.Info{}, err
	}
	obj, err := s.backend.HeadObject(s.bucket, key)
	if err != nil {
		return store.Info{}, s.mapErr("stat", key, err)
	}
	obj.Contents.Close()
	return store.Info{Size: obj.Size}, nil
}

// Open implements [store.Store].
func (s *Store) Open(ctx context.Context, key string) (io.ReadCloser, store.Info, error) {
	if err := store.ValidateKey(key); err != nil {
		return nil, store.Info{}, err
	}
	if err := ctx.Err(); err != nil {
		return nil, store.Info{}, err
	}
	obj, err := s.backend.GetObject(s.bucket, key, nil)
	if err != nil {
		return nil, store.Info{}, s.mapErr("open", key, err)
	}
	return obj.Contents, store.Info{Size: obj.Size}, nil
}

// exact passes through exactly size bytes and fails on a shorter or longer
// body.
type exact struct {
	r    io.Reader
	left int64
	bad  bool
}

func (e *exact) Read(p []byte) (int, error) {
	if e.left == 0 {
		var one [1]byte
		if n, _ := e.r.Read(one[:]); n > 0 {
			e.bad = true
			return 0, errors.New("the body is longer than its size")
		}
		return 0, io.EOF
	}
	if int64(len(p)) > e.left {
		p = p[:e.left]
	}
	n, err := e.r.Read(p)
	e.left -= int64(n)
	if err == io.EOF && e.left > 0 {
		e.bad = true
		return n, io.ErrUnexpectedEOF
	}
	return n, err
}

// Put implements [store.Store].
func (s *Store) Put(ctx context.Context, key string, body io.Reader, size int64) error {
	if err := store.ValidateKey(key); err != nil {
		return err
	}
	if size < 0 {
		return fmt.Errorf("fakes3store: put %q: negative size %d", key, size)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if sk, ok := body.(io.Seeker); ok {
		cur, err1 := sk.Seek(0, io.SeekCurrent)
		end, err2 := sk.Seek(0, io.SeekEnd)
		_, err3 := sk.Seek(cur, io.SeekStart)
		if err := errors.Join(err1, err2, err3); err != nil {
			return fmt.Errorf("fakes3store: put %q: %w", key, err)
		}
		if end-cur != size {
			return fmt.Errorf("fakes3store: put %q: the body has %d bytes, not %d", key, end-cur, size)
		}
	}
	r := &exact{r: body, left: size}
	if _, err := s.backend.PutObject(s.bucket, key, nil, r, size, nil); err != nil || r.bad || r.left != 0 {
		if r.bad || r.left != 0 {
			s.backend.DeleteObject(s.bucket, key)
			if err == nil {
				err = fmt.Errorf("the body is not %d bytes", size)
			}
		}
		return s.mapErr("put", key, err)
	}
	return nil
}

// Delete implements [store.Store].
func (s *Store) Delete(ctx context.Context, key string) error {
	if err := store.ValidateKey(key); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, err := s.backend.DeleteObject(s.bucket, key); err != nil && !gofakes3.HasErrorCode(err, gofakes3.ErrNoSuchKey) {
		return s.mapErr("delete", key, err)
	}
	return nil
}
