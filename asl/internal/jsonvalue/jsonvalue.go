// Package jsonvalue decodes and encodes JSON value trees (map[string]any,
// []any, string, json.Number, bool, nil) faster than encoding/json, with
// the same results: numbers keep their exact text, invalid UTF-8 becomes
// U+FFFD, the last of duplicate keys wins, objects are written with sorted
// keys and without HTML escaping. The interpreter decodes every task result
// and encodes every task input, so this sits on the hot path. Duplicates
// reports repeated object keys (which Validate refuses, as AWS does) with
// the same decoder, so no second JSON reader is needed for that.
package jsonvalue

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// maxDepth bounds nesting like encoding/json does.
const maxDepth = 10000

// SyntaxError is invalid JSON text at a byte offset.
type SyntaxError struct {
	Offset int
	msg    string
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("invalid JSON at offset %d: %s", e.Offset, e.msg)
}

type decoder struct {
	b     []byte
	i     int
	depth int
	// dups, when set, collects repeated keys; ptr is then the JSON
	// pointer of the value being decoded
	dups *[]Duplicate
	ptr  string
}

// Duplicate is an object key that repeats a key earlier in the same object.
type Duplicate struct {
	Pointer string // JSON pointer of the object; "" is the root
	Key     string
}

// Duplicates decodes b as Decode does and reports, in document order,
// every key that repeats an earlier key of its object (Decode keeps the
// last value).
func Duplicates(b []byte) ([]Duplicate, error) {
	var out []Duplicate
	d := decoder{b: b, dups: &out}
	d.skip()
	if _, err := d.value(); err != nil {
		return out, err
	}
	d.skip()
	if d.i != len(d.b) {
		return out, d.err("unexpected data after the value")
	}
	return out, nil
}

func escapePointer(s string) string {
	s = strings.ReplaceAll(s, "~", "~0")
	return strings.ReplaceAll(s, "/", "~1")
}

// Decode parses one JSON value; only whitespace may follow it.
func Decode(b []byte) (any, error) {
	d := decoder{b: b}
	d.skip()
	v, err := d.value()
	if err != nil {
		return nil, err
	}
	d.skip()
	if d.i != len(d.b) {
		return nil, d.err("unexpected data after the value")
	}
	return v, nil
}

// DecodeFirst parses the first JSON value of b (after optional whitespace)
// and returns it with the offset just past it; what follows is not read.
// It suits readers that take the first value and ignore the rest.
func DecodeFirst(b []byte) (any, int, error) {
	d := decoder{b: b}
	d.skip()
	v, err := d.value()
	if err != nil {
		return nil, 0, err
	}
	return v, d.i, nil
}

func (d *decoder) err(msg string) error { return &SyntaxError{Offset: d.i, msg: msg} }

func (d *decoder) skip() {
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

func (d *decoder) value() (any, error) {
	if d.i >= len(d.b) {
		return nil, d.err("unexpected end of input")
	}
	switch c := d.b[d.i]; {
	case c == '{':
		return d.object()
	case c == '[':
		return d.array()
	case c == '"':
		return d.str()
	case c == '-' || (c >= '0' && c <= '9'):
		return d.number()
	case c == 't':
		return d.literal("true", true)
	case c == 'f':
		return d.literal("false", false)
	case c == 'n':
		return d.literal("null", nil)
	}
	return nil, d.err(fmt.Sprintf("unexpected character %q", d.b[d.i]))
}

func (d *decoder) literal(word string, v any) (any, error) {
	if len(d.b)-d.i < len(word) || string(d.b[d.i:d.i+len(word)]) != word {
		return nil, d.err("invalid literal")
	}
	d.i += len(word)
	return v, nil
}

func (d *decoder) object() (any, error) {
	d.depth++
	if d.depth > maxDepth {
		return nil, d.err("nesting too deep")
	}
	d.i++ // {
	m := make(map[string]any)
	d.skip()
	if d.i < len(d.b) && d.b[d.i] == '}' {
		d.i++
		d.depth--
		return m, nil
	}
	for {
		d.skip()
		if d.i >= len(d.b) || d.b[d.i] != '"' {
			return nil, d.err("expected a string key")
		}
		k, err := d.str()
		if err != nil {
			return nil, err
		}
		d.skip()
		if d.i >= len(d.b) || d.b[d.i] != ':' {
			return nil, d.err("expected ':'")
		}
		d.i++
		d.skip()
		var v any
		if d.dups != nil {
			if _, seen := m[k]; seen {
				*d.dups = append(*d.dups, Duplicate{Pointer: d.ptr, Key: k})
			}
			outer := d.ptr
			d.ptr = outer + "/" + escapePointer(k)
			v, err = d.value()
			d.ptr = outer
		} else {
			v, err = d.value()
		}
		if err != nil {
			return nil, err
		}
		m[k] = v
		d.skip()
		if d.i >= len(d.b) {
			return nil, d.err("unexpected end of input")
		}
		switch d.b[d.i] {
		case ',':
			d.i++
		case '}':
			d.i++
			d.depth--
			return m, nil
		default:
			return nil, d.err("expected ',' or '}'")
		}
	}
}

func (d *decoder) array() (any, error) {
	d.depth++
	if d.depth > maxDepth {
		return nil, d.err("nesting too deep")
	}
	d.i++ // [
	a := make([]any, 0, 4)
	d.skip()
	if d.i < len(d.b) && d.b[d.i] == ']' {
		d.i++
		d.depth--
		return a, nil
	}
	for {
		d.skip()
		var v any
		var err error
		if d.dups != nil {
			outer := d.ptr
			d.ptr = outer + "/" + strconv.Itoa(len(a))
			v, err = d.value()
			d.ptr = outer
		} else {
			v, err = d.value()
		}
		if err != nil {
			return nil, err
		}
		a = append(a, v)
		d.skip()
		if d.i >= len(d.b) {
			return nil, d.err("unexpected end of input")
		}
		switch d.b[d.i] {
		case ',':
			d.i++
		case ']':
			d.i++
			d.depth--
			return a, nil
		default:
			return nil, d.err("expected ',' or ']'")
		}
	}
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

func (d *decoder) number() (any, error) {
	start := d.i
	if d.b[d.i] == '-' {
		d.i++
	}
	switch {
	case d.i < len(d.b) && d.b[d.i] == '0':
		d.i++
	case d.i < len(d.b) && d.b[d.i] >= '1' && d.b[d.i] <= '9':
		for d.i < len(d.b) && isDigit(d.b[d.i]) {
			d.i++
		}
	default:
		return nil, d.err("invalid number")
	}
	if d.i < len(d.b) && d.b[d.i] == '.' {
		d.i++
		if d.i >= len(d.b) || !isDigit(d.b[d.i]) {
			return nil, d.err("invalid number")
		}
		for d.i < len(d.b) && isDigit(d.b[d.i]) {
			d.i++
		}
	}
	if d.i < len(d.b) && (d.b[d.i] == 'e' || d.b[d.i] == 'E') {
		d.i++
		if d.i < len(d.b) && (d.b[d.i] == '+' || d.b[d.i] == '-') {
			d.i++
		}
		if d.i >= len(d.b) || !isDigit(d.b[d.i]) {
			return nil, d.err("invalid number")
		}
		for d.i < len(d.b) && isDigit(d.b[d.i]) {
			d.i++
		}
	}
	return json.Number(d.b[start:d.i]), nil
}

func (d *decoder) str() (string, error) {
	d.i++ // opening quote
	start := d.i
	// fast path: no escapes, ASCII or valid UTF-8
	for d.i < len(d.b) {
		c := d.b[d.i]
		if c == '"' {
			s := d.b[start:d.i]
			d.i++
			if utf8.Valid(s) {
				return string(s), nil
			}
			return string([]rune(string(s))), nil // invalid bytes become U+FFFD
		}
		if c == '\\' || c < 0x20 {
			break
		}
		d.i++
	}
	buf := make([]byte, 0, d.i-start+16)
	buf = append(buf, d.b[start:d.i]...)
	for d.i < len(d.b) {
		c := d.b[d.i]
		switch {
		case c == '"':
			d.i++
			if utf8.Valid(buf) {
				return string(buf), nil
			}
			return string([]rune(string(buf))), nil
		case c < 0x20:
			return "", d.err("control character in string")
		case c == '\\':
			d.i++
			if d.i >= len(d.b) {
				return "", d.err("unexpected end of input")
			}
			e := d.b[d.i]
			d.i++
			switch e {
			case '"', '\\', '/':
				buf = append(buf, e)
			case 'b':
				buf = append(buf, '\b')
			case 'f':
				buf = append(buf, '\f')
			case 'n':
				buf = append(buf, '\n')
			case 'r':
				buf = append(buf, '\r')
			case 't':
				buf = append(buf, '\t')
			case 'u':
				r, ok := d.hex4()
				if !ok {
					return "", d.err("invalid \\u escape")
				}
				if utf16.IsSurrogate(r) {
					r2 := rune(-1)
					if d.i+1 < len(d.b) && d.b[d.i] == '\\' && d.b[d.i+1] == 'u' {
						save := d.i
						d.i += 2
						var ok2 bool
						r2, ok2 = d.hex4()
						if !ok2 {
							return "", d.err("invalid \\u escape")
						}
						if dec := utf16.DecodeRune(r, r2); dec != utf8.RuneError {
							buf = utf8.AppendRune(buf, dec)
							continue
						}
						d.i = save
					}
					r = utf8.RuneError
				}
				buf = utf8.AppendRune(buf, r)
			default:
				return "", d.err("invalid escape")
			}
		default:
			buf = append(buf, c)
			d.i++
		}
	}
	return "", d.err("unterminated string")
}

func (d *decoder) hex4() (rune, bool) {
	if len(d.b)-d.i < 4 {
		return 0, false
	}
	n, err := strconv.ParseUint(string(d.b[d.i:d.i+4]), 16, 32)
	if err != nil {
		return 0, false
	}
	d.i += 4
	return rune(n), true
}

// ErrUnsupported reports a value outside the JSON value tree types.
var ErrUnsupported = errors.New("jsonvalue: unsupported value type")

// Append appends the compact JSON text of v to b.
func Append(b []byte, v any) ([]byte, error) {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...), nil
	case bool:
		return strconv.AppendBool(b, x), nil
	case json.Number:
		if x == "" {
			return append(b, '0'), nil
		}
		return append(b, x...), nil
	case string:
		return appendString(b, x), nil
	case []any:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			var err error
			if b, err = Append(b, e); err != nil {
				return nil, err
			}
		}
		return append(b, ']'), nil
	case map[string]any:
		b = append(b, '{')
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendString(b, k)
			b = append(b, ':')
			var err error
			if b, err = Append(b, x[k]); err != nil {
				return nil, err
			}
		}
		return append(b, '}'), nil
	case float64, int, int64:
		out, err := json.Marshal(x)
		if err != nil {
			return nil, err
		}
		return append(b, out...), nil
	}
	out, err := json.Marshal(v)
	if err != nil {
		return nil, fmt.Errorf("%w: %T", ErrUnsupported, v)
	}
	return append(b, out...), nil
}

const hexDigits = "0123456789abcdef"

// appendString writes s as encoding/json does with HTML escaping off.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// AppendString appends s as a JSON string, as Append does.
func AppendString(b []byte, s string) []byte { return appendString(b, s) }
