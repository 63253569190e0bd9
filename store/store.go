// Package store is the port for the object store that holds attachments,
// offloaded bodies and staged MIME messages: an S3 bucket on AWS
// (store/s3store), a directory locally. Every adapter must pass the
// conformance suite in store/storetest.
//
// An adapter is bound to one bucket (or root); callers name objects by key
// only, so no message can steer a read to another bucket. Keys are checked
// by [ValidateKey] before any I/O, in every adapter, so a key can never
// escape the root of a directory-backed store either: no empty, "." or ".."
// segments, no leading "/", no control characters, at most 1024 bytes.
//
// Errors: [ErrNotFound] for a missing object, [ErrForbidden] when the
// backend denies access, [ErrInvalidKey] for a key refused before any I/O.
// Adapters wrap them so errors.Is matches; anything else is a backend
// failure the caller treats as transient. Adapters never retry.
package store

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
)

// MaxKeyLength is the longest key in bytes (the S3 limit).
const MaxKeyLength = 1024

var (
	// ErrNotFound: no object under the key.
	ErrNotFound = errors.New("store: object not found")
	// ErrForbidden: the backend denied access to the object.
	ErrForbidden = errors.New("store: access denied")
	// ErrInvalidKey: the key is malformed and was not looked up.
	ErrInvalidKey = errors.New("store: invalid key")
)

// Info describes a stored object.
type Info struct {
	Size int64
}

// Store is the object store port.
type Store interface {
	// Stat returns the object's size.
	Stat(ctx context.Context, key string) (Info, error)
	// Open streams the object. The caller closes the reader.
	Open(ctx context.Context, key string) (io.ReadCloser, Info, error)
	// Put stores exactly size bytes read from body under key, replacing any
	// object there. A body of another length is an error and stores nothing.
	// Adapters may need body to be an io.ReadSeeker to sign the request;
	// callers pass files or byte readers.
	Put(ctx context.Context, key string, body io.Reader, size int64) error
	// Delete removes the object; a missing object is not an error.
	Delete(ctx context.Context, key string) error
}

// ValidateKey reports why key is not acceptable, wrapping [ErrInvalidKey].
func ValidateKey(key string) error {
	bad := func(why string) error { return fmt.Errorf("%w %q: %s", ErrInvalidKey, key, why) }
	switch {
	case key == "":
		return fmt.Errorf("%w: empty key", ErrInvalidKey)
	case len(key) > MaxKeyLength:
		return fmt.Errorf("%w: %d bytes, more than %d", ErrInvalidKey, len(key), MaxKeyLength)
	case strings.HasPrefix(key, "/"):
		return bad("absolute")
	case strings.ContainsFunc(key, func(r rune) bool { return r < 0x20 || r == 0x7f }):
		return bad("control character")
	case strings.Contains(key, `\`):
		return bad("backslash")
	}
	for seg := range strings.SplitSeq(key, "/") {
		switch seg {
		case "":
			return bad("empty path segment")
		case ".", "..":
			return bad("dot path segment")
		}
	}
	return nil
}

// HasPrefix reports whether key lies strictly under prefix (which ends in
// "/") and is itself valid.
func HasPrefix(key, prefix string) bool {
	return strings.HasSuffix(prefix, "/") && len(key) > len(prefix) &&
		strings.HasPrefix(key, prefix) && ValidateKey(key) == nil
}
