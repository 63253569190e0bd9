package asl

import (
	"encoding/json"
	"fmt"
	"math"
	"math/big"
	"strconv"
	"strings"

	"github.com/mailflow/mailflow/asl/internal/jsonvalue"
)

// DecodeJSON decodes JSON text into a value tree with exact numbers
// (json.Number). Trailing data is an error.
func DecodeJSON(b []byte) (any, error) { return jsonvalue.Decode(b) }

// EncodeJSON renders a value tree as compact JSON without HTML escaping,
// objects with sorted keys.
func EncodeJSON(v any) ([]byte, error) { return jsonvalue.Append(nil, v) }

// nodeText renders a value as AWS's messages quote a JSON node: a string
// as its text (the message supplies the quotes), anything else as JSON
// text, e.g. value "NoNumber" and value "{}".
func nodeText(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	return mustJSONString(v)
}

func mustJSONString(v any) string {
	b, err := EncodeJSON(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

// numberFloat converts a JSON number to float64.
func numberFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case json.Number:
		f, err := n.Float64()
		if err != nil {
			// overflow: keep the sign, magnitude is infinite
			r, ok := new(big.Float).SetString(string(n))
			if !ok {
				return 0, false
			}
			f, _ = r.Float64()
		}
		return f, true
	case float64:
		return n, true
	case int:
		return float64(n), true
	case int64:
		return float64(n), true
	}
	return 0, false
}

func isNumber(v any) bool {
	switch v.(type) {
	case json.Number, float64, int, int64:
		return true
	}
	return false
}

// compareNumbers compares two JSON numbers exactly (big.Float for decimal
// text so 0.1 and 0.10 compare equal and large integers stay exact).
func compareNumbers(a, b any) (int, bool) {
	ra, ok1 := bigNum(a)
	rb, ok2 := bigNum(b)
	if !ok1 || !ok2 {
		return 0, false
	}
	return ra.Cmp(rb), true
}

// hugeExponent reports number text whose exponent would make big.Rat
// allocate without bound ("1e999999999"); such numbers compare as float64.
func hugeExponent(s string) bool {
	i := strings.IndexAny(s, "eE")
	if i < 0 {
		return false
	}
	e, err := strconv.Atoi(strings.TrimPrefix(s[i+1:], "+"))
	return err != nil || e > 400 || e < -400
}

func bigNum(v any) (*big.Rat, bool) {
	switch n := v.(type) {
	case json.Number:
		if hugeExponent(string(n)) {
			f, err := strconv.ParseFloat(string(n), 64)
			if err != nil && !math.IsInf(f, 0) {
				return nil, false
			}
			if math.IsInf(f, 0) {
				// beyond float range: compare by sign and magnitude class
				r := new(big.Rat).SetInt(new(big.Int).Lsh(big.NewInt(1), 1100))
				if f < 0 {
					r.Neg(r)
				}
				return r, true
			}
			r := new(big.Rat)
			r.SetFloat64(f)
			return r, true
		}
		r, ok := new(big.Rat).SetString(string(n))
		return r, ok
	case float64:
		r := new(big.Rat)
		if r.SetFloat64(n) == nil {
			return nil, false
		}
		return r, true
	case int:
		return new(big.Rat).SetInt64(int64(n)), true
	case int64:
		return new(big.Rat).SetInt64(n), true
	}
	return nil, false
}

// intNumber returns the integer value of a JSON number, if it is integral.
func intNumber(v any) (int64, bool) {
	switch n := v.(type) {
	case json.Number:
		if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
			return i, true
		}
		if hugeExponent(string(n)) {
			return 0, false
		}
		r, ok := new(big.Rat).SetString(string(n))
		if !ok || !r.IsInt() || !r.Num().IsInt64() {
			return 0, false
		}
		return r.Num().Int64(), true
	case int:
		return int64(n), true
	case int64:
		return n, true
	case float64:
		if n == float64(int64(n)) {
			return int64(n), true
		}
	}
	return 0, false
}

// jsonSize returns the length of the compact JSON text of v, stopping early
// once limit is passed (the exact figure above the limit does not matter).
// String escapes are counted only when the plain length is over half the
// limit; below that only text made mostly of control characters could
// cross it.
func jsonSize(v any, limit int) int {
	n := sizeOf(v, 0, limit)
	if n > limit || n <= limit/2 {
		return n
	}
	return sizeOfExact(v, 0, limit)
}

func sizeOf(v any, n, limit int) int {
	switch x := v.(type) {
	case map[string]any:
		n += 2
		for k, e := range x {
			n += len(k) + 4
			if n = sizeOf(e, n, limit); n > limit {
				return n
			}
		}
	case []any:
		n += 2
		for _, e := range x {
			if n = sizeOf(e, n+1, limit); n > limit {
				return n
			}
		}
	case string:
		n += len(x) + 2
	case json.Number:
		n += len(x)
	case bool:
		n += 5
	case nil:
		n += 4
	default:
		n += len(fmt.Sprint(x))
	}
	return n
}

func sizeOfExact(v any, n, limit int) int {
	switch x := v.(type) {
	case map[string]any:
		n += 2
		for k, e := range x {
			n += escapedLen(k) + 4
			if n = sizeOfExact(e, n, limit); n > limit {
				return n
			}
		}
	case []any:
		n += 2
		for _, e := range x {
			if n = sizeOfExact(e, n+1, limit); n > limit {
				return n
			}
		}
	case string:
		n += escapedLen(x) + 2
	default:
		n = sizeOf(v, n, limit)
	}
	return n
}

func escapedLen(s string) int {
	n := len(s)
	for i := 0; i < len(s); i++ {
		if c := s[i]; c < 0x20 {
			n += 5
		} else if c == '"' || c == '\\' {
			n++
		}
	}
	return n
}

func typeName(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "string"
	case bool:
		return "boolean"
	case map[string]any:
		return "object"
	case []any:
		return "array"
	}
	if isNumber(v) {
		return "number"
	}
	return fmt.Sprintf("%T", v)
}

// longText reads an integer the way AWS reads *Path integer fields: the
// value's text must parse as a Java long, so "5" and 5 are accepted and 5.0
// or 1.5 are not.
func longText(v any) (int64, bool) {
	var s string
	switch x := v.(type) {
	case string:
		s = x
	case json.Number:
		s = string(x)
	default:
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	return n, err == nil
}

// normalize turns a Go value that is not a JSON value tree (a struct, a
// typed map, an int) into one by a JSON round trip; value trees pass as
// they are.
func normalize(v any) (any, error) {
	switch v.(type) {
	case map[string]any, []any, string, json.Number, bool, nil:
		return v, nil
	}
	b, err := json.Marshal(v)
	if err != nil {
		return nil, NewError(ErrRuntime, "the task result is not JSON: "+err.Error())
	}
	return DecodeJSON(b)
}
