// Package s3local is the S3-compatible endpoint of the local runtime: the
// attachment bucket that `mailflow dev` serves, persisted under the data
// directory.
//
// It is github.com/johannesboyne/gofakes3 over its afero file-system backend,
// so objects are plain files (DIR/buckets/<bucket>/<key>) and their metadata
// sits beside them (DIR/metadata). A restart keeps every bucket and object.
// Path-style addressing only (http://127.0.0.1:<port>/<bucket>/<key>), which
// SDK clients use with UsePathStyle or AWS_S3_FORCE_PATH_STYLE; versioning is
// off, as on a fresh AWS bucket.
package s3local

import (
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"regexp"

	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3afero"
	"github.com/spf13/afero"
)

// Server is a persistent S3-compatible endpoint.
type Server struct {
	backend *s3afero.MultiBucketBackend
	handler http.Handler
}

// Open serves the buckets stored under dir, creating dir if needed, and
// makes sure every bucket in buckets exists.
func Open(dir string, buckets ...string) (*Server, error) {
	if dir == "" {
		return nil, errors.New("s3local: a data directory is required")
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("s3local: %w", err)
	}
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, fmt.Errorf("s3local: %w", err)
	}
	backend, err := s3afero.MultiBucket(afero.NewBasePathFs(afero.NewOsFs(), abs))
	if err != nil {
		return nil, fmt.Errorf("s3local: %w", err)
	}
	s := &Server{
		backend: backend,
		handler: gofakes3.New(backend, gofakes3.WithoutVersioning(), gofakes3.WithAutoBucket(false)).Server(),
	}
	for _, b := range buckets {
		if err := s.EnsureBucket(b); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// bucketName follows S3's rules for new general-purpose buckets.
var bucketName = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// EnsureBucket creates the bucket unless it exists.
func (s *Server) EnsureBucket(name string) error {
	if !bucketName.MatchString(name) {
		return fmt.Errorf("s3local: %q is not a valid bucket name (3-63 of a-z 0-9 . -)", name)
	}
	ok, err := s.backend.BucketExists(name)
	if err != nil {
		return fmt.Errorf("s3local: %w", err)
	}
	if ok {
		return nil
	}
	if err := s.backend.CreateBucket(name); err != nil && !gofakes3.HasErrorCode(err, gofakes3.ErrBucketAlreadyExists) {
		return fmt.Errorf("s3local: create bucket %s: %w", name, err)
	}
	return nil
}

// Backend is the storage behind the endpoint, for in-process readers and
// writers (store/fakes3store) that should see exactly what S3 clients see
// without a round trip over HTTP.
func (s *Server) Backend() gofakes3.Backend { return s.backend }

// ServeHTTP answers S3 REST requests.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.handler.ServeHTTP(w, r) }
