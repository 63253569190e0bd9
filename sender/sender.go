// Package sender is the port that hands a finished MIME message to a mail
// service: SES v2 on AWS (sender/sessender); an outbox directory, an SMTP
// relay or an SES simulator locally. Every adapter must pass the
// conformance suite in sender/sendertest.
//
// The message is raw MIME plus the envelope: the MIME text never carries a
// Bcc header, so blind recipients travel only in Bcc here. Raw is a byte
// slice because SES v2 takes the message inline in its request; that is the
// one full copy of the message a send holds.
//
// Errors carry a state-machine error name (workflow.Errorf / Wrap), chosen by
// the adapter from its service's error types: Throttled (rate),
// QuotaExhausted (daily quota), SendingPaused (paused or suspended
// account), Rejected (content, sender or configuration refused), Transient
// (network, 5xx, anything unknown), and InvalidMessage for a message that
// fails [Message.Validate] before anything is sent. Adapters never retry.
//
// Whether the mail may have gone out is part of every error: an adapter
// marks with [NotAccepted] each error after which the service certainly
// does not have the mail (it answered with a refusal of any status, or the
// request never left the process). An unmarked error leaves the outcome
// open (no answer: a network failure or timeout after the request was
// written, a malformed answer); the Send task then records the mail as
// outcome-unknown rather than risk sending it twice. A named refusal
// (everything but Transient) counts as not accepted even unmarked.
package sender

import (
	"context"
	"errors"
	"net/mail"

	"github.com/mailflow/mailflow/workflow"
)

// Message is one mail to send.
type Message struct {
	// From is the sending identity's address (no display name); the From
	// header inside Raw may add one.
	From string
	// To, Cc and Bcc are the envelope recipients, RFC 5322 addresses.
	To, Cc, Bcc []string
	// Raw is the complete MIME message.
	Raw []byte
	// ConfigurationSet is the SES configuration set, optional.
	ConfigurationSet string
	// Tags are SES message tags, optional.
	Tags []workflow.Tag
}

// Validate checks the message before anything is sent; its errors carry the
// name [workflow.InvalidMessage].
func (m *Message) Validate() error {
	var errs []error
	if _, err := mail.ParseAddress(m.From); err != nil {
		errs = append(errs, errors.New("from: not an e-mail address"))
	}
	if len(m.To)+len(m.Cc)+len(m.Bcc) == 0 {
		errs = append(errs, errors.New("no recipients"))
	}
	if len(m.To)+len(m.Cc)+len(m.Bcc) > workflow.MaxRecipients {
		errs = append(errs, errors.New("more than 50 recipients"))
	}
	if len(m.Raw) == 0 {
		errs = append(errs, errors.New("empty raw message"))
	}
	if err := errors.Join(errs...); err != nil {
		return workflow.Errorf(workflow.InvalidMessage, "sender: %w", err)
	}
	return nil
}

// Sender is the send port.
type Sender interface {
	// Send hands the message over and returns the service's message id.
	Send(ctx context.Context, m *Message) (messageID string, err error)
}

// ErrNotAccepted is matched (errors.Is) by every error [NotAccepted] marks.
var ErrNotAccepted = errors.New("sender: the service did not accept the mail")

// NotAccepted marks err as one after which the service certainly does not
// have the mail. The mark keeps err's name and chain. nil stays nil.
func NotAccepted(err error) error {
	if err == nil {
		return nil
	}
	return notAccepted{err}
}

type notAccepted struct{ error }

func (e notAccepted) Unwrap() error        { return e.error }
func (e notAccepted) Is(target error) bool { return target == ErrNotAccepted }

// Refused reports whether err says the service did not take the mail: it
// is marked [NotAccepted] or carries a refusal's name. false means the
// mail may have been accepted.
func Refused(err error) bool {
	if err == nil {
		return false
	}
	if errors.Is(err, ErrNotAccepted) {
		return true
	}
	name := workflow.NameOf(err)
	return name != "" && name != workflow.Transient
}

// Names are the error names a Sender may return, besides InvalidMessage.
var Names = []workflow.ErrorName{workflow.Throttled, workflow.QuotaExhausted, workflow.SendingPaused, workflow.Rejected, workflow.Transient}
