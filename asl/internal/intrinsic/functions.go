package intrinsic

import (
	"crypto/md5"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/sha512"
	"encoding/base64"
	"encoding/hex"
	"github.com/mailflow/mailflow/asl/internal/jsonvalue"
	"hash"
	"math"
	"strings"
	"sync"
	"unicode/utf8"
)

// Documented limits.
const (
	maxStringInput = 10000 // characters, States.Base64Encode/Decode and States.Hash
	maxRangeItems  = 1000  // States.ArrayRange
)

func (n *node) format(args []any) (any, error) {
	t := n.tmpl
	if t == nil {
		s, err := argString(fnFormat, args, 0)
		if err != nil {
			return nil, err
		}
		t = splitTemplate(s)
	}
	given := len(args) - 1
	if holes := len(t.parts) - 1; holes != given {
		return nil, fail("Invalid arguments in States.Format: the format string has %d placeholder(s) but %d argument(s) were given", holes, given)
	}
	if given == 0 {
		return t.parts[0], nil
	}
	size := t.size
	simple := true
	for _, a := range args[1:] {
		if s, ok := a.(string); ok {
			size += len(s)
		} else {
			simple = false
		}
	}
	if simple {
		// Only strings: one allocation for the result.
		var sb strings.Builder
		sb.Grow(size)
		sb.WriteString(t.parts[0])
		for i, a := range args[1:] {
			sb.WriteString(a.(string))
			sb.WriteString(t.parts[i+1])
		}
		return sb.String(), nil
	}
	bp := bufPool.Get().(*[]byte)
	b := (*bp)[:0]
	b = append(b, t.parts[0]...)
	for i, a := range args[1:] {
		b = appendJavaString(b, a)
		b = append(b, t.parts[i+1]...)
	}
	out := string(b)
	putBuf(bp, b)
	return out, nil
}

// splitTemplate splits a format string that came from a path or a nested
// call: every "{}" in it is a placeholder.
func splitTemplate(s string) *template {
	var holes []int
	for i := 0; i+1 < len(s); i++ {
		if s[i] == '{' && s[i+1] == '}' {
			holes = append(holes, i)
			i++
		}
	}
	return newTemplate(s, holes)
}

// bufPool recycles the scratch buffers of text-building functions.
var bufPool = sync.Pool{New: func() any { b := make([]byte, 0, 256); return &b }}

func putBuf(bp *[]byte, b []byte) {
	if cap(b) <= 64<<10 { // do not keep huge buffers alive
		*bp = b
		bufPool.Put(bp)
	}
}

func jsonToString(v any) string {
	bp := bufPool.Get().(*[]byte)
	b := appendJSON((*bp)[:0], v)
	out := string(b)
	putBuf(bp, b)
	return out
}

func stringToJSON(args []any) (any, error) {
	s, err := argString(fnStringToJSON, args, 0)
	if err != nil {
		return nil, err
	}
	if strings.TrimLeft(s, " \t\r\n") == "" {
		return nil, nil // Jackson reads no content as null; AWS returns null for "" and " "
	}
	// Like Jackson's readTree, the first value is read and the rest ignored.
	v, _, err := jsonvalue.DecodeFirst([]byte(s))
	if err != nil {
		return nil, fail("Invalid arguments in States.StringToJson: the string is not valid JSON: %s", err.Error())
	}
	return v, nil
}

func arrayPartition(args []any) (any, error) {
	a, err := argArray(fnArrayPartition, args, 0)
	if err != nil {
		return nil, err
	}
	size, err := argInt(fnArrayPartition, args, 1)
	if err != nil {
		return nil, err
	}
	if size <= 0 {
		return nil, fail("Invalid arguments in States.ArrayPartition: the chunk size must be a positive integer, but was %d", size)
	}
	chunks := int64(len(a)) / size // size may be huge: avoid overflow
	if int64(len(a))%size != 0 {
		chunks++
	}
	out := make([]any, 0, chunks)
	for i := 0; i < len(a); {
		end := len(a)
		if int64(end-i) > size {
			end = i + int(size)
		}
		chunk := make([]any, end-i)
		copy(chunk, a[i:end])
		out = append(out, chunk)
		i = end
	}
	return out, nil
}

func arrayContains(args []any) (any, error) {
	a, err := argArray(fnArrayContains, args, 0)
	if err != nil {
		return nil, err
	}
	for _, e := range a {
		if equal(e, args[1]) {
			return true, nil
		}
	}
	return false, nil
}

func arrayRange(args []any) (any, error) {
	var v [3]int64
	for i := range v {
		x, err := argInt(fnArrayRange, args, i)
		if err != nil {
			return nil, err
		}
		v[i] = x
	}
	start, end, step := v[0], v[1], v[2]
	if step == 0 {
		return nil, fail("Invalid arguments in States.ArrayRange: the step must not be zero")
	}
	var count int64
	if step > 0 && end >= start || step < 0 && end <= start {
		// Widen through float to avoid overflow on extreme bounds.
		span := math.Abs(float64(end) - float64(start))
		c := math.Floor(span/math.Abs(float64(step))) + 1
		if c > maxRangeItems {
			return nil, fail("Invalid arguments in States.ArrayRange: the range has more than %d items", maxRangeItems)
		}
		count = int64(c)
	}
	out := make([]any, count)
	x := start
	for i := range out {
		out[i] = intNumber(x)
		x += step
	}
	return out, nil
}

func arrayGetItem(args []any) (any, error) {
	a, err := argArray(fnArrayGetItem, args, 0)
	if err != nil {
		return nil, err
	}
	i, err := argInt(fnArrayGetItem, args, 1)
	if err != nil {
		return nil, err
	}
	if i < 0 || i >= int64(len(a)) {
		return nil, fail("Invalid arguments in States.ArrayGetItem: index %d is out of bounds for an array of length %d", i, len(a))
	}
	return a[i], nil
}

func arrayUnique(args []any) (any, error) {
	a, err := argArray(fnArrayUnique, args, 0)
	if err != nil {
		return nil, err
	}
	out := make([]any, 0, len(a))
	if len(a) <= 16 {
	next:
		for _, e := range a {
			for _, o := range out {
				if equal(e, o) {
					continue next
				}
			}
			out = append(out, e)
		}
		return out, nil
	}
	// The JSON text equals exactly when the values are equal: keys sorted,
	// integers and doubles printed distinctly.
	seen := make(map[string]struct{}, len(a))
	var key []byte
	for _, e := range a {
		key = appendJSON(key[:0], e)
		if _, dup := seen[string(key)]; dup {
			continue
		}
		seen[string(key)] = struct{}{}
		out = append(out, e)
	}
	return out, nil
}

func limitedString(fn funcID, args []any, i int) (string, error) {
	s, err := argString(fn, args, i)
	if err != nil {
		return "", err
	}
	if len(s) > maxStringInput && utf16Len(s) > maxStringInput {
		return "", fail("Invalid arguments in %s: the input string exceeds the maximum length of %d characters", funcs[fn].name, maxStringInput)
	}
	return s, nil
}

func base64Encode(args []any) (any, error) {
	s, err := limitedString(fnBase64Encode, args, 0)
	if err != nil {
		return nil, err
	}
	return base64.StdEncoding.EncodeToString([]byte(s)), nil
}

func base64Decode(args []any) (any, error) {
	s, err := limitedString(fnBase64Decode, args, 0)
	if err != nil {
		return nil, err
	}
	enc := base64.StdEncoding
	if len(s)%4 != 0 && !strings.Contains(s, "=") {
		enc = base64.RawStdEncoding // padding is optional, as in Java's decoder
	}
	b, err := enc.DecodeString(s)
	// Go skips line breaks, Java's basic decoder rejects them.
	if err != nil || strings.ContainsAny(s, "\r\n") {
		return nil, fail("Invalid arguments in States.Base64Decode: the input is not valid Base64")
	}
	return javaUTF8(b), nil
}

// javaUTF8 decodes b as Java's new String(b, UTF_8) does: each maximal
// invalid subpart becomes one U+FFFD.
func javaUTF8(b []byte) string {
	if utf8.Valid(b) {
		return string(b)
	}
	out := make([]byte, 0, len(b)+8)
	for i := 0; i < len(b); {
		r, size := utf8.DecodeRune(b[i:])
		if r != utf8.RuneError || size > 1 {
			out = append(out, b[i:i+size]...)
			i += size
			continue
		}
		out = append(out, "\uFFFD"...)
		i += invalidSubpart(b[i:])
	}
	return string(out)
}

// invalidSubpart is the length of the ill-formed sequence at the start of b:
// a lead byte and the continuation bytes that could still have completed it.
func invalidSubpart(b []byte) int {
	c := b[0]
	var need int
	lo, hi := byte(0x80), byte(0xBF)
	switch {
	case c >= 0xC2 && c <= 0xDF:
		need = 1
	case c >= 0xE0 && c <= 0xEF:
		need = 2
		if c == 0xE0 {
			lo = 0xA0
		} // Java takes an encoded surrogate (ED A0..BF xx) as one bad sequence
	case c >= 0xF0 && c <= 0xF4:
		need = 3
		if c == 0xF0 {
			lo = 0x90
		} else if c == 0xF4 {
			hi = 0x8F
		}
	default:
		return 1
	}
	n := 1
	for ; n <= need && n < len(b); n++ {
		if b[n] < lo || b[n] > hi {
			break
		}
		lo, hi = 0x80, 0xBF
	}
	return n
}

var hashAlgorithms = map[string]func() hash.Hash{
	"MD5":     md5.New,
	"SHA-1":   sha1.New,
	"SHA-256": sha256.New,
	"SHA-384": sha512.New384,
	"SHA-512": sha512.New,
}

func hashOf(args []any) (any, error) {
	s, err := limitedString(fnHash, args, 0)
	if err != nil {
		return nil, err
	}
	alg, err := argString(fnHash, args, 1)
	if err != nil {
		return nil, err
	}
	newHash, ok := hashAlgorithms[alg]
	if !ok {
		return nil, fail("Invalid arguments in States.Hash: unsupported hashing algorithm '%s'; the supported algorithms are MD5, SHA-1, SHA-256, SHA-384 and SHA-512", alg)
	}
	h := newHash()
	h.Write([]byte(s))
	var sum [64]byte
	return hex.EncodeToString(h.Sum(sum[:0])), nil
}

func jsonMerge(args []any) (any, error) {
	a, err := argObject(fnJSONMerge, args, 0)
	if err != nil {
		return nil, err
	}
	b, err := argObject(fnJSONMerge, args, 1)
	if err != nil {
		return nil, err
	}
	deep, ok := args[2].(bool)
	if !ok {
		return nil, badType(fnJSONMerge, args, 2, "boolean")
	}
	if deep {
		return nil, fail("Invalid arguments in States.JsonMerge: deep merging is not supported, the third argument must be false")
	}
	// Shallow merge: a key of the second object replaces the whole value.
	out := make(map[string]any, len(a)+len(b))
	for k, v := range a {
		out[k] = v
	}
	for k, v := range b {
		out[k] = v
	}
	return out, nil
}

func mathRandom(args []any, env Env) (any, error) {
	start, err := argInt32(fnMathRandom, args, 0)
	if err != nil {
		return nil, err
	}
	end, err := argInt32(fnMathRandom, args, 1)
	if err != nil {
		return nil, err
	}
	if end <= start {
		return nil, fail("Invalid arguments in States.MathRandom: the end number (%d) must be greater than the start number (%d)", end, start)
	}
	bound := end - start
	if bound > math.MaxInt32 {
		return nil, fail("Invalid arguments in States.MathRandom: the range from %d to %d is too large", start, end)
	}
	if len(args) == 3 {
		seed, err := argInt(fnMathRandom, args, 2)
		if err != nil {
			return nil, err
		}
		return intNumber(start + int64(newJavaRandom(seed).nextInt(int32(bound)))), nil
	}
	r := env.random()
	if !(r >= 0) || r >= 1 {
		r = 0
	}
	off := int64(r * float64(bound))
	if off >= bound {
		off = bound - 1
	}
	return intNumber(start + off), nil
}

// argInt32 is an integer argument that must fit Java's int.
func argInt32(fn funcID, args []any, i int) (int64, error) {
	x, err := argInt(fn, args, i)
	if err != nil {
		return 0, err
	}
	if x < math.MinInt32 || x > math.MaxInt32 {
		return 0, fail("Invalid arguments in %s: argument %d must be an integer between %d and %d, but was %s",
			funcs[fn].name, i+1, math.MinInt32, math.MaxInt32, numberText(args[i]))
	}
	return x, nil
}

func mathAdd(args []any) (any, error) {
	a, err := argInt32(fnMathAdd, args, 0)
	if err != nil {
		return nil, err
	}
	b, err := argInt32(fnMathAdd, args, 1)
	if err != nil {
		return nil, err
	}
	return intNumber(a + b), nil
}

// stringSplit splits like java.util.StringTokenizer(s, delimiters).
func stringSplit(args []any) (any, error) {
	s, err := argString(fnStringSplit, args, 0)
	if err != nil {
		return nil, err
	}
	delims, err := argString(fnStringSplit, args, 1)
	if err != nil {
		return nil, err
	}
	isDelim := func(r rune) bool { return strings.ContainsRune(delims, r) }
	if len(delims) == 1 && delims[0] < utf8.RuneSelf {
		d := delims[0]
		isDelim = func(r rune) bool { return r == rune(d) }
	}
	out := make([]any, 0, 4)
	start := -1
	for i, r := range s {
		if isDelim(r) {
			if start >= 0 {
				out = append(out, s[start:i])
				start = -1
			}
		} else if start < 0 {
			start = i
		}
	}
	if start >= 0 {
		out = append(out, s[start:])
	}
	return out, nil
}
