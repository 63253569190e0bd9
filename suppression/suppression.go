// Package suppression is the port for the suppression list: addresses that
// mailflow does not send to, because mail to them bounced permanently or
// their owner complained, or because an operator said so.
//
// The port is [List]; adapters live beside it (memsuppression,
// dynamosuppression) and locally (local/sqlitefeedback). Every adapter
// passes suppression/suppressiontest.
//
// Contract, fixed here:
//   - Addresses are compared as [Normalize] makes them: the whole address
//     lower-cased, the domain as its IDNA A-label. SES's own account-level
//     list compares without regard to case too.
//   - One entry per address; Put replaces it (the latest reason wins),
//     Delete removes it. An entry never expires by itself: an address
//     comes off the list only by an operator's Delete.
//   - List visits every entry once, a page at a time, each page after the
//     address the previous one ended with. The order of the pages is the
//     adapter's: address order in memsuppression and local/sqlitefeedback;
//     DynamoDB's own (hash) order in dynamosuppression, whose List is a
//     Scan. A caller that needs the list sorted sorts what it read.
//     An entry put or deleted during the paging may or may not be seen.
package suppression

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/mailflow/mailflow/workflow"
)

// Reason is why an address is suppressed, spelled as SES's suppression
// list spells it.
type Reason string

const (
	Bounce    Reason = "BOUNCE"
	Complaint Reason = "COMPLAINT"
)

// Entry is one suppressed address.
type Entry struct {
	Address string // normalised
	Reason  Reason
	At      time.Time
	// MailID and SESMessageID name the mail whose event suppressed the
	// address; both empty for an operator's entry.
	MailID       string
	SESMessageID string
	FeedbackID   string // SES's id of the bounce or complaint
	Bounce       *workflow.EventBounce
	Complaint    *workflow.EventComplaint
	Note         string // an operator's words, at most MaxNote bytes
}

// MaxNote bounds an operator's note.
const MaxNote = 1024

// Validate checks an entry before it is stored.
func (e Entry) Validate() error {
	n, err := Normalize(e.Address)
	switch {
	case err != nil:
		return err
	case n != e.Address:
		return fmt.Errorf("suppression: address %q is not normalised (%q)", e.Address, n)
	case e.Reason != Bounce && e.Reason != Complaint:
		return fmt.Errorf("suppression: reason %q is not %s or %s", e.Reason, Bounce, Complaint)
	case e.At.IsZero():
		return errors.New("suppression: At is the zero time")
	case len(e.Note) > MaxNote:
		return fmt.Errorf("suppression: note of %d bytes, at most %d", len(e.Note), MaxNote)
	}
	return nil
}

// Normalize returns the form addresses are stored and compared in.
func Normalize(addr string) (string, error) {
	b, err := workflow.ParseMailbox(addr)
	if err != nil {
		return "", fmt.Errorf("suppression: %w", err)
	}
	if b.Name != "" {
		return "", fmt.Errorf("suppression: %q has a display name; give the bare address", addr)
	}
	return strings.ToLower(b.Address()), nil
}

// ListParams page through the list.
type ListParams struct {
	After string // the previous page's next; "" for the first
	Limit int    // 1..1000
}

// Validate checks the params.
func (p ListParams) Validate() error {
	if p.Limit < 1 || p.Limit > 1000 {
		return fmt.Errorf("suppression: list limit %d is not within 1..1000", p.Limit)
	}
	return nil
}

// List is the suppression list port.
type List interface {
	// Lookup returns the entries of those addresses (already normalised)
	// that are on the list, in the order given.
	Lookup(ctx context.Context, addresses []string) ([]Entry, error)
	// Put adds or replaces the entry of e.Address.
	Put(ctx context.Context, e Entry) error
	// Delete removes address; found reports whether it was listed.
	Delete(ctx context.Context, address string) (found bool, err error)
	// List returns up to p.Limit entries after p.After, and the address to
	// pass as After for the next page ("" at the end; a page may be empty
	// only when it is the last).
	List(ctx context.Context, p ListParams) (entries []Entry, next string, err error)
}
