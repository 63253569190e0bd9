package workflow

import (
	"bytes"
	"encoding/json"
	"errors"
	"io"
	"slices"
	"strconv"
	"strings"

	"github.com/go-json-experiment/json/jsontext"
)

// This file decodes a queue body in one pass over the tokens of jsontext
// (github.com/go-json-experiment/json, the tokenizer behind encoding/json/v2),
// which checks the grammar and the nesting limit and refuses duplicate names
// without the reflection and the second token pass that made encoding/json
// slow here. The rules are those of encoding/json, which the decoder used
// before: the same grammar and nesting limit (10000), and the same unescaping,
// a lone surrogate escape becoming U+FFFD (jsontext.AllowInvalidUTF8; the
// body itself is checked to be UTF-8 before).

// maxNesting is the nesting limit of encoding/json and of jsontext.
const maxNesting = 10000

// decoder walks one body. The first error of the tokenizer ends the walk:
// the body does not decode, and whatever was decoded or reported is dropped.
type decoder struct {
	dec *jsontext.Decoder
	p   *problems
	err error
}

var errTrailingData = errors.New("data after the top-level value")

// decode decodes body into m, adding a problem to p for every type error,
// unknown field and explicit null, so that all are reported at once. If the
// body is not a single JSON value, or names a member twice, it returns the
// one problem to report instead.
func decode(body []byte, m *Message, p *problems) *FieldError {
	d := decoder{dec: jsontext.NewDecoder(bytes.NewBuffer(body), jsontext.AllowInvalidUTF8(true)), p: p}
	if !d.message(m) {
		d.skip()
		d.p.add("message", "not a JSON object")
	}
	if d.err == nil {
		if _, err := d.dec.ReadToken(); err != io.EOF {
			d.err = errTrailingData
		}
	}
	if d.err == nil {
		return nil
	}
	// Duplicate names are refused wherever they are: encoding/json keeps the
	// last silently and other parsers the first, so refusing them removes any
	// doubt about what was validated.
	var serr *jsontext.SyntacticError
	if errors.As(d.err, &serr) && serr.Err == jsontext.ErrDuplicateName {
		return duplicate(d.path(serr.JSONPointer))
	}
	// jsontext stops at the nesting limit, but a duplicate after a too deep
	// value was refused as such before, so look for it with the tokenizer of
	// encoding/json, which has no limit. Only hostile bodies come here.
	if d.dec.StackDepth() == maxNesting {
		if path, found := deepDuplicate(body); found {
			return duplicate(path)
		}
	}
	return &FieldError{Field: "message", Rule: "not a JSON object"}
}

func duplicate(path string) *FieldError {
	if path == "" {
		path = `""`
	}
	return &FieldError{Field: path, Rule: "duplicate key"}
}

// path turns the JSON pointer of a duplicate name into a field path:
// "attachments/0/key" is "attachments[0].key".
func (d *decoder) path(ptr jsontext.Pointer) string {
	path, level := "", 0
	for tok := range ptr.Tokens() {
		level++
		if kind, _ := d.dec.StackIndex(level); kind == '[' {
			path += "[" + tok + "]"
		} else {
			path = member(path, tok)
		}
	}
	return path
}

func member(path, name string) string {
	if path == "" {
		return name
	}
	return path + "." + name
}

// deepDuplicate returns the path of the first duplicate name in body, and
// whether there is one before the end or the first syntax error.
func deepDuplicate(body []byte) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber() // or a number beyond float64 would stop the walk
	var walk func(path string) (dup string, found, ok bool)
	walk = func(path string) (string, bool, bool) {
		tok, err := dec.Token()
		if err != nil {
			return "", false, false
		}
		switch tok {
		case json.Delim('{'):
			seen := map[string]bool{}
			for dec.More() {
				name, err := dec.Token()
				if err != nil {
					return "", false, false
				}
				k := name.(string)
				if seen[k] {
					return member(path, k), true, false
				}
				seen[k] = true
				if dup, found, ok := walk(member(path, k)); !ok {
					return dup, found, false
				}
			}
		case json.Delim('['):
			for i := 0; dec.More(); i++ {
				if dup, found, ok := walk(path + "[" + strconv.Itoa(i) + "]"); !ok {
					return dup, found, false
				}
			}
		default:
			return "", false, true
		}
		_, err = dec.Token() // the closing delimiter
		return "", false, err == nil
	}
	dup, found, _ := walk("")
	return dup, found
}

// read returns the next token, or the zero token once the walk has failed.
func (d *decoder) read() jsontext.Token {
	if d.err != nil {
		return jsontext.Token{}
	}
	tok, err := d.dec.ReadToken()
	d.err = err
	return tok
}

// peek returns the kind of the next token, 0 once the walk has failed.
func (d *decoder) peek() jsontext.Kind {
	if d.err != nil {
		return 0
	}
	k := d.dec.PeekKind()
	if k == 0 {
		d.read() // to record the error
	}
	return k
}

// skip skips the next value, checking it all the same.
func (d *decoder) skip() {
	if d.err == nil {
		d.err = d.dec.SkipValue()
	}
}

// more reports whether the open object or array has another member,
// reading its end delimiter if not.
func (d *decoder) more(end jsontext.Kind) bool {
	k := d.peek()
	if k == end {
		d.read()
	}
	return k != 0 && k != end
}

// array calls elem for each element of the array that comes next, and
// reports whether an array came next; if not, nothing was read.
func (d *decoder) array(elem func(i int)) bool {
	if d.peek() != '[' {
		return false
	}
	d.read()
	for i := 0; d.more(']'); i++ {
		elem(i)
	}
	return true
}

// span is where the problems of one object member lie in problems.
type span struct {
	name     string
	from, to int
}

// object calls value with the name of each member of the object that comes
// next, value reading the member's value, and reports whether an object
// came next; if not, nothing was read. The problems of the members are put
// in name order, the order in which the decoder before visited them.
func (d *decoder) object(value func(name string)) bool {
	if d.peek() != '{' {
		return false
	}
	d.read()
	var spans []span
	for d.more('}') {
		name := d.read().String()
		from := len(*d.p)
		value(name)
		if len(*d.p) > from {
			spans = append(spans, span{name, from, len(*d.p)})
		}
	}
	byName := func(a, b span) int { return strings.Compare(a.name, b.name) }
	if !slices.IsSortedFunc(spans, byName) {
		base := spans[0].from
		unsorted := slices.Clone((*d.p)[base:])
		slices.SortFunc(spans, byName)
		at := base
		for _, s := range spans {
			at += copy((*d.p)[at:], unsorted[s.from-base:s.to-base])
		}
	}
	return true
}

// message decodes the top-level object into m and reports whether the body
// holds an object.
func (d *decoder) message(m *Message) bool {
	var hasVersion, hasSubject, hasMailID bool
	isObject := d.object(func(k string) {
		switch k {
		case "version":
			hasVersion = true
		case "subject":
			hasSubject = true
		case "mailId":
			hasMailID = true
		}
		if d.peek() == 'n' {
			d.read()
			d.p.add(k, "must not be null; omit the field instead")
			return
		}
		switch k {
		case "version":
			d.version(&m.Version)
		case "mailId":
			d.str(k, &m.MailID)
		case "from":
			d.str(k, &m.From)
		case "to":
			d.strs(k, &m.To)
		case "cc":
			d.strs(k, &m.Cc)
		case "bcc":
			d.strs(k, &m.Bcc)
		case "replyTo":
			d.strs(k, &m.ReplyTo)
		case "subject":
			d.str(k, &m.Subject)
		case "text":
			d.str(k, &m.Text)
		case "html":
			d.str(k, &m.HTML)
		case "textKey":
			d.str(k, &m.TextKey)
		case "htmlKey":
			d.str(k, &m.HTMLKey)
		case "configurationSet":
			d.str(k, &m.ConfigurationSet)
		case "headers":
			d.headers(&m.Headers)
		case "attachments":
			objects(d, k, &m.Attachments, d.attachment)
		case "tags":
			objects(d, k, &m.Tags, d.tag)
		default:
			d.skip()
			d.p.add(k, "unknown field")
		}
	})
	if !isObject {
		return false
	}
	if !hasVersion {
		d.p.add("version", "required")
	}
	if !hasSubject {
		d.p.add("subject", "required")
	}
	if !hasMailID {
		d.p.add("mailId", "required")
	}
	return true
}

func (d *decoder) version(v *int) {
	if d.peek() != '0' {
		d.skip()
		d.p.add("version", "must be a number")
		return
	}
	n := d.read().String()
	if f, err := strconv.ParseFloat(n, 64); err != nil || f != float64(int(f)) || f < 0 || f > 1e6 {
		d.p.add("version", "unsupported version %s (this is version %d)", n, SchemaVersion)
	} else {
		*v = int(f)
	}
}

func (d *decoder) headers(dst *map[string]string) {
	h := map[string]string{}
	if !d.object(func(name string) {
		if d.peek() != '"' {
			d.skip()
			d.p.add("headers."+name, "must be a string")
			return
		}
		h[name] = d.read().String()
	}) {
		d.skip()
		d.p.add("headers", "must be an object of strings")
		return
	}
	*dst = h
}

// objects decodes an array of objects with decode.
func objects[T any](d *decoder, field string, dst *[]T, decode func(field string, v *T)) {
	out := []T{}
	if !d.array(func(i int) {
		out = append(out, *new(T))
		decode(field+"["+strconv.Itoa(i)+"]", &out[i])
	}) {
		d.skip()
		d.p.add(field, "must be an array of objects")
		return
	}
	*dst = out
}

// fields decodes the object that comes next at field: each member is handed
// to decode, which reports whether it knows the name; unknown names and
// nulls are reported, and then required names that are missing.
func (d *decoder) fields(field string, required []string, decode func(name, f string) bool) {
	var present uint
	if !d.object(func(name string) {
		f := field + "." + name
		if i := slices.Index(required, name); i >= 0 {
			present |= 1 << i
		}
		switch {
		case d.peek() == 'n':
			d.read()
			d.p.add(f, "must not be null; omit the field instead")
		case !decode(name, f):
			d.skip()
			d.p.add(f, "unknown field")
		}
	}) {
		d.skip()
		d.p.add(field, "must be an object")
		return
	}
	for i, k := range required {
		if present&(1<<i) == 0 {
			d.p.add(field+"."+k, "required")
		}
	}
}

var (
	attachmentRequired = []string{"key"}
	tagRequired        = []string{"name", "value"}
)

func (d *decoder) attachment(field string, a *Attachment) {
	d.fields(field, attachmentRequired, func(name, f string) bool {
		switch name {
		case "key":
			d.str(f, &a.Key)
		case "filename":
			d.str(f, &a.Filename)
		case "contentType":
			d.str(f, &a.ContentType)
		case "contentId":
			d.str(f, &a.ContentID)
		case "inline":
			if k := d.peek(); k == 't' || k == 'f' {
				d.read()
				a.Inline = k == 't'
			} else {
				d.skip()
				d.p.add(f, "must be a boolean")
			}
		default:
			return false
		}
		return true
	})
}

func (d *decoder) tag(field string, t *Tag) {
	d.fields(field, tagRequired, func(name, f string) bool {
		switch name {
		case "name":
			d.str(f, &t.Name)
		case "value":
			d.str(f, &t.Value)
		default:
			return false
		}
		return true
	})
}

// str decodes a string that, being given, must not be empty.
func (d *decoder) str(field string, dst *string) {
	if d.peek() != '"' {
		d.skip()
		d.p.add(field, "must be a string")
		return
	}
	*dst = d.read().String()
	if *dst == "" {
		d.p.add(field, "must not be empty; omit the field instead")
	}
}

func (d *decoder) strs(field string, dst *[]string) {
	out := []string{}
	if !d.array(func(i int) {
		if d.peek() != '"' {
			d.skip()
			d.p.add(field+"["+strconv.Itoa(i)+"]", "must be a string")
			out = append(out, "")
			return
		}
		out = append(out, d.read().String())
	}) {
		d.skip()
		d.p.add(field, "must be an array of strings")
		return
	}
	*dst = out
}

// PeekMailID reads the mailId of a queue body without validating the rest,
// so that even an invalid message can be found by its id; "" when the body
// is not a JSON object with a string mailId.
func PeekMailID(body string) string {
	var m struct {
		MailID string `json:"mailId"`
	}
	if json.Unmarshal([]byte(body), &m) != nil {
		return ""
	}
	return m.MailID
}

// loneSurrogate finds the first \u escape in body that is half of a UTF-16
// surrogate pair without its other half, returning its byte offset and its
// text. JSON decoders (encoding/json, jsontext with AllowInvalidUTF8) turn
// it into U+FFFD, so what was validated would not be what the producer
// wrote; it is refused instead. A backslash is only valid inside a string,
// so the scan needs no string state: it steps over each escape whole.
func loneSurrogate(body []byte) (int, string, bool) {
	for i := 0; i < len(body); i++ {
		if body[i] != '\\' {
			continue
		}
		r, ok := hexEscape(body, i)
		if !ok {
			i++ // another escape, or a broken one the decoder refuses
			continue
		}
		switch {
		case r >= 0xd800 && r < 0xdc00:
			if lo, ok := hexEscape(body, i+6); ok && lo >= 0xdc00 && lo < 0xe000 {
				i += 11
				continue
			}
			return i, string(body[i : i+6]), true
		case r >= 0xdc00 && r < 0xe000:
			return i, string(body[i : i+6]), true
		}
		i += 5
	}
	return 0, "", false
}

// hexEscape decodes the \uXXXX escape at body[i:], if there is one.
func hexEscape(body []byte, i int) (rune, bool) {
	if i+6 > len(body) || body[i] != '\\' || body[i+1] != 'u' {
		return 0, false
	}
	n, err := strconv.ParseUint(string(body[i+2:i+6]), 16, 16)
	return rune(n), err == nil
}
