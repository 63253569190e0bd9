// Package checksum computes and checks the additional checksums S3 takes
// beside Content-MD5: CRC32, CRC32C, CRC64NVME, SHA1 and SHA256, each
// carried base64-encoded in an x-amz-checksum-<algorithm> header or trailer.
//
// A multipart object's checksum is either FULL_OBJECT (the checksum of the
// whole body, as for a single PUT) or COMPOSITE (the checksum of the
// concatenated binary part checksums, then "-<parts>"), as S3 defines them.
package checksum

import (
	"crypto/sha1" //nolint:gosec // S3's SHA1 checksum is part of the protocol, not a security choice
	"crypto/sha256"
	"encoding/base64"
	"fmt"
	"hash"
	"hash/crc32"
	"hash/crc64"
	"strings"
)

// Algorithm is an S3 checksum algorithm name as S3 spells it (upper case).
type Algorithm string

// The algorithms S3 accepts.
const (
	CRC32     Algorithm = "CRC32"
	CRC32C    Algorithm = "CRC32C"
	CRC64NVME Algorithm = "CRC64NVME"
	SHA1      Algorithm = "SHA1"
	SHA256    Algorithm = "SHA256"
)

// All lists the algorithms in the order their headers are looked for.
var All = []Algorithm{CRC32, CRC32C, CRC64NVME, SHA1, SHA256}

// Type is how a multipart object's checksum was formed.
type Type string

// The checksum types S3 reports in x-amz-checksum-type.
const (
	FullObject Type = "FULL_OBJECT"
	Composite  Type = "COMPOSITE"
)

// crc64NVME is the reflected NVMe polynomial, as hash/crc64 takes it.
const crc64NVME = 0x9a6c9329ac4bc9b5

var (
	castagnoli = crc32.MakeTable(crc32.Castagnoli)
	nvme       = crc64.MakeTable(crc64NVME)
)

// Parse reads an algorithm name in any case; the error names the value.
func Parse(name string) (Algorithm, error) {
	a := Algorithm(strings.ToUpper(strings.TrimSpace(name)))
	for _, known := range All {
		if a == known {
			return a, nil
		}
	}
	return "", fmt.Errorf("checksum algorithm %q is not one of CRC32, CRC32C, CRC64NVME, SHA1, SHA256", name)
}

// New returns a fresh hash for a.
func (a Algorithm) New() hash.Hash {
	switch a {
	case CRC32:
		return crc32.NewIEEE()
	case CRC32C:
		return crc32.New(castagnoli)
	case CRC64NVME:
		return crc64.New(nvme)
	case SHA1:
		return sha1.New() //nolint:gosec // protocol-defined
	case SHA256:
		return sha256.New()
	}
	panic("checksum: unknown algorithm " + string(a))
}

// Size is the length in bytes of a's raw digest.
func (a Algorithm) Size() int { return a.New().Size() }

// Header is the header (or trailer) name carrying a's value.
func (a Algorithm) Header() string { return "x-amz-checksum-" + strings.ToLower(string(a)) }

// SupportsFullObject tells whether a multipart upload may use a with
// FULL_OBJECT: only the CRCs combine across parts.
func (a Algorithm) SupportsFullObject() bool { return a == CRC32 || a == CRC32C || a == CRC64NVME }

// SupportsComposite tells whether a multipart upload may use a with
// COMPOSITE: every algorithm but CRC64NVME.
func (a Algorithm) SupportsComposite() bool { return a != CRC64NVME }

// Decode checks that value is the base64 of a digest of a's size and
// returns the digest.
func (a Algorithm) Decode(value string) ([]byte, error) {
	raw, err := base64.StdEncoding.DecodeString(value)
	if err != nil || len(raw) != a.Size() {
		return nil, fmt.Errorf("value for %s header is invalid", a.Header())
	}
	return raw, nil
}

// Encode is the header form of a raw digest.
func Encode(raw []byte) string { return base64.StdEncoding.EncodeToString(raw) }

// CompositeOf is the COMPOSITE checksum of the parts' raw digests, in part
// order: a over their concatenation, base64, then "-<number of parts>".
func (a Algorithm) CompositeOf(parts [][]byte) string {
	h := a.New()
	for _, p := range parts {
		h.Write(p)
	}
	return fmt.Sprintf("%s-%d", Encode(h.Sum(nil)), len(parts))
}
