package fsbackend

import (
	"crypto/md5" //nolint:gosec // multipart ETags are MD5s by definition
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/johannesboyne/gofakes3"

	"github.com/mailflow/mailflow/local/s3local/checksum"
)

// MinPartSize is S3's smallest part, but for the last one.
const MinPartSize = 5 << 20

// MaxParts is S3's largest part number.
const MaxParts = 10000

// Upload is a multipart upload in progress, kept on disk so it survives a
// restart as it would on S3.
type Upload struct {
	ID        string
	Bucket    string
	Key       string
	Header    map[string]string
	Initiated time.Time
	// Algorithm and Type are the checksum the upload was created with;
	// empty when it was created without one.
	Algorithm checksum.Algorithm `json:",omitempty"`
	Type      checksum.Type      `json:",omitempty"`
}

// Part is one uploaded part.
type Part struct {
	Number   int
	Size     int64
	ETag     string // quoted hex MD5
	MD5      []byte
	Checksum string `json:",omitempty"` // base64 of the upload's algorithm, if any
	Modified time.Time
}

var uploadID = regexp.MustCompile(`^[0-9a-f]{32}$`)

func (b *Backend) uploadDir(id string) string { return filepath.Join(b.uploads, id) }

// CreateUpload starts a multipart upload.
func (b *Backend) CreateUpload(bucket, key string, header map[string]string, alg checksum.Algorithm, typ checksum.Type) (*Upload, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if err := b.requireBucket(bucket); err != nil {
		return nil, err
	}
	u := &Upload{ID: newID(), Bucket: bucket, Key: key, Header: StoredHeaders(header), Initiated: time.Now().UTC(), Algorithm: alg, Type: typ}
	if err := os.Mkdir(b.uploadDir(u.ID), 0o700); err != nil {
		return nil, err
	}
	raw, err := json.Marshal(u)
	if err != nil {
		return nil, err
	}
	return u, os.WriteFile(filepath.Join(b.uploadDir(u.ID), "upload.json"), raw, 0o600)
}

// Upload returns the upload id of bucket/key, or NoSuchUpload.
func (b *Backend) Upload(bucket, key, id string) (*Upload, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.uploadLocked(bucket, key, id)
}

func (b *Backend) uploadLocked(bucket, key, id string) (*Upload, error) {
	if err := b.requireBucket(bucket); err != nil {
		return nil, err
	}
	if !uploadID.MatchString(id) {
		return nil, gofakes3.ErrNoSuchUpload
	}
	raw, err := os.ReadFile(filepath.Join(b.uploadDir(id), "upload.json"))
	if err != nil {
		return nil, gofakes3.ErrNoSuchUpload
	}
	var u Upload
	if err := json.Unmarshal(raw, &u); err != nil {
		return nil, fmt.Errorf("fsbackend: upload %s: %w", id, err)
	}
	if u.Bucket != bucket || u.Key != key {
		return nil, gofakes3.ErrNoSuchUpload
	}
	return &u, nil
}

// PutPart stores a spooled body as part n of an upload; it replaces an
// earlier part n, as in S3.
func (b *Backend) PutPart(u *Upload, n int, s *Spooled, sum string) (*Part, error) {
	if n < 1 || n > MaxParts {
		return nil, gofakes3.ErrorMessagef(gofakes3.ErrInvalidArgument, "Part number must be an integer between 1 and %d, inclusive.", MaxParts)
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, err := b.uploadLocked(u.Bucket, u.Key, u.ID); err != nil {
		return nil, err
	}
	p := &Part{Number: n, Size: s.Size, ETag: gofakes3.FormatETag(s.MD5), MD5: s.MD5, Checksum: sum, Modified: time.Now().UTC()}
	raw, err := json.Marshal(p)
	if err != nil {
		return nil, err
	}
	dir := b.uploadDir(u.ID)
	if err := os.WriteFile(filepath.Join(dir, strconv.Itoa(n)+".json.tmp"), raw, 0o600); err != nil {
		return nil, err
	}
	if err := os.Rename(s.path, filepath.Join(dir, strconv.Itoa(n)+".part")); err != nil {
		return nil, err
	}
	s.path = ""
	return p, os.Rename(filepath.Join(dir, strconv.Itoa(n)+".json.tmp"), filepath.Join(dir, strconv.Itoa(n)+".json"))
}

// Parts lists an upload's parts by number.
func (b *Backend) Parts(u *Upload) ([]Part, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	return b.partsLocked(u)
}

func (b *Backend) partsLocked(u *Upload) ([]Part, error) {
	entries, err := os.ReadDir(b.uploadDir(u.ID))
	if err != nil {
		return nil, gofakes3.ErrNoSuchUpload
	}
	var parts []Part
	for _, e := range entries {
		if !strings.HasSuffix(e.Name(), ".json") || e.Name() == "upload.json" {
			continue
		}
		raw, err := os.ReadFile(filepath.Join(b.uploadDir(u.ID), e.Name()))
		if err != nil {
			return nil, err
		}
		var p Part
		if err := json.Unmarshal(raw, &p); err != nil {
			return nil, err
		}
		parts = append(parts, p)
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i].Number < parts[j].Number })
	return parts, nil
}

// CompletedPart is one entry of a CompleteMultipartUpload request.
type CompletedPart struct {
	Number   int
	ETag     string
	Checksum string // the part's checksum as the client lists it; empty if not listed
}

// Complete assembles the listed parts into the object, as S3 does: the
// parts must be listed in ascending order, exist with the listed ETags
// (and checksums, when listed), and all but the last be at least
// MinPartSize. The ETag is the MD5 of the parts' binary MD5s, then
// "-<parts>"; the checksum is COMPOSITE or FULL_OBJECT as the upload was
// created, or the default CRC64NVME when it was created without one.
// fullObject, when not empty, is the whole-object checksum the request
// carries, checked against the assembled body.
func (b *Backend) Complete(u *Upload, listed []CompletedPart, fullObject string, cond *Conditions) (*Object, error) {
	if len(listed) == 0 {
		return nil, gofakes3.ErrorMessage(gofakes3.ErrMalformedXML, "The XML you provided was not well-formed or did not validate against our published schema: a CompleteMultipartUpload lists at least one part.")
	}
	b.mu.RLock()
	stored, err := b.partsLocked(u)
	b.mu.RUnlock()
	if err != nil {
		return nil, err
	}
	byNumber := map[int]Part{}
	for _, p := range stored {
		byNumber[p.Number] = p
	}
	var (
		files   []string
		etagSum = md5.New() //nolint:gosec // ETag
		sums    [][]byte
		sizes   []int64
	)
	for i, lp := range listed {
		if i > 0 && lp.Number <= listed[i-1].Number {
			return nil, gofakes3.ErrorMessage(gofakes3.ErrInvalidPartOrder, "The list of parts was not in ascending order. The parts list must be specified in order by part number.")
		}
		p, ok := byNumber[lp.Number]
		if !ok || !ETagMatches(lp.ETag, p.ETag) {
			return nil, gofakes3.ErrorMessagef(gofakes3.ErrInvalidPart, "One or more of the specified parts could not be found (part %d). The part may not have been uploaded, or the specified entity tag may not match the part's entity tag.", lp.Number)
		}
		if lp.Checksum != "" && lp.Checksum != p.Checksum {
			return nil, gofakes3.ErrorMessagef(gofakes3.ErrInvalidPart, "The checksum listed for part %d does not match the checksum of the uploaded part.", lp.Number)
		}
		if i < len(listed)-1 && p.Size < MinPartSize {
			return nil, gofakes3.ErrorMessagef("EntityTooSmall", "Your proposed upload is smaller than the minimum allowed size: part %d has %d bytes, and every part but the last needs %d.", lp.Number, p.Size, MinPartSize)
		}
		if u.Algorithm != "" && u.Type == checksum.Composite {
			raw, err := u.Algorithm.Decode(p.Checksum)
			if err != nil {
				return nil, gofakes3.ErrorMessagef("InvalidRequest", "The upload was created using a %s checksum. The complete request must include the checksum for each part; part %d has none.", strings.ToLower(string(u.Algorithm)), lp.Number)
			}
			sums = append(sums, raw)
		}
		etagSum.Write(p.MD5)
		sizes = append(sizes, p.Size)
		files = append(files, filepath.Join(b.uploadDir(u.ID), strconv.Itoa(p.Number)+".part"))
	}

	whole := u.Algorithm
	if whole == "" || u.Type == checksum.Composite {
		whole = checksum.CRC64NVME // computed either way; recorded only without an algorithm
	}
	body, closeAll, err := concat(files)
	if err != nil {
		return nil, err
	}
	s, err := b.Spool(body, whole)
	closeAll()
	if err != nil {
		return nil, err
	}
	defer s.Discard()

	var sum *Checksum
	switch {
	case u.Algorithm != "" && u.Type == checksum.Composite:
		sum = &Checksum{Algorithm: u.Algorithm, Type: checksum.Composite, Value: u.Algorithm.CompositeOf(sums)}
	default:
		sum = &Checksum{Algorithm: whole, Type: checksum.FullObject, Value: checksum.Encode(s.Sums[whole])}
	}
	if fullObject != "" && u.Type != checksum.Composite && fullObject != sum.Value {
		return nil, gofakes3.ErrorMessagef(gofakes3.ErrBadDigest, "The %s you specified did not match the calculated checksum.", strings.ToLower(string(whole)))
	}
	etag := fmt.Sprintf(`"%s-%d"`, hex.EncodeToString(etagSum.Sum(nil)), len(listed))
	o, err := b.Commit(u.Bucket, u.Key, s, Attrs{Header: u.Header, ETag: etag, Checksum: sum, PartsCount: len(listed), PartSizes: sizes}, cond)
	if err != nil {
		return nil, err
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	return o, os.RemoveAll(b.uploadDir(u.ID))
}

func concat(files []string) (io.Reader, func(), error) {
	var (
		readers []io.Reader
		opened  []*os.File
	)
	closeAll := func() {
		for _, f := range opened {
			f.Close()
		}
	}
	for _, name := range files {
		f, err := os.Open(name)
		if err != nil {
			closeAll()
			return nil, nil, gofakes3.ErrInvalidPart
		}
		opened = append(opened, f)
		readers = append(readers, f)
	}
	return io.MultiReader(readers...), closeAll, nil
}

// Abort discards an upload and its parts.
func (b *Backend) Abort(bucket, key, id string) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, err := b.uploadLocked(bucket, key, id); err != nil {
		return err
	}
	return os.RemoveAll(b.uploadDir(id))
}

func (b *Backend) abortBucketUploadsLocked(bucket string) error {
	uploads, err := b.uploadsLocked(bucket)
	if err != nil {
		return err
	}
	for _, u := range uploads {
		if err := os.RemoveAll(b.uploadDir(u.ID)); err != nil {
			return err
		}
	}
	return nil
}

func (b *Backend) uploadsLocked(bucket string) ([]*Upload, error) {
	entries, err := os.ReadDir(b.uploads)
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, err
	}
	var out []*Upload
	for _, e := range entries {
		raw, err := os.ReadFile(filepath.Join(b.uploads, e.Name(), "upload.json"))
		if err != nil {
			continue
		}
		var u Upload
		if json.Unmarshal(raw, &u) == nil && u.Bucket == bucket {
			out = append(out, &u)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if out[i].Key != out[j].Key {
			return out[i].Key < out[j].Key
		}
		return out[i].Initiated.Before(out[j].Initiated)
	})
	return out, nil
}

// The gofakes3.MultipartBackend methods: the endpoint creates uploads,
// stores parts and completes them itself (with checksums); the library
// routes listing and aborting here.

// CreateMultipartUpload implements gofakes3.MultipartBackend.
func (b *Backend) CreateMultipartUpload(bucket, key string, header map[string]string) (gofakes3.UploadID, error) {
	u, err := b.CreateUpload(bucket, key, header, "", "")
	if err != nil {
		return "", err
	}
	return gofakes3.UploadID(u.ID), nil
}

// UploadPart implements gofakes3.MultipartBackend.
func (b *Backend) UploadPart(bucket, key string, id gofakes3.UploadID, n int, _ int64, input io.Reader) (string, error) {
	u, err := b.Upload(bucket, key, string(id))
	if err != nil {
		return "", err
	}
	s, err := b.Spool(input)
	if err != nil {
		return "", err
	}
	defer s.Discard()
	p, err := b.PutPart(u, n, s, "")
	if err != nil {
		return "", err
	}
	return p.ETag, nil
}

// ListMultipartUploads implements gofakes3.MultipartBackend (key marker
// and prefix honoured; limit caps the answer).
func (b *Backend) ListMultipartUploads(bucket string, marker *gofakes3.UploadListMarker, prefix gofakes3.Prefix, limit int64) (*gofakes3.ListMultipartUploadsResult, error) {
	b.mu.RLock()
	defer b.mu.RUnlock()
	if err := b.requireBucket(bucket); err != nil {
		return nil, err
	}
	uploads, err := b.uploadsLocked(bucket)
	if err != nil {
		return nil, err
	}
	res := &gofakes3.ListMultipartUploadsResult{Bucket: bucket, MaxUploads: limit, Prefix: prefix.Prefix}
	if marker != nil {
		res.KeyMarker, res.UploadIDMarker = marker.Object, marker.UploadID
	}
	for _, u := range uploads {
		if !strings.HasPrefix(u.Key, prefix.Prefix) || (marker != nil && marker.Object != "" && u.Key <= marker.Object) {
			continue
		}
		if int64(len(res.Uploads)) >= limit {
			res.IsTruncated = true
			last := res.Uploads[len(res.Uploads)-1]
			res.NextKeyMarker, res.NextUploadIDMarker = last.Key, last.UploadID
			break
		}
		res.Uploads = append(res.Uploads, gofakes3.ListMultipartUploadItem{Key: u.Key, UploadID: gofakes3.UploadID(u.ID), StorageClass: "STANDARD", Initiated: gofakes3.NewContentTime(u.Initiated)})
	}
	return res, nil
}

// ListParts implements gofakes3.MultipartBackend.
func (b *Backend) ListParts(bucket, key string, id gofakes3.UploadID, marker int, limit int64) (*gofakes3.ListMultipartUploadPartsResult, error) {
	u, err := b.Upload(bucket, key, string(id))
	if err != nil {
		return nil, err
	}
	parts, err := b.Parts(u)
	if err != nil {
		return nil, err
	}
	res := &gofakes3.ListMultipartUploadPartsResult{Bucket: bucket, Key: key, UploadID: id, StorageClass: "STANDARD", PartNumberMarker: marker, MaxParts: limit}
	for _, p := range parts {
		if p.Number <= marker {
			continue
		}
		if int64(len(res.Parts)) >= limit {
			res.IsTruncated = true
			break
		}
		res.Parts = append(res.Parts, gofakes3.ListMultipartUploadPartItem{PartNumber: p.Number, LastModified: gofakes3.NewContentTime(p.Modified), ETag: p.ETag, Size: p.Size})
		res.NextPartNumberMarker = p.Number
	}
	return res, nil
}

// AbortMultipartUpload implements gofakes3.MultipartBackend.
func (b *Backend) AbortMultipartUpload(bucket, key string, id gofakes3.UploadID) error {
	return b.Abort(bucket, key, string(id))
}

// CompleteMultipartUpload implements gofakes3.MultipartBackend.
func (b *Backend) CompleteMultipartUpload(bucket, key string, id gofakes3.UploadID, in *gofakes3.CompleteMultipartUploadRequest) (gofakes3.VersionID, string, error) {
	u, err := b.Upload(bucket, key, string(id))
	if err != nil {
		return "", "", err
	}
	listed := make([]CompletedPart, len(in.Parts))
	for i, p := range in.Parts {
		listed[i] = CompletedPart{Number: p.PartNumber, ETag: p.ETag}
	}
	o, err := b.Complete(u, listed, "", nil)
	if err != nil {
		return "", "", err
	}
	return "", o.ETag, nil
}
