// Package mailmime builds the MIME message of a mail with
// github.com/wneessen/go-mail, streaming attachments from the object store
// straight into the output writer.
//
// Memory: attachments are never read into memory whole. Each one is opened
// only when the writer reaches it and copied through go-mail's base64
// encoder in small buffers, so building a message with a 30 MB attachment
// allocates kilobytes, not megabytes. Offloaded bodies (textKey, htmlKey)
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
//   - No User-Agent or X-Mailer header. The Message-ID is derived from the
//     content hash and the sender's domain, so a rebuilt message keeps it.
//   - An attachment without a filename is named after the last segment of
//     its key; without a content type it is application/octet-stream.
package mailmime

import (
	"context"
	"errors"
	"fmt"
	"io"
	"path"
	"strings"
	"time"
	"unicode/utf8"

	gomail "github.com/wneessen/go-mail"

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
// 76 characters, as go-mail writes attachments.
func EncodedSize(n int64) int64 {
	b64 := (n + 2) / 3 * 4
	return b64 + (b64+75)/76*2
}

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

	msg := gomail.NewMsg(gomail.WithNoDefaultUserAgent())
	if err := msg.From(m.Sender(o.Limits)); err != nil {
		return 0, workflow.Errorf(workflow.InvalidMessage, "from: %v", err)
	}
	if len(m.To) > 0 {
		if err := msg.To(m.To...); err != nil {
			return 0, workflow.Errorf(workflow.InvalidMessage, "to: %v", err)
		}
	}
	if len(m.Cc) > 0 {
		if err := msg.Cc(m.Cc...); err != nil {
			return 0, workflow.Errorf(workflow.InvalidMessage, "cc: %v", err)
		}
	}
	if len(m.ReplyTo) > 0 {
		if err := msg.SetAddrHeader(gomail.HeaderReplyTo, m.ReplyTo...); err != nil {
			return 0, workflow.Errorf(workflow.InvalidMessage, "replyTo: %v", err)
		}
	}
	msg.Subject(m.Subject)
	msg.SetDateWithValue(o.Date)
	if o.MessageID != "" {
		msg.SetMessageIDWithValue(o.MessageID)
	}
	for name, value := range m.Headers {
		msg.SetGenHeader(gomail.Header(name), value)
	}
	switch {
	case text != "" && html != "":
		msg.SetBodyString(gomail.TypeTextPlain, text)
		msg.AddAlternativeString(gomail.TypeTextHTML, html)
	case html != "":
		msg.SetBodyString(gomail.TypeTextHTML, html)
	default:
		msg.SetBodyString(gomail.TypeTextPlain, text)
	}

	readers := make([]*lazyReader, len(m.Attachments))
	for i, a := range m.Attachments {
		name := a.Filename
		if name == "" {
			name = path.Base(a.Key)
		}
		ct := a.ContentType
		if ct == "" {
			ct = "application/octet-stream"
		}
		r := &lazyReader{ctx: ctx, src: src, key: a.Key, field: fmt.Sprintf("attachments[%d].key", i)}
		readers[i] = r
		opts := []gomail.FileOption{gomail.WithFileContentType(gomail.ContentType(ct))}
		if a.ContentID != "" {
			opts = append(opts, gomail.WithFileContentID("<"+a.ContentID+">"))
		}
		if a.Inline {
			msg.EmbedReadSeeker(name, r, opts...)
		} else {
			msg.AttachReadSeeker(name, r, opts...)
		}
	}

	lw := &limitWriter{w: w, max: o.max()}
	n, err := msg.WriteTo(lw)
	for _, r := range readers {
		r.close()
		if r.err != nil {
			return n, r.err
		}
	}
	if lw.over {
		return n, workflow.Errorf(workflow.TooLarge, "the encoded message exceeds the limit of %d bytes", o.max())
	}
	if err != nil {
		if workflow.NameOf(err) != "" {
			return n, err
		}
		return n, workflow.Errorf(workflow.Transient, "writing the message: %w", err)
	}
	return n, nil
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

// lazyReader opens its object on the first Read, so at most one attachment
// is open at a time, and rewinds by closing (go-mail seeks to the start
// after writing an attachment).
type lazyReader struct {
	ctx   context.Context
	src   store.Store
	key   string
	field string
	rc    io.ReadCloser
	err   error // the first failure, already named
}

func (r *lazyReader) Read(p []byte) (int, error) {
	if r.err != nil {
		return 0, r.err
	}
	if r.rc == nil {
		rc, _, err := r.src.Open(r.ctx, r.key)
		if err != nil {
			r.err = storeErr(r.field, r.key, err)
			return 0, r.err
		}
		r.rc = rc
	}
	n, err := r.rc.Read(p)
	if err != nil && err != io.EOF {
		r.err = workflow.Errorf(workflow.Transient, "%s: reading %q: %w", r.field, r.key, err)
		return n, r.err
	}
	return n, err
}

func (r *lazyReader) Seek(offset int64, whence int) (int64, error) {
	if offset != 0 || whence != io.SeekStart {
		return 0, errors.New("mailmime: attachments can only be rewound")
	}
	r.close()
	return 0, nil
}

func (r *lazyReader) close() {
	if r.rc != nil {
		_ = r.rc.Close()
		r.rc = nil
	}
}

// limitWriter fails once more than max bytes are written.
type limitWriter struct {
	w    io.Writer
	n    int64
	max  int64
	over bool
}

var errTooLarge = errors.New("mailmime: message limit reached")

func (l *limitWriter) Write(p []byte) (int, error) {
	if l.n+int64(len(p)) > l.max {
		l.over = true
		return 0, errTooLarge
	}
	n, err := l.w.Write(p)
	l.n += int64(n)
	return n, err
}
