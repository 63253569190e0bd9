package workflow

// This file keeps the decoder as it was before Parse became a single-pass
// decoder, renamed, so that FuzzParseMatchesReference can prove the new code
// returns the same Message and the same error for any input (validation is
// the same code for both). Four
// faults of the old decoder were mended here and in Parse alike: it accepted
// trailing data that starts with ] or }, its duplicate-key check stopped,
// letting later duplicates through, at a number that overflows float64 and at
// a duplicated top-level "" key, and it read a lone surrogate escape as U+FFFD
// (both now refuse it, with the same scan).

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"unicode/utf8"
)

// refParse decodes a queue body and validates it against limits. On failure the
// error is an *InvalidMessageError naming every broken rule; wrapped as an
// *Error it carries the name [InvalidMessage].
func refParse(body []byte, limits Limits) (Message, error) {
	var p problems
	var m Message
	if len(body) > limits.maxBody() {
		p.add("message", "body is %d bytes, more than the limit of %d", len(body), limits.maxBody())
		return m, p.err()
	}
	if !utf8.Valid(body) {
		p.add("message", "body is not valid UTF-8")
		return m, p.err()
	}
	if at, esc, found := loneSurrogate(body); found {
		p.add("message", "the escape %s at byte %d is a lone surrogate, not a character (it would decode as U+FFFD)", esc, at)
		return m, p.err()
	}
	if dup, found := refDuplicateKey(body); found {
		if dup == "" {
			dup = `""`
		}
		p.add(dup, "duplicate key")
		return m, p.err()
	}
	refDecodeMessage(body, &m, &p)
	if len(p) > 0 {
		return m, p.err()
	}
	return m, Validate(&m, limits)
}

// refDecodeMessage decodes field by field so that every type error, unknown
// field and explicit null is reported with its path, not just the first one.
func refDecodeMessage(body []byte, m *Message, p *problems) {
	var top map[string]json.RawMessage
	if err := refStrictUnmarshal(body, &top); err != nil || top == nil {
		p.add("message", "not a JSON object")
		return
	}
	keys := make([]string, 0, len(top))
	for k := range top {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		raw := bytes.TrimSpace(top[k])
		if refIsNull(raw) {
			p.add(k, "must not be null; omit the field instead")
			continue
		}
		switch k {
		case "version":
			var n json.Number
			if raw[0] == '"' || refStrictUnmarshal(raw, &n) != nil {
				p.add(k, "must be a number")
			} else if f, err := n.Float64(); err != nil || f != float64(int(f)) || f < 0 || f > 1e6 {
				p.add(k, "unsupported version %s (this is version %d)", n, SchemaVersion)
			} else {
				m.Version = int(f)
			}
		case "mailId":
			refDecodeString(raw, k, &m.MailID, p)
		case "from":
			refDecodeString(raw, k, &m.From, p)
		case "to":
			refDecodeStrings(raw, k, &m.To, p)
		case "cc":
			refDecodeStrings(raw, k, &m.Cc, p)
		case "bcc":
			refDecodeStrings(raw, k, &m.Bcc, p)
		case "replyTo":
			refDecodeStrings(raw, k, &m.ReplyTo, p)
		case "subject":
			refDecodeString(raw, k, &m.Subject, p)
		case "text":
			refDecodeString(raw, k, &m.Text, p)
		case "html":
			refDecodeString(raw, k, &m.HTML, p)
		case "textKey":
			refDecodeString(raw, k, &m.TextKey, p)
		case "htmlKey":
			refDecodeString(raw, k, &m.HTMLKey, p)
		case "configurationSet":
			refDecodeString(raw, k, &m.ConfigurationSet, p)
		case "headers":
			var h map[string]json.RawMessage
			if refStrictUnmarshal(raw, &h) != nil || h == nil {
				p.add(k, "must be an object of strings")
				continue
			}
			m.Headers = make(map[string]string, len(h))
			for name, v := range h {
				var s string
				if refIsNull(v) || refStrictUnmarshal(v, &s) != nil {
					p.add(k+"."+name, "must be a string")
					continue
				}
				m.Headers[name] = s
			}
		case "attachments":
			var items []json.RawMessage
			if refStrictUnmarshal(raw, &items) != nil || items == nil {
				p.add(k, "must be an array of objects")
				continue
			}
			m.Attachments = make([]Attachment, len(items))
			for i, item := range items {
				refDecodeAttachment(item, fmt.Sprintf("attachments[%d]", i), &m.Attachments[i], p)
			}
		case "tags":
			var items []json.RawMessage
			if refStrictUnmarshal(raw, &items) != nil || items == nil {
				p.add(k, "must be an array of objects")
				continue
			}
			m.Tags = make([]Tag, len(items))
			for i, item := range items {
				refDecodeTag(item, fmt.Sprintf("tags[%d]", i), &m.Tags[i], p)
			}
		default:
			p.add(k, "unknown field")
		}
	}
	if _, ok := top["version"]; !ok {
		p.add("version", "required")
	}
	if _, ok := top["subject"]; !ok {
		p.add("subject", "required")
	}
	if _, ok := top["mailId"]; !ok {
		p.add("mailId", "required")
	}
}

// refDecodeObject decodes a nested object field by field: each present key is
// handed to its decoder, unknown keys and nulls are reported, and missing
// required keys too.
func refDecodeObject(raw json.RawMessage, field string, p *problems, required []string, fields map[string]func(v json.RawMessage, f string)) {
	var obj map[string]json.RawMessage
	if refStrictUnmarshal(raw, &obj) != nil || obj == nil {
		p.add(field, "must be an object")
		return
	}
	for _, k := range refSortedKeys(obj) {
		v := obj[k]
		f := field + "." + k
		decode, known := fields[k]
		switch {
		case refIsNull(v):
			p.add(f, "must not be null; omit the field instead")
		case !known:
			p.add(f, "unknown field")
		default:
			decode(v, f)
		}
	}
	for _, k := range required {
		if _, ok := obj[k]; !ok {
			p.add(field+"."+k, "required")
		}
	}
}

func refDecodeAttachment(raw json.RawMessage, field string, a *Attachment, p *problems) {
	str := func(dst *string) func(json.RawMessage, string) {
		return func(v json.RawMessage, f string) { refDecodeString(v, f, dst, p) }
	}
	refDecodeObject(raw, field, p, []string{"key"}, map[string]func(json.RawMessage, string){
		"key": str(&a.Key), "filename": str(&a.Filename), "contentType": str(&a.ContentType), "contentId": str(&a.ContentID),
		"inline": func(v json.RawMessage, f string) {
			if refStrictUnmarshal(v, &a.Inline) != nil {
				p.add(f, "must be a boolean")
			}
		},
	})
}

func refDecodeTag(raw json.RawMessage, field string, t *Tag, p *problems) {
	refDecodeObject(raw, field, p, []string{"name", "value"}, map[string]func(json.RawMessage, string){
		"name":  func(v json.RawMessage, f string) { refDecodeString(v, f, &t.Name, p) },
		"value": func(v json.RawMessage, f string) { refDecodeString(v, f, &t.Value, p) },
	})
}

func refDecodeString(raw json.RawMessage, field string, dst *string, p *problems) {
	if refStrictUnmarshal(raw, dst) != nil {
		p.add(field, "must be a string")
	} else if *dst == "" {
		p.add(field, "must not be empty; omit the field instead")
	}
}

func refDecodeStrings(raw json.RawMessage, field string, dst *[]string, p *problems) {
	var items []json.RawMessage
	if refStrictUnmarshal(raw, &items) != nil || items == nil {
		p.add(field, "must be an array of strings")
		return
	}
	out := make([]string, len(items))
	for i, item := range items {
		if refIsNull(item) || refStrictUnmarshal(item, &out[i]) != nil {
			p.add(fmt.Sprintf("%s[%d]", field, i), "must be a string")
		}
	}
	*dst = out
}

func refSortedKeys(m map[string]json.RawMessage) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func refIsNull(raw json.RawMessage) bool {
	return string(bytes.TrimSpace(raw)) == "null"
}

// refStrictUnmarshal decodes one JSON value and refuses trailing data.
func refStrictUnmarshal(data []byte, v any) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := dec.Decode(v); err != nil {
		return err
	}
	if len(bytes.Trim(data[dec.InputOffset():], " \t\r\n")) > 0 {
		return errors.New("trailing data after JSON value")
	}
	return nil
}

// refDuplicateKey returns the path of the first object key that appears
// twice, and whether there is one.
func refDuplicateKey(body []byte) (string, bool) {
	dec := json.NewDecoder(bytes.NewReader(body))
	dec.UseNumber()
	found := false
	var walk func(path string) (string, bool)
	walk = func(path string) (string, bool) {
		tok, err := dec.Token()
		if err != nil {
			return "", false
		}
		d, ok := tok.(json.Delim)
		if !ok {
			return "", true
		}
		switch d {
		case '{':
			seen := map[string]bool{}
			for dec.More() {
				kt, err := dec.Token()
				if err != nil {
					return "", false
				}
				k, _ := kt.(string)
				child := k
				if path != "" {
					child = path + "." + k
				}
				if seen[k] {
					found = true
					return child, false
				}
				seen[k] = true
				if dup, ok := walk(child); !ok {
					return dup, false
				}
			}
		case '[':
			for i := 0; dec.More(); i++ {
				if dup, ok := walk(fmt.Sprintf("%s[%d]", path, i)); !ok {
					return dup, false
				}
			}
		}
		_, err = dec.Token() // closing delimiter
		return "", err == nil
	}
	dup, _ := walk("")
	return dup, found
}
