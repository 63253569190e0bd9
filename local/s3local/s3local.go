// Package s3local is the S3-compatible endpoint of the local runtime: the
// attachment bucket that `mailflow dev` serves, persisted under the data
// directory.
//
// The objects live in local/s3local/fsbackend, a file-system store with
// the layout gofakes3's afero backend used (DIR/buckets/<bucket>/<key>,
// metadata in DIR/metadata), so an existing data directory keeps its
// objects, and a restart keeps every bucket, object and multipart upload.
//
// Why our own handlers in front of gofakes3: the library answers several
// calls differently from S3 (multipart ETags, list paging, checksums,
// conditional and range reads), and its fixed Backend interface cannot
// carry what S3 needs for them. So this package answers listing (v1 and
// v2), GetObject/HeadObject, PutObject and the multipart calls that carry
// checksums (create, upload part, complete) itself, as docs/COMPATIBILITY.md
// lists; gofakes3 keeps routing the rest (buckets, copy, deletes, listing
// and aborting uploads) over the same backend.
//
// Decisions where S3 leaves room: an object uploaded without a checksum
// gets the FULL_OBJECT CRC64NVME that S3 records by default; a Range that
// does not parse, or names several ranges, is ignored and the whole object
// served; max-keys=0 answers an empty, untruncated page; continuation
// tokens are opaque and only those this endpoint issued are accepted.
//
// Path-style addressing only (http://127.0.0.1:<port>/<bucket>/<key>), which
// SDK clients use with UsePathStyle or AWS_S3_FORCE_PATH_STYLE; versioning is
// off, as on a fresh AWS bucket.
package s3local

import (
	"encoding/xml"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"strings"

	"github.com/johannesboyne/gofakes3"

	"github.com/mailflow/mailflow/local/s3local/fsbackend"
	"github.com/mailflow/mailflow/store"
)

// Server is a persistent S3-compatible endpoint.
type Server struct {
	backend *fsbackend.Backend
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
	backend, err := fsbackend.Open(dir)
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
// writers (local/fakes3store) that should see exactly what S3 clients see
// without a round trip over HTTP.
func (s *Server) Backend() gofakes3.Backend { return s.backend }

// MaxObjectBytes bounds the body of one request (an object, or one part of
// a multipart upload): more than any message SES takes (40 MB), so every
// attachment that can be sent fits.
const MaxObjectBytes = 64 << 20

// ServeHTTP answers S3 REST requests. It answers no CORS: gofakes3 would
// allow every origin (Access-Control-Allow-Origin: *) and answer every
// preflight, which would let any web page read the bucket; its CORS headers
// are taken off (those set in front of it, by gateway.Router's allow-list,
// are kept) and a preflight is refused. Every answer carries a CSP sandbox,
// so an object opened in a browser never runs script with the endpoint's
// origin. Before the backend sees a request it
// refuses, with S3's error shapes, a body larger than MaxObjectBytes
// (EntityTooLarge) and an object key or copy source the file backend
// cannot store faithfully (InvalidArgument): a key with an empty, "." or
// ".." segment, a leading "/", a backslash or a control character would
// otherwise name another object, another bucket or the metadata directory.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Security-Policy", "sandbox; default-src 'none'")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	if r.Method == http.MethodOptions {
		WriteError(w, http.StatusForbidden, "AccessForbidden", "CORSResponse: This CORS request is not allowed (the local endpoint answers CORS only for the origins given to mailflow dev --cors-origin).")
		return
	}
	w = &keepCORS{ResponseWriter: w, saved: savedCORS(w.Header())}
	if r.ContentLength > MaxObjectBytes {
		WriteError(w, http.StatusBadRequest, "EntityTooLarge", fmt.Sprintf("Your proposed upload exceeds the maximum allowed size of %d bytes.", MaxObjectBytes))
		return
	}
	if r.Body != nil {
		r.Body = http.MaxBytesReader(w, r.Body, MaxObjectBytes)
	}
	if _, key, ok := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/"); ok && key != "" {
		if err := store.ValidateKey(key); err != nil {
			WriteError(w, http.StatusBadRequest, "InvalidArgument", "Object key not supported by the local endpoint: "+err.Error())
			return
		}
	}
	if src := r.Header.Get("X-Amz-Copy-Source"); src != "" {
		if unescaped, err := url.PathUnescape(src); err == nil {
			src = unescaped
		}
		src, _, _ = strings.Cut(src, "?")
		_, key, _ := strings.Cut(strings.TrimPrefix(src, "/"), "/")
		if err := store.ValidateKey(key); err != nil {
			WriteError(w, http.StatusBadRequest, "InvalidArgument", "Copy source not supported by the local endpoint: "+err.Error())
			return
		}
	}
	if err := s.serveOwn(w, r); err != errNotOurs {
		if err != nil {
			fail(w, r, err)
		}
		return
	}
	s.handler.ServeHTTP(w, r)
}

// errNotOurs hands a request to gofakes3.
var errNotOurs = errors.New("served by the library")

// serveOwn answers the requests the endpoint serves itself rather than
// through gofakes3: listing, object reads and writes, and the multipart
// calls that carry checksums. The library keeps the rest (buckets, copy,
// deletes, listing and aborting uploads), over the same backend.
func (s *Server) serveOwn(w http.ResponseWriter, r *http.Request) error {
	bucket, key, _ := strings.Cut(strings.TrimPrefix(r.URL.Path, "/"), "/")
	if bucket == "" {
		return errNotOurs
	}
	q := r.URL.Query()
	if key == "" {
		if r.Method == http.MethodGet && isList(q) {
			if ok, _ := s.backend.BucketExists(bucket); !ok {
				return gofakes3.BucketNotFound(bucket)
			}
			return s.listBucket(w, r, bucket)
		}
		return errNotOurs
	}
	if id := q.Get("uploadId"); id != "" {
		switch r.Method {
		case http.MethodPut:
			if r.Header.Get("X-Amz-Copy-Source") != "" {
				return errNotOurs
			}
			return s.uploadPart(w, r, bucket, key, id)
		case http.MethodPost:
			return s.completeUpload(w, r, bucket, key, id)
		}
		return errNotOurs
	}
	if _, ok := q["uploads"]; ok && r.Method == http.MethodPost {
		if ok, _ := s.backend.BucketExists(bucket); !ok {
			return gofakes3.BucketNotFound(bucket)
		}
		return s.createUpload(w, r, bucket, key)
	}
	for k := range q {
		if k != "x-id" && k != "partNumber" && !strings.HasPrefix(k, "response-") {
			return errNotOurs // a subresource (tagging, acl, versionId, ...)
		}
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
		return s.getObject(w, r, bucket, key)
	case http.MethodPut:
		if r.Header.Get("X-Amz-Copy-Source") != "" {
			return errNotOurs
		}
		return s.putObject(w, r, bucket, key)
	}
	return errNotOurs
}

// corsHeaders are the response headers gofakes3's CORS wrapper sets.
var corsHeaders = []string{"Access-Control-Allow-Origin", "Access-Control-Allow-Methods", "Access-Control-Allow-Headers", "Access-Control-Expose-Headers"}

func savedCORS(h http.Header) http.Header {
	saved := http.Header{}
	for _, k := range corsHeaders {
		if v := h.Values(k); len(v) > 0 {
			saved[k] = v
		}
	}
	return saved
}

// keepCORS puts back, when the answer starts, the CORS headers set before
// gofakes3 ran: none, unless the gateway allowed the request's origin.
type keepCORS struct {
	http.ResponseWriter
	saved   http.Header
	written bool
}

func (k *keepCORS) restore() {
	if k.written {
		return
	}
	k.written = true
	h := k.ResponseWriter.Header()
	for _, name := range corsHeaders {
		h.Del(name)
		if v, ok := k.saved[name]; ok {
			h[name] = v
		}
	}
}

func (k *keepCORS) WriteHeader(status int) { k.restore(); k.ResponseWriter.WriteHeader(status) }

func (k *keepCORS) Write(b []byte) (int, error) { k.restore(); return k.ResponseWriter.Write(b) }

func (k *keepCORS) Unwrap() http.ResponseWriter { return k.ResponseWriter }

// WriteError answers with an S3 error document.
func WriteError(w http.ResponseWriter, status int, code, message string) {
	var b strings.Builder
	b.WriteString(xml.Header)
	b.WriteString("<Error><Code>")
	_ = xml.EscapeText(&b, []byte(code))
	b.WriteString("</Code><Message>")
	_ = xml.EscapeText(&b, []byte(message))
	b.WriteString("</Message></Error>")
	w.Header().Set("Content-Type", "application/xml")
	w.WriteHeader(status)
	_, _ = w.Write([]byte(b.String()))
}
