package workflow

import (
	"bytes"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// This file decodes a queue body in one pass over its bytes plus a cheap walk
// over the values it found, without encoding/json: Parse runs several times
// per mail, and the reflective decoder with a second token pass for duplicate
// keys cost most of its time. The rules are those of encoding/json, which the
// decoder used before: its grammar, its unescaping, its nesting limit.

// maxNesting is encoding/json's nesting limit; deeper bodies fail to decode.
const maxNesting = 10000

// member is one name and the span of its value in the body.
type member struct {
	name       string
	start, end int
}

// frame is an open array or object while scanning, for the path of a
// duplicate key.
type frame struct {
	array bool
	index int
	name  string // the current member's name in an object
	base  int    // where this object's names start in decoder.names
	set   map[string]struct{}
}

type decoder struct {
	data []byte
	str  string // data as one string: unescaped strings are substrings of it
	pos  int

	// dup is the path of the first duplicate name in document order
	// (hasDup says there is one: a top-level "" has the path "").
	hasDup  bool
	dup     string
	names   []string
	frames  []frame
	depth   int
	tooDeep bool

	top []member // members of a top-level object
}

// scan checks that the body holds one JSON value and nothing after it but
// white space, and looks for duplicate names. It reports whether the body
// decodes; hasDup is set when a duplicate name was found first.
func (d *decoder) scan() bool {
	if !d.scanValue(true) {
		return false
	}
	d.skipSpace()
	return d.pos == len(d.data) && !d.tooDeep
}

func (d *decoder) skipSpace() {
	for d.pos < len(d.data) {
		switch d.data[d.pos] {
		case ' ', '\t', '\n', '\r':
			d.pos++
		default:
			return
		}
	}
}

func (d *decoder) scanValue(top bool) bool {
	d.skipSpace()
	if d.pos >= len(d.data) {
		return false
	}
	switch d.data[d.pos] {
	case '{':
		return d.scanObject(top)
	case '[':
		return d.scanArray()
	case '"':
		_, ok := d.scanString(false)
		return ok
	case 't':
		return d.literal("true")
	case 'f':
		return d.literal("false")
	case 'n':
		return d.literal("null")
	default:
		return d.scanNumber()
	}
}

func (d *decoder) literal(lit string) bool {
	if !bytes.HasPrefix(d.data[d.pos:], []byte(lit)) {
		return false
	}
	d.pos += len(lit)
	return true
}

// scanNumber checks a number.
func (d *decoder) scanNumber() bool {
	if d.pos < len(d.data) && d.data[d.pos] == '-' {
		d.pos++
	}
	switch {
	case d.pos >= len(d.data):
		return false
	case d.data[d.pos] == '0':
		d.pos++
	case '1' <= d.data[d.pos] && d.data[d.pos] <= '9':
		d.digits()
	default:
		return false
	}
	if d.pos < len(d.data) && d.data[d.pos] == '.' {
		d.pos++
		if d.digits() == 0 {
			return false
		}
	}
	if d.pos < len(d.data) && (d.data[d.pos] == 'e' || d.data[d.pos] == 'E') {
		d.pos++
		if d.pos < len(d.data) && (d.data[d.pos] == '+' || d.data[d.pos] == '-') {
			d.pos++
		}
		if d.digits() == 0 {
			return false
		}
	}
	return true
}

func (d *decoder) digits() int {
	n := 0
	for d.pos < len(d.data) && '0' <= d.data[d.pos] && d.data[d.pos] <= '9' {
		d.pos++
		n++
	}
	return n
}

// scanString checks the string at d.pos and, if want, returns its value.
func (d *decoder) scanString(want bool) (string, bool) {
	start := d.pos
	d.pos++
	escaped := false
	for d.pos < len(d.data) {
		c := d.data[d.pos]
		switch {
		case c == '"':
			d.pos++
			if !want {
				return "", true
			}
			if !escaped {
				return d.str[start+1 : d.pos-1], true
			}
			return unquote(d.data[start+1 : d.pos-1]), true
		case c < 0x20:
			return "", false
		case c == '\\':
			escaped = true
			d.pos++
			if d.pos >= len(d.data) {
				return "", false
			}
			switch d.data[d.pos] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				d.pos++
			case 'u':
				d.pos++
				for range 4 {
					if d.pos >= len(d.data) || !isHex(d.data[d.pos]) {
						return "", false
					}
					d.pos++
				}
			default:
				return "", false
			}
		default:
			d.pos++
		}
	}
	return "", false
}

func isHex(c byte) bool {
	return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F'
}

func (d *decoder) push() {
	d.depth++
	if d.depth > maxNesting {
		d.tooDeep = true
	}
}

func (d *decoder) scanObject(top bool) bool {
	d.pos++
	d.push()
	d.frames = append(d.frames, frame{base: len(d.names)})
	fi := len(d.frames) - 1
	d.skipSpace()
	if d.pos < len(d.data) && d.data[d.pos] == '}' {
		d.pos++
		d.popFrame(fi)
		return true
	}
	for {
		d.skipSpace()
		if d.pos >= len(d.data) || d.data[d.pos] != '"' {
			return false
		}
		name, ok := d.scanString(true)
		if !ok {
			return false
		}
		if d.seen(fi, name) {
			d.hasDup, d.dup = true, d.path(name)
			return false
		}
		d.frames[fi].name = name
		d.skipSpace()
		if d.pos >= len(d.data) || d.data[d.pos] != ':' {
			return false
		}
		d.pos++
		d.skipSpace()
		start := d.pos
		if !d.scanValue(false) {
			return false
		}
		if top {
			d.top = append(d.top, member{name, start, d.pos})
		}
		d.skipSpace()
		if d.pos >= len(d.data) {
			return false
		}
		switch d.data[d.pos] {
		case ',':
			d.pos++
		case '}':
			d.pos++
			d.popFrame(fi)
			return true
		default:
			return false
		}
	}
}

// seen reports whether the object in frame fi already has name, and
// records it. Small objects use a list, large ones a set.
func (d *decoder) seen(fi int, name string) bool {
	f := &d.frames[fi]
	if f.set != nil {
		if _, ok := f.set[name]; ok {
			return true
		}
		f.set[name] = struct{}{}
		return false
	}
	names := d.names[f.base:]
	if slices.Contains(names, name) {
		return true
	}
	if len(names) < 32 {
		d.names = append(d.names, name)
		return false
	}
	f.set = make(map[string]struct{}, 2*len(names))
	for _, n := range names {
		f.set[n] = struct{}{}
	}
	f.set[name] = struct{}{}
	return false
}

func (d *decoder) popFrame(fi int) {
	d.names = d.names[:d.frames[fi].base]
	d.frames = d.frames[:fi]
	d.depth--
}

// path is the old walk's path of name in the innermost object.
func (d *decoder) path(name string) string {
	path := ""
	for _, f := range d.frames[:len(d.frames)-1] {
		switch {
		case f.array:
			path = fmt.Sprintf("%s[%d]", path, f.index)
		case path == "":
			path = f.name
		default:
			path += "." + f.name
		}
	}
	if path == "" {
		return name
	}
	return path + "." + name
}

func (d *decoder) scanArray() bool {
	d.pos++
	d.push()
	d.frames = append(d.frames, frame{array: true, base: len(d.names)})
	fi := len(d.frames) - 1
	d.skipSpace()
	if d.pos < len(d.data) && d.data[d.pos] == ']' {
		d.pos++
		d.popFrame(fi)
		return true
	}
	for i := 0; ; i++ {
		d.frames[fi].index = i
		if !d.scanValue(false) {
			return false
		}
		d.skipSpace()
		if d.pos >= len(d.data) {
			return false
		}
		switch d.data[d.pos] {
		case ',':
			d.pos++
		case ']':
			d.pos++
			d.popFrame(fi)
			return true
		default:
			return false
		}
	}
}

// unquote decodes the inside of a string literal with escapes, exactly as
// encoding/json does, lone surrogates becoming U+FFFD. The literal has been
// checked by scanString and the body is valid UTF-8.
func unquote(s []byte) string {
	b := make([]byte, 0, len(s))
	for r := 0; r < len(s); {
		c := s[r]
		if c != '\\' {
			b = append(b, c)
			r++
			continue
		}
		r++
		switch s[r] {
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			rr := getu4(s[r-1:])
			r += 5
			if utf16.IsSurrogate(rr) {
				if dec := utf16.DecodeRune(rr, getu4(s[r:])); dec != unicode.ReplacementChar {
					b = utf8.AppendRune(b, dec)
					r += 6
					continue
				}
				rr = unicode.ReplacementChar
			}
			b = utf8.AppendRune(b, rr)
			continue
		default: // " \ /
			b = append(b, s[r])
		}
		r++
	}
	return string(b)
}

// getu4 decodes \uXXXX at the start of s, or returns -1.
func getu4(s []byte) rune {
	if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
		return -1
	}
	var r rune
	for _, c := range s[2:6] {
		switch {
		case '0' <= c && c <= '9':
			c -= '0'
		case 'a' <= c && c <= 'f':
			c = c - 'a' + 10
		case 'A' <= c && c <= 'F':
			c = c - 'A' + 10
		default:
			return -1
		}
		r = r*16 + rune(c)
	}
	return r
}

// The second walk reads values the scan has checked, so it needs no error
// handling: a value is known by its first byte.

// skipValue returns the end of the value starting at pos.
func (d *decoder) skipValue(pos int) int {
	switch d.data[pos] {
	case '"':
		return d.skipString(pos)
	case '{', '[':
		depth := 0
		for {
			switch d.data[pos] {
			case '"':
				pos = d.skipString(pos)
				continue
			case '{', '[':
				depth++
			case '}', ']':
				depth--
				if depth == 0 {
					return pos + 1
				}
			}
			pos++
		}
	default:
		for pos < len(d.data) {
			switch d.data[pos] {
			case ',', ']', '}', ' ', '\t', '\n', '\r':
				return pos
			}
			pos++
		}
		return pos
	}
}

func (d *decoder) skipString(pos int) int {
	for pos++; ; pos++ {
		switch d.data[pos] {
		case '\\':
			pos++
		case '"':
			return pos + 1
		}
	}
}

func (d *decoder) skipSpaceAt(pos int) int {
	for {
		switch d.data[pos] {
		case ' ', '\t', '\n', '\r':
			pos++
		default:
			return pos
		}
	}
}

// elements calls fn for each element of the array at [start, end).
func (d *decoder) elements(start int, fn func(i, s, e int)) {
	pos := d.skipSpaceAt(start + 1)
	if d.data[pos] == ']' {
		return
	}
	for i := 0; ; i++ {
		e := d.skipValue(pos)
		fn(i, pos, e)
		pos = d.skipSpaceAt(e)
		if d.data[pos] == ']' {
			return
		}
		pos = d.skipSpaceAt(pos + 1)
	}
}

func (d *decoder) count(start int) int {
	n := 0
	d.elements(start, func(int, int, int) { n++ })
	return n
}

// members appends the members of the object at start to ms, sorted by name
// as the old decoder visited them, the last of duplicates winning.
func (d *decoder) members(start int, ms []member) []member {
	pos := d.skipSpaceAt(start + 1)
	if d.data[pos] == '}' {
		return ms
	}
	for {
		e := d.skipString(pos)
		name := d.stringAt(pos, e)
		vs := d.skipSpaceAt(d.skipSpaceAt(e) + 1)
		ve := d.skipValue(vs)
		ms = append(ms, member{name, vs, ve})
		pos = d.skipSpaceAt(ve)
		if d.data[pos] == '}' {
			break
		}
		pos = d.skipSpaceAt(pos + 1)
	}
	sortMembers(ms)
	return ms
}

func sortMembers(ms []member) {
	slices.SortFunc(ms, func(a, b member) int { return strings.Compare(a.name, b.name) })
}

// stringAt returns the value of the string literal at [s, e).
func (d *decoder) stringAt(s, e int) string {
	inner := d.data[s+1 : e-1]
	if bytes.IndexByte(inner, '\\') < 0 {
		return d.str[s+1 : e-1]
	}
	return unquote(inner)
}

func (d *decoder) isNull(m member) bool { return d.data[m.start] == 'n' }

// decodeMessage decodes the checked top-level value field by field so that
// every type error, unknown field and explicit null is reported with its
// path, not just the first one.
func (d *decoder) decodeMessage(m *Message, p *problems) {
	if d.data[d.skipSpaceAt(0)] != '{' {
		p.add("message", "not a JSON object")
		return
	}
	top := d.top
	sortMembers(top)
	var hasVersion, hasSubject, hasMailID bool
	for _, mb := range top {
		k := mb.name
		if d.isNull(mb) {
			p.add(k, "must not be null; omit the field instead")
			// Present all the same.
			switch k {
			case "version":
				hasVersion = true
			case "subject":
				hasSubject = true
			case "mailId":
				hasMailID = true
			}
			continue
		}
		switch k {
		case "version":
			hasVersion = true
			d.decodeVersion(mb, m, p)
		case "mailId":
			hasMailID = true
			d.decodeString(mb, k, &m.MailID, p)
		case "from":
			d.decodeString(mb, k, &m.From, p)
		case "to":
			d.decodeStrings(mb, k, &m.To, p)
		case "cc":
			d.decodeStrings(mb, k, &m.Cc, p)
		case "bcc":
			d.decodeStrings(mb, k, &m.Bcc, p)
		case "replyTo":
			d.decodeStrings(mb, k, &m.ReplyTo, p)
		case "subject":
			hasSubject = true
			d.decodeString(mb, k, &m.Subject, p)
		case "text":
			d.decodeString(mb, k, &m.Text, p)
		case "html":
			d.decodeString(mb, k, &m.HTML, p)
		case "textKey":
			d.decodeString(mb, k, &m.TextKey, p)
		case "htmlKey":
			d.decodeString(mb, k, &m.HTMLKey, p)
		case "configurationSet":
			d.decodeString(mb, k, &m.ConfigurationSet, p)
		case "headers":
			d.decodeHeaders(mb, m, p)
		case "attachments":
			if d.data[mb.start] != '[' {
				p.add(k, "must be an array of objects")
				continue
			}
			m.Attachments = make([]Attachment, d.count(mb.start))
			d.elements(mb.start, func(i, s, e int) {
				d.decodeAttachment(member{start: s, end: e}, "attachments["+strconv.Itoa(i)+"]", &m.Attachments[i], p)
			})
		case "tags":
			if d.data[mb.start] != '[' {
				p.add(k, "must be an array of objects")
				continue
			}
			m.Tags = make([]Tag, d.count(mb.start))
			d.elements(mb.start, func(i, s, e int) {
				d.decodeTag(member{start: s, end: e}, "tags["+strconv.Itoa(i)+"]", &m.Tags[i], p)
			})
		default:
			p.add(k, "unknown field")
		}
	}
	if !hasVersion {
		p.add("version", "required")
	}
	if !hasSubject {
		p.add("subject", "required")
	}
	if !hasMailID {
		p.add("mailId", "required")
	}
}

func (d *decoder) decodeVersion(mb member, m *Message, p *problems) {
	switch d.data[mb.start] {
	case '"', '{', '[', 't', 'f':
		p.add("version", "must be a number")
		return
	}
	n := d.str[mb.start:mb.end]
	if f, err := strconv.ParseFloat(n, 64); err != nil || f != float64(int(f)) || f < 0 || f > 1e6 {
		p.add("version", "unsupported version %s (this is version %d)", n, SchemaVersion)
	} else {
		m.Version = int(f)
	}
}

func (d *decoder) decodeHeaders(mb member, m *Message, p *problems) {
	if d.data[mb.start] != '{' {
		p.add("headers", "must be an object of strings")
		return
	}
	var buf [8]member
	ms := d.members(mb.start, buf[:0])
	m.Headers = make(map[string]string, len(ms))
	for _, h := range ms {
		// The old decoder reported these in map order; sorted is one of
		// its orders, and a stable one.
		if d.data[h.start] != '"' {
			p.add("headers."+h.name, "must be a string")
			continue
		}
		m.Headers[h.name] = d.stringAt(h.start, h.end)
	}
}

// decodeObject decodes a nested object field by field: each present key is
// handed to decode, which reports whether it knows it; unknown keys and
// nulls are reported, and missing required keys too.
func (d *decoder) decodeObject(mb member, field string, p *problems, required []string, decode func(mb member, f string) bool) {
	if d.data[mb.start] != '{' {
		p.add(field, "must be an object")
		return
	}
	var buf [8]member
	ms := d.members(mb.start, buf[:0])
	for _, v := range ms {
		f := field + "." + v.name
		switch {
		case d.isNull(v):
			p.add(f, "must not be null; omit the field instead")
		case !decode(v, f):
			p.add(f, "unknown field")
		}
	}
	for _, k := range required {
		if !slices.ContainsFunc(ms, func(v member) bool { return v.name == k }) {
			p.add(field+"."+k, "required")
		}
	}
}

var (
	attachmentRequired = []string{"key"}
	tagRequired        = []string{"name", "value"}
)

func (d *decoder) decodeAttachment(mb member, field string, a *Attachment, p *problems) {
	d.decodeObject(mb, field, p, attachmentRequired, func(v member, f string) bool {
		switch v.name {
		case "key":
			d.decodeString(v, f, &a.Key, p)
		case "filename":
			d.decodeString(v, f, &a.Filename, p)
		case "contentType":
			d.decodeString(v, f, &a.ContentType, p)
		case "contentId":
			d.decodeString(v, f, &a.ContentID, p)
		case "inline":
			switch d.data[v.start] {
			case 't':
				a.Inline = true
			case 'f':
				a.Inline = false
			default:
				p.add(f, "must be a boolean")
			}
		default:
			return false
		}
		return true
	})
}

func (d *decoder) decodeTag(mb member, field string, t *Tag, p *problems) {
	d.decodeObject(mb, field, p, tagRequired, func(v member, f string) bool {
		switch v.name {
		case "name":
			d.decodeString(v, f, &t.Name, p)
		case "value":
			d.decodeString(v, f, &t.Value, p)
		default:
			return false
		}
		return true
	})
}

func (d *decoder) decodeString(mb member, field string, dst *string, p *problems) {
	if d.data[mb.start] != '"' {
		p.add(field, "must be a string")
		return
	}
	*dst = d.stringAt(mb.start, mb.end)
	if *dst == "" {
		p.add(field, "must not be empty; omit the field instead")
	}
}

func (d *decoder) decodeStrings(mb member, field string, dst *[]string, p *problems) {
	if d.data[mb.start] != '[' {
		p.add(field, "must be an array of strings")
		return
	}
	out := make([]string, d.count(mb.start))
	d.elements(mb.start, func(i, s, e int) {
		if d.data[s] != '"' {
			p.add(field+"["+strconv.Itoa(i)+"]", "must be a string")
			return
		}
		out[i] = d.stringAt(s, e)
	})
	*dst = out
}
