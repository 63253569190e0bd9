// Package jsonpath evaluates the JSONPath dialect of Amazon States Language
// the way AWS Step Functions does: AWS runs Jayway JsonPath, so a path is
// either definite (a single value; a missing member is an error whose text
// follows Jayway) or indefinite (wildcards, slices, unions, filters and deep
// scans; the result is always a list, empty when nothing matches).
//
// Simple paths (names, indices, wildcards, slices and unions) are compiled
// into a segment list and evaluated here without allocation beyond the
// result. Filters and deep scans are delegated to github.com/theory/jsonpath
// (RFC 9535), after rewriting member names into bracket notation so names
// that Jayway allows but RFC 9535 shorthand does not (such as "a-b") work.
//
// Decisions where Jayway's behaviour is the reference: a quoted bracket name
// keeps its backslash escapes as written (AWS selects the key a\"b with
// $['a\"b']); an out-of-range index selects nothing; "[(@.length-N)]" is the
// only script expression understood; wildcards over objects visit keys in
// sorted order, since value trees do not keep document order.
//
// Values are plain trees as produced by encoding/json with UseNumber:
// map[string]any, []any, string, json.Number, bool and nil. Paths never
// modify the value they read; Set copies the containers on the way to the
// replaced node and shares everything else.
package jsonpath

import (
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"

	rfc "github.com/theory/jsonpath"
)

type segKind uint8

const (
	segName segKind = iota
	segIndex
	segWildcard
	segSlice
	segNames   // union of names
	segIndexes // union of indices
	segFilter  // raw filter, only in complex paths
	segDeep    // deep scan marker applied to the next segment
)

type segment struct {
	kind    segKind
	name    string
	index   int
	names   []string
	indexes []int
	// slice bounds; hasStart/hasEnd say whether they were given
	start, end, step int
	hasStart         bool
	hasEnd           bool
	raw              string // filter text including "?"
	pos              int    // byte offset of the segment in the path text
}

// Path is a compiled JSONPath. It is immutable and safe for concurrent use.
type Path struct {
	src      string
	segs     []segment
	definite bool
	complex  *rfc.Path
}

// NotFoundError reports that a definite path selected nothing. Message is
// Jayway's wording, e.g. "No results for path: $['a']". Offset is the byte
// offset, in the path as written, of the step that found nothing or found a
// value of the wrong type.
type NotFoundError struct {
	Message string
	Offset  int
}

func (e *NotFoundError) Error() string { return e.Message }

// Compile parses a JSONPath that starts with "$".
func Compile(src string) (*Path, error) {
	if !strings.HasPrefix(src, "$") {
		return nil, fmt.Errorf("path %q must start with $", src)
	}
	p := &Path{src: src, definite: true}
	s := src[1:]
	needComplex := false
	for len(s) > 0 {
		pos, first := len(src)-len(s), len(p.segs)
		switch {
		case strings.HasPrefix(s, ".."):
			p.segs = append(p.segs, segment{kind: segDeep})
			p.definite = false
			needComplex = true
			s = s[2:]
			if len(s) > 0 && s[0] == '[' {
				continue
			}
			seg, rest, err := parseDotName(s)
			if err != nil {
				return nil, fmt.Errorf("invalid path %q: %v", src, err)
			}
			p.segs = append(p.segs, seg)
			s = rest
		case s[0] == '.':
			seg, rest, err := parseDotName(s[1:])
			if err != nil {
				return nil, fmt.Errorf("invalid path %q: %v", src, err)
			}
			if seg.kind != segName {
				p.definite = false
			}
			p.segs = append(p.segs, seg)
			s = rest
		case s[0] == '[':
			seg, rest, err := parseBracket(s)
			if err != nil {
				return nil, fmt.Errorf("invalid path %q: %v", src, err)
			}
			switch seg.kind {
			case segName, segIndex:
			case segFilter:
				p.definite = false
				needComplex = true
			default:
				p.definite = false
			}
			p.segs = append(p.segs, seg)
			s = rest
		default:
			return nil, fmt.Errorf("invalid path %q: unexpected %q", src, s[:1])
		}
		for k := first; k < len(p.segs); k++ {
			p.segs[k].pos = pos
		}
	}
	if needComplex {
		q, err := rfc.Parse(p.rfcString())
		if err != nil {
			return nil, fmt.Errorf("invalid path %q: %v", src, err)
		}
		p.complex = q
	}
	return p, nil
}

// MustCompile is Compile for paths known to be valid.
func MustCompile(src string) *Path {
	p, err := Compile(src)
	if err != nil {
		panic(err)
	}
	return p
}

func parseDotName(s string) (segment, string, error) {
	if strings.HasPrefix(s, "*") {
		return segment{kind: segWildcard}, s[1:], nil
	}
	i := 0
	for i < len(s) && s[i] != '.' && s[i] != '[' {
		i++
	}
	if i == 0 {
		return segment{}, "", errors.New("empty member name")
	}
	name := s[:i]
	if strings.ContainsAny(name, " ()'\"") && strings.HasSuffix(name, "()") {
		return segment{}, "", fmt.Errorf("functions are not supported: %s", name)
	}
	return segment{kind: segName, name: name}, s[i:], nil
}

func parseBracket(s string) (segment, string, error) {
	// s starts with '['
	body := s[1:]
	if strings.HasPrefix(body, "?") {
		// find the matching ']' honouring quotes and nesting
		depth, inQ := 1, byte(0)
		for i := 0; i < len(body); i++ {
			c := body[i]
			if inQ != 0 {
				if c == '\\' {
					i++
					continue
				}
				if c == inQ {
					inQ = 0
				}
				continue
			}
			switch c {
			case '\'', '"':
				inQ = c
			case '[':
				depth++
			case ']':
				depth--
				if depth == 0 {
					return segment{kind: segFilter, raw: body[:i]}, body[i+1:], nil
				}
			}
		}
		return segment{}, "", errors.New("unterminated filter")
	}
	if strings.HasPrefix(body, "'") || strings.HasPrefix(body, "\"") {
		var names []string
		for {
			q := body[0]
			var sb strings.Builder
			i := 1
			// Jayway keeps escapes as written: a backslash only stops the
			// next character from closing the name (AWS shows
			// $['a\\"b'] selecting the key a\\"b).
			for ; i < len(body) && body[i] != q; i++ {
				if body[i] == '\\' && i+1 < len(body) {
					sb.WriteByte(body[i])
					i++
				}
				sb.WriteByte(body[i])
			}
			if i >= len(body) {
				return segment{}, "", errors.New("unterminated quoted name")
			}
			names = append(names, sb.String())
			body = strings.TrimLeft(body[i+1:], " ")
			if strings.HasPrefix(body, "]") {
				break
			}
			if !strings.HasPrefix(body, ",") {
				return segment{}, "", errors.New("expected , or ] after quoted name")
			}
			body = strings.TrimLeft(body[1:], " ")
			if len(body) == 0 || (body[0] != '\'' && body[0] != '"') {
				return segment{}, "", errors.New("expected quoted name")
			}
		}
		rest := body[1:]
		if len(names) == 1 {
			return segment{kind: segName, name: names[0]}, rest, nil
		}
		return segment{kind: segNames, names: names}, rest, nil
	}
	end := strings.IndexByte(body, ']')
	if end < 0 {
		return segment{}, "", errors.New("missing ]")
	}
	inner := strings.TrimSpace(body[:end])
	rest := body[end+1:]
	if inner == "*" {
		return segment{kind: segWildcard}, rest, nil
	}
	if strings.HasPrefix(inner, "(") && strings.HasSuffix(inner, ")") {
		// Jayway script index; only (@.length-N) has a meaning here
		expr := strings.ReplaceAll(inner[1:len(inner)-1], " ", "")
		if rest, ok := strings.CutPrefix(expr, "@.length-"); ok {
			n, err := strconv.Atoi(rest)
			if err == nil && n > 0 {
				return segment{kind: segIndex, index: -n}, body[end+1:], nil
			}
		}
		return segment{}, "", fmt.Errorf("unsupported script expression %q", inner)
	}
	if strings.Contains(inner, ":") {
		parts := strings.Split(inner, ":")
		if len(parts) > 3 {
			return segment{}, "", fmt.Errorf("bad slice %q", inner)
		}
		seg := segment{kind: segSlice, step: 1}
		for i, part := range parts {
			part = strings.TrimSpace(part)
			if part == "" {
				continue
			}
			n, err := strconv.Atoi(part)
			if err != nil {
				return segment{}, "", fmt.Errorf("bad slice %q", inner)
			}
			switch i {
			case 0:
				seg.start, seg.hasStart = n, true
			case 1:
				seg.end, seg.hasEnd = n, true
			case 2:
				if n == 0 {
					return segment{}, "", fmt.Errorf("bad slice step %q", inner)
				}
				seg.step = n
			}
		}
		return seg, rest, nil
	}
	if strings.Contains(inner, ",") {
		var idx []int
		for _, part := range strings.Split(inner, ",") {
			n, err := strconv.Atoi(strings.TrimSpace(part))
			if err != nil {
				return segment{}, "", fmt.Errorf("bad index %q", inner)
			}
			idx = append(idx, n)
		}
		return segment{kind: segIndexes, indexes: idx}, rest, nil
	}
	n, err := strconv.Atoi(inner)
	if err != nil {
		return segment{}, "", fmt.Errorf("bad index %q", inner)
	}
	return segment{kind: segIndex, index: n}, rest, nil
}

func quoteName(b *strings.Builder, name string) {
	b.WriteByte('\'')
	for _, r := range name {
		switch r {
		case '\'':
			b.WriteString(`\'`)
		case '\\':
			b.WriteString(`\\`)
		default:
			b.WriteRune(r)
		}
	}
	b.WriteByte('\'')
}

// rfcString renders the path in RFC 9535 syntax for the delegated engine.
func (p *Path) rfcString() string {
	var b strings.Builder
	b.WriteByte('$')
	for _, s := range p.segs {
		switch s.kind {
		case segDeep:
			b.WriteString("..")
			continue
		case segName:
			b.WriteByte('[')
			quoteName(&b, s.name)
			b.WriteByte(']')
		case segNames:
			b.WriteByte('[')
			for i, n := range s.names {
				if i > 0 {
					b.WriteByte(',')
				}
				quoteName(&b, n)
			}
			b.WriteByte(']')
		case segIndex:
			fmt.Fprintf(&b, "[%d]", s.index)
		case segIndexes:
			b.WriteByte('[')
			for i, n := range s.indexes {
				if i > 0 {
					b.WriteByte(',')
				}
				fmt.Fprintf(&b, "%d", n)
			}
			b.WriteByte(']')
		case segWildcard:
			b.WriteString("[*]")
		case segSlice:
			b.WriteByte('[')
			if s.hasStart {
				fmt.Fprintf(&b, "%d", s.start)
			}
			b.WriteByte(':')
			if s.hasEnd {
				fmt.Fprintf(&b, "%d", s.end)
			}
			if s.step != 1 {
				fmt.Fprintf(&b, ":%d", s.step)
			}
			b.WriteByte(']')
		case segFilter:
			b.WriteByte('[')
			b.WriteString(s.raw)
			b.WriteByte(']')
		}
	}
	// "$..['x']" is RFC for deep scan of x; ".." followed by "[" is valid.
	return strings.ReplaceAll(b.String(), "..[", "..[")
}

// String returns the path as written.
func (p *Path) String() string { return p.src }

// IsDefinite reports whether the path selects at most one value.
func (p *Path) IsDefinite() bool { return p.definite }

// IsRoot reports whether the path is "$".
func (p *Path) IsRoot() bool { return len(p.segs) == 0 }

// Normalized renders the path the way Jayway prints it: $['a'][0][*].
func (p *Path) Normalized() string { return normalized(p.segs, len(p.segs)) }

func normalized(segs []segment, upto int) string {
	var b strings.Builder
	b.WriteByte('$')
	for _, s := range segs[:upto] {
		switch s.kind {
		case segName:
			b.WriteString("['")
			b.WriteString(s.name)
			b.WriteString("']")
		case segNames:
			b.WriteByte('[')
			for i, n := range s.names {
				if i > 0 {
					b.WriteByte(',')
				}
				b.WriteString("'" + n + "'")
			}
			b.WriteByte(']')
		case segIndex:
			fmt.Fprintf(&b, "[%d]", s.index)
		case segIndexes:
			b.WriteByte('[')
			for i, n := range s.indexes {
				if i > 0 {
					b.WriteByte(',')
				}
				fmt.Fprintf(&b, "%d", n)
			}
			b.WriteByte(']')
		case segWildcard:
			b.WriteString("[*]")
		case segSlice:
			b.WriteByte('[')
			if s.hasStart {
				fmt.Fprintf(&b, "%d", s.start)
			}
			b.WriteByte(':')
			if s.hasEnd {
				fmt.Fprintf(&b, "%d", s.end)
			}
			b.WriteByte(']')
		case segFilter:
			b.WriteString("[?]")
		case segDeep:
			b.WriteString("..")
		}
	}
	return b.String()
}

// Eval selects from v. A definite path returns the value or a
// *NotFoundError; an indefinite path returns a []any (never nil).
func (p *Path) Eval(v any) (any, error) {
	if p.complex != nil {
		nodes := p.complex.Select(v)
		out := make([]any, len(nodes))
		copy(out, nodes)
		return out, nil
	}
	if p.definite {
		return p.evalDefinite(v)
	}
	out := []any{}
	p.collect(v, 0, &out)
	return out, nil
}

// Exists reports whether a definite path selects a value (indefinite paths
// always "exist").
func (p *Path) Exists(v any) bool {
	if !p.definite {
		return true
	}
	_, err := p.evalDefinite(v)
	return err == nil
}

func javaType(v any) string {
	switch v.(type) {
	case nil:
		return "null"
	case string:
		return "java.lang.String"
	case json.Number:
		return "java.lang.Integer"
	case bool:
		return "java.lang.Boolean"
	case []any:
		return "net.minidev.json.JSONArray"
	case map[string]any:
		return "java.util.LinkedHashMap"
	}
	return fmt.Sprintf("%T", v)
}

func (p *Path) evalDefinite(v any) (any, error) {
	cur := v
	last := len(p.segs) - 1
	for i, s := range p.segs {
		switch s.kind {
		case segName:
			m, ok := cur.(map[string]any)
			if !ok {
				return nil, &NotFoundError{Message: fmt.Sprintf(
					"Expected to find an object with property ['%s'] in path %s but found '%s'. This is not a json object according to the JsonProvider: 'com.jayway.jsonpath.spi.json.JsonSmartJsonProvider'.",
					s.name, normalized(p.segs, i), javaType(cur)), Offset: s.pos}
			}
			nv, ok := m[s.name]
			if !ok {
				if i == last {
					return nil, &NotFoundError{Message: "No results for path: " + p.Normalized(), Offset: s.pos}
				}
				return nil, &NotFoundError{Message: "Missing property in path " + normalized(p.segs, i+1), Offset: s.pos}
			}
			cur = nv
		case segIndex:
			a, ok := cur.([]any)
			if !ok {
				if cur == nil {
					return nil, &NotFoundError{Message: fmt.Sprintf("The path %s is null", normalized(p.segs, i)), Offset: s.pos}
				}
				return nil, &NotFoundError{Message: fmt.Sprintf(
					"Filter: [%d] can only be applied to arrays. Current context is: %s", s.index, compactString(cur)), Offset: s.pos}
			}
			idx := s.index
			if idx < 0 {
				idx += len(a)
			}
			if idx < 0 || idx >= len(a) {
				return nil, &NotFoundError{Message: "No results for path: " + p.Normalized(), Offset: s.pos}
			}
			cur = a[idx]
		}
	}
	return cur, nil
}

func compactString(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}

func (p *Path) collect(cur any, i int, out *[]any) {
	if i == len(p.segs) {
		*out = append(*out, cur)
		return
	}
	s := p.segs[i]
	switch s.kind {
	case segName:
		if m, ok := cur.(map[string]any); ok {
			if nv, ok := m[s.name]; ok {
				p.collect(nv, i+1, out)
			}
		}
	case segNames:
		if m, ok := cur.(map[string]any); ok {
			for _, n := range s.names {
				if nv, ok := m[n]; ok {
					p.collect(nv, i+1, out)
				}
			}
		}
	case segIndex:
		if a, ok := cur.([]any); ok {
			idx := s.index
			if idx < 0 {
				idx += len(a)
			}
			if idx >= 0 && idx < len(a) {
				p.collect(a[idx], i+1, out)
			}
		}
	case segIndexes:
		if a, ok := cur.([]any); ok {
			for _, idx := range s.indexes {
				if idx < 0 {
					idx += len(a)
				}
				if idx >= 0 && idx < len(a) {
					p.collect(a[idx], i+1, out)
				}
			}
		}
	case segWildcard:
		switch c := cur.(type) {
		case []any:
			for _, e := range c {
				p.collect(e, i+1, out)
			}
		case map[string]any:
			for _, k := range sortedKeys(c) {
				p.collect(c[k], i+1, out)
			}
		}
	case segSlice:
		a, ok := cur.([]any)
		if !ok {
			return
		}
		n := len(a)
		if s.step > 0 {
			start, end := 0, n
			if s.hasStart {
				start = clampIdx(s.start, n)
			}
			if s.hasEnd {
				end = clampIdx(s.end, n)
			}
			for j := start; j < end; j += s.step {
				p.collect(a[j], i+1, out)
			}
		} else {
			start, end := n-1, -1
			if s.hasStart {
				start = clampIdx(s.start, n)
				if start >= n {
					start = n - 1
				}
			}
			if s.hasEnd {
				end = clampIdx(s.end, n)
			}
			for j := start; j > end; j += s.step {
				p.collect(a[j], i+1, out)
			}
		}
	}
}

func clampIdx(i, n int) int {
	if i < 0 {
		i += n
		if i < 0 {
			i = 0
		}
	}
	if i > n {
		i = n
	}
	return i
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	// insertion order is lost in Go maps; sorted order keeps results stable
	for i := 1; i < len(keys); i++ {
		for j := i; j > 0 && keys[j] < keys[j-1]; j-- {
			keys[j], keys[j-1] = keys[j-1], keys[j]
		}
	}
	return keys
}

// SetError reports that a ResultPath could not be applied.
type SetError struct {
	Message string
}

func (e *SetError) Error() string { return e.Message }

// Set returns root with the node at the definite path p replaced by val,
// creating missing objects on the way, as ResultPath does. root itself is not
// modified: containers on the way are copied, the rest is shared.
func (p *Path) Set(root any, val any) (any, error) {
	if !p.definite {
		return nil, &SetError{Message: fmt.Sprintf("ResultPath %s is not a definite path", p.src)}
	}
	return p.set(root, 0, val)
}

func (p *Path) set(cur any, i int, val any) (any, error) {
	if i == len(p.segs) {
		return val, nil
	}
	s := p.segs[i]
	switch s.kind {
	case segName:
		var m map[string]any
		switch c := cur.(type) {
		case map[string]any:
			m = make(map[string]any, len(c)+1)
			for k, v := range c {
				m[k] = v
			}
		case nil:
			if i == 0 {
				return nil, &SetError{Message: "input is not an object"}
			}
			m = map[string]any{}
		default:
			return nil, &SetError{Message: fmt.Sprintf("cannot set property %s on a non-object", s.name)}
		}
		child, ok := m[s.name]
		if !ok {
			child = nil
		}
		nv, err := p.set(child, i+1, val)
		if err != nil {
			return nil, err
		}
		m[s.name] = nv
		return m, nil
	case segIndex:
		a, ok := cur.([]any)
		if !ok {
			return nil, &SetError{Message: fmt.Sprintf("cannot set index %d on a non-array", s.index)}
		}
		idx := s.index
		if idx < 0 {
			idx += len(a)
		}
		if idx < 0 || idx >= len(a) {
			return nil, &SetError{Message: fmt.Sprintf("index %d out of bounds", s.index)}
		}
		na := make([]any, len(a))
		copy(na, a)
		nv, err := p.set(a[idx], i+1, val)
		if err != nil {
			return nil, err
		}
		na[idx] = nv
		return na, nil
	}
	return nil, &SetError{Message: "unsupported ResultPath segment"}
}
