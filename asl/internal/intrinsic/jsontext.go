package intrinsic

import (
	"encoding/json"
	"math"
	"math/big"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// isIntegral reports whether a JSON number's text is an integer literal
// (Jackson reads it as an int, long or BigInteger, not a double).
func isIntegral(s string) bool {
	return !strings.ContainsAny(s, ".eE")
}

// toFloat converts a number value to float64; out-of-range text gives ±Inf.
func toFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case json.Number:
		f, err := strconv.ParseFloat(string(n), 64)
		if err != nil && !math.IsInf(f, 0) {
			return 0, false
		}
		return f, true
	case float64:
		return n, true
	case float32:
		return float64(n), true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	case int32:
		return float64(n), true
	}
	return 0, false
}

// numberText returns the text of a number value as Java prints it.
func numberText(v any) string {
	switch n := v.(type) {
	case json.Number:
		s := string(n)
		if isIntegral(s) {
			if s == "-0" {
				return "0"
			}
			return s
		}
		f, _ := strconv.ParseFloat(s, 64)
		var buf [32]byte
		if b := appendJavaDouble(buf[:0], f); string(b) != s {
			return string(b)
		}
		return s
	case int:
		return strconv.Itoa(n)
	case int64:
		return strconv.FormatInt(n, 10)
	case int32:
		return strconv.FormatInt(int64(n), 10)
	}
	f, _ := toFloat(v)
	return string(appendJavaDouble(nil, f))
}

func isNumber(v any) bool {
	switch v.(type) {
	case json.Number, float64, float32, int, int64, int32:
		return true
	}
	return false
}

// appendJavaDouble appends f as Java's Double.toString writes it: the
// shortest digits that read back as f, plain between 1e-3 and 1e7 with at
// least one fraction digit, otherwise "d.dddE±n".
func appendJavaDouble(b []byte, f float64) []byte {
	switch {
	case math.IsNaN(f):
		return append(b, "NaN"...)
	case math.IsInf(f, 1):
		return append(b, "Infinity"...)
	case math.IsInf(f, -1):
		return append(b, "-Infinity"...)
	case f == 0:
		if math.Signbit(f) {
			return append(b, "-0.0"...)
		}
		return append(b, "0.0"...)
	}
	var tmp [32]byte
	e := strconv.AppendFloat(tmp[:0], f, 'e', -1, 64) // -d.ddde±xx
	if e[0] == '-' {
		b = append(b, '-')
		e = e[1:]
	}
	if len(e) > 1 && e[1] == 'e' {
		// Java prints at least two significant digits and picks the closest
		// two-digit decimal that still reads back as f (4.9E-324, not 5.0E-324).
		var tmp2 [32]byte
		two := strconv.AppendFloat(tmp2[:0], math.Abs(f), 'e', 1, 64)
		if g, err := strconv.ParseFloat(string(two), 64); err == nil && g == math.Abs(f) {
			e = two
		}
	}
	mant, exp, _ := strings.Cut(string(e), "e")
	x, _ := strconv.Atoi(exp)
	digits := strings.TrimRight(strings.Replace(mant, ".", "", 1), "0")
	if digits == "" {
		digits = "0"
	}
	abs := math.Abs(f)
	if abs >= 1e-3 && abs < 1e7 {
		if x >= 0 {
			if len(digits) <= x+1 {
				b = append(b, digits...)
				for i := len(digits); i < x+1; i++ {
					b = append(b, '0')
				}
				return append(b, ".0"...)
			}
			b = append(b, digits[:x+1]...)
			b = append(b, '.')
			return append(b, digits[x+1:]...)
		}
		b = append(b, "0."...)
		for i := 0; i < -x-1; i++ {
			b = append(b, '0')
		}
		return append(b, digits...)
	}
	b = append(b, digits[0], '.')
	if len(digits) > 1 {
		b = append(b, digits[1:]...)
	} else {
		b = append(b, '0')
	}
	b = append(b, 'E')
	return strconv.AppendInt(b, int64(x), 10)
}

// appendJSON writes v as compact JSON the way Jackson does: no HTML
// escaping, control characters as \b \t \n \f \r or \u00XX, numbers as Java
// prints them, object keys sorted (the map has no order of its own).
func appendJSON(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...)
	case bool:
		if x {
			return append(b, "true"...)
		}
		return append(b, "false"...)
	case string:
		return appendJSONString(b, x)
	case map[string]any:
		b = append(b, '{')
		var kbuf [16]string
		for i, k := range appendSortedKeys(kbuf[:0], x) {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSONString(b, k)
			b = append(b, ':')
			b = appendJSON(b, x[k])
		}
		return append(b, '}')
	case []any:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ',')
			}
			b = appendJSON(b, e)
		}
		return append(b, ']')
	}
	if isNumber(v) {
		return append(b, numberText(v)...)
	}
	// Not a JSON value the decoder produces; keep the output valid JSON.
	return append(b, "null"...)
}

const hexDigits = "0123456789ABCDEF"

func appendJSONString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' && c < utf8.RuneSelf {
			i++
			continue
		}
		if c >= utf8.RuneSelf {
			r, size := utf8.DecodeRuneInString(s[i:])
			if r == utf8.RuneError && size == 1 {
				b = append(b, s[start:i]...)
				b = append(b, "\uFFFD"...)
				i++
				start = i
				continue
			}
			i += size
			continue
		}
		b = append(b, s[start:i]...)
		switch c {
		case '"', '\\':
			b = append(b, '\\', c)
		case '\b':
			b = append(b, '\\', 'b')
		case '\t':
			b = append(b, '\\', 't')
		case '\n':
			b = append(b, '\\', 'n')
		case '\f':
			b = append(b, '\\', 'f')
		case '\r':
			b = append(b, '\\', 'r')
		default:
			b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xF])
		}
		i++
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// appendJavaString writes v as Java's toString renders the value Jackson
// converts it to: strings bare, null, numbers, {k=v, k2=v2} and [a, b].
func appendJavaString(b []byte, v any) []byte {
	switch x := v.(type) {
	case nil:
		return append(b, "null"...)
	case bool:
		if x {
			return append(b, "true"...)
		}
		return append(b, "false"...)
	case string:
		return append(b, x...)
	case map[string]any:
		b = append(b, '{')
		var kbuf [16]string
		for i, k := range appendSortedKeys(kbuf[:0], x) {
			if i > 0 {
				b = append(b, ", "...)
			}
			b = append(b, k...)
			b = append(b, '=')
			b = appendJavaString(b, x[k])
		}
		return append(b, '}')
	case []any:
		b = append(b, '[')
		for i, e := range x {
			if i > 0 {
				b = append(b, ", "...)
			}
			b = appendJavaString(b, e)
		}
		return append(b, ']')
	}
	if isNumber(v) {
		return append(b, numberText(v)...)
	}
	return append(b, "null"...)
}

// appendSortedKeys appends the keys of m in order; a caller's stack array
// usually holds them.
func appendSortedKeys(keys []string, m map[string]any) []string {
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// equal is Jackson's JsonNode equality: integers and doubles never match
// each other, doubles compare like Double.equals.
func equal(a, b any) bool {
	switch x := a.(type) {
	case nil:
		return b == nil
	case bool:
		y, ok := b.(bool)
		return ok && x == y
	case string:
		y, ok := b.(string)
		return ok && x == y
	case map[string]any:
		y, ok := b.(map[string]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for k, xv := range x {
			yv, ok := y[k]
			if !ok || !equal(xv, yv) {
				return false
			}
		}
		return true
	case []any:
		y, ok := b.([]any)
		if !ok || len(x) != len(y) {
			return false
		}
		for i := range x {
			if !equal(x[i], y[i]) {
				return false
			}
		}
		return true
	}
	if !isNumber(a) || !isNumber(b) {
		return false
	}
	ai, bi := numberIsIntegral(a), numberIsIntegral(b)
	if ai != bi {
		return false
	}
	if ai {
		return integerText(a) == integerText(b)
	}
	fa, _ := toFloat(a)
	fb, _ := toFloat(b)
	return math.Float64bits(fa) == math.Float64bits(fb)
}

func numberIsIntegral(v any) bool {
	switch n := v.(type) {
	case json.Number:
		return isIntegral(string(n))
	case int, int64, int32:
		return true
	}
	return false
}

// integerText is the canonical digits of an integral number.
func integerText(v any) string {
	if n, ok := v.(json.Number); ok {
		s := string(n)
		if len(s) > 18 { // may carry leading sign quirks only via big.Int
			if z, ok := new(big.Int).SetString(s, 10); ok {
				return z.String()
			}
		}
		if s == "-0" {
			return "0"
		}
		return s
	}
	return numberText(v)
}

// typeName is the JSON type of v as AWS messages name it.
func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case bool:
		return "boolean"
	case string:
		return "string"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	}
	if isNumber(v) {
		return "number"
	}
	return "unknown"
}

// utf16Len is the length Java's String.length() reports.
func utf16Len(s string) int {
	n := 0
	for _, r := range s {
		if r >= 0x10000 {
			n += 2
		} else {
			n++
		}
	}
	return n
}
