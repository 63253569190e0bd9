// Package mailmime builds the MIME message of a mail with the MIME writer
// of github.com/emersion/go-message, streaming attachments from the object
// store straight into the output writer.
//
// Why not github.com/wneessen/go-mail: its message writer (v0.8.1) buffers
// every encoded part in a growing bytes.Buffer before writing it out, which
// costs about three copies of a 30 MB attachment (measured: 100 MB
// allocated per mail). go-message encodes parts on the fly.
//
// Memory: attachments are never read into memory whole. Each one is opened
// only when the writer reaches it and copied through the base64 encoder in
// small buffers, so building a message with a 30 MB attachment allocates
// kilobytes, not megabytes. Offloaded bodies (textKey, htmlKey)
// are read into memory, bounded by the message limit, because they must be
// checked for valid UTF-8 before anything is written.
//
// Decisions where the architecture is silent:
//   - The size limit applies to the encoded message. It is checked twice:
//     an estimate from the stored sizes (base64 plus line breaks) rejects a
//     message before anything is downloaded, and the output writer stops at
//     the limit while writing.
//   - Keys must lie under the attachment prefix; anything else is
//     Mail.AttachmentForbidden, as is an object the store refuses to read.
//   - The Bcc header is never written; blind recipients travel only in the
//     envelope (sender.Message.Bcc).
//   - No User-Agent or X-Mailer header. The caller may fix the Message-ID.
//   - Structure: multipart/mixed (attachments) around multipart/related
//     (inline parts with Content-ID) around multipart/alternative (text and
//     HTML); each level only when needed. Bodies are UTF-8 in
//     quoted-printable, attachments base64; non-ASCII subjects, display
//     names and extra header values are RFC 2047 encoded words, non-ASCII
//     file names RFC 2231 parameters.
//   - An attachment without a filename is named after the last segment of
//     its key, bidirectional formatting characters replaced by "_"; without
//     a content type it is application/octet-stream.
//   - No producer byte becomes structure: the contract refuses multipart/*
//     and message/* attachment types, the content type's parameters and
//     the file name are parsed and written again with mime.FormatMediaType,
//     bodies are quoted-printable and attachments base64 inside parts whose
//     boundaries go-message draws at random, and header values are encoded
//     words whenever they are not printable ASCII.
//   - Addresses are written with their domains in A-labels (punycode), so
//     the header block is ASCII; display names are encoded words.
package mailmime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"mime"
	"path"
	"sort"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-message"
	gomsg "github.com/emersion/go-message/mail"

	"github.com/mailflow/mailflow/store"
	"github.com/mailflow/mailflow/workflow"
)

// DefaultMaxBytes is the SES v2 limit for a raw message after encoding
// (40 MB, counted in binary megabytes; a message SES still refuses fails as
// Mail.Rejected, which is permanent too).
const DefaultMaxBytes = 40 << 20

// Options control a build.
type Options struct {
	// Limits are the message contract's limits (attachment prefix, sender).
	Limits workflow.Limits
	// MaxBytes bounds the encoded message; 0 means DefaultMaxBytes.
	MaxBytes int64
	// Date is the Date header.
	Date time.Time
	// MessageID is the Message-ID without angle brackets; optional.
	MessageID string
}

func (o Options) max() int64 {
	if o.MaxBytes <= 0 {
		return DefaultMaxBytes
	}
	return o.MaxBytes
}

// EncodedSize estimates the size of n bytes in base64 with CRLF after every
// 76 characters, as attachments are written.
func EncodedSize(n int64) int64 {
	b64 := (n + 2) / 3 * 4
	return b64 + (b64+75)/76*2
}

// copyBuffers keeps the buffers attachments are copied through, which
// io.Copy would allocate anew for each.
var copyBuffers = sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}

// Build writes the MIME message for m to w and returns the bytes written.
// Errors carry a state-machine name: AttachmentMissing, AttachmentForbidden,
// TooLarge, InvalidMessage, or Transient for store failures.
func Build(ctx context.Context, w io.Writer, m *workflow.Message, src store.Store, o Options) (int64, error) {
	prefix := o.Limits.AttachmentPrefix
	checkKey := func(field, key string) error {
		if !store.HasPrefix(key, prefix) {
			return workflow.Errorf(workflow.AttachmentForbidden, "%s: key %q is outside the attachment prefix %q", field, key, prefix)
		}
		return nil
	}

	// Where a key points is checked first, so a key outside the prefix is
	// Mail.AttachmentForbidden rather than a generic contract violation.
	for i, a := range m.Attachments {
		if err := checkKey(fmt.Sprintf("attachments[%d].key", i), a.Key); err != nil {
			return 0, err
		}
	}
	for field, key := range map[string]string{"textKey": m.TextKey, "htmlKey": m.HTMLKey} {
		if key != "" {
			if err := checkKey(field, key); err != nil {
				return 0, err
			}
		}
	}
	// The rest of the contract (no CR/LF in any header, name or filename)
	// is checked again here, so a caller that skipped workflow.Parse still
	// cannot inject headers.
	if err := workflow.Validate(m, o.Limits); err != nil {
		return 0, workflow.Wrap(workflow.InvalidMessage, err)
	}

	// Stat every attachment first: a missing or forbidden one fails before
	// any download, and so does a message that cannot fit.
	estimate := int64(16 << 10) // headers and multipart framing
	estimate += EncodedSize(int64(len(m.Text))) + EncodedSize(int64(len(m.HTML)))
	for i, a := range m.Attachments {
		field := fmt.Sprintf("attachments[%d].key", i)
		info, err := src.Stat(ctx, a.Key)
		if err != nil {
			return 0, storeErr(field, a.Key, err)
		}
		estimate += EncodedSize(info.Size)
	}
	if estimate > o.max() {
		return 0, workflow.Errorf(workflow.TooLarge, "the encoded message would be about %d bytes, more than the limit of %d", estimate, o.max())
	}

	text, html := m.Text, m.HTML
	for _, b := range []struct {
		field, key string
		dst        *string
	}{{"textKey", m.TextKey, &text}, {"htmlKey", m.HTMLKey, &html}} {
		if b.key == "" {
			continue
		}
		s, err := readBody(ctx, src, b.field, b.key, o.max()-estimate)
		if err != nil {
			return 0, err
		}
		*b.dst = s
		estimate += EncodedSize(int64(len(s)))
	}

	var h gomsg.Header
	h.SetDate(o.Date)
	if o.MessageID != "" {
		h.SetMessageID(o.MessageID)
	}
	for _, f := range []struct {
		name  string
		addrs []string
	}{{"From", []string{m.Sender(o.Limits)}}, {"To", m.To}, {"Cc", m.Cc}, {"Reply-To", m.ReplyTo}} {
		if len(f.addrs) == 0 {
			continue
		}
		list := make([]*gomsg.Address, len(f.addrs))
		for i, a := range f.addrs {
			// The domain goes in A-labels, so that every header is ASCII.
			b, err := workflow.ParseMailbox(a)
			if err != nil {
				return 0, workflow.Errorf(workflow.InvalidMessage, "%s: %q: %v", f.name, a, err)
			}
			list[i] = (*gomsg.Address)(b.Header())
		}
		h.SetAddressList(f.name, list)
	}
	h.SetSubject(m.Subject)
	names := make([]string, 0, len(m.Headers))
	for name := range m.Headers {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		h.Set(name, encodeHeaderValue(m.Headers[name]))
	}

	var inline, attached []int
	for i, a := range m.Attachments {
		if a.Inline {
			inline = append(inline, i)
		} else {
			attached = append(attached, i)
		}
	}

	cw := &countingWriter{w: w, max: o.max()}
	write := func() error {
		// The outermost container carries the message headers.
		var top *message.Writer
		var err error
		create := func(parent *message.Writer, ph message.Header) (*message.Writer, error) {
			if parent == nil {
				merged := h.Header.Copy()
				fields := ph.Fields()
				for fields.Next() {
					merged.Add(fields.Key(), fields.Value())
				}
				top, err = message.CreateWriter(cw, merged)
				return top, err
			}
			return parent.CreatePart(ph)
		}
		var mixed, related *message.Writer
		if len(attached) > 0 {
			if mixed, err = create(nil, multipartHeader("multipart/mixed")); err != nil {
				return err
			}
		}
		if len(inline) > 0 {
			if related, err = create(mixed, multipartHeader("multipart/related")); err != nil {
				return err
			}
		}
		bodyParent := related
		if bodyParent == nil {
			bodyParent = mixed
		}
		if err := writeBodies(bodyParent, create, text, html); err != nil {
			return err
		}
		for _, i := range inline {
			if err := writeAttachment(ctx, related, src, i, m.Attachments[i]); err != nil {
				return err
			}
		}
		if related != nil {
			if err := related.Close(); err != nil {
				return err
			}
		}
		for _, i := range attached {
			if err := writeAttachment(ctx, mixed, src, i, m.Attachments[i]); err != nil {
				return err
			}
		}
		if mixed != nil {
			return mixed.Close()
		}
		return nil
	}
	err := write()
	if cw.over {
		return cw.n, workflow.Errorf(workflow.TooLarge, "the encoded message exceeds the limit of %d bytes", o.max())
	}
	if err != nil {
		if workflow.NameOf(err) != "" {
			return cw.n, err
		}
		return cw.n, workflow.Errorf(workflow.Transient, "writing the message: %w", err)
	}
	return cw.n, nil
}

type createFunc func(parent *message.Writer, h message.Header) (*message.Writer, error)

func multipartHeader(mediaType string) message.Header {
	var h message.Header
	h.SetContentType(mediaType, nil)
	return h
}

func textHeader(mediaType string) message.Header {
	var h message.Header
	h.SetContentType(mediaType, map[string]string{"charset": "utf-8"})
	h.Set("Content-Transfer-Encoding", "quoted-printable")
	return h
}

// writeBodies writes the text and HTML bodies, as multipart/alternative
// when there are both.
func writeBodies(parent *message.Writer, create createFunc, text, html string) error {
	leaf := func(p *message.Writer, mediaType, body string) error {
		w, err := create(p, textHeader(mediaType))
		if err != nil {
			return err
		}
		if _, err := io.WriteString(w, body); err != nil {
			return err
		}
		return w.Close()
	}
	switch {
	case text != "" && html != "":
		alt, err := create(parent, multipartHeader("multipart/alternative"))
		if err != nil {
			return err
		}
		if err := leaf(alt, "text/plain", text); err != nil {
			return err
		}
		if err := leaf(alt, "text/html", html); err != nil {
			return err
		}
		return alt.Close()
	case html != "":
		return leaf(parent, "text/html", html)
	default:
		return leaf(parent, "text/plain", text)
	}
}

// writeAttachment streams one stored object into a base64 part.
func writeAttachment(ctx context.Context, parent *message.Writer, src store.Store, i int, a workflow.Attachment) error {
	field := fmt.Sprintf("attachments[%d].key", i)
	name := a.Filename
	if name == "" {
		name = fallbackName(a.Key)
	}
	ct := a.ContentType
	if ct == "" {
		ct = "application/octet-stream"
	}
	mediaType, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return workflow.Errorf(workflow.InvalidMessage, "attachments[%d].contentType: %v", i, err)
	}
	params["name"] = name
	disposition := "attachment"
	if a.Inline {
		disposition = "inline"
	}
	// mime.FormatMediaType writes non-ASCII names as RFC 2231 parameters.
	var h message.Header
	h.Set("Content-Type", mime.FormatMediaType(mediaType, params))
	h.Set("Content-Disposition", mime.FormatMediaType(disposition, map[string]string{"filename": name}))
	if a.ContentID != "" {
		h.Set("Content-ID", "<"+a.ContentID+">")
	}
	h.Set("Content-Transfer-Encoding", "base64")

	rc, _, err := src.Open(ctx, a.Key)
	if err != nil {
		return storeErr(field, a.Key, err)
	}
	defer rc.Close()
	w, err := parent.CreatePart(h)
	if err != nil {
		return err
	}
	bp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bp)
	if _, err := io.CopyBuffer(w, readErrNamer{r: rc, field: field, key: a.Key}, *bp); err != nil {
		return err
	}
	return w.Close()
}

// readErrNamer names a failure to read an attachment as transient, so it
// is told apart from a failure to write the output.
type readErrNamer struct {
	r          io.Reader
	field, key string
}

func (r readErrNamer) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err != nil && err != io.EOF {
		err = workflow.Errorf(workflow.Transient, "%s: reading %q: %w", r.field, r.key, err)
	}
	return n, err
}

// encodeHeaderValue returns v, as RFC 2047 encoded words when it is not
// printable ASCII (the contract refuses control characters already).
func encodeHeaderValue(v string) string {
	return mime.QEncoding.Encode("utf-8", v)
}

// fallbackName names an attachment that has no file name after the last
// segment of its key, with what the contract refuses in a file name (the
// store already refuses control characters in keys) replaced by "_".
func fallbackName(key string) string {
	name := strings.Map(func(r rune) rune {
		if r < ' ' || r == 0x7f || r == 0x200e || r == 0x200f || (r >= 0x202a && r <= 0x202e) || (r >= 0x2066 && r <= 0x2069) {
			return '_'
		}
		return r
	}, path.Base(key))
	if name == "." || name == ".." || name == "/" {
		return "attachment"
	}
	return name
}

// readBody loads an offloaded body, at most limit bytes, and checks UTF-8.
func readBody(ctx context.Context, src store.Store, field, key string, limit int64) (string, error) {
	rc, info, err := src.Open(ctx, key)
	if err != nil {
		return "", storeErr(field, key, err)
	}
	defer rc.Close()
	if info.Size > limit {
		return "", workflow.Errorf(workflow.TooLarge, "%s: body %q is %d bytes; the message would exceed its limit", field, key, info.Size)
	}
	var sb strings.Builder
	sb.Grow(int(info.Size))
	n, err := io.Copy(&sb, io.LimitReader(rc, limit+1))
	if err != nil {
		return "", workflow.Errorf(workflow.Transient, "%s: reading %q: %w", field, key, err)
	}
	if n > limit {
		return "", workflow.Errorf(workflow.TooLarge, "%s: body %q is larger than the message limit", field, key)
	}
	s := sb.String()
	if !utf8.ValidString(s) {
		return "", workflow.Errorf(workflow.InvalidMessage, "%s: body %q is not valid UTF-8", field, key)
	}
	if strings.ContainsRune(s, 0) {
		return "", workflow.Errorf(workflow.InvalidMessage, "%s: body %q contains NUL", field, key)
	}
	return s, nil
}

// storeErr names a store error for the state machine.
func storeErr(field, key string, err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return workflow.Errorf(workflow.AttachmentMissing, "%s: %q does not exist: %w", field, key, err)
	case errors.Is(err, store.ErrForbidden), errors.Is(err, store.ErrInvalidKey):
		return workflow.Errorf(workflow.AttachmentForbidden, "%s: %q may not be read: %w", field, key, err)
	}
	return workflow.Errorf(workflow.Transient, "%s: reading %q: %w", field, key, err)
}

// countingWriter counts what it writes and fails past max bytes.
type countingWriter struct {
	w    io.Writer
	n    int64
	max  int64
	over bool
}

var errTooLarge = errors.New("mailmime: message limit reached")

func (c *countingWriter) Write(p []byte) (int, error) {
	if c.n+int64(len(p)) > c.max {
		c.over = true
		return 0, errTooLarge
	}
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}
