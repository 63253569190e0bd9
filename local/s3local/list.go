package s3local

import (
	"encoding/base64"
	"encoding/xml"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/johannesboyne/gofakes3"
)

// maxListKeys is S3's default and largest page of a list.
const maxListKeys = 1000

// tokenPrefix marks our continuation tokens, so a token that is not ours
// is refused rather than read as a key.
const tokenPrefix = "mailflow-list-v1\x00"

func encodeToken(marker string) string {
	return base64.RawURLEncoding.EncodeToString([]byte(tokenPrefix + marker))
}

func decodeToken(tok string) (string, bool) {
	raw, err := base64.RawURLEncoding.DecodeString(tok)
	if err != nil {
		return "", false
	}
	return strings.CutPrefix(string(raw), tokenPrefix)
}

// listParams are the query parameters a list request takes; any other
// one names a bucket subresource the library answers.
var listParams = map[string]bool{
	"list-type": true, "prefix": true, "delimiter": true, "max-keys": true, "marker": true,
	"continuation-token": true, "start-after": true, "encoding-type": true, "fetch-owner": true, "x-id": true,
}

func isList(q url.Values) bool {
	for k := range q {
		if !listParams[k] {
			return false
		}
	}
	return true
}

type listEntry struct {
	Key          string
	LastModified string
	ETag         string
	Size         int64
	Owner        *owner `xml:",omitempty"`
	StorageClass string
	// S3 lists the algorithm of an object's checksum; ChecksumType too.
	ChecksumAlgorithm string `xml:",omitempty"`
	ChecksumType      string `xml:",omitempty"`
}

type owner struct {
	ID          string
	DisplayName string
}

type commonPrefix struct{ Prefix string }

type listV2Result struct {
	XMLName               xml.Name `xml:"ListBucketResult"`
	Xmlns                 string   `xml:"xmlns,attr"`
	Name                  string
	Prefix                string
	Delimiter             string `xml:",omitempty"`
	MaxKeys               int
	EncodingType          string `xml:",omitempty"`
	KeyCount              int
	IsTruncated           bool
	ContinuationToken     string `xml:",omitempty"`
	NextContinuationToken string `xml:",omitempty"`
	StartAfter            string `xml:",omitempty"`
	Contents              []listEntry
	CommonPrefixes        []commonPrefix
}

type listV1Result struct {
	XMLName        xml.Name `xml:"ListBucketResult"`
	Xmlns          string   `xml:"xmlns,attr"`
	Name           string
	Prefix         string
	Marker         string
	NextMarker     string `xml:",omitempty"`
	MaxKeys        int
	Delimiter      string `xml:",omitempty"`
	EncodingType   string `xml:",omitempty"`
	IsTruncated    bool
	Contents       []listEntry
	CommonPrefixes []commonPrefix
}

// encodeKey is S3's encoding-type=url: form-encoding, with "/" left as is.
func encodeKey(s string, on bool) string {
	if !on {
		return s
	}
	return strings.ReplaceAll(url.QueryEscape(s), "%2F", "/")
}

// listBucket answers ListObjects (v1) and ListObjectsV2. Keys and common
// prefixes are walked in order after the marker (v1 marker, v2
// continuation token, else start-after), each counting one against
// max-keys; a common prefix at or before the marker was returned on an
// earlier page and is skipped, so paging never repeats one.
func (s *Server) listBucket(w http.ResponseWriter, r *http.Request, bucket string) error {
	q := r.URL.Query()
	v2 := q.Get("list-type") == "2"
	if lt := q.Get("list-type"); lt != "" && lt != "2" {
		return gofakes3.ErrorInvalidArgument("list-type", lt, "Invalid List Type specified in Request")
	}
	maxKeys := maxListKeys
	if v, ok := q["max-keys"]; ok {
		n, err := strconv.Atoi(v[0])
		if err != nil || n < 0 {
			return gofakes3.ErrorInvalidArgument("max-keys", v[0], "Provided max-keys not an integer or within integer range")
		}
		maxKeys = min(n, maxListKeys)
	}
	enc := q.Get("encoding-type")
	if enc != "" && enc != "url" {
		return gofakes3.ErrorInvalidArgument("encoding-type", enc, "Invalid Encoding Method specified in Request")
	}
	prefix, delim := q.Get("prefix"), q.Get("delimiter")
	marker := q.Get("marker")
	if v2 {
		marker = q.Get("start-after")
		if tok, ok := q["continuation-token"]; ok {
			m, valid := decodeToken(tok[0])
			if !valid {
				return gofakes3.ErrorInvalidArgument("continuation-token", tok[0], "The continuation token provided is incorrect")
			}
			marker = m
		}
	}
	keys, err := s.backend.Keys(bucket, prefix)
	if err != nil {
		return err
	}

	var (
		contents  []listEntry
		prefixes  []commonPrefix
		last      string // the last key or prefix returned
		truncated bool
		count     int
	)
	fetchOwner := !v2 || q.Get("fetch-owner") == "true"
	for _, k := range keys {
		if k <= marker {
			continue
		}
		item, isPrefix := k, false
		if delim != "" {
			if i := strings.Index(k[len(prefix):], delim); i >= 0 {
				item, isPrefix = k[:len(prefix)+i+len(delim)], true
			}
		}
		if isPrefix && (item <= marker || item == last) {
			continue
		}
		if count == maxKeys {
			truncated = maxKeys > 0
			break
		}
		count++
		last = item
		if isPrefix {
			prefixes = append(prefixes, commonPrefix{Prefix: encodeKey(item, enc != "")})
			continue
		}
		o, err := s.backend.Stat(bucket, k)
		if err != nil {
			continue // deleted since the walk
		}
		e := listEntry{Key: encodeKey(k, enc != ""), LastModified: o.ModTime.UTC().Format("2006-01-02T15:04:05.000Z"), ETag: o.ETag, Size: o.Size, StorageClass: "STANDARD"}
		if o.Checksum != nil {
			e.ChecksumAlgorithm, e.ChecksumType = string(o.Checksum.Algorithm), string(o.Checksum.Type)
		}
		if fetchOwner {
			e.Owner = &owner{ID: "mailflow-local", DisplayName: "mailflow-local"}
		}
		contents = append(contents, e)
	}

	if v2 {
		res := listV2Result{
			Xmlns: s3NS, Name: bucket, Prefix: encodeKey(prefix, enc != ""), Delimiter: encodeKey(delim, enc != ""),
			MaxKeys: maxKeys, EncodingType: enc, KeyCount: count, IsTruncated: truncated,
			ContinuationToken: q.Get("continuation-token"), StartAfter: encodeKey(q.Get("start-after"), enc != ""),
			Contents: contents, CommonPrefixes: prefixes,
		}
		if truncated {
			res.NextContinuationToken = encodeToken(last)
		}
		return writeXML(w, res)
	}
	res := listV1Result{
		Xmlns: s3NS, Name: bucket, Prefix: encodeKey(prefix, enc != ""), Marker: encodeKey(marker, enc != ""),
		MaxKeys: maxKeys, Delimiter: encodeKey(delim, enc != ""), EncodingType: enc, IsTruncated: truncated,
		Contents: contents, CommonPrefixes: prefixes,
	}
	// S3 gives NextMarker only with a delimiter; without one the client
	// continues from the last key.
	if truncated && delim != "" {
		res.NextMarker = encodeKey(last, enc != "")
	}
	return writeXML(w, res)
}
