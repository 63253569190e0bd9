package sesevent

import (
	"math/big"
	"strings"
)

// SES allows only A-Z a-z 0-9 _ and - in a message tag's value, at most
// 256 characters; a mailId may also hold . : @ and /, up to 200
// characters. MailIDTagValue encodes a mailId reversibly into that
// alphabet:
//   - readable where it fits: "_" becomes "_u", "." "_d", ":" "_c",
//     "@" "_a" and "/" "_s", everything else stays ("order-1/receipt" is
//     "order-1_sreceipt");
//   - when that would pass 256 characters, "_z" and the mailId as a
//     number in the tag alphabet (at most 205 characters for 200).
//
// [MailID] decodes either form.
func MailIDTagValue(mailID string) string {
	var b strings.Builder
	for i := 0; i < len(mailID); i++ {
		if esc, ok := escapes[mailID[i]]; ok {
			b.WriteByte('_')
			b.WriteByte(esc)
		} else {
			b.WriteByte(mailID[i])
		}
	}
	if b.Len() <= maxTagValue {
		return b.String()
	}
	return "_z" + dense(mailID)
}

const maxTagValue = 256

var escapes = map[byte]byte{'_': 'u', '.': 'd', ':': 'c', '@': 'a', '/': 's'}

const (
	// mailIDAlphabet is every character a mailId may hold.
	mailIDAlphabet = "-./0123456789:@ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
	// tagAlphabet is every character a tag value may hold.
	tagAlphabet = "-0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZ_abcdefghijklmnopqrstuvwxyz"
)

// dense writes s (mailIDAlphabet only) as a number in base 64 over
// tagAlphabet; a leading 1 digit keeps leading zero digits.
func dense(s string) string {
	n := big.NewInt(1)
	base := big.NewInt(int64(len(mailIDAlphabet)))
	for i := 0; i < len(s); i++ {
		n.Mul(n, base).Add(n, big.NewInt(int64(strings.IndexByte(mailIDAlphabet, s[i]))))
	}
	var out []byte
	sixty4, digit := big.NewInt(64), new(big.Int)
	for n.Sign() > 0 {
		n.DivMod(n, sixty4, digit)
		out = append(out, tagAlphabet[digit.Int64()])
	}
	return string(out) // least significant digit first
}

func undense(s string) (string, bool) {
	n := new(big.Int)
	for i := len(s) - 1; i >= 0; i-- {
		d := strings.IndexByte(tagAlphabet, s[i])
		if d < 0 {
			return "", false
		}
		n.Lsh(n, 6).Or(n, big.NewInt(int64(d)))
	}
	base, digit := big.NewInt(int64(len(mailIDAlphabet))), new(big.Int)
	var out []byte
	for n.Cmp(big.NewInt(1)) > 0 {
		n.DivMod(n, base, digit)
		out = append(out, mailIDAlphabet[digit.Int64()])
	}
	if n.Cmp(big.NewInt(1)) != 0 {
		return "", false
	}
	for i, j := 0, len(out)-1; i < j; i, j = i+1, j-1 {
		out[i], out[j] = out[j], out[i]
	}
	return string(out), true
}

// decodeMailIDTag reverses MailIDTagValue.
func decodeMailIDTag(v string) (string, bool) {
	if rest, ok := strings.CutPrefix(v, "_z"); ok {
		return undense(rest)
	}
	var b strings.Builder
	for i := 0; i < len(v); i++ {
		if v[i] != '_' {
			if strings.IndexByte(tagAlphabet, v[i]) < 0 {
				return "", false
			}
			b.WriteByte(v[i])
			continue
		}
		if i+1 == len(v) {
			return "", false
		}
		i++
		found := false
		for raw, esc := range escapes {
			if esc == v[i] {
				b.WriteByte(raw)
				found = true
			}
		}
		if !found {
			return "", false
		}
	}
	return b.String(), true
}
