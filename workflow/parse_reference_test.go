package workflow

// This file keeps the decoder and validator as they were before Parse became a
// single-pass decoder, renamed, so that FuzzParseMatchesReference can prove the
// new code returns the same Message and the same error for any input. Three
// faults of the old decoder were mended here and in Parse alike: it accepted
// trailing data that starts with ] or }, and its duplicate-key check stopped,
// letting later duplicates through, at a number that overflows float64 and at
// a duplicated top-level "" key.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"mime"
	"net/mail"
	"regexp"
	"slices"
	"sort"
	"strings"
	"unicode/utf8"
)

func refSenderAllowed(l Limits, from string) bool {
	a, err := mail.ParseAddress(from)
	if err != nil {
		return false
	}
	addr := strings.ToLower(a.Address)
	domain := addr[strings.LastIndexByte(addr, '@')+1:]
	for _, id := range l.AllowedSenders {
		id = strings.ToLower(id)
		if id == addr || id == domain {
			return true
		}
	}
	return false
}

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
	return m, refValidate(&m, limits)
}

// refValidate checks a decoded message against the contract and limits.
func refValidate(m *Message, limits Limits) error {
	var p problems
	refValidateMessage(m, limits, &p)
	return p.err()
}

var (
	refMailIDPattern    = regexp.MustCompile(`^[A-Za-z0-9._:@/-]{1,200}$`)
	refTagPattern       = regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`)
	refConfigSetPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	refHeaderNameToken  = regexp.MustCompile("^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
	refContentIDPattern = regexp.MustCompile(`^[!-;=?-~]{1,200}$`)
)

// refAllowedHeaders are the extra header names a message may set besides X-*.
var refAllowedHeaders = []string{"List-Unsubscribe", "List-Unsubscribe-Post", "In-Reply-To", "References"}

func refValidateMessage(m *Message, l Limits, p *problems) {
	if m.Version != SchemaVersion {
		p.add("version", "unsupported version %d (this is version %d)", m.Version, SchemaVersion)
	}
	switch {
	case m.MailID == "":
		p.add("mailId", "required")
	case !refMailIDPattern.MatchString(m.MailID):
		p.add("mailId", "must be 1-%d characters of A-Z a-z 0-9 . _ : @ / -", MaxMailIDLength)
	}

	switch {
	case m.From == "" && l.DefaultSender == "":
		p.add("from", "required (no default sender is configured)")
	case m.From != "":
		if refCheckAddress(p, "from", m.From) && !refSenderAllowed(l, m.From) {
			p.add("from", "sender is not an allowed identity")
		}
	}
	for _, list := range []struct {
		name  string
		addrs []string
	}{{"to", m.To}, {"cc", m.Cc}, {"bcc", m.Bcc}, {"replyTo", m.ReplyTo}} {
		for i, a := range list.addrs {
			refCheckAddress(p, fmt.Sprintf("%s[%d]", list.name, i), a)
		}
	}
	switch n := len(m.To) + len(m.Cc) + len(m.Bcc); {
	case n == 0:
		p.add("to", "at least one recipient is required in to, cc or bcc")
	case n > MaxRecipients:
		p.add("to", "%d recipients in to, cc and bcc, more than %d", n, MaxRecipients)
	}

	switch {
	case m.Subject == "":
		p.add("subject", "required")
	case refHasLineBreak(m.Subject):
		p.add("subject", "must not contain CR, LF or NUL")
	case len(m.Subject) > MaxSubjectBytes:
		p.add("subject", "%d bytes, more than %d", len(m.Subject), MaxSubjectBytes)
	}

	if m.Text == "" && m.HTML == "" && m.TextKey == "" && m.HTMLKey == "" {
		p.add("text", "one of text, html, textKey or htmlKey is required")
	}
	if m.Text != "" && m.TextKey != "" {
		p.add("textKey", "text and textKey are mutually exclusive")
	}
	if m.HTML != "" && m.HTMLKey != "" {
		p.add("htmlKey", "html and htmlKey are mutually exclusive")
	}
	if m.TextKey != "" {
		refCheckKey(p, "textKey", m.TextKey, l.AttachmentPrefix)
	}
	if m.HTMLKey != "" {
		refCheckKey(p, "htmlKey", m.HTMLKey, l.AttachmentPrefix)
	}

	if len(m.Headers) > MaxHeaderCount {
		p.add("headers", "%d headers, more than %d", len(m.Headers), MaxHeaderCount)
	}
	names := make([]string, 0, len(m.Headers))
	for name := range m.Headers {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		field := "headers." + name
		switch {
		case !refHeaderNameToken.MatchString(name):
			p.add(field, "not a valid header name")
		case !refHeaderAllowed(name):
			p.add(field, "header name not allowed (X-*, %s)", strings.Join(refAllowedHeaders, ", "))
		}
		v := m.Headers[name]
		switch {
		case refHasLineBreak(v):
			p.add(field, "must not contain CR, LF or NUL")
		case len(v) > MaxHeaderValue:
			p.add(field, "value is %d bytes, more than %d", len(v), MaxHeaderValue)
		}
	}

	contentIDs := map[string]bool{}
	for i, a := range m.Attachments {
		field := fmt.Sprintf("attachments[%d]", i)
		if a.Key == "" {
			p.add(field+".key", "required")
		} else {
			refCheckKey(p, field+".key", a.Key, l.AttachmentPrefix)
		}
		switch {
		case refHasLineBreak(a.Filename):
			p.add(field+".filename", "must not contain CR, LF or NUL")
		case strings.ContainsAny(a.Filename, `/\`):
			p.add(field+".filename", "must not contain a path separator")
		case len(a.Filename) > MaxFilenameLength:
			p.add(field+".filename", "%d bytes, more than %d", len(a.Filename), MaxFilenameLength)
		}
		if a.ContentType != "" {
			if refHasLineBreak(a.ContentType) {
				p.add(field+".contentType", "must not contain CR, LF or NUL")
			} else if _, _, err := mime.ParseMediaType(a.ContentType); err != nil || !strings.Contains(a.ContentType, "/") {
				p.add(field+".contentType", "not a media type (type/subtype)")
			}
		}
		if a.ContentID != "" {
			if !refContentIDPattern.MatchString(a.ContentID) {
				p.add(field+".contentId", "must be 1-%d printable ASCII characters without < >", MaxContentIDLength)
			} else if contentIDs[a.ContentID] {
				p.add(field+".contentId", "duplicate content id %q", a.ContentID)
			}
			contentIDs[a.ContentID] = true
		}
		if a.Inline && a.ContentID == "" {
			p.add(field+".contentId", "required for an inline attachment")
		}
	}

	if len(m.Tags) > MaxTags {
		p.add("tags", "%d tags, more than %d", len(m.Tags), MaxTags)
	}
	for i, t := range m.Tags {
		field := fmt.Sprintf("tags[%d]", i)
		if !refTagPattern.MatchString(t.Name) {
			p.add(field+".name", "must be 1-%d characters of A-Z a-z 0-9 _ -", MaxTagPartLength)
		}
		if !refTagPattern.MatchString(t.Value) {
			p.add(field+".value", "must be 1-%d characters of A-Z a-z 0-9 _ -", MaxTagPartLength)
		}
	}
	if m.ConfigurationSet != "" && !refConfigSetPattern.MatchString(m.ConfigurationSet) {
		p.add("configurationSet", "must be 1-%d characters of A-Z a-z 0-9 _ -", MaxConfigSetLength)
	}
}

func refHasLineBreak(s string) bool { return strings.ContainsAny(s, "\r\n\x00") }

func refHeaderAllowed(name string) bool {
	if len(name) > 2 && strings.EqualFold(name[:2], "X-") {
		return true
	}
	return slices.ContainsFunc(refAllowedHeaders, func(h string) bool { return strings.EqualFold(h, name) })
}

// refCheckAddress reports whether s is a single RFC 5322 mailbox.
func refCheckAddress(p *problems, field, s string) bool {
	if refHasLineBreak(s) {
		p.add(field, "must not contain CR, LF or NUL")
		return false
	}
	a, err := mail.ParseAddress(s)
	if err != nil || !strings.Contains(a.Address, "@") {
		p.add(field, "not an e-mail address")
		return false
	}
	return true
}

func refCheckKey(p *problems, field, key, prefix string) {
	switch {
	case len(key) > MaxKeyLength:
		p.add(field, "%d bytes, more than %d", len(key), MaxKeyLength)
	case refHasLineBreak(key):
		p.add(field, "must not contain CR, LF or NUL")
	case prefix == "" || !strings.HasPrefix(key, prefix) || len(key) == len(prefix):
		p.add(field, "must lie under the attachment prefix %q", prefix)
	case refHasDotSegment(key):
		p.add(field, "must not contain . or .. path segments")
	}
}

func refHasDotSegment(key string) bool {
	for seg := range strings.SplitSeq(key, "/") {
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
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
