package console

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"

	_ "github.com/emersion/go-message/charset" // decode non-UTF-8 charsets
	"github.com/emersion/go-message/mail"
)

// maxMailBytes bounds an outbox file the console parses (SES's limit).
const maxMailBytes = 40 << 20

// MailSummary is a line of the outbox page.
type MailSummary struct {
	Name    string    `json:"name"` // file name without .eml (the SES message id)
	Subject string    `json:"subject"`
	From    string    `json:"from"`
	To      string    `json:"to"`
	Date    time.Time `json:"date"`
	Size    int64     `json:"size"`
}

// Mail is one parsed outbox message.
type Mail struct {
	MailSummary
	Headers     [][2]string `json:"headers"`
	Text        string      `json:"text"`
	HasHTML     bool        `json:"hasHtml"`
	Attachments []Part      `json:"attachments"`
	html        []byte
	parts       [][]byte
}

// Part is an attachment (or a non-text inline part).
type Part struct {
	Index       int    `json:"index"`
	Filename    string `json:"filename"`
	ContentType string `json:"contentType"`
	ContentID   string `json:"contentId,omitempty"`
	Inline      bool   `json:"inline"`
	Size        int    `json:"size"`
}

// ParseMail parses an RFC 5322 message with go-message.
func ParseMail(name string, raw []byte) (*Mail, error) {
	r, err := mail.CreateReader(bytes.NewReader(raw))
	if err != nil && r == nil {
		return nil, err
	}
	defer r.Close()
	m := &Mail{MailSummary: MailSummary{Name: name, Size: int64(len(raw))}, Attachments: []Part{}}
	h := r.Header
	m.Subject, _ = h.Subject()
	m.Date, _ = h.Date()
	if a, err := h.AddressList("From"); err == nil {
		m.From = addrs(a)
	}
	if a, err := h.AddressList("To"); err == nil {
		m.To = addrs(a)
	}
	fields := h.Fields()
	for fields.Next() {
		v, err := fields.Text()
		if err != nil {
			v = fields.Value()
		}
		m.Headers = append(m.Headers, [2]string{fields.Key(), v})
	}
	for {
		p, err := r.NextPart()
		if errors.Is(err, io.EOF) {
			break
		} else if err != nil {
			return m, fmt.Errorf("%s: %w", name, err)
		}
		body, err := io.ReadAll(io.LimitReader(p.Body, maxMailBytes))
		if err != nil {
			return m, fmt.Errorf("%s: %w", name, err)
		}
		switch ph := p.Header.(type) {
		case *mail.InlineHeader:
			ct, _, _ := ph.ContentType()
			switch {
			case ct == "text/plain" && m.Text == "":
				m.Text = string(body)
			case ct == "text/html" && !m.HasHTML:
				m.html, m.HasHTML = body, true
			default:
				_, params, _ := ph.ContentDisposition()
				fn := params["filename"]
				if fn == "" {
					_, cparams, _ := ph.ContentType()
					fn = cparams["name"]
				}
				m.addPart(fn, ct, strings.Trim(ph.Get("Content-ID"), "<>"), true, body)
			}
		case *mail.AttachmentHeader:
			fn, _ := ph.Filename()
			ct, _, _ := ph.ContentType()
			m.addPart(fn, ct, strings.Trim(ph.Get("Content-ID"), "<>"), false, body)
		}
	}
	return m, nil
}

func (m *Mail) addPart(filename, ct, cid string, inline bool, body []byte) {
	if filename == "" {
		filename = "part-" + strconv.Itoa(len(m.parts)+1)
	}
	m.Attachments = append(m.Attachments, Part{Index: len(m.parts), Filename: filename, ContentType: ct, ContentID: cid, Inline: inline, Size: len(body)})
	m.parts = append(m.parts, body)
}

func addrs(list []*mail.Address) string {
	s := make([]string, len(list))
	for i, a := range list {
		s[i] = a.String()
	}
	return strings.Join(s, ", ")
}

// validName accepts outbox file names only (no paths).
func validName(name string) bool {
	if name == "" || len(name) > 200 || strings.ContainsAny(name, `/\`) || strings.HasPrefix(name, ".") {
		return false
	}
	for _, r := range name {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("._-:@+", r)) {
			return false
		}
	}
	return true
}

func (s *Server) readMail(w http.ResponseWriter, r *http.Request) *Mail {
	name := r.PathValue("name")
	if s.o.Backend.OutboxDir == "" || !validName(name) {
		http.NotFound(w, r)
		return nil
	}
	f, err := os.Open(filepath.Join(s.o.Backend.OutboxDir, name+".eml"))
	if err != nil {
		http.NotFound(w, r)
		return nil
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, maxMailBytes))
	if err != nil {
		writeError(w, err)
		return nil
	}
	m, err := ParseMail(name, raw)
	if m == nil {
		writeError(w, err)
		return nil
	}
	return m
}

func (s *Server) outboxList(w http.ResponseWriter, r *http.Request) {
	out := []MailSummary{}
	dir := s.o.Backend.OutboxDir
	if dir == "" {
		writeJSON(w, http.StatusOK, map[string]any{"mails": out, "enabled": false})
		return
	}
	entries, err := os.ReadDir(dir)
	if err != nil && !os.IsNotExist(err) {
		writeError(w, err)
		return
	}
	for _, e := range entries {
		name, ok := strings.CutSuffix(e.Name(), ".eml")
		if !ok || e.IsDir() || !validName(name) {
			continue
		}
		info, err := e.Info()
		if err != nil {
			continue
		}
		sum := MailSummary{Name: name, Size: info.Size(), Date: info.ModTime().UTC()}
		if f, err := os.Open(filepath.Join(dir, e.Name())); err == nil {
			if r, err := mail.CreateReader(io.LimitReader(f, 1<<20)); err == nil || r != nil {
				sum.Subject, _ = r.Header.Subject()
				if a, err := r.Header.AddressList("To"); err == nil {
					sum.To = addrs(a)
				}
				if a, err := r.Header.AddressList("From"); err == nil {
					sum.From = addrs(a)
				}
				if d, err := r.Header.Date(); err == nil {
					sum.Date = d.UTC()
				}
			}
			f.Close()
		}
		out = append(out, sum)
	}
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Date.Equal(out[j].Date) {
			return out[i].Date.After(out[j].Date)
		}
		return out[i].Name > out[j].Name
	})
	writeJSON(w, http.StatusOK, map[string]any{"mails": out, "enabled": true})
}

func (s *Server) outboxMail(w http.ResponseWriter, r *http.Request) {
	if m := s.readMail(w, r); m != nil {
		writeJSON(w, http.StatusOK, m)
	}
}

// outboxHTML serves a mail's HTML body in a CSP sandbox: no script, no
// same-origin access, and only inline or data: images.
func (s *Server) outboxHTML(w http.ResponseWriter, r *http.Request) {
	m := s.readMail(w, r)
	if m == nil {
		return
	}
	if !m.HasHTML {
		http.NotFound(w, r)
		return
	}
	w.Header().Set("Content-Security-Policy", "sandbox; default-src 'none'; img-src data:; style-src 'unsafe-inline'")
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.Write(m.html)
}

func (s *Server) outboxPart(w http.ResponseWriter, r *http.Request) {
	m := s.readMail(w, r)
	if m == nil {
		return
	}
	i, err := strconv.Atoi(r.PathValue("index"))
	if err != nil || i < 0 || i >= len(m.parts) {
		http.NotFound(w, r)
		return
	}
	p := m.Attachments[i]
	w.Header().Set("Content-Type", "application/octet-stream")
	w.Header().Set("Content-Disposition", mime.FormatMediaType("attachment", map[string]string{"filename": p.Filename}))
	w.Header().Set("Content-Security-Policy", "sandbox")
	w.Write(m.parts[i])
}
