// Package fsbackend stores the local S3 endpoint's buckets on the file
// system and implements gofakes3's Backend (and MultipartBackend) over
// them, so the library's routing, and in-process readers (local/fakes3store),
// see exactly what the endpoint's own object handlers write.
//
// Layout under the directory it is given (the same as gofakes3's afero
// backend wrote, so an existing data directory keeps its objects):
//
//	buckets/<bucket>/<key>     the object's bytes, the key's "/" as directories
//	metadata/<bucket>/<name>   one JSON document per object (ETag, checksum, headers)
//	uploads/<id>/              a multipart upload in progress: upload.json and its parts
//	tmp/                       bodies being received; renamed into place when complete
//
// Writes land in tmp/ first and are renamed over the object, so a reader
// never sees half an object and a failed upload leaves nothing. Directories
// a delete leaves empty are removed, and listing reads only files, so an
// empty directory is never an object, a common prefix or a reason for
// DeleteBucket to answer BucketNotEmpty. Because keys are paths, a key
// cannot both be an object and continue with "/" ("a" and "a/b"): the
// second is refused with InvalidArgument.
package fsbackend

import (
	"crypto/md5" //nolint:gosec // S3's ETag is an MD5 by definition
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"hash"
	"hash/fnv"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/johannesboyne/gofakes3"

	"github.com/mailflow/mailflow/local/s3local/checksum"
)

// Checksum is an object's additional checksum as S3 reports it.
type Checksum struct {
	Algorithm checksum.Algorithm
	Type      checksum.Type
	Value     string // base64; a COMPOSITE value ends in "-<parts>"
}

// meta is the JSON document beside each object. Its first five fields are
// those gofakes3's afero backend wrote, so older documents still read.
type meta struct {
	File    string            `json:"File,omitempty"`
	ModTime time.Time         `json:"ModTime"`
	Size    int64             `json:"Size"`
	Hash    []byte            `json:"Hash"` // MD5 of the body
	Meta    map[string]string `json:"Meta,omitempty"`

	ETag       string    `json:"ETag,omitempty"` // quoted; empty: the hex of Hash
	Checksum   *Checksum `json:"Checksum,omitempty"`
	PartsCount int       `json:"PartsCount,omitempty"`
	PartSizes  []int64   `json:"PartSizes,omitempty"`
}

// Object describes a stored object.
type Object struct {
	Bucket, Key string
	Size        int64
	ModTime     time.Time
	ETag        string            // quoted, as S3 sends it
	Header      map[string]string // the stored headers: Content-Type, x-amz-meta-*, ...
	Checksum    *Checksum
	PartsCount  int
	PartSizes   []int64 // of a multipart object, each part's size in order
	MD5         []byte
}

// Backend is the file-system store.
type Backend struct {
	buckets, metadata, uploads, tmp string

	mu sync.RWMutex
	// changes counts writes and deletes per object while the process runs,
	// so a conditional write can tell that the object changed while its
	// body was arriving.
	changes map[string]change
}

type change struct {
	n       uint64
	deleted bool
}

var (
	_ gofakes3.Backend          = (*Backend)(nil)
	_ gofakes3.MultipartBackend = (*Backend)(nil)
)

// Open serves the store under dir, creating its directories.
func Open(dir string) (*Backend, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return nil, err
	}
	b := &Backend{
		buckets:  filepath.Join(abs, "buckets"),
		metadata: filepath.Join(abs, "metadata"),
		uploads:  filepath.Join(abs, "uploads"),
		tmp:      filepath.Join(abs, "tmp"),
		changes:  map[string]change{},
	}
	for _, d := range []string{b.buckets, b.metadata, b.uploads, b.tmp} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			return nil, err
		}
	}
	// Bodies whose request never finished are garbage after a restart.
	if entries, err := os.ReadDir(b.tmp); err == nil {
		for _, e := range entries {
			_ = os.RemoveAll(filepath.Join(b.tmp, e.Name()))
		}
	}
	return b, nil
}

func (b *Backend) bucketDir(bucket string) string { return filepath.Join(b.buckets, bucket) }

func (b *Backend) objectPath(bucket, key string) string {
	return filepath.Join(b.buckets, bucket, filepath.FromSlash(key))
}

// metaPath flattens the key and adds its hash, as the afero backend did,
// so one directory per bucket holds every document.
func (b *Backend) metaPath(bucket, key string) string {
	h := fnv.New128a()
	h.Write([]byte(key))
	flat := strings.NewReplacer("/", "_", `\`, "_").Replace(key)
	return filepath.Join(b.metadata, bucket, flat+"-"+hex.EncodeToString(h.Sum(nil)))
}

func validBucket(name string) error {
	if err := gofakes3.ValidateBucketName(name); err != nil {
		return gofakes3.BucketNotFound(name)
	}
	return nil
}

func (b *Backend) bucketExists(name string) bool {
	if validBucket(name) != nil {
		return false
	}
	st, err := os.Stat(b.bucketDir(name))
	return err == nil && st.IsDir()
}

func (b *Backend) requireBucket(name string) error {
	if !b.bucketExists(name) {
		return gofakes3.BucketNotFound(name)
	}
	return nil
}

// ListBuckets implements gofakes3.Backend.
func (b *Backend) ListBuckets() ([]gofakes3.BucketInfo, error) {
	entries, err := os.ReadDir(b.buckets)
	if err != nil {
		return nil, err
	}
	out := make([]gofakes3.BucketInfo, 0, len(entries))
	for _, e := range entries {
		if !e.IsDir() || gofakes3.ValidateBucketName(e.Name()) != nil {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		out = append(out, gofakes3.BucketInfo{Name: e.Name(), CreationDate: gofakes3.NewContentTime(info.ModTime())})
	}
	return out, nil
}

// BucketExists implements gofakes3.Backend.
func (b *Backend) BucketExists(name string) (bool, error) { return b.bucketExists(name), nil }

// CreateBucket implements gofakes3.Backend.
func (b *Backend) CreateBucket(name string) error {
	if err := gofakes3.ValidateBucketName(name); err != nil {
		return err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.bucketExists(name) {
		return gofakes3.ResourceError(gofakes3.ErrBucketAlreadyExists, name)
	}
	return os.Mkdir(b.bucketDir(name), 0o700)
}

// DeleteBucket implements gofakes3.Backend: a bucket with no object is
// empty, whatever directories are left in it.
func (b *Backend) DeleteBucket(name string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.requireBucket(name); err != nil {
		return err
	}
	keys, err := b.keysLocked(name, "")
	if err != nil {
		return err
	}
	if len(keys) > 0 {
		return gofakes3.ResourceError(gofakes3.ErrBucketNotEmpty, name)
	}
	return b.removeBucketLocked(name)
}

// ForceDeleteBucket implements gofakes3.Backend.
func (b *Backend) ForceDeleteBucket(name string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.requireBucket(name); err != nil {
		return err
	}
	return b.removeBucketLocked(name)
}

func (b *Backend) removeBucketLocked(name string) error {
	if err := os.RemoveAll(b.bucketDir(name)); err != nil {
		return err
	}
	if err := os.RemoveAll(filepath.Join(b.metadata, name)); err != nil {
		return err
	}
	for prefix := range b.changes {
		if strings.HasPrefix(prefix, name+"/") {
			delete(b.changes, prefix)
		}
	}
	return b.abortBucketUploadsLocked(name)
}

// Keys returns the bucket's keys that start with prefix, sorted as S3
// sorts them (by UTF-8 bytes).
func (b *Backend) Keys(bucket, prefix string) ([]string, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if err := b.requireBucket(bucket); err != nil {
		return nil, err
	}
	return b.keysLocked(bucket, prefix)
}

func (b *Backend) keysLocked(bucket, prefix string) ([]string, error) {
	root := b.bucketDir(bucket)
	// Walk only the directory the prefix lies in.
	start := root
	if i := strings.LastIndex(prefix, "/"); i >= 0 {
		start = filepath.Join(root, filepath.FromSlash(prefix[:i]))
	}
	var keys []string
	err := filepath.WalkDir(start, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if errors.Is(err, fs.ErrNotExist) || errors.Is(err, fs.ErrInvalid) || errors.Is(err, os.ErrNotExist) {
				return nil
			}
			var pe *fs.PathError
			if errors.As(err, &pe) && path == start {
				return nil // the prefix names a file's "directory": no keys
			}
			return err
		}
		if d.IsDir() || !d.Type().IsRegular() {
			return nil
		}
		rel, err := filepath.Rel(root, path)
		if err != nil {
			return err
		}
		if key := filepath.ToSlash(rel); strings.HasPrefix(key, prefix) {
			keys = append(keys, key)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	sort.Strings(keys)
	return keys, nil
}

// Stat describes one object; a missing one is gofakes3's NoSuchKey.
func (b *Backend) Stat(bucket, key string) (*Object, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.statLocked(bucket, key)
}

func (b *Backend) statLocked(bucket, key string) (*Object, error) {
	if err := b.requireBucket(bucket); err != nil {
		return nil, err
	}
	st, err := os.Stat(b.objectPath(bucket, key))
	if err != nil || !st.Mode().IsRegular() {
		return nil, gofakes3.KeyNotFound(key)
	}
	m, err := b.loadMeta(bucket, key, st)
	if err != nil {
		return nil, err
	}
	o := &Object{
		Bucket: bucket, Key: key, Size: st.Size(), ModTime: m.ModTime,
		ETag: m.ETag, Header: StoredHeaders(m.Meta), Checksum: m.Checksum, PartsCount: m.PartsCount, PartSizes: m.PartSizes, MD5: m.Hash,
	}
	if o.ETag == "" {
		o.ETag = gofakes3.FormatETag(m.Hash)
	}
	return o, nil
}

// loadMeta reads an object's document, and recomputes it when the file
// was changed behind the store's back (another size or time), as the afero
// backend did: the bytes are the truth.
func (b *Backend) loadMeta(bucket, key string, st fs.FileInfo) (*meta, error) {
	var m meta
	raw, err := os.ReadFile(b.metaPath(bucket, key))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	if len(raw) > 0 {
		if err := json.Unmarshal(raw, &m); err != nil {
			return nil, fmt.Errorf("fsbackend: metadata of %s/%s: %w", bucket, key, err)
		}
	}
	drift := st.ModTime().Sub(m.ModTime)
	if len(m.Hash) == 0 || m.Size != st.Size() || drift > time.Second || drift < -time.Second {
		f, err := os.Open(b.objectPath(bucket, key))
		if err != nil {
			return nil, err
		}
		defer f.Close()
		h := md5.New() //nolint:gosec // ETag
		if _, err := io.Copy(h, f); err != nil {
			return nil, err
		}
		m = meta{ModTime: st.ModTime(), Size: st.Size(), Hash: h.Sum(nil), Meta: m.Meta}
	}
	return &m, nil
}

// Open returns the object's bytes from offset, length bytes long (length
// < 0: to the end).
func (b *Backend) Open(bucket, key string, offset, length int64) (io.ReadCloser, *Object, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	o, err := b.statLocked(bucket, key)
	if err != nil {
		return nil, nil, err
	}
	f, err := os.Open(b.objectPath(bucket, key))
	if err != nil {
		return nil, nil, gofakes3.KeyNotFound(key)
	}
	if offset > 0 {
		if _, err := f.Seek(offset, io.SeekStart); err != nil {
			f.Close()
			return nil, nil, err
		}
	}
	if length < 0 {
		return f, o, nil
	}
	return struct {
		io.Reader
		io.Closer
	}{io.LimitReader(f, length), f}, o, nil
}

// storedHeaders are the request headers an object keeps and answers with.
var storedHeaders = map[string]bool{
	"Content-Type": true, "Content-Disposition": true, "Content-Encoding": true,
	"Content-Language": true, "Cache-Control": true, "Expires": true,
	"X-Amz-Website-Redirect-Location": true,
}

// StoredHeaders keeps, of a request's headers, those S3 stores with an
// object: the content headers and the user metadata (x-amz-meta-*). The
// aws-chunked content coding describes the upload, not the object, and is
// dropped.
func StoredHeaders(in map[string]string) map[string]string {
	out := map[string]string{}
	for k, v := range in {
		k = http.CanonicalHeaderKey(k)
		if !storedHeaders[k] && !strings.HasPrefix(k, "X-Amz-Meta-") {
			continue
		}
		if k == "Content-Encoding" {
			var keep []string
			for _, c := range strings.Split(v, ",") {
				if c = strings.TrimSpace(c); c != "" && !strings.EqualFold(c, "aws-chunked") {
					keep = append(keep, c)
				}
			}
			if len(keep) == 0 {
				continue
			}
			v = strings.Join(keep, ",")
		}
		out[k] = v
	}
	return out
}

// Spooled is a body received into the store's temporary directory, with
// its digests, waiting to be committed as an object or a part.
type Spooled struct {
	path string
	Size int64
	MD5  []byte
	Sums map[checksum.Algorithm][]byte
}

// Discard removes a spooled body that will not be committed.
func (s *Spooled) Discard() {
	if s != nil && s.path != "" {
		_ = os.Remove(s.path)
	}
}

// Spool receives body, computing its MD5 and the checksums in algs.
func (b *Backend) Spool(body io.Reader, algs ...checksum.Algorithm) (*Spooled, error) {
	f, err := os.CreateTemp(b.tmp, "body-*")
	if err != nil {
		return nil, err
	}
	md := md5.New() //nolint:gosec // ETag
	hashes := map[checksum.Algorithm]hash.Hash{}
	writers := []io.Writer{f, md}
	for _, a := range algs {
		if _, ok := hashes[a]; !ok {
			hashes[a] = a.New()
			writers = append(writers, hashes[a])
		}
	}
	n, err := io.Copy(io.MultiWriter(writers...), body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		_ = os.Remove(f.Name())
		return nil, err
	}
	s := &Spooled{path: f.Name(), Size: n, MD5: md.Sum(nil), Sums: map[checksum.Algorithm][]byte{}}
	for a, h := range hashes {
		s.Sums[a] = h.Sum(nil)
	}
	return s, nil
}

// Generation is what a conditional write remembers of the object when its
// request starts.
type Generation struct{ n uint64 }

// Generation returns the object's change count now.
func (b *Backend) Generation(bucket, key string) Generation {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return Generation{b.changes[bucket+"/"+key].n}
}

// Conditions are a write's preconditions (If-Match, If-None-Match).
type Conditions struct {
	IfMatch     string
	IfNoneMatch string
	Since       Generation // the object's generation when the request started
}

func (c *Conditions) empty() bool { return c == nil || (c.IfMatch == "" && c.IfNoneMatch == "") }

// Attrs are what a commit records besides the bytes.
type Attrs struct {
	Header     map[string]string
	ETag       string // quoted; empty: the body's MD5
	Checksum   *Checksum
	PartsCount int
	PartSizes  []int64
}

// Commit makes a spooled body the object bucket/key. With conditions, it
// answers PreconditionFailed when they do not hold against the object as
// it is now, and ConditionalRequestConflict when the object was deleted
// while the body arrived (the write raced a delete, as S3 reports it).
func (b *Backend) Commit(bucket, key string, s *Spooled, attrs Attrs, cond *Conditions) (*Object, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.requireBucket(bucket); err != nil {
		return nil, err
	}
	if !cond.empty() {
		if err := b.checkLocked(bucket, key, cond); err != nil {
			return nil, err
		}
	}
	dst := b.objectPath(bucket, key)
	if err := b.makeParentLocked(bucket, key); err != nil {
		return nil, err
	}
	if st, err := os.Stat(dst); err == nil && st.IsDir() {
		// Only an empty directory (left by earlier deletes) may give way.
		if err := removeEmptyTree(dst); err != nil {
			return nil, gofakes3.ErrorMessagef(gofakes3.ErrInvalidArgument, "The local endpoint stores keys as paths: objects exist under %q, so it cannot itself be an object.", key+"/")
		}
	}
	now := time.Now().UTC().Truncate(time.Second)
	if err := os.Chtimes(s.path, now, now); err != nil {
		return nil, err
	}
	m := meta{ModTime: now, Size: s.Size, Hash: s.MD5, Meta: StoredHeaders(attrs.Header), ETag: attrs.ETag, Checksum: attrs.Checksum, PartsCount: attrs.PartsCount, PartSizes: attrs.PartSizes}
	if err := b.saveMeta(bucket, key, &m); err != nil {
		return nil, err
	}
	if err := os.Rename(s.path, dst); err != nil {
		_ = os.Remove(b.metaPath(bucket, key))
		if errors.Is(err, syscallENAMETOOLONG) {
			return nil, gofakes3.ErrorMessagef(gofakes3.ErrKeyTooLong, "Your key is too long for the local endpoint, which keeps each key as a file name: %d bytes.", len(key))
		}
		return nil, err
	}
	s.path = ""
	id := bucket + "/" + key
	b.changes[id] = change{n: b.changes[id].n + 1}
	return b.statLocked(bucket, key)
}

func (b *Backend) checkLocked(bucket, key string, cond *Conditions) error {
	cur, err := b.statLocked(bucket, key)
	exists := err == nil
	if err != nil && !gofakes3.HasErrorCode(err, gofakes3.ErrNoSuchKey) {
		return err
	}
	ch := b.changes[bucket+"/"+key]
	if ch.n != cond.Since.n && ch.deleted {
		return gofakes3.ErrorMessage(gofakes3.ErrConditionalRequestConflict, "A conflicting operation (a delete of this object) completed while this conditional write was in progress; retry the request.")
	}
	if cond.IfNoneMatch != "" {
		if cond.IfNoneMatch != "*" {
			return gofakes3.ErrorMessage(gofakes3.ErrNotImplemented, "A header you provided implies functionality that is not implemented: If-None-Match on a write takes only *.")
		}
		if exists {
			return gofakes3.ErrorMessage(gofakes3.ErrPreconditionFailed, "At least one of the pre-conditions you specified did not hold (If-None-Match: the object exists).")
		}
	}
	if cond.IfMatch != "" {
		if !exists {
			return gofakes3.KeyNotFound(key)
		}
		if !ETagMatches(cond.IfMatch, cur.ETag) {
			return gofakes3.ErrorMessage(gofakes3.ErrPreconditionFailed, "At least one of the pre-conditions you specified did not hold (If-Match: the ETag differs).")
		}
	}
	return nil
}

// ETagMatches tells whether an If-Match / If-None-Match list names etag
// ("*" names any).
func ETagMatches(list, etag string) bool {
	for _, t := range strings.Split(list, ",") {
		t = strings.TrimSpace(t)
		t = strings.TrimPrefix(t, "W/")
		if t == "*" || strings.Trim(t, `"`) == strings.Trim(etag, `"`) {
			return true
		}
	}
	return false
}

func (b *Backend) makeParentLocked(bucket, key string) error {
	dir := filepath.Dir(b.objectPath(bucket, key))
	if err := os.MkdirAll(dir, 0o700); err != nil {
		if errors.Is(err, syscallENOTDIR) || errors.Is(err, fs.ErrExist) {
			return gofakes3.ErrorMessagef(gofakes3.ErrInvalidArgument, "The local endpoint stores keys as paths: a part of %q is itself an object, so no key can continue it.", key)
		}
		return err
	}
	return nil
}

func removeEmptyTree(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if !e.IsDir() {
			return errors.New("not empty")
		}
		if err := removeEmptyTree(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return os.Remove(dir)
}

func (b *Backend) saveMeta(bucket, key string, m *meta) error {
	raw, err := json.Marshal(m)
	if err != nil {
		return err
	}
	p := b.metaPath(bucket, key)
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return err
	}
	// The temporary name lives in tmp/: beside the document it could
	// outgrow the file system's name length.
	f, err := os.CreateTemp(b.tmp, "meta-*")
	if err != nil {
		return err
	}
	_, err = f.Write(raw)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), p)
	}
	if err != nil {
		_ = os.Remove(f.Name())
		if errors.Is(err, syscallENAMETOOLONG) {
			return gofakes3.ErrorMessagef(gofakes3.ErrKeyTooLong, "Your key is too long for the local endpoint, which keeps each key as a file name (at most about 220 bytes per path segment): %d bytes.", len(key))
		}
	}
	return err
}

// Delete removes an object (a missing one is no error, as in S3) and the
// directories it leaves empty.
func (b *Backend) Delete(bucket, key string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.deleteLocked(bucket, key)
}

func (b *Backend) deleteLocked(bucket, key string) error {
	if err := b.requireBucket(bucket); err != nil {
		return err
	}
	p := b.objectPath(bucket, key)
	st, err := os.Stat(p)
	if err != nil || !st.Mode().IsRegular() {
		return nil
	}
	if err := os.Remove(p); err != nil {
		return err
	}
	if err := os.Remove(b.metaPath(bucket, key)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	root := b.bucketDir(bucket)
	for dir := filepath.Dir(p); dir != root && strings.HasPrefix(dir, root); dir = filepath.Dir(dir) {
		if os.Remove(dir) != nil {
			break // not empty
		}
	}
	id := bucket + "/" + key
	b.changes[id] = change{n: b.changes[id].n + 1, deleted: true}
	return nil
}

// gofakes3.Backend methods the library still serves (copy, multi-delete,
// the in-process adapter) go through the same paths.

// ListBucket implements gofakes3.Backend with an unpaged list; the
// endpoint answers list requests itself (with paging), so only in-process
// callers use this.
func (b *Backend) ListBucket(bucket string, prefix *gofakes3.Prefix, _ gofakes3.ListBucketPage) (*gofakes3.ObjectList, error) {
	if prefix == nil {
		prefix = &gofakes3.Prefix{}
	}
	keys, err := b.Keys(bucket, prefix.Prefix)
	if err != nil {
		return nil, err
	}
	out := gofakes3.NewObjectList()
	for _, k := range keys {
		var match gofakes3.PrefixMatch
		if !prefix.Match(k, &match) {
			continue
		}
		if match.CommonPrefix {
			out.AddPrefix(match.MatchedPart)
			continue
		}
		o, err := b.Stat(bucket, k)
		if err != nil {
			continue
		}
		out.Add(&gofakes3.Content{Key: k, LastModified: gofakes3.NewContentTime(o.ModTime), ETag: o.ETag, Size: o.Size})
	}
	return out, nil
}

func (o *Object) gofakes3(contents io.ReadCloser) *gofakes3.Object {
	h := map[string]string{"Last-Modified": o.ModTime.Format(http.TimeFormat)}
	for k, v := range o.Header {
		h[k] = v
	}
	return &gofakes3.Object{Name: o.Key, Metadata: h, Size: o.Size, Contents: contents, Hash: o.MD5}
}

// GetObject implements gofakes3.Backend.
func (b *Backend) GetObject(bucket, key string, rng *gofakes3.ObjectRangeRequest) (*gofakes3.Object, error) {
	o, err := b.Stat(bucket, key)
	if err != nil {
		return nil, err
	}
	r, err := rng.Range(o.Size)
	if err != nil {
		return nil, err
	}
	off, n := int64(0), int64(-1)
	if r != nil {
		off, n = r.Start, r.Length
	}
	rc, o, err := b.Open(bucket, key, off, n)
	if err != nil {
		return nil, err
	}
	g := o.gofakes3(rc)
	g.Range = r
	return g, nil
}

// HeadObject implements gofakes3.Backend.
func (b *Backend) HeadObject(bucket, key string) (*gofakes3.Object, error) {
	o, err := b.Stat(bucket, key)
	if err != nil {
		return nil, err
	}
	return o.gofakes3(io.NopCloser(strings.NewReader(""))), nil
}

// DeleteObject implements gofakes3.Backend.
func (b *Backend) DeleteObject(bucket, key string) (gofakes3.ObjectDeleteResult, error) {
	return gofakes3.ObjectDeleteResult{}, b.Delete(bucket, key)
}

// PutObject implements gofakes3.Backend: the body is stored with the
// CRC64NVME checksum S3 computes for an object uploaded without one.
func (b *Backend) PutObject(bucket, key string, header map[string]string, input io.Reader, _ int64, conditions *gofakes3.PutConditions) (gofakes3.PutObjectResult, error) {
	var cond *Conditions
	if conditions != nil {
		cond = &Conditions{Since: b.Generation(bucket, key)}
		if conditions.IfMatch != nil {
			cond.IfMatch = *conditions.IfMatch
		}
		if conditions.IfNoneMatch != nil {
			cond.IfNoneMatch = *conditions.IfNoneMatch
		}
	}
	if err := b.requireBucket(bucket); err != nil {
		return gofakes3.PutObjectResult{}, err
	}
	s, err := b.Spool(input, checksum.CRC64NVME)
	if err != nil {
		return gofakes3.PutObjectResult{}, err
	}
	defer s.Discard()
	_, err = b.Commit(bucket, key, s, Attrs{Header: header, Checksum: DefaultChecksum(s)}, cond)
	return gofakes3.PutObjectResult{}, err
}

// DefaultChecksum is the FULL_OBJECT CRC64NVME S3 records for an object
// uploaded without a checksum of its own; s must have spooled it.
func DefaultChecksum(s *Spooled) *Checksum {
	sum, ok := s.Sums[checksum.CRC64NVME]
	if !ok {
		return nil
	}
	return &Checksum{Algorithm: checksum.CRC64NVME, Type: checksum.FullObject, Value: checksum.Encode(sum)}
}

// DeleteMulti implements gofakes3.Backend.
func (b *Backend) DeleteMulti(bucket string, keys ...string) (gofakes3.MultiDeleteResult, error) {
	var res gofakes3.MultiDeleteResult
	for _, k := range keys {
		if err := b.Delete(bucket, k); err != nil {
			res.Error = append(res.Error, gofakes3.ErrorResultFromError(err))
			continue
		}
		res.Deleted = append(res.Deleted, gofakes3.ObjectID{Key: k})
	}
	return res, nil
}

// CopyObject implements gofakes3.Backend: the copy is a new single-part
// object, so its ETag is its MD5; it keeps the source's checksum algorithm
// (recomputed over the whole body) or gets the default one.
func (b *Backend) CopyObject(srcBucket, srcKey, dstBucket, dstKey string, header map[string]string) (gofakes3.CopyObjectResult, error) {
	if err := b.requireBucket(dstBucket); err != nil {
		return gofakes3.CopyObjectResult{}, err
	}
	rc, src, err := b.Open(srcBucket, srcKey, 0, -1)
	if err != nil {
		return gofakes3.CopyObjectResult{}, err
	}
	defer rc.Close()
	alg := checksum.CRC64NVME
	if src.Checksum != nil && (src.Checksum.Type == checksum.FullObject || src.PartsCount == 0) {
		alg = src.Checksum.Algorithm
	}
	s, err := b.Spool(rc, alg)
	if err != nil {
		return gofakes3.CopyObjectResult{}, err
	}
	defer s.Discard()
	o, err := b.Commit(dstBucket, dstKey, s, Attrs{Header: header, Checksum: &Checksum{Algorithm: alg, Type: checksum.FullObject, Value: checksum.Encode(s.Sums[alg])}}, nil)
	if err != nil {
		return gofakes3.CopyObjectResult{}, err
	}
	return gofakes3.CopyObjectResult{ETag: o.ETag, LastModified: gofakes3.NewContentTime(o.ModTime)}, nil
}

// newID is a random upload id: hex, so it is safe as a directory name.
func newID() string {
	var raw [16]byte
	_, _ = rand.Read(raw[:])
	return hex.EncodeToString(raw[:])
}
