package workflow

import (
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"unicode/utf8"
)

// SchemaVersion is the only message version this package accepts.
const SchemaVersion = 1

// Contract bounds fixed by SES and by the architecture.
const (
	MaxRecipients      = 50   // to + cc + bcc, an SES limit
	MaxSubjectBytes    = 998  // RFC 5322 line length
	MaxMailIDLength    = 200  // characters of the idempotency key
	MaxTags            = 49   // producer tags: SES takes 50 per send, mailflow adds MailIDTag
	MaxTagPartLength   = 256  // SES tag name and value length
	MaxConfigSetLength = 64   // SES configuration-set name length
	MaxHeaderCount     = 50   // extra headers per message
	MaxHeaderValue     = 2048 // bytes per extra header value
	MaxFilenameLength  = 255  // bytes of an attachment file name
	MaxContentIDLength = 200  // bytes of an inline attachment's Content-ID
	MaxKeyLength       = 1024 // bytes of an S3 object key
)

// MailIDTag is the SES message tag name mailflow gives every mail, with
// its mailId as the value, so that SES's events about the mail lead back to
// it. Producers may not use it. feedback/sesevent, which reads it from the
// events, spells the same name (a test keeps the two equal).
const MailIDTag = "mailflow-mail-id"

// DefaultMaxBodyBytes is the default bound for a whole queue body. The pipe
// hands a batch of bodies to Step Functions in at most 256 KiB, so a single
// message should be far smaller; large text and HTML go to S3 instead.
const DefaultMaxBodyBytes = 64 * 1024

// Message is a mail request, schema version 1, as it travels on the queue.
// Field names are the contract; see the package doc for the rules.
type Message struct {
	Version          int               `json:"version"`
	MailID           string            `json:"mailId"`
	From             string            `json:"from,omitempty"`
	To               []string          `json:"to,omitempty"`
	Cc               []string          `json:"cc,omitempty"`
	Bcc              []string          `json:"bcc,omitempty"`
	ReplyTo          []string          `json:"replyTo,omitempty"`
	Subject          string            `json:"subject"`
	Text             string            `json:"text,omitempty"`
	HTML             string            `json:"html,omitempty"`
	TextKey          string            `json:"textKey,omitempty"`
	HTMLKey          string            `json:"htmlKey,omitempty"`
	Headers          map[string]string `json:"headers,omitempty"`
	Attachments      []Attachment      `json:"attachments,omitempty"`
	Tags             []Tag             `json:"tags,omitempty"`
	ConfigurationSet string            `json:"configurationSet,omitempty"`
}

// Attachment names an object in the attachment store to attach to the mail.
type Attachment struct {
	Key         string `json:"key"`
	Filename    string `json:"filename,omitempty"`
	ContentType string `json:"contentType,omitempty"`
	Inline      bool   `json:"inline,omitempty"`
	ContentID   string `json:"contentId,omitempty"`
}

// Tag is an SES message tag.
type Tag struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// Limits are the deployment-specific rules a message is checked against.
type Limits struct {
	// AttachmentPrefix is the key prefix under which attachments and
	// offloaded bodies must lie, e.g. "attachments/". Required.
	AttachmentPrefix string
	// AllowedSenders lists SES identities: addresses ("noreply@example.com")
	// or domains ("example.com"). Empty means no sender is allowed.
	AllowedSenders []string
	// DefaultSender is used when a message has no "from". Optional.
	DefaultSender string
	// MaxBodyBytes bounds the raw queue body; 0 means DefaultMaxBodyBytes.
	MaxBodyBytes int
}

// Validate checks the limits themselves.
func (l Limits) Validate() error {
	var errs []error
	if l.AttachmentPrefix == "" {
		errs = append(errs, errors.New("limits: AttachmentPrefix is required"))
	} else if !strings.HasSuffix(l.AttachmentPrefix, "/") {
		errs = append(errs, fmt.Errorf("limits: AttachmentPrefix %q must end with /", l.AttachmentPrefix))
	}
	if l.MaxBodyBytes < 0 {
		errs = append(errs, fmt.Errorf("limits: MaxBodyBytes %d is negative", l.MaxBodyBytes))
	}
	for i, s := range l.AllowedSenders {
		if !validIdentity(s) {
			errs = append(errs, fmt.Errorf("limits: AllowedSenders[%d] %q is neither an address nor a domain", i, s))
		}
	}
	if l.DefaultSender != "" {
		if _, err := ParseMailbox(l.DefaultSender); err != nil {
			errs = append(errs, fmt.Errorf("limits: DefaultSender %q: %v", l.DefaultSender, err))
		} else if !l.senderAllowed(l.DefaultSender) {
			errs = append(errs, fmt.Errorf("limits: DefaultSender %q is not among AllowedSenders", l.DefaultSender))
		}
	}
	return errors.Join(errs...)
}

func (l Limits) maxBody() int {
	if l.MaxBodyBytes == 0 {
		return DefaultMaxBodyBytes
	}
	return l.MaxBodyBytes
}

func (l Limits) senderAllowed(from string) bool {
	b, err := ParseMailbox(from)
	if err != nil {
		return false
	}
	// Identities are ASCII, so an IDN sender is compared in A-labels.
	addr, domain := strings.ToLower(b.Address()), b.Domain
	for _, id := range l.AllowedSenders {
		id = strings.ToLower(id)
		if id == addr || id == domain {
			return true
		}
	}
	return false
}

// Sender is the effective From: the message's own, or the default sender.
func (m *Message) Sender(l Limits) string {
	if m.From != "" {
		return m.From
	}
	return l.DefaultSender
}

// Recipients returns to, cc and bcc in that order.
func (m *Message) Recipients() []string {
	return slices.Concat(m.To, m.Cc, m.Bcc)
}

// FieldError is one broken rule, naming the field by its JSON path
// ("to[3]", "attachments[0].key") and the rule in words.
type FieldError struct {
	Field string
	Rule  string
}

func (e *FieldError) Error() string { return e.Field + ": " + e.Rule }

// InvalidMessageError lists every rule a message breaks, in field order.
// Its state-machine name is [InvalidMessage].
type InvalidMessageError struct {
	Problems []*FieldError
}

func (e *InvalidMessageError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.Error()
	}
	return "invalid message: " + strings.Join(parts, "; ")
}

// Unwrap exposes each problem to errors.As and errors.Is.
func (e *InvalidMessageError) Unwrap() []error {
	errs := make([]error, len(e.Problems))
	for i, p := range e.Problems {
		errs[i] = p
	}
	return errs
}

// Has reports whether field breaks a rule.
func (e *InvalidMessageError) Has(field string) bool {
	return slices.ContainsFunc(e.Problems, func(p *FieldError) bool { return p.Field == field })
}

// problems collects field errors.
type problems []*FieldError

func (p *problems) add(field, format string, args ...any) {
	*p = append(*p, &FieldError{Field: field, Rule: fmt.Sprintf(format, args...)})
}

func (p problems) err() error {
	if len(p) == 0 {
		return nil
	}
	return &InvalidMessageError{Problems: p}
}

// Parse decodes a queue body and validates it against limits. On failure the
// error is an *InvalidMessageError naming every broken rule; wrapped as an
// *Error it carries the name [InvalidMessage].
func Parse(body []byte, limits Limits) (Message, error) {
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
	if fe := decode(body, &m, &p); fe != nil {
		return Message{}, &InvalidMessageError{Problems: []*FieldError{fe}}
	}
	if len(p) > 0 {
		return m, p.err()
	}
	return m, Validate(&m, limits)
}

// Validate checks a decoded message against the contract and limits.
func Validate(m *Message, limits Limits) error {
	var p problems
	validateMessage(m, limits, &p)
	return p.err()
}

var (
	mailIDPattern    = regexp.MustCompile(`^[A-Za-z0-9._:@/-]{1,200}$`)
	tagPattern       = regexp.MustCompile(`^[A-Za-z0-9_-]{1,256}$`)
	configSetPattern = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	contentIDPattern = regexp.MustCompile(`^[!-;=?-~]{1,200}$`)
)

func validateMessage(m *Message, l Limits, p *problems) {
	if m.Version != SchemaVersion {
		p.add("version", "unsupported version %d (this is version %d)", m.Version, SchemaVersion)
	}
	switch {
	case m.MailID == "":
		p.add("mailId", "required")
	case !mailIDPattern.MatchString(m.MailID):
		p.add("mailId", "must be 1-%d characters of A-Z a-z 0-9 . _ : @ / -", MaxMailIDLength)
	}

	switch {
	case m.From == "" && l.DefaultSender == "":
		p.add("from", "required (no default sender is configured)")
	case m.From != "":
		if checkAddress(p, "from", m.From) && !l.senderAllowed(m.From) {
			p.add("from", "sender is not an allowed identity")
		}
	}
	for _, list := range []struct {
		name  string
		addrs []string
	}{{"to", m.To}, {"cc", m.Cc}, {"bcc", m.Bcc}, {"replyTo", m.ReplyTo}} {
		for i, a := range list.addrs {
			checkAddress(p, fmt.Sprintf("%s[%d]", list.name, i), a)
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
	case hasLineBreak(m.Subject):
		p.add("subject", "must not contain CR, LF or NUL")
	case !utf8.ValidString(m.Subject):
		p.add("subject", "not valid UTF-8")
	case len(m.Subject) > MaxSubjectBytes:
		p.add("subject", "%d bytes, more than %d", len(m.Subject), MaxSubjectBytes)
	}

	if m.Text == "" && m.HTML == "" && m.TextKey == "" && m.HTMLKey == "" {
		p.add("text", "one of text, html, textKey or htmlKey is required")
	}
	// Parse sees UTF-8 only; a Go producer calling Validate may not.
	if !utf8.ValidString(m.Text) {
		p.add("text", "not valid UTF-8")
	}
	if !utf8.ValidString(m.HTML) {
		p.add("html", "not valid UTF-8")
	}
	if m.Text != "" && m.TextKey != "" {
		p.add("textKey", "text and textKey are mutually exclusive")
	}
	if m.HTML != "" && m.HTMLKey != "" {
		p.add("htmlKey", "html and htmlKey are mutually exclusive")
	}
	if m.TextKey != "" {
		checkKey(p, "textKey", m.TextKey, l.AttachmentPrefix)
	}
	if m.HTMLKey != "" {
		checkKey(p, "htmlKey", m.HTMLKey, l.AttachmentPrefix)
	}

	checkHeaders(p, m.Headers)

	contentIDs := map[string]bool{}
	for i, a := range m.Attachments {
		field := fmt.Sprintf("attachments[%d]", i)
		if a.Key == "" {
			p.add(field+".key", "required")
		} else {
			checkKey(p, field+".key", a.Key, l.AttachmentPrefix)
		}
		if a.Filename != "" {
			if rule := filenameRule(a.Filename); rule != "" {
				p.add(field+".filename", "%s", rule)
			}
		}
		if a.ContentType != "" {
			if rule := mediaTypeRule(a.ContentType); rule != "" {
				p.add(field+".contentType", "%s", rule)
			}
		}
		if a.ContentID != "" {
			if !contentIDPattern.MatchString(a.ContentID) {
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
		switch {
		case !tagPattern.MatchString(t.Name):
			p.add(field+".name", "must be 1-%d characters of A-Z a-z 0-9 _ -", MaxTagPartLength)
		case t.Name == MailIDTag:
			p.add(field+".name", "%q is reserved: mailflow tags every mail with its mailId under that name", MailIDTag)
		}
		if !tagPattern.MatchString(t.Value) {
			p.add(field+".value", "must be 1-%d characters of A-Z a-z 0-9 _ -", MaxTagPartLength)
		}
	}
	if m.ConfigurationSet != "" && !configSetPattern.MatchString(m.ConfigurationSet) {
		p.add("configurationSet", "must be 1-%d characters of A-Z a-z 0-9 _ -", MaxConfigSetLength)
	}
}

func hasLineBreak(s string) bool { return strings.ContainsAny(s, "\r\n\x00") }

// checkAddress reports whether s is a single RFC 5322 mailbox that obeys
// the address rules of [ParseMailbox].
func checkAddress(p *problems, field, s string) bool {
	if hasLineBreak(s) {
		p.add(field, "must not contain CR, LF or NUL")
		return false
	}
	if _, err := ParseMailbox(s); err != nil {
		p.add(field, "%s", err.Error())
		return false
	}
	return true
}

func checkKey(p *problems, field, key, prefix string) {
	switch {
	case len(key) > MaxKeyLength:
		p.add(field, "%d bytes, more than %d", len(key), MaxKeyLength)
	case hasLineBreak(key):
		p.add(field, "must not contain CR, LF or NUL")
	case !utf8.ValidString(key):
		p.add(field, "not valid UTF-8")
	case prefix == "" || !strings.HasPrefix(key, prefix) || len(key) == len(prefix):
		p.add(field, "must lie under the attachment prefix %q", prefix)
	case hasDotSegment(key):
		p.add(field, "must not contain . or .. path segments")
	}
}

func hasDotSegment(key string) bool {
	for seg := range strings.SplitSeq(key, "/") {
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

func validIdentity(s string) bool {
	if strings.Contains(s, "@") {
		a, err := mail.ParseAddress(s)
		return err == nil && a.Address == s
	}
	return domainPattern.MatchString(s)
}

var domainPattern = regexp.MustCompile(`^(?i:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?)(?:\.(?i:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?))+$`)
