package s3local

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/johannesboyne/gofakes3"

	"github.com/mailflow/mailflow/local/s3local/awschunked"
	"github.com/mailflow/mailflow/local/s3local/checksum"
	"github.com/mailflow/mailflow/local/s3local/fsbackend"
)

// maxUserMetadata is S3's bound on the x-amz-meta-* headers of an object.
const maxUserMetadata = 2 << 10

// received is a request body stored in the spool, with the checksum the
// client sent for it (verified) and the algorithm it was computed with.
type received struct {
	body      *fsbackend.Spooled
	algorithm checksum.Algorithm
	value     string // base64
	sent      bool   // the client sent the checksum (header or trailer)
}

// receive reads an upload's body, decoding aws-chunked framing, and checks
// it against Content-MD5 and the one x-amz-checksum-* the request carries
// (as a header, or as a trailer announced in x-amz-trailer). want is the
// algorithm to compute when the client sends none (an upload's algorithm
// for a part; CRC64NVME, S3's default, for an object).
func (s *Server) receive(r *http.Request, want checksum.Algorithm) (*received, error) {
	if r.ContentLength < 0 && r.Header.Get("X-Amz-Decoded-Content-Length") == "" {
		return nil, failf(gofakes3.ErrMissingContentLength, "You must provide the Content-Length HTTP header.")
	}
	alg, value, trailer, err := requestChecksum(r.Header)
	if err != nil {
		return nil, err
	}
	if alg == "" {
		alg = want
	}
	var md5 []byte
	if v, ok := r.Header["Content-Md5"]; ok {
		if md5, err = base64.StdEncoding.DecodeString(v[0]); err != nil || len(md5) != 16 {
			return nil, failf(gofakes3.ErrInvalidDigest, "The Content-MD5 you specified is not valid.")
		}
	}

	var body io.Reader = r.Body
	size := r.ContentLength
	var chunked *awschunked.Reader
	if strings.HasPrefix(r.Header.Get("X-Amz-Content-Sha256"), "STREAMING-") || hasCoding(r.Header.Get("Content-Encoding"), "aws-chunked") {
		decoded := r.Header.Get("X-Amz-Decoded-Content-Length")
		if size, err = strconv.ParseInt(decoded, 10, 64); err != nil || size < 0 {
			return nil, failf(gofakes3.ErrMissingContentLength, "An aws-chunked upload must carry its payload size in x-amz-decoded-content-length (got %q).", decoded)
		}
		chunked = awschunked.NewReader(r.Body)
		body = chunked
	}
	spooled, err := s.backend.Spool(body, alg)
	if err != nil {
		var tooBig *http.MaxBytesError
		if errors.As(err, &tooBig) {
			return nil, err
		}
		if errors.Is(err, awschunked.ErrMalformed) {
			return nil, failf(errIncompleteBody, "The request body is not valid aws-chunked encoding: %v", err)
		}
		return nil, failf(errIncompleteBody, "The request body could not be read in full: %v", err)
	}
	ok := false
	defer func() {
		if !ok {
			spooled.Discard()
		}
	}()
	if spooled.Size != size {
		return nil, failf(errIncompleteBody, "You did not provide the number of bytes specified by the Content-Length HTTP header (%d bytes received, %d declared).", spooled.Size, size)
	}
	if trailer != "" {
		value = chunked.Trailers()[trailer]
		if value == "" {
			return nil, failf(errInvalidRequest, "The request announced the trailer %s (x-amz-trailer) but its body did not end with it.", trailer)
		}
	}
	if md5 != nil && !bytes.Equal(md5, spooled.MD5) {
		return nil, failf(gofakes3.ErrBadDigest, "The Content-MD5 you specified did not match what we received.")
	}
	got := checksum.Encode(spooled.Sums[alg])
	if value != "" {
		if _, err := alg.Decode(value); err != nil {
			return nil, failf(errInvalidRequest, "Value for %s header is invalid.", alg.Header())
		}
		if value != got {
			return nil, failf(gofakes3.ErrBadDigest, "The %s you specified did not match the calculated checksum.", strings.ToLower(string(alg)))
		}
	}
	ok = true
	return &received{body: spooled, algorithm: alg, value: got, sent: value != ""}, nil
}

// requestChecksum finds the request's one additional checksum: its
// algorithm, and either its value (a header) or the trailer that will
// carry it.
func requestChecksum(h http.Header) (alg checksum.Algorithm, value, trailer string, err error) {
	var found []checksum.Algorithm
	for _, a := range checksum.All {
		if v := h.Get(a.Header()); v != "" {
			found = append(found, a)
			value = v
		}
	}
	if t := strings.ToLower(strings.TrimSpace(h.Get("X-Amz-Trailer"))); t != "" {
		name, ok := strings.CutPrefix(t, "x-amz-checksum-")
		if !ok {
			return "", "", "", failf(errInvalidRequest, "The trailer %q (x-amz-trailer) is not a checksum trailer.", t)
		}
		a, perr := checksum.Parse(name)
		if perr != nil {
			return "", "", "", failf(errInvalidRequest, "The trailer %q (x-amz-trailer) names no known checksum: %v.", t, perr)
		}
		found = append(found, a)
		trailer = t
	}
	if len(found) > 1 {
		return "", "", "", failf(errInvalidRequest, "Expecting a single x-amz-checksum- header. Multiple checksum Types are not allowed.")
	}
	if sdk := h.Get("X-Amz-Sdk-Checksum-Algorithm"); sdk != "" {
		a, perr := checksum.Parse(sdk)
		if perr != nil {
			return "", "", "", failf(errInvalidRequest, "Value for x-amz-sdk-checksum-algorithm header is invalid: %v.", perr)
		}
		if len(found) == 1 && found[0] != a {
			return "", "", "", failf(errInvalidRequest, "x-amz-sdk-checksum-algorithm specified %s, but the request carries a %s checksum.", a, found[0])
		}
		if len(found) == 0 {
			return "", "", "", failf(errInvalidRequest, "x-amz-sdk-checksum-algorithm specified %s, but the request carries no %s header or trailer.", a, a.Header())
		}
	}
	if len(found) == 1 {
		alg = found[0]
	}
	return alg, value, trailer, nil
}

func hasCoding(header, coding string) bool {
	for _, c := range strings.Split(header, ",") {
		if strings.EqualFold(strings.TrimSpace(c), coding) {
			return true
		}
	}
	return false
}

// objectHeaders collects what an object keeps of a request's headers and
// refuses user metadata larger than S3 takes.
func objectHeaders(h http.Header) (map[string]string, error) {
	out := map[string]string{}
	for k, v := range h {
		out[k] = v[0]
	}
	kept := fsbackend.StoredHeaders(out)
	n := 0
	for k, v := range kept {
		if strings.HasPrefix(k, "X-Amz-Meta-") {
			n += len(k) - len("X-Amz-Meta-") + len(v)
		}
	}
	if n > maxUserMetadata {
		return nil, failf(errMetadataTooLarge, "Your metadata headers exceed the maximum allowed metadata size (%d bytes, at most %d).", n, maxUserMetadata)
	}
	return kept, nil
}

func writeConditions(h http.Header, since fsbackend.Generation) *fsbackend.Conditions {
	c := &fsbackend.Conditions{IfMatch: h.Get("If-Match"), IfNoneMatch: strings.TrimSpace(h.Get("If-None-Match")), Since: since}
	if c.IfMatch == "" && c.IfNoneMatch == "" {
		return nil
	}
	return c
}

func setChecksumHeaders(h http.Header, sum *fsbackend.Checksum) {
	if sum == nil {
		return
	}
	h.Set(sum.Algorithm.Header(), sum.Value)
	h.Set("X-Amz-Checksum-Type", string(sum.Type))
}

func (s *Server) putObject(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	if ok, _ := s.backend.BucketExists(bucket); !ok {
		return gofakes3.BucketNotFound(bucket)
	}
	header, err := objectHeaders(r.Header)
	if err != nil {
		return err
	}
	since := s.backend.Generation(bucket, key)
	in, err := s.receive(r, checksum.CRC64NVME)
	if err != nil {
		return err
	}
	defer in.body.Discard()
	sum := &fsbackend.Checksum{Algorithm: in.algorithm, Type: checksum.FullObject, Value: in.value}
	o, err := s.backend.Commit(bucket, key, in.body, fsbackend.Attrs{Header: header, Checksum: sum}, writeConditions(r.Header, since))
	if err != nil {
		return err
	}
	w.Header().Set("ETag", o.ETag)
	setChecksumHeaders(w.Header(), sum)
	w.WriteHeader(http.StatusOK)
	return nil
}

// readConditions applies If-Match, If-Unmodified-Since, If-None-Match and
// If-Modified-Since in the order RFC 9110 and S3 give them: a failed
// If-Match (or, without one, If-Unmodified-Since) is 412; a matching
// If-None-Match (or, without one, a not-modified If-Modified-Since) is 304.
// Dates that do not parse are ignored, as HTTP says.
func readConditions(h http.Header, o *fsbackend.Object) (int, bool) {
	modified := o.ModTime.Truncate(time.Second)
	if im := h.Get("If-Match"); im != "" {
		if !fsbackend.ETagMatches(im, o.ETag) {
			return http.StatusPreconditionFailed, false
		}
	} else if t, err := http.ParseTime(h.Get("If-Unmodified-Since")); err == nil && modified.After(t) {
		return http.StatusPreconditionFailed, false
	}
	if inm := h.Get("If-None-Match"); inm != "" {
		if fsbackend.ETagMatches(inm, o.ETag) {
			return http.StatusNotModified, false
		}
	} else if t, err := http.ParseTime(h.Get("If-Modified-Since")); err == nil && !modified.After(t) {
		return http.StatusNotModified, false
	}
	return 0, true
}

// byteRange resolves a Range header against size: ok false means serve the
// whole object (no header, or one that does not parse, or several ranges:
// HTTP lets a server ignore those, and S3 does); unsatisfiable means 416.
func byteRange(header string, size int64) (start, length int64, ok, unsatisfiable bool) {
	spec, found := strings.CutPrefix(strings.TrimSpace(header), "bytes=")
	if !found || strings.Contains(spec, ",") {
		return 0, 0, false, false
	}
	first, last, found := strings.Cut(strings.TrimSpace(spec), "-")
	if !found {
		return 0, 0, false, false
	}
	first, last = strings.TrimSpace(first), strings.TrimSpace(last)
	if first == "" {
		n, err := strconv.ParseInt(last, 10, 64)
		if err != nil || n < 0 {
			return 0, 0, false, false
		}
		if n == 0 || size == 0 {
			return 0, 0, false, true
		}
		n = min(n, size)
		return size - n, n, true, false
	}
	a, err := strconv.ParseInt(first, 10, 64)
	if err != nil || a < 0 {
		return 0, 0, false, false
	}
	end := size - 1
	if last != "" {
		b, err := strconv.ParseInt(last, 10, 64)
		if err != nil || b < a {
			return 0, 0, false, false
		}
		end = min(b, size-1)
	}
	if a >= size {
		return 0, 0, false, true
	}
	return a, end - a + 1, true, false
}

var responseOverrides = map[string]string{
	"response-content-type":        "Content-Type",
	"response-content-language":    "Content-Language",
	"response-expires":             "Expires",
	"response-cache-control":       "Cache-Control",
	"response-content-disposition": "Content-Disposition",
	"response-content-encoding":    "Content-Encoding",
}

func (s *Server) getObject(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	o, err := s.backend.Stat(bucket, key)
	if err != nil {
		return err
	}
	h := w.Header()
	h.Set("ETag", o.ETag)
	h.Set("Last-Modified", o.ModTime.UTC().Format(http.TimeFormat))
	if code, ok := readConditions(r.Header, o); !ok {
		if code == http.StatusNotModified {
			w.WriteHeader(code)
			return nil
		}
		return gofakes3.ErrorMessage(gofakes3.ErrPreconditionFailed, "At least one of the pre-conditions you specified did not hold")
	}
	start, length, ranged, unsatisfiable := byteRange(r.Header.Get("Range"), o.Size)
	partNumber := r.URL.Query().Get("partNumber")
	if partNumber != "" {
		if r.Header.Get("Range") != "" {
			return failf(errInvalidRequest, "Cannot specify both Range header and partNumber query parameter.")
		}
		var err error
		if start, length, err = partRange(partNumber, o); err != nil {
			return err
		}
		// A multipart object's part is a partial answer; part 1 of a
		// single-part object is the whole object, as on S3.
		ranged = o.PartsCount > 0
		h.Set("X-Amz-Mp-Parts-Count", strconv.Itoa(max(o.PartsCount, 1)))
	}
	if unsatisfiable {
		h.Set("Content-Range", fmt.Sprintf("bytes */%d", o.Size))
		return gofakes3.ErrorMessage(gofakes3.ErrInvalidRange, "The requested range is not satisfiable")
	}
	h.Set("Content-Type", "binary/octet-stream")
	for k, v := range o.Header {
		if suffix, ok := strings.CutPrefix(http.CanonicalHeaderKey(k), "X-Amz-Meta-"); ok {
			// S3 keeps user metadata keys in lower case and answers them so;
			// clients that do not fold the name (the AWS CLI) show it as sent.
			h["x-amz-meta-"+strings.ToLower(suffix)] = []string{v}
			continue
		}
		h.Set(k, v)
	}
	if r.Method == http.MethodGet {
		for param, name := range responseOverrides {
			if v := r.URL.Query().Get(param); v != "" {
				h.Set(name, v)
			}
		}
	}
	h.Set("Accept-Ranges", "bytes")
	// A checksum describes the whole object, so a range gets none, as on S3.
	if strings.EqualFold(r.Header.Get("X-Amz-Checksum-Mode"), "ENABLED") && !ranged {
		setChecksumHeaders(h, o.Checksum)
	}
	if !ranged && partNumber == "" {
		start, length = 0, o.Size
	}
	h.Set("Content-Length", strconv.FormatInt(length, 10))
	status := http.StatusOK
	if ranged {
		h.Set("Content-Range", fmt.Sprintf("bytes %d-%d/%d", start, start+length-1, o.Size))
		status = http.StatusPartialContent
	}
	if r.Method == http.MethodHead {
		w.WriteHeader(status)
		return nil
	}
	body, _, err := s.backend.Open(bucket, key, start, length)
	if err != nil {
		return err
	}
	defer body.Close()
	w.WriteHeader(status)
	_, _ = io.Copy(w, body)
	return nil
}

// partRange is where part n of o lies: S3's GetObject?partNumber=n.
func partRange(value string, o *fsbackend.Object) (start, length int64, err error) {
	n, perr := strconv.Atoi(value)
	if perr != nil || n < 1 || n > fsbackend.MaxParts {
		return 0, 0, gofakes3.ErrorInvalidArgument("partNumber", value, "Part number must be an integer between 1 and 10000, inclusive")
	}
	parts := o.PartSizes
	if o.PartsCount == 0 {
		parts = []int64{o.Size}
	}
	if n > len(parts) {
		return 0, 0, failf(errInvalidPartNumber, "The requested partnumber is not satisfiable")
	}
	for _, size := range parts[:n-1] {
		start += size
	}
	return start, parts[n-1], nil
}
