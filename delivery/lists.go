package delivery

import (
	"encoding/json"
	"fmt"
	"time"

	"github.com/mailflow/mailflow/workflow"
)

// EncodeLists is how adapters store a record's recipients and history:
// two JSON arrays, times in Unix milliseconds. They are never queried
// field by field (the merge rules run in Go), so one compact encoding
// serves every store.
func EncodeLists(m Mail) (recipients, history []byte, err error) {
	rs := make([]wireRecipient, len(m.Recipients))
	for i, r := range m.Recipients {
		rs[i] = wireRecipient{Address: r.Address, State: string(r.State), At: unixMilli(r.At), Bounce: r.Bounce, Complaint: r.Complaint}
	}
	hs := make([]wireEvent, len(m.History))
	for i, e := range m.History {
		hs[i] = wireEvent{ID: e.ID, Type: string(e.Type), Recipient: e.Recipient, Time: unixMilli(e.Time),
			SESMessageID: e.SESMessageID, Bounce: e.Bounce, Complaint: e.Complaint, Reason: e.Reason}
		if q := e.Queued; q != nil {
			hs[i].Queued = &wireQueued{MessageID: q.MessageID, ExecutionID: q.ExecutionID, Recipients: q.Recipients}
		}
	}
	if recipients, err = json.Marshal(rs); err != nil {
		return nil, nil, fmt.Errorf("delivery: encode the recipients of %q: %w", m.MailID, err)
	}
	if history, err = json.Marshal(hs); err != nil {
		return nil, nil, fmt.Errorf("delivery: encode the history of %q: %w", m.MailID, err)
	}
	return recipients, history, nil
}

// DecodeLists reads what EncodeLists wrote into m.
func DecodeLists(m *Mail, recipients, history []byte) error {
	var rs []wireRecipient
	var hs []wireEvent
	if err := json.Unmarshal(recipients, &rs); err != nil {
		return fmt.Errorf("recipients: %w", err)
	}
	if err := json.Unmarshal(history, &hs); err != nil {
		return fmt.Errorf("history: %w", err)
	}
	for _, r := range rs {
		m.Recipients = append(m.Recipients, Recipient{Address: r.Address, State: workflow.OutcomeEventType(r.State),
			At: fromUnixMilli(r.At), Bounce: r.Bounce, Complaint: r.Complaint})
	}
	for _, e := range hs {
		ev := Event{ID: e.ID, Type: workflow.OutcomeEventType(e.Type), Recipient: e.Recipient,
			Time: fromUnixMilli(e.Time), SESMessageID: e.SESMessageID, Bounce: e.Bounce, Complaint: e.Complaint, Reason: e.Reason}
		if q := e.Queued; q != nil {
			ev.Queued = &QueuedRecord{MessageID: q.MessageID, ExecutionID: q.ExecutionID, Recipients: q.Recipients}
		}
		m.History = append(m.History, ev)
	}
	return nil
}

type (
	wireRecipient struct {
		Address   string                   `json:"address"`
		State     string                   `json:"state"`
		At        int64                    `json:"at"`
		Bounce    *workflow.EventBounce    `json:"bounce,omitempty"`
		Complaint *workflow.EventComplaint `json:"complaint,omitempty"`
	}
	wireEvent struct {
		ID           string                   `json:"id"`
		Type         string                   `json:"type"`
		Recipient    string                   `json:"recipient,omitempty"`
		Time         int64                    `json:"time"`
		SESMessageID string                   `json:"sesMessageId,omitempty"`
		Bounce       *workflow.EventBounce    `json:"bounce,omitempty"`
		Complaint    *workflow.EventComplaint `json:"complaint,omitempty"`
		Reason       *workflow.EventReason    `json:"reason,omitempty"`
		Queued       *wireQueued              `json:"queued,omitempty"`
	}
	wireQueued struct {
		MessageID   string   `json:"messageId,omitempty"`
		ExecutionID string   `json:"executionId,omitempty"`
		Recipients  []string `json:"recipients,omitempty"`
	}
)

func unixMilli(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixMilli()
}

func fromUnixMilli(ms int64) time.Time {
	if ms == 0 {
		return time.Time{}
	}
	return time.UnixMilli(ms).UTC()
}
