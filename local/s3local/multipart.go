package s3local

import (
	"encoding/xml"
	"io"
	"net/http"
	"strconv"
	"strings"

	"github.com/johannesboyne/gofakes3"

	"github.com/mailflow/mailflow/local/s3local/checksum"
	"github.com/mailflow/mailflow/local/s3local/fsbackend"
)

const s3NS = "http://s3.amazonaws.com/doc/2006-03-01/"

func writeXML(w http.ResponseWriter, v any) error {
	out, err := xml.Marshal(v)
	if err != nil {
		return err
	}
	w.Header().Set("Content-Type", "application/xml")
	w.Header().Set("Content-Length", strconv.Itoa(len(xml.Header)+len(out)))
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, xml.Header)
	_, _ = w.Write(out)
	return nil
}

type initiateResult struct {
	XMLName  xml.Name `xml:"InitiateMultipartUploadResult"`
	Xmlns    string   `xml:"xmlns,attr"`
	Bucket   string
	Key      string
	UploadID string `xml:"UploadId"`
}

// createUpload starts a multipart upload with the checksum algorithm and
// type the request names (S3's defaults: COMPOSITE, but FULL_OBJECT for
// CRC64NVME, which cannot be composed).
func (s *Server) createUpload(w http.ResponseWriter, r *http.Request, bucket, key string) error {
	header, err := objectHeaders(r.Header)
	if err != nil {
		return err
	}
	var alg checksum.Algorithm
	if v := r.Header.Get("X-Amz-Checksum-Algorithm"); v != "" {
		if alg, err = checksum.Parse(v); err != nil {
			return failf(errInvalidRequest, "Value for x-amz-checksum-algorithm header is invalid: %v.", err)
		}
	}
	typ := checksum.Type(strings.ToUpper(r.Header.Get("X-Amz-Checksum-Type")))
	switch {
	case typ != "" && alg == "":
		return failf(errInvalidRequest, "x-amz-checksum-type %s needs an x-amz-checksum-algorithm.", typ)
	case typ == "" && alg == checksum.CRC64NVME:
		typ = checksum.FullObject
	case typ == "" && alg != "":
		typ = checksum.Composite
	case typ != "" && typ != checksum.FullObject && typ != checksum.Composite:
		return failf(errInvalidRequest, "Value for x-amz-checksum-type header is invalid: %q is neither FULL_OBJECT nor COMPOSITE.", typ)
	case typ == checksum.FullObject && !alg.SupportsFullObject():
		return failf(errInvalidRequest, "The FULL_OBJECT checksum type cannot be used with the %s checksum algorithm.", strings.ToLower(string(alg)))
	case typ == checksum.Composite && !alg.SupportsComposite():
		return failf(errInvalidRequest, "The COMPOSITE checksum type cannot be used with the %s checksum algorithm.", strings.ToLower(string(alg)))
	}
	u, err := s.backend.CreateUpload(bucket, key, header, alg, typ)
	if err != nil {
		return err
	}
	if alg != "" {
		w.Header().Set("X-Amz-Checksum-Algorithm", string(alg))
		w.Header().Set("X-Amz-Checksum-Type", string(typ))
	}
	return writeXML(w, initiateResult{Xmlns: s3NS, Bucket: bucket, Key: key, UploadID: u.ID})
}

func (s *Server) uploadPart(w http.ResponseWriter, r *http.Request, bucket, key, id string) error {
	n, err := strconv.Atoi(r.URL.Query().Get("partNumber"))
	if err != nil || n < 1 || n > fsbackend.MaxParts {
		return gofakes3.ErrorInvalidArgument("partNumber", r.URL.Query().Get("partNumber"), "Part number must be an integer between 1 and 10000, inclusive")
	}
	u, err := s.backend.Upload(bucket, key, id)
	if err != nil {
		return err
	}
	want := u.Algorithm
	if want == "" {
		want = checksum.CRC64NVME
	}
	in, err := s.receive(r, want)
	if err != nil {
		return err
	}
	defer in.body.Discard()
	if u.Algorithm != "" && in.algorithm != u.Algorithm {
		return failf(errInvalidRequest, "Checksum Type mismatch occurred, expected checksum Type: %s, actual checksum Type: %s", strings.ToLower(string(u.Algorithm)), strings.ToLower(string(in.algorithm)))
	}
	sum := ""
	if u.Algorithm != "" {
		sum = in.value
	}
	p, err := s.backend.PutPart(u, n, in.body, sum)
	if err != nil {
		return err
	}
	w.Header().Set("ETag", p.ETag)
	if in.sent || u.Algorithm != "" {
		w.Header().Set(in.algorithm.Header(), in.value)
	}
	w.WriteHeader(http.StatusOK)
	return nil
}

type completeRequest struct {
	Parts []struct {
		PartNumber        int
		ETag              string
		ChecksumCRC32     string
		ChecksumCRC32C    string
		ChecksumCRC64NVME string
		ChecksumSHA1      string
		ChecksumSHA256    string
	} `xml:"Part"`
}

type completeResult struct {
	XMLName           xml.Name `xml:"CompleteMultipartUploadResult"`
	Xmlns             string   `xml:"xmlns,attr"`
	Location          string
	Bucket            string
	Key               string
	ETag              string
	ChecksumCRC32     string `xml:",omitempty"`
	ChecksumCRC32C    string `xml:",omitempty"`
	ChecksumCRC64NVME string `xml:",omitempty"`
	ChecksumSHA1      string `xml:",omitempty"`
	ChecksumSHA256    string `xml:",omitempty"`
	ChecksumType      string `xml:",omitempty"`
}

func (s *Server) completeUpload(w http.ResponseWriter, r *http.Request, bucket, key, id string) error {
	since := s.backend.Generation(bucket, key)
	u, err := s.backend.Upload(bucket, key, id)
	if err != nil {
		return err
	}
	var in completeRequest
	if err := xml.NewDecoder(io.LimitReader(r.Body, 4<<20)).Decode(&in); err != nil {
		return failf(gofakes3.ErrMalformedXML, "The XML you provided was not well-formed or did not validate against our published schema: %v", err)
	}
	listed := make([]fsbackend.CompletedPart, len(in.Parts))
	for i, p := range in.Parts {
		listed[i] = fsbackend.CompletedPart{Number: p.PartNumber, ETag: p.ETag}
		switch u.Algorithm {
		case checksum.CRC32:
			listed[i].Checksum = p.ChecksumCRC32
		case checksum.CRC32C:
			listed[i].Checksum = p.ChecksumCRC32C
		case checksum.CRC64NVME:
			listed[i].Checksum = p.ChecksumCRC64NVME
		case checksum.SHA1:
			listed[i].Checksum = p.ChecksumSHA1
		case checksum.SHA256:
			listed[i].Checksum = p.ChecksumSHA256
		}
	}
	whole := ""
	if u.Algorithm != "" {
		whole = r.Header.Get(u.Algorithm.Header())
	}
	o, err := s.backend.Complete(u, listed, whole, writeConditions(r.Header, since))
	if err != nil {
		return err
	}
	res := completeResult{Xmlns: s3NS, Location: "http://" + r.Host + "/" + bucket + "/" + key, Bucket: bucket, Key: key, ETag: o.ETag}
	if c := o.Checksum; c != nil && u.Algorithm != "" {
		res.ChecksumType = string(c.Type)
		switch c.Algorithm {
		case checksum.CRC32:
			res.ChecksumCRC32 = c.Value
		case checksum.CRC32C:
			res.ChecksumCRC32C = c.Value
		case checksum.CRC64NVME:
			res.ChecksumCRC64NVME = c.Value
		case checksum.SHA1:
			res.ChecksumSHA1 = c.Value
		case checksum.SHA256:
			res.ChecksumSHA256 = c.Value
		}
	}
	return writeXML(w, res)
}
