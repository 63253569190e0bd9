package inspect

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/mailflow/mailflow/delivery"
	"github.com/mailflow/mailflow/suppression"
	"github.com/mailflow/mailflow/workflow"
)

// NoDeliveryFeedback is MailStatus.DeliveryNote when the backend has no
// delivery store.
const NoDeliveryFeedback = "delivery feedback not configured"

// Delivery is what became of a mail after the pipeline took it: the
// whole-mail state, each recipient's and the event history, as the
// delivery record keeps them.
type Delivery struct {
	// State is the latest whole-mail event's type (accepted, sent,
	// rejected, rendering-failed, dead-lettered); "" before any.
	State        workflow.OutcomeEventType `json:"state,omitempty"`
	StateAt      time.Time                 `json:"stateAt,omitzero"`
	SESMessageID string                    `json:"sesMessageId,omitempty"`
	Recipients   []DeliveryRecipient       `json:"recipients"`
	History      []DeliveryEvent           `json:"history"`
	UpdatedAt    time.Time                 `json:"updatedAt,omitzero"`
	ExpiresAt    time.Time                 `json:"expiresAt,omitzero"`
	// Summary is the mail's state in one word ([MailState]); Suppressed
	// says it was dead-lettered because a recipient is suppressed.
	Summary    workflow.OutcomeEventType `json:"summary,omitempty"`
	Suppressed bool                      `json:"suppressed,omitempty"`
}

// DeliveryRecipient is one recipient's state: the type of its latest event.
type DeliveryRecipient struct {
	Address   string                    `json:"address"`
	State     workflow.OutcomeEventType `json:"state"`
	At        time.Time                 `json:"at"`
	Bounce    *workflow.EventBounce     `json:"bounce,omitempty"`
	Complaint *workflow.EventComplaint  `json:"complaint,omitempty"`
	// Suppressed is the address's entry on the suppression list now, when
	// it is listed (and the list is configured).
	Suppressed *Suppressed `json:"suppressed,omitempty"`
}

// Suppressed is why and since when an address is on the suppression list.
type Suppressed struct {
	Reason suppression.Reason `json:"reason"`
	At     time.Time          `json:"at"`
	MailID string             `json:"mailId,omitempty"`
	Note   string             `json:"note,omitempty"`
}

// DeliveryEvent is one event of the history.
type DeliveryEvent struct {
	ID           string                    `json:"id"`
	Type         workflow.OutcomeEventType `json:"type"`
	Recipient    string                    `json:"recipient,omitempty"`
	Time         time.Time                 `json:"time"`
	SESMessageID string                    `json:"sesMessageId,omitempty"`
	Bounce       *workflow.EventBounce     `json:"bounce,omitempty"`
	Complaint    *workflow.EventComplaint  `json:"complaint,omitempty"`
	Reason       *workflow.EventReason     `json:"reason,omitempty"`
	// Detail is the event's particulars in one line ("Permanent/General:
	// 550 5.1.1 user unknown"), for the CLI and the console alike.
	Detail string `json:"detail,omitempty"`
}

// Detail says in one line what a recipient's state carries.
func (r DeliveryRecipient) Detail() string { return detail(r.Bounce, r.Complaint, nil) }

func detail(b *workflow.EventBounce, c *workflow.EventComplaint, reason *workflow.EventReason) string {
	var parts []string
	if b != nil {
		s := b.Type + "/" + b.SubType
		if b.DiagnosticCode != "" {
			s += ": " + b.DiagnosticCode
		}
		parts = append(parts, s)
	}
	if c != nil {
		if c.FeedbackType != "" {
			parts = append(parts, "feedback type "+c.FeedbackType)
		} else {
			parts = append(parts, "no feedback type")
		}
	}
	if reason != nil {
		s := reason.Error
		if reason.Cause != "" {
			s += ": " + CauseMessage(reason.Cause)
		}
		parts = append(parts, s)
	}
	return strings.Join(parts, "; ")
}

// DeliveryOf reads the delivery record of mailID as the read model shows
// it, with the suppression entries of its recipients when list is not nil;
// ok is false when the store has no record.
func DeliveryOf(ctx context.Context, mailID string, store delivery.Store, list suppression.List, now time.Time) (*Delivery, bool, error) {
	m, ok, err := store.Get(ctx, mailID, now)
	if err != nil {
		return nil, false, fmt.Errorf("delivery record of %s: %w", mailID, err)
	}
	if !ok {
		return nil, false, nil
	}
	d := &Delivery{State: m.State, StateAt: m.StateAt, SESMessageID: m.SESMessageID, UpdatedAt: m.UpdatedAt, ExpiresAt: m.ExpiresAt,
		Recipients: make([]DeliveryRecipient, len(m.Recipients)), History: make([]DeliveryEvent, len(m.History))}
	d.Summary, d.Suppressed = MailState(m)
	addrs := make([]string, 0, len(m.Recipients))
	for i, r := range m.Recipients {
		d.Recipients[i] = DeliveryRecipient{Address: r.Address, State: r.State, At: r.At, Bounce: r.Bounce, Complaint: r.Complaint}
		// The list holds normalised addresses; a recipient SES reports in
		// another case or as a U-label is the same address.
		if n, err := suppression.Normalize(r.Address); err == nil {
			addrs = append(addrs, n)
		}
	}
	for i, e := range m.History {
		d.History[i] = DeliveryEvent{ID: e.ID, Type: e.Type, Recipient: e.Recipient, Time: e.Time, SESMessageID: e.SESMessageID,
			Bounce: e.Bounce, Complaint: e.Complaint, Reason: e.Reason, Detail: detail(e.Bounce, e.Complaint, e.Reason)}
	}
	if list == nil || len(addrs) == 0 {
		return d, true, nil
	}
	entries, err := list.Lookup(ctx, addrs)
	if err != nil {
		return nil, false, fmt.Errorf("suppression of the recipients of %s: %w", mailID, err)
	}
	byAddr := make(map[string]suppression.Entry, len(entries))
	for _, e := range entries {
		byAddr[e.Address] = e
	}
	for i := range d.Recipients {
		n, _ := suppression.Normalize(d.Recipients[i].Address)
		if e, ok := byAddr[n]; ok {
			d.Recipients[i].Suppressed = &Suppressed{Reason: e.Reason, At: e.At, MailID: e.MailID, Note: e.Note}
		}
	}
	return d, true, nil
}

// headline orders the states a mail is summed up by, most telling first:
// a whole-mail end, then the worst recipient's state, then progress.
var headline = []workflow.OutcomeEventType{
	workflow.EventDeadLettered, workflow.EventRejected, workflow.EventRenderingFailed,
	workflow.EventComplained, workflow.EventBounced, workflow.EventDelayed, workflow.EventDelivered,
	workflow.EventSent, workflow.EventAccepted,
}

// MailState sums a delivery record up in one state, as the console's
// dashboard counts mails: dead-lettered, rejected or rendering-failed when
// the mail ended so; else its worst recipient's state (complained, bounced,
// delayed, delivered); else sent or accepted. suppressed reports a mail
// dead-lettered because a recipient is on the suppression list.
func MailState(m delivery.Mail) (state workflow.OutcomeEventType, suppressed bool) {
	rank := func(t workflow.OutcomeEventType) int {
		for i, h := range headline {
			if h == t {
				return i
			}
		}
		return len(headline)
	}
	state = m.State
	for _, r := range m.Recipients {
		if rank(r.State) < rank(state) {
			state = r.State
		}
	}
	if state == workflow.EventDeadLettered {
		for i := len(m.History) - 1; i >= 0; i-- {
			if e := m.History[i]; e.Type == workflow.EventDeadLettered {
				suppressed = e.Reason != nil && e.Reason.Error == string(workflow.Suppressed)
				break
			}
		}
	}
	return state, suppressed
}
