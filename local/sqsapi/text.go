package sqsapi

import (
	"encoding/json"
	"errors"
	"strconv"
	"unicode/utf8"
)

// text is a JSON string decoded without repair. encoding/json turns invalid
// UTF-8 and lone surrogate escapes ("\ud800") into U+FFFD, which would make
// a body that really contains U+FFFD indistinguishable from a broken one.
// text keeps invalid bytes as they came and writes a lone surrogate as its
// three-byte (invalid) UTF-8 form, so the store's character check sees the
// same string a query-protocol client's percent-decoded form gives it, and
// refuses exactly what SQS refuses.
type text string

func (t *text) UnmarshalJSON(raw []byte) error {
	if string(raw) == "null" {
		return nil
	}
	s, err := decodeJSONString(raw)
	if err != nil {
		return err
	}
	*t = text(s)
	return nil
}

var errNotString = errors.New("a string value is required")

// decodeJSONString decodes one JSON string literal that the decoder has
// already found well-formed.
func decodeJSONString(raw []byte) (string, error) {
	if len(raw) < 2 || raw[0] != '"' || raw[len(raw)-1] != '"' {
		return "", errNotString
	}
	in := raw[1 : len(raw)-1]
	out := make([]byte, 0, len(in))
	for i := 0; i < len(in); {
		c := in[i]
		if c != '\\' {
			out = append(out, c)
			i++
			continue
		}
		if i+1 >= len(in) {
			return "", errors.New("unterminated escape")
		}
		switch in[i+1] {
		case '"', '\\', '/':
			out = append(out, in[i+1])
		case 'b':
			out = append(out, '\b')
		case 'f':
			out = append(out, '\f')
		case 'n':
			out = append(out, '\n')
		case 'r':
			out = append(out, '\r')
		case 't':
			out = append(out, '\t')
		case 'u':
			r, ok := hex4(in[i+2:])
			if !ok {
				return "", errors.New("invalid \\u escape")
			}
			i += 6
			if r >= 0xD800 && r < 0xDC00 && i+1 < len(in) && in[i] == '\\' && in[i+1] == 'u' {
				if lo, ok := hex4(in[i+2:]); ok && lo >= 0xDC00 && lo < 0xE000 {
					out = utf8.AppendRune(out, 0x10000+(r-0xD800)<<10+(lo-0xDC00))
					i += 6
					continue
				}
			}
			if r >= 0xD800 && r < 0xE000 {
				// A lone surrogate: its generalized UTF-8 form, which
				// no UTF-8 decoder accepts.
				out = append(out, 0xE0|byte(r>>12), 0x80|byte(r>>6)&0x3F, 0x80|byte(r)&0x3F)
			} else {
				out = utf8.AppendRune(out, r)
			}
			continue
		default:
			return "", errors.New("invalid escape \\" + string(in[i+1]))
		}
		i += 2
	}
	return string(out), nil
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	n, err := strconv.ParseUint(string(b[:4]), 16, 32)
	return rune(n), err == nil
}

var _ json.Unmarshaler = (*text)(nil)
