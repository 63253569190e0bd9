package inspect

import (
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/mailflow/mailflow/delivery"
	"github.com/mailflow/mailflow/delivery/memdelivery"
	"github.com/mailflow/mailflow/suppression"
	"github.com/mailflow/mailflow/suppression/memsuppression"
	"github.com/mailflow/mailflow/workflow"
)

// noExecutions is a Source that knows no execution.
type noExecutions struct{}

func (noExecutions) List(context.Context, Filter) (Page, error)      { return Page{}, nil }
func (noExecutions) Get(context.Context, string) (*Execution, error) { return nil, ErrNotFound }
func (noExecutions) MailExecutions(context.Context, string) ([]MailExecution, error) {
	return nil, nil
}

func TestMailStatusReadsTheDeliveryRecord(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	store := memdelivery.New()
	bounce := &workflow.EventBounce{Type: "Permanent", SubType: "General", DiagnosticCode: "smtp; 550 5.1.1 user unknown"}
	if _, _, err := store.Apply(ctx, delivery.ApplyParams{MailID: "order-1", Now: t0, ExpiresAt: t0.Add(24 * time.Hour), Events: []delivery.Event{
		{ID: "a", Type: workflow.EventAccepted, Time: t0},
		{ID: "s", Type: workflow.EventSent, Time: t0.Add(time.Second), SESMessageID: "ses-1"},
		{ID: "d", Type: workflow.EventDelivered, Recipient: "ann@example.org", Time: t0.Add(2 * time.Second), SESMessageID: "ses-1"},
		{ID: "b", Type: workflow.EventBounced, Recipient: "Bob@Example.org", Time: t0.Add(3 * time.Second), SESMessageID: "ses-1", Bounce: bounce},
		{ID: "c", Type: workflow.EventComplained, Recipient: "cy@example.org", Time: t0.Add(4 * time.Second), Complaint: &workflow.EventComplaint{FeedbackType: "abuse"}},
		{ID: "y", Type: workflow.EventDelayed, Recipient: "di@example.org", Time: t0.Add(5 * time.Second)},
	}}); err != nil {
		t.Fatal(err)
	}
	list := memsuppression.New()
	if err := list.Put(ctx, suppression.Entry{Address: "bob@example.org", Reason: suppression.Bounce, At: t0.Add(3 * time.Second), MailID: "order-1", Bounce: bounce}); err != nil {
		t.Fatal(err)
	}
	b := &Backend{Source: noExecutions{}, Deliveries: store, Suppressions: list}
	st, err := Mail(ctx, "order-1", b, t0.Add(time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	d := st.Delivery
	if d == nil || st.DeliveryNote != "" {
		t.Fatalf("no delivery: %+v", st)
	}
	if d.State != workflow.EventSent || d.Summary != workflow.EventComplained || d.SESMessageID != "ses-1" || len(d.History) != 6 || len(d.Recipients) != 4 {
		t.Fatalf("delivery %+v", d)
	}
	got := map[string]DeliveryRecipient{}
	for _, r := range d.Recipients {
		got[r.Address] = r
	}
	if r := got["Bob@Example.org"]; r.State != workflow.EventBounced || r.Suppressed == nil || r.Suppressed.Reason != suppression.Bounce ||
		r.Detail() != "Permanent/General: smtp; 550 5.1.1 user unknown" {
		t.Errorf("bounced recipient %+v (%q)", r, r.Detail())
	}
	if r := got["cy@example.org"]; r.State != workflow.EventComplained || r.Suppressed != nil || r.Detail() != "feedback type abuse" {
		t.Errorf("complained recipient %+v", r)
	}
	if got["ann@example.org"].State != workflow.EventDelivered || got["di@example.org"].State != workflow.EventDelayed {
		t.Errorf("recipients %+v", d.Recipients)
	}
	if h := d.History[3]; h.Type != workflow.EventBounced || !strings.Contains(h.Detail, "550 5.1.1") {
		t.Errorf("history %+v", d.History)
	}
	raw, _ := json.Marshal(st)
	for _, want := range []string{`"delivery":{"state":"sent"`, `"diagnosticCode":"smtp; 550 5.1.1 user unknown"`, `"feedbackType":"abuse"`, `"suppressed":{"reason":"BOUNCE"`} {
		if !strings.Contains(string(raw), want) {
			t.Errorf("JSON lacks %s: %s", want, raw)
		}
	}

	// A mail with no record, and a backend with no delivery store: neither
	// is an error, and each says which it is.
	if st, err := Mail(ctx, "other", b, t0); err != nil || st.Delivery != nil || st.DeliveryNote != NoDeliveryRecord {
		t.Errorf("no record: %+v %v", st, err)
	}
	if st, err := Mail(ctx, "order-1", b, t0.Add(25*time.Hour)); err != nil || st.Delivery != nil || st.DeliveryNote != NoDeliveryRecord {
		t.Errorf("expired record: %+v %v", st, err)
	}
	if st, err := Mail(ctx, "order-1", &Backend{Source: noExecutions{}}, t0); err != nil || st.Delivery != nil || st.DeliveryNote != NoDeliveryFeedback {
		t.Errorf("not configured: %+v %v", st, err)
	}
}

func TestMailState(t *testing.T) {
	t.Parallel()
	t0 := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	rcpt := func(states ...workflow.OutcomeEventType) []delivery.Recipient {
		var rs []delivery.Recipient
		for i, s := range states {
			rs = append(rs, delivery.Recipient{Address: string(rune('a'+i)) + "@example.org", State: s, At: t0})
		}
		return rs
	}
	deadLetter := func(name workflow.ErrorName) []delivery.Event {
		return []delivery.Event{{ID: "x", Type: workflow.EventDeadLettered, Time: t0, Reason: &workflow.EventReason{Error: string(name)}}}
	}
	for _, c := range []struct {
		name       string
		m          delivery.Mail
		want       workflow.OutcomeEventType
		suppressed bool
	}{
		{"nothing yet", delivery.Mail{}, "", false},
		{"accepted", delivery.Mail{State: workflow.EventAccepted}, workflow.EventAccepted, false},
		{"sent, all delivered", delivery.Mail{State: workflow.EventSent, Recipients: rcpt(workflow.EventDelivered, workflow.EventDelivered)}, workflow.EventDelivered, false},
		{"one still delayed", delivery.Mail{State: workflow.EventSent, Recipients: rcpt(workflow.EventDelivered, workflow.EventDelayed)}, workflow.EventDelayed, false},
		{"one bounced", delivery.Mail{State: workflow.EventSent, Recipients: rcpt(workflow.EventDelayed, workflow.EventBounced, workflow.EventDelivered)}, workflow.EventBounced, false},
		{"a complaint outweighs a bounce", delivery.Mail{State: workflow.EventSent, Recipients: rcpt(workflow.EventComplained, workflow.EventBounced)}, workflow.EventComplained, false},
		{"rejected", delivery.Mail{State: workflow.EventRejected}, workflow.EventRejected, false},
		{"dead-lettered", delivery.Mail{State: workflow.EventDeadLettered, History: deadLetter(workflow.Rejected)}, workflow.EventDeadLettered, false},
		{"dead-lettered, suppressed", delivery.Mail{State: workflow.EventDeadLettered, History: deadLetter(workflow.Suppressed)}, workflow.EventDeadLettered, true},
	} {
		if got, sup := MailState(c.m); got != c.want || sup != c.suppressed {
			t.Errorf("%s: %q %v, want %q %v", c.name, got, sup, c.want, c.suppressed)
		}
	}
}
