package intrinsic

import (
	"encoding/json"
	"strconv"
	"strings"
)

// maxDepth is how deeply calls may nest; AWS documents "up to 10 intrinsic
// functions within a field".
const maxDepth = 10

type funcID uint8

const (
	fnFormat funcID = iota
	fnStringToJSON
	fnJSONToString
	fnArray
	fnArrayPartition
	fnArrayContains
	fnArrayRange
	fnArrayGetItem
	fnArrayLength
	fnArrayUnique
	fnBase64Encode
	fnBase64Decode
	fnHash
	fnJSONMerge
	fnMathRandom
	fnMathAdd
	fnStringSplit
	fnUUID
)

type funcSpec struct {
	name    string
	minArgs int
	maxArgs int // -1: no limit
	pure    bool
	// args is the type each literal argument must have (by position; the
	// last entry repeats): a literal of another type is rejected at parse
	// time, since no input can make the call succeed.
	args []litType
}

type litType uint8

const (
	litAny litType = iota
	litString
	litNumber
	litBool
	litArray  // no literal is an array
	litObject // no literal is an object
)

var funcs = [...]funcSpec{
	fnFormat:         {"States.Format", 1, -1, true, []litType{litString, litAny}},
	fnStringToJSON:   {"States.StringToJson", 1, 1, true, []litType{litString}},
	fnJSONToString:   {"States.JsonToString", 1, 1, true, []litType{litAny}},
	fnArray:          {"States.Array", 0, -1, true, []litType{litAny}},
	fnArrayPartition: {"States.ArrayPartition", 2, 2, true, []litType{litArray, litNumber}},
	fnArrayContains:  {"States.ArrayContains", 2, 2, true, []litType{litArray, litAny}},
	fnArrayRange:     {"States.ArrayRange", 3, 3, true, []litType{litNumber}},
	fnArrayGetItem:   {"States.ArrayGetItem", 2, 2, true, []litType{litArray, litNumber}},
	fnArrayLength:    {"States.ArrayLength", 1, 1, true, []litType{litArray}},
	fnArrayUnique:    {"States.ArrayUnique", 1, 1, true, []litType{litArray}},
	fnBase64Encode:   {"States.Base64Encode", 1, 1, true, []litType{litString}},
	fnBase64Decode:   {"States.Base64Decode", 1, 1, true, []litType{litString}},
	fnHash:           {"States.Hash", 2, 2, true, []litType{litString}},
	fnJSONMerge:      {"States.JsonMerge", 3, 3, true, []litType{litObject, litObject, litBool}},
	fnMathRandom:     {"States.MathRandom", 2, 3, false, []litType{litNumber}},
	fnMathAdd:        {"States.MathAdd", 2, 2, true, []litType{litNumber}},
	fnStringSplit:    {"States.StringSplit", 2, 2, true, []litType{litString}},
	fnUUID:           {"States.UUID", 0, 0, false, nil},
}

var litTypeNames = [...]string{litString: "a string", litNumber: "a number", litBool: "a boolean", litArray: "an array", litObject: "an object"}

// checkLiteralArgs rejects literal arguments of the wrong type.
func checkLiteralArgs(spec funcSpec, args []node) error {
	for i, a := range args {
		if a.kind != nodeConst || a.folded {
			continue
		}
		want := spec.args[min(i, len(spec.args)-1)]
		ok := true
		switch want {
		case litString:
			_, ok = a.val.(string)
		case litNumber:
			_, ok = a.val.(json.Number)
		case litBool:
			_, ok = a.val.(bool)
		case litArray, litObject:
			ok = false
		}
		if !ok {
			return parseError("argument %d of %s must be %s, a path or an intrinsic function, but is the literal %s",
				i+1, spec.name, litTypeNames[want], literalText(a.val))
		}
	}
	return nil
}

func literalText(v any) string {
	switch x := v.(type) {
	case string:
		return "'" + x + "'"
	case nil:
		return "null"
	}
	return string(appendJSON(nil, v))
}

var funcByName = func() map[string]funcID {
	m := make(map[string]funcID, len(funcs))
	for i, f := range funcs {
		m[f.name] = funcID(i)
	}
	return m
}()

type nodeKind uint8

const (
	nodeConst nodeKind = iota // literal, or a call folded at parse time
	nodePath
	nodeCall
)

type node struct {
	kind nodeKind
	val  any    // nodeConst
	path string // nodePath: raw text handed to the resolver
	fn   funcID
	args []node
	// tmpl is the precomputed States.Format template when its first
	// argument is a string literal: placeholders there are only the
	// unescaped "{}" pairs.
	tmpl *template
	// holes are the positions of unescaped "{}" in a string literal.
	holes []int
	// pos is the byte offset of a call or path in the expression.
	pos int
	// folded marks a constant computed from a call, not written as a literal.
	folded bool
}

// template is a format string split at its placeholders.
type template struct {
	parts []string // len(parts) == placeholders+1
	size  int      // total length of the literal parts
}

// Expr is a parsed intrinsic function call. It is immutable and safe for
// concurrent use.
type Expr struct {
	src  string
	root node
}

// String returns the expression as written.
func (e *Expr) String() string { return e.src }

// IsIntrinsic reports whether s starts like an intrinsic function call.
func IsIntrinsic(s string) bool { return strings.HasPrefix(s, "States.") }

// Parse parses an intrinsic function call such as
// "States.Format('{} {}', $.x, States.UUID())". Arguments are nested calls,
// single-quoted strings (escapes \' \{ \} \\ only), JSON numbers (text
// kept), true, false, null, and paths starting with $ ($.a[0], $$.Execution.Id,
// $var.x) taken verbatim. Calls with only constant arguments and a scalar
// result are evaluated here once. Errors are *Error with Name ErrValidation.
func Parse(expr string) (*Expr, error) {
	p := parser{src: expr}
	p.skipSpace()
	if !strings.HasPrefix(p.src[p.pos:], "States.") {
		return nil, parseError("'%s' is not an intrinsic function call", expr)
	}
	root, err := p.call(1)
	if err != nil {
		return nil, err
	}
	p.skipSpace()
	if p.pos != len(p.src) {
		return nil, parseError("unexpected text at offset %d after the function call: '%s'", p.pos, p.src[p.pos:])
	}
	return &Expr{src: expr, root: root}, nil
}

type parser struct {
	src string
	pos int
}

func isSpace(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

func (p *parser) skipSpace() {
	for p.pos < len(p.src) && isSpace(p.src[p.pos]) {
		p.pos++
	}
}

func isNameChar(c byte) bool {
	return c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9'
}

// call parses "States.Name(args)" at p.pos.
func (p *parser) call(depth int) (node, error) {
	if depth > maxDepth {
		return node{}, parseError("intrinsic functions are nested more than %d deep", maxDepth)
	}
	start := p.pos
	p.pos += len("States.")
	for p.pos < len(p.src) && isNameChar(p.src[p.pos]) {
		p.pos++
	}
	name := p.src[start:p.pos]
	id, ok := funcByName[name]
	if !ok {
		return node{}, parseError("unknown intrinsic function '%s'", name)
	}
	p.skipSpace()
	if p.pos >= len(p.src) || p.src[p.pos] != '(' {
		return node{}, parseError("expected '(' after %s at offset %d", name, p.pos)
	}
	p.pos++
	var args []node
	p.skipSpace()
	if p.pos < len(p.src) && p.src[p.pos] == ')' {
		p.pos++
	} else {
		for {
			p.skipSpace()
			arg, err := p.arg(depth)
			if err != nil {
				return node{}, err
			}
			args = append(args, arg)
			p.skipSpace()
			if p.pos >= len(p.src) {
				return node{}, parseError("missing ')' to close %s", name)
			}
			c := p.src[p.pos]
			p.pos++
			if c == ')' {
				break
			}
			if c != ',' {
				return node{}, parseError("expected ',' or ')' in %s at offset %d, found '%c'", name, p.pos-1, c)
			}
		}
	}
	spec := funcs[id]
	if len(args) < spec.minArgs || spec.maxArgs >= 0 && len(args) > spec.maxArgs {
		return node{}, parseError("%s takes %s, but %d were given", name, arityText(spec), len(args))
	}
	if err := checkLiteralArgs(spec, args); err != nil {
		return node{}, err
	}
	n := node{kind: nodeCall, fn: id, args: args, pos: start}
	if id == fnFormat && args[0].kind == nodeConst {
		if s, ok := args[0].val.(string); ok {
			n.tmpl = newTemplate(s, args[0].holes)
		}
	}
	for i := range args {
		args[i].holes = nil
	}
	return fold(n), nil
}

func arityText(s funcSpec) string {
	switch {
	case s.maxArgs < 0:
		return "at least " + plural(s.minArgs)
	case s.minArgs == s.maxArgs:
		return "exactly " + plural(s.minArgs)
	}
	return strconv.Itoa(s.minArgs) + " to " + plural(s.maxArgs)
}

func plural(n int) string {
	if n == 1 {
		return "1 argument"
	}
	return strconv.Itoa(n) + " arguments"
}

// fold evaluates a pure call whose arguments are all constant, when the
// result is a scalar (sharing a mutable array or object between
// evaluations is not safe). A failing call is left for Eval to report.
func fold(n node) node {
	if !funcs[n.fn].pure {
		return n
	}
	for _, a := range n.args {
		if a.kind != nodeConst {
			return n
		}
	}
	args := make([]any, len(n.args))
	for i, a := range n.args {
		args[i] = a.val
	}
	v, err := n.call(args, Env{})
	if err != nil {
		return n
	}
	switch v.(type) {
	case string, json.Number, bool, nil:
		return node{kind: nodeConst, val: v, folded: true}
	}
	return n
}

// arg parses one argument: a string, number, true/false/null, a path or a
// nested call.
func (p *parser) arg(depth int) (node, error) {
	if p.pos >= len(p.src) {
		return node{}, parseError("missing argument at the end of the expression")
	}
	c := p.src[p.pos]
	switch {
	case c == '\'':
		return p.str()
	case c == '$':
		return p.pathArg()
	case c == '-' || c >= '0' && c <= '9':
		return p.number()
	case strings.HasPrefix(p.src[p.pos:], "States."):
		return p.call(depth + 1)
	}
	for _, kw := range [...]struct {
		text string
		val  any
	}{{"true", true}, {"false", false}, {"null", nil}} {
		if strings.HasPrefix(p.src[p.pos:], kw.text) {
			end := p.pos + len(kw.text)
			if end == len(p.src) || !isNameChar(p.src[end]) {
				p.pos = end
				return node{kind: nodeConst, val: kw.val}, nil
			}
		}
	}
	return node{}, parseError("invalid argument at offset %d: '%s'", p.pos, p.src[p.pos:])
}

// str parses a single-quoted literal. Only \' \{ \} and \\ are escapes, as
// AWS documents; any other backslash is rejected (AWS refuses definitions
// with \" in a literal). Unescaped "{}" pairs are recorded as placeholders.
func (p *parser) str() (node, error) {
	start := p.pos
	p.pos++
	var b strings.Builder
	var holes []int
	plain := true // no escape seen yet: the value is a substring of src
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		switch c {
		case '\'':
			val := p.src[start+1 : p.pos]
			if !plain {
				val = b.String()
			}
			p.pos++
			return node{kind: nodeConst, val: val, holes: holes}, nil
		case '\\':
			if p.pos+1 >= len(p.src) {
				return node{}, parseError("unterminated escape sequence at offset %d", p.pos)
			}
			e := p.src[p.pos+1]
			if e != '\'' && e != '{' && e != '}' && e != '\\' {
				return node{}, parseError("invalid escape sequence '\\%c' at offset %d", e, p.pos)
			}
			if plain {
				b.WriteString(p.src[start+1 : p.pos])
				plain = false
			}
			b.WriteByte(e)
			p.pos += 2
			continue
		case '{':
			if p.pos+1 < len(p.src) && p.src[p.pos+1] == '}' {
				at := p.pos - start - 1
				if !plain {
					at = b.Len()
				}
				holes = append(holes, at)
			}
		}
		if !plain {
			b.WriteByte(c)
		}
		p.pos++
	}
	return node{}, parseError("unterminated string literal starting at offset %d", start)
}

// pathArg takes the raw text of a path argument: up to a ',' or ')' or
// blank outside brackets. Quotes inside brackets may hold any character.
func (p *parser) pathArg() (node, error) {
	start := p.pos
	depth := 0
	for p.pos < len(p.src) {
		c := p.src[p.pos]
		if depth == 0 && (c == ',' || c == ')' || isSpace(c)) {
			break
		}
		switch c {
		case '[':
			depth++
		case '(':
			if depth > 0 {
				depth++
			}
		case ']', ')':
			if depth > 0 {
				depth--
			}
		case '\'', '"':
			if depth > 0 {
				end := closingQuote(p.src, p.pos)
				if end < 0 {
					return node{}, parseError("unterminated quote in path at offset %d", p.pos)
				}
				p.pos = end
			}
		}
		p.pos++
	}
	if depth > 0 {
		return node{}, parseError("unterminated bracket in path '%s'", p.src[start:])
	}
	path := p.src[start:p.pos]
	if len(path) > 1 {
		c := path[1]
		if c != '.' && c != '[' && c != '$' && c != '_' && !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return node{}, parseError("invalid path '%s'", path)
		}
	}
	return node{kind: nodePath, path: path, pos: start}, nil
}

// closingQuote returns the index of the quote closing the one at i, honouring
// backslash escapes, or -1.
func closingQuote(s string, i int) int {
	q := s[i]
	for j := i + 1; j < len(s); j++ {
		switch s[j] {
		case '\\':
			j++
		case q:
			return j
		}
	}
	return -1
}

// number parses a JSON number and keeps its text.
func (p *parser) number() (node, error) {
	start := p.pos
	s := p.src
	i := p.pos
	if s[i] == '-' {
		i++
	}
	digits := func() int {
		n := 0
		for i < len(s) && s[i] >= '0' && s[i] <= '9' {
			i++
			n++
		}
		return n
	}
	intStart := i
	if digits() == 0 {
		return node{}, parseError("invalid number at offset %d", start)
	}
	if s[intStart] == '0' && i-intStart > 1 {
		return node{}, parseError("invalid number '%s' at offset %d", s[start:i], start)
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return node{}, parseError("invalid number at offset %d", start)
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return node{}, parseError("invalid number at offset %d", start)
		}
	}
	if i < len(s) && (isNameChar(s[i]) || s[i] == '.') {
		return node{}, parseError("invalid number at offset %d", start)
	}
	p.pos = i
	return node{kind: nodeConst, val: json.Number(s[start:i])}, nil
}

// newTemplate splits a literal format string at its placeholder positions.
func newTemplate(s string, holes []int) *template {
	t := &template{parts: make([]string, 0, len(holes)+1)}
	last := 0
	for _, h := range holes {
		t.parts = append(t.parts, s[last:h])
		last = h + 2
	}
	t.parts = append(t.parts, s[last:])
	t.size = len(s) - 2*len(holes)
	return t
}
