// Package smtpsend relays mail to an SMTP server (`mailflow dev --smtp
// host:port`), for teams that want local mail in a catcher such as mailpit or
// in a real relay.
//
// One connection per message, plain SMTP (STARTTLS when the server offers
// it; certificates are verified unless InsecureSkipVerify is set for a local
// catcher). Replies map to the pipeline's error names: 4xx and network
// failures are Mail.Transient, 5xx is Mail.Rejected. Every failure before
// the end of DATA, and every reply, is marked sender.NotAccepted: the
// server does not have the mail. Only a network failure while the final
// reply to DATA is awaited leaves it open. A message without a
// Message-ID header gets one, which is also the id Send returns; otherwise
// Send returns the message's own Message-ID.
//
// The envelope (MAIL FROM, RCPT TO) is workflow.EnvelopeAddress of each
// address: a quoted local part such as "victim@evil" stays quoted, never
// read as another address; an IDN domain goes in A-labels; a non-ASCII
// local part is refused as Mail.InvalidMessage, as the contract refuses it
// (SES has no SMTPUTF8, and the relay follows the same rule).
package smtpsend

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"net/smtp"
	"net/textproto"
	"strings"
	"time"

	"github.com/mailflow/mailflow/sender"
	"github.com/mailflow/mailflow/workflow"
)

// Config says where to relay.
type Config struct {
	Addr               string // host:port
	Timeout            time.Duration
	InsecureSkipVerify bool   // for a local catcher with a self-signed certificate
	HeloName           string // default "localhost"
}

// Sender relays over SMTP.
type Sender struct {
	cfg Config
}

var _ sender.Sender = (*Sender)(nil)

// New checks the configuration.
func New(cfg Config) (*Sender, error) {
	host, port, err := net.SplitHostPort(cfg.Addr)
	if err != nil || host == "" || port == "" {
		return nil, fmt.Errorf("smtpsend: address %q is not host:port", cfg.Addr)
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 30 * time.Second
	}
	if cfg.HeloName == "" {
		cfg.HeloName = "localhost"
	}
	return &Sender{cfg: cfg}, nil
}

// Send relays the message; a recipient the server refuses fails it all.
func (s *Sender) Send(ctx context.Context, m *sender.Message) (string, error) {
	id, _, err := s.transact(ctx, m, false)
	return id, err
}

// SendEach relays the message in one transaction to every recipient the
// server takes, as a mail server's client does: refused holds the answer
// of each recipient (as m spells it) the server refused at RCPT TO, and
// the others got the mail. err is a failure of the whole transaction: no
// recipient got it. With every recipient refused, nothing is sent and err
// is nil.
func (s *Sender) SendEach(ctx context.Context, m *sender.Message) (id string, refused map[string]error, err error) {
	return s.transact(ctx, m, true)
}

func (s *Sender) transact(ctx context.Context, m *sender.Message, each bool) (string, map[string]error, error) {
	if err := m.Validate(); err != nil {
		return "", nil, err
	}
	if err := ctx.Err(); err != nil {
		return "", nil, sender.NotAccepted(workflow.Wrap(workflow.Transient, err))
	}
	raw, id := withMessageID(m.Raw)
	// The envelope is built from the parsed mailbox: the local part stays
	// quoted when it must be, so it names the same mailbox, and the domain
	// goes in A-labels.
	from, err := workflow.EnvelopeAddress(m.From)
	if err != nil {
		return "", nil, sender.NotAccepted(workflow.Errorf(workflow.InvalidMessage, "smtpsend: from %q: %v", m.From, err))
	}
	type rcpt struct{ given, envelope string }
	var rcpts []rcpt
	for _, list := range [][]string{m.To, m.Cc, m.Bcc} {
		for _, r := range list {
			a, err := workflow.EnvelopeAddress(r)
			if err != nil {
				return "", nil, sender.NotAccepted(workflow.Errorf(workflow.InvalidMessage, "smtpsend: recipient %q: %v", r, err))
			}
			rcpts = append(rcpts, rcpt{r, a})
		}
	}

	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", s.cfg.Addr)
	if err != nil {
		return "", nil, sender.NotAccepted(workflow.Wrap(workflow.Transient, fmt.Errorf("smtpsend: %w", err)))
	}
	defer conn.Close()
	if d, ok := ctx.Deadline(); ok {
		conn.SetDeadline(d)
	}
	host, _, _ := net.SplitHostPort(s.cfg.Addr)
	c, err := smtp.NewClient(conn, host)
	if err != nil {
		return "", nil, sender.NotAccepted(classify(err))
	}
	defer c.Close()
	if err := c.Hello(s.cfg.HeloName); err != nil {
		return "", nil, sender.NotAccepted(classify(err))
	}
	if ok, _ := c.Extension("STARTTLS"); ok {
		if err := c.StartTLS(&tls.Config{ServerName: host, InsecureSkipVerify: s.cfg.InsecureSkipVerify}); err != nil {
			return "", nil, sender.NotAccepted(classify(err))
		}
	}
	if err := c.Mail(from); err != nil {
		return "", nil, sender.NotAccepted(classify(err))
	}
	var refused map[string]error
	for _, r := range rcpts {
		if err := c.Rcpt(r.envelope); err != nil {
			// Only a reply refuses one recipient; anything else ends the
			// transaction.
			if !each || !errors.As(err, new(*textproto.Error)) {
				return "", nil, sender.NotAccepted(classify(err))
			}
			if refused == nil {
				refused = map[string]error{}
			}
			refused[r.given] = sender.NotAccepted(classify(err))
		}
	}
	if len(refused) == len(rcpts) {
		_ = c.Quit()
		return "", refused, nil
	}
	w, err := c.Data()
	if err != nil {
		return "", nil, sender.NotAccepted(classify(err))
	}
	if _, err := w.Write(raw); err != nil {
		return "", nil, sender.NotAccepted(classify(err))
	}
	if err := w.Close(); err != nil {
		// A reply is an answer; a broken connection while awaiting it is
		// not: the server may have queued the mail.
		if errors.As(err, new(*textproto.Error)) {
			return "", nil, sender.NotAccepted(classify(err))
		}
		return "", nil, classify(err)
	}
	_ = c.Quit()
	return id, refused, nil
}

// classify names an SMTP failure: permanent replies are rejections,
// everything else may pass on a later try.
func classify(err error) error {
	var te *textproto.Error
	if errors.As(err, &te) && te.Code >= 500 && te.Code < 600 {
		return workflow.Wrap(workflow.Rejected, fmt.Errorf("smtpsend: %w", err))
	}
	return workflow.Wrap(workflow.Transient, fmt.Errorf("smtpsend: %w", err))
}

// withMessageID returns raw with a Message-ID header (adding one when it has
// none) and that id without angle brackets.
func withMessageID(raw []byte) ([]byte, string) {
	if msg, err := mail.ReadMessage(bytes.NewReader(raw)); err == nil {
		if id := strings.Trim(msg.Header.Get("Message-Id"), "<> "); id != "" {
			return raw, id
		}
	}
	var b [16]byte
	rand.Read(b[:])
	id := hex.EncodeToString(b[:]) + "@mailflow.local"
	out := make([]byte, 0, len(raw)+64)
	out = append(out, "Message-ID: <"+id+">\r\n"...)
	return append(out, raw...), id
}
