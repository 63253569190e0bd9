package testkit

import (
	"bytes"
	"encoding/base64"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
)

// MIMELeaf is one non-multipart part of a parsed message.
type MIMELeaf struct {
	Path   []string // media types from the root down, the leaf's own last
	Header textproto.MIMEHeader
	Body   []byte // decoded from its Content-Transfer-Encoding
}

// MediaType is the leaf's own media type.
func (l MIMELeaf) MediaType() string { return l.Path[len(l.Path)-1] }

// ParseMIME parses a message with the standard library only (net/mail,
// mime/multipart, mime/quotedprintable, encoding/base64), independently of
// the library that wrote it, and returns its header and its leaf parts in
// order.
func ParseMIME(raw []byte) (mail.Header, []MIMELeaf, error) {
	msg, err := mail.ReadMessage(bytes.NewReader(raw))
	if err != nil {
		return nil, nil, err
	}
	var leaves []MIMELeaf
	err = walkMIME(textproto.MIMEHeader(msg.Header), msg.Body, nil, &leaves)
	return msg.Header, leaves, err
}

func walkMIME(h textproto.MIMEHeader, body io.Reader, path []string, out *[]MIMELeaf) error {
	ct := h.Get("Content-Type")
	if ct == "" {
		ct = "text/plain"
	}
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil {
		return fmt.Errorf("content type %q: %w", ct, err)
	}
	path = append(append([]string(nil), path...), mt)
	if strings.HasPrefix(mt, "multipart/") {
		mr := multipart.NewReader(body, params["boundary"])
		for {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				return nil
			}
			if err != nil {
				return fmt.Errorf("part under %v: %w", path, err)
			}
			if err := walkMIME(p.Header, p, path, out); err != nil {
				return err
			}
		}
	}
	switch cte := strings.ToLower(h.Get("Content-Transfer-Encoding")); cte {
	case "base64":
		body = base64.NewDecoder(base64.StdEncoding, body)
	case "quoted-printable":
		body = quotedprintable.NewReader(body)
	case "", "7bit", "8bit", "binary":
	default:
		return fmt.Errorf("unknown Content-Transfer-Encoding %q", cte)
	}
	b, err := io.ReadAll(body)
	if err != nil {
		return fmt.Errorf("body of %v: %w", path, err)
	}
	*out = append(*out, MIMELeaf{Path: path, Header: h, Body: b})
	return nil
}
