package sqsstore

import (
	"crypto/md5"
	"encoding/binary"
	"encoding/hex"
	"hash"
	"sort"
	"strings"
)

// BodyMD5 is the hex MD5 digest of a message body (MD5OfMessageBody, MD5OfBody).
func BodyMD5(body string) string {
	sum := md5.Sum([]byte(body))
	return hex.EncodeToString(sum[:])
}

// AttributesMD5 is the hex MD5 digest SQS computes over message attributes
// (MD5OfMessageAttributes) and over message system attributes
// (MD5OfMessageSystemAttributes), or "" when there are none.
//
// The algorithm, which SDKs reproduce to verify answers: sort the attribute
// names; for each, append the 4-byte big-endian length and bytes of the name,
// of the data type, then one transport byte (1 for String and Number types, 2
// for Binary types), then the 4-byte length and bytes of the value.
func AttributesMD5(attrs map[string]MessageAttributeValue) string {
	if len(attrs) == 0 {
		return ""
	}
	names := make([]string, 0, len(attrs))
	for n := range attrs {
		names = append(names, n)
	}
	sort.Strings(names)
	h := md5.New()
	for _, n := range names {
		v := attrs[n]
		writeLenBytes(h, []byte(n))
		writeLenBytes(h, []byte(v.DataType))
		if isBinaryType(v.DataType) {
			h.Write([]byte{2})
			writeLenBytes(h, v.BinaryValue)
		} else {
			h.Write([]byte{1})
			writeLenBytes(h, []byte(v.StringValue))
		}
	}
	return hex.EncodeToString(h.Sum(nil))
}

func writeLenBytes(h hash.Hash, b []byte) {
	var n [4]byte
	binary.BigEndian.PutUint32(n[:], uint32(len(b)))
	h.Write(n[:])
	h.Write(b)
}

func isBinaryType(dataType string) bool {
	return dataType == "Binary" || strings.HasPrefix(dataType, "Binary.")
}
