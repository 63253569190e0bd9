package delivery_test

import (
	"fmt"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mailflow/mailflow/delivery"
	"github.com/mailflow/mailflow/workflow"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

func at(sec int) time.Time { return t0.Add(time.Duration(sec) * time.Second) }

func ev(id string, typ workflow.OutcomeEventType, rcpt string, sec int) delivery.Event {
	e := delivery.Event{ID: id, Type: typ, Recipient: rcpt, Time: at(sec)}
	switch typ {
	case workflow.EventBounced:
		e.Bounce = &workflow.EventBounce{Type: "Permanent", SubType: "General"}
	case workflow.EventComplained:
		e.Complaint = &workflow.EventComplaint{FeedbackType: "abuse"}
	}
	return e
}

func params(events ...delivery.Event) delivery.ApplyParams {
	return delivery.ApplyParams{MailID: "m1", Events: events, Now: at(1000), ExpiresAt: at(100000)}
}

// mergeAll applies each batch in turn, as an adapter would, and returns
// the final record and every event reported new.
func mergeAll(batches ...delivery.ApplyParams) (delivery.Mail, []delivery.Event) {
	var cur *delivery.Mail
	var applied []delivery.Event
	for _, b := range batches {
		next, a := delivery.Merge(cur, b)
		next.Version++
		cur = &next
		applied = append(applied, a...)
	}
	return *cur, applied
}

func ids(es []delivery.Event) string {
	s := make([]string, len(es))
	for i, e := range es {
		s[i] = e.ID
	}
	return strings.Join(s, ",")
}

func TestMergeRecipientState(t *testing.T) {
	const a = "a@example.com"
	for _, tc := range []struct {
		name    string
		batches []delivery.ApplyParams
		state   workflow.OutcomeEventType
		at      time.Time
		applied string
	}{
		{"delivered after bounce by time", []delivery.ApplyParams{
			params(ev("b", workflow.EventBounced, a, 1)), params(ev("d", workflow.EventDelivered, a, 2))},
			workflow.EventDelivered, at(2), "b,d"},
		{"bounce earlier arriving later loses", []delivery.ApplyParams{
			params(ev("d", workflow.EventDelivered, a, 2)), params(ev("b", workflow.EventBounced, a, 1))},
			workflow.EventDelivered, at(2), "d,b"},
		{"complaint after delivery", []delivery.ApplyParams{
			params(ev("d", workflow.EventDelivered, a, 2)), params(ev("c", workflow.EventComplained, a, 3))},
			workflow.EventComplained, at(3), "d,c"},
		{"complaint arriving before the delivery it follows", []delivery.ApplyParams{
			params(ev("c", workflow.EventComplained, a, 3)), params(ev("d", workflow.EventDelivered, a, 2))},
			workflow.EventComplained, at(3), "c,d"},
		{"same time: delivered outranks delayed", []delivery.ApplyParams{
			params(ev("d", workflow.EventDelivered, a, 2)), params(ev("w", workflow.EventDelayed, a, 2))},
			workflow.EventDelivered, at(2), "d,w"},
		{"same time: bounce outranks delivered, either order", []delivery.ApplyParams{
			params(ev("b", workflow.EventBounced, a, 2), ev("d", workflow.EventDelivered, a, 2))},
			workflow.EventBounced, at(2), "b,d"},
		{"same time: complaint outranks bounce", []delivery.ApplyParams{
			params(ev("c", workflow.EventComplained, a, 2)), params(ev("b", workflow.EventBounced, a, 2))},
			workflow.EventComplained, at(2), "c,b"},
		{"delay then delivery", []delivery.ApplyParams{
			params(ev("w", workflow.EventDelayed, a, 1)), params(ev("d", workflow.EventDelivered, a, 5))},
			workflow.EventDelivered, at(5), "w,d"},
		{"duplicate changes nothing", []delivery.ApplyParams{
			params(ev("d", workflow.EventDelivered, a, 2)),
			params(delivery.Event{ID: "d", Type: workflow.EventBounced, Recipient: a, Time: at(9), Bounce: &workflow.EventBounce{}})},
			workflow.EventDelivered, at(2), "d"},
		{"duplicate inside one batch", []delivery.ApplyParams{
			params(ev("d", workflow.EventDelivered, a, 2), ev("d", workflow.EventBounced, a, 3))},
			workflow.EventDelivered, at(2), "d"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, applied := mergeAll(tc.batches...)
			r, ok := m.Recipient(a)
			if !ok {
				t.Fatalf("no state for %s in %+v", a, m)
			}
			if r.State != tc.state || !r.At.Equal(tc.at) {
				t.Errorf("state %s at %v, want %s at %v", r.State, r.At, tc.state, tc.at)
			}
			if got := ids(applied); got != tc.applied {
				t.Errorf("applied %s, want %s", got, tc.applied)
			}
			if (r.State == workflow.EventBounced) != (r.Bounce != nil) || (r.State == workflow.EventComplained) != (r.Complaint != nil) {
				t.Errorf("details do not follow the state: %+v", r)
			}
			if m.State != "" {
				t.Errorf("whole-mail state %q set by per-recipient events", m.State)
			}
		})
	}
}

func TestMergeRecipientsSortedAndSeparate(t *testing.T) {
	m, _ := mergeAll(params(
		ev("1", workflow.EventDelivered, "c@example.com", 1),
		ev("2", workflow.EventBounced, "a@example.com", 2),
		ev("3", workflow.EventDelayed, "b@example.com", 3),
	))
	var got []string
	for _, r := range m.Recipients {
		got = append(got, r.Address+"="+string(r.State))
	}
	want := []string{"a@example.com=bounced", "b@example.com=delayed", "c@example.com=delivered"}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("recipients %v, want %v", got, want)
	}
}

func TestMergeWholeMailState(t *testing.T) {
	reason := &workflow.EventReason{Error: string(workflow.Suppressed)}
	whole := func(id string, typ workflow.OutcomeEventType, sec int) delivery.Event {
		e := ev(id, typ, "", sec)
		if typ.HasReason() {
			e.Reason = reason
		}
		return e
	}
	for _, tc := range []struct {
		name    string
		batches []delivery.ApplyParams
		state   workflow.OutcomeEventType
		at      time.Time
	}{
		{"accepted then sent", []delivery.ApplyParams{
			params(whole("a", workflow.EventAccepted, 1)), params(whole("s", workflow.EventSent, 2))},
			workflow.EventSent, at(2)},
		{"sent arriving before accepted", []delivery.ApplyParams{
			params(whole("s", workflow.EventSent, 2)), params(whole("a", workflow.EventAccepted, 1))},
			workflow.EventSent, at(2)},
		{"rejected after sent", []delivery.ApplyParams{
			params(whole("s", workflow.EventSent, 2), whole("r", workflow.EventRejected, 3))},
			workflow.EventRejected, at(3)},
		{"same time: sent outranks accepted", []delivery.ApplyParams{
			params(whole("s", workflow.EventSent, 2)), params(whole("a", workflow.EventAccepted, 2))},
			workflow.EventSent, at(2)},
		{"same time: dead-lettered outranks accepted", []delivery.ApplyParams{
			params(whole("a", workflow.EventAccepted, 2)), params(whole("x", workflow.EventDeadLettered, 2))},
			workflow.EventDeadLettered, at(2)},
		{"same time: rendering-failed outranks sent", []delivery.ApplyParams{
			params(whole("f", workflow.EventRenderingFailed, 2), whole("s", workflow.EventSent, 2))},
			workflow.EventRenderingFailed, at(2)},
		{"recipient events leave it alone", []delivery.ApplyParams{
			params(whole("s", workflow.EventSent, 2)), params(ev("d", workflow.EventDelivered, "a@example.com", 9))},
			workflow.EventSent, at(2)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m, _ := mergeAll(tc.batches...)
			if m.State != tc.state || !m.StateAt.Equal(tc.at) {
				t.Errorf("state %s at %v, want %s at %v", m.State, m.StateAt, tc.state, tc.at)
			}
		})
	}
}

func TestMergeSESMessageIDFirstKept(t *testing.T) {
	a := ev("s", workflow.EventSent, "", 1)
	a.SESMessageID = "ses-1"
	b := ev("d", workflow.EventDelivered, "a@example.com", 2)
	b.SESMessageID = "ses-2"
	m, _ := mergeAll(params(ev("x", workflow.EventAccepted, "", 0)), params(a), params(b))
	if m.SESMessageID != "ses-1" {
		t.Errorf("SESMessageID %q, want ses-1", m.SESMessageID)
	}
}

func TestMergeHistoryBounded(t *testing.T) {
	const a = "a@example.com"
	var batches []delivery.ApplyParams
	// Delays at 1..40 s, given newest first so trimming must pick by time.
	for sec := 40; sec >= 1; sec-- {
		batches = append(batches, params(ev(fmt.Sprintf("e%02d", sec), workflow.EventDelayed, a, sec)))
	}
	m, applied := mergeAll(batches...)
	if len(m.History) != delivery.MaxHistory {
		t.Fatalf("history of %d, want %d", len(m.History), delivery.MaxHistory)
	}
	first := 40 - delivery.MaxHistory + 1
	for i, e := range m.History {
		if want := fmt.Sprintf("e%02d", first+i); e.ID != want {
			t.Fatalf("history[%d] = %s, want %s (oldest first, the latest kept): %s", i, e.ID, want, ids(m.History))
		}
	}
	if len(applied) != delivery.MaxHistory {
		t.Errorf("%d reported new, want %d: those older than all kept are dropped, not new", len(applied), delivery.MaxHistory)
	}
	if r, _ := m.Recipient(a); !r.At.Equal(at(40)) {
		t.Errorf("recipient at %v, want %v", r.At, at(40))
	}

	// Redelivering any event once the history is full reports nothing new,
	// including one at the oldest kept time that sorts before it by ID.
	oldest := m.History[0]
	for _, e := range []delivery.Event{
		ev("e01", workflow.EventDelayed, a, 1),
		ev("a-tie", workflow.EventDelayed, a, int(oldest.Time.Sub(t0)/time.Second)),
	} {
		once, got1 := delivery.Merge(&m, params(e))
		_, got2 := delivery.Merge(&once, params(e))
		if len(got2) != 0 {
			t.Errorf("%s reported new again on redelivery (first: %s)", e.ID, ids(got1))
		}
	}

	// One batch longer than MaxHistory keeps the latest too.
	var many []delivery.Event
	for sec := 1; sec <= 50; sec++ {
		many = append(many, ev(fmt.Sprintf("b%02d", sec), workflow.EventDelayed, a, sec))
	}
	m2, _ := mergeAll(params(many...))
	if len(m2.History) != delivery.MaxHistory || m2.History[0].ID != "b19" || m2.History[31].ID != "b50" {
		t.Errorf("history after one long batch: %s", ids(m2.History))
	}
}

func TestMergeExpiry(t *testing.T) {
	const a = "a@example.com"
	old := delivery.ApplyParams{MailID: "m1", Now: at(0), ExpiresAt: at(100),
		Events: []delivery.Event{ev("d", workflow.EventDelivered, a, 1), ev("s", workflow.EventSent, "", 0)}}
	cur, _ := mergeAll(old)

	t.Run("expired record starts afresh", func(t *testing.T) {
		p := delivery.ApplyParams{MailID: "m1", Now: at(100), ExpiresAt: at(200),
			Events: []delivery.Event{ev("d", workflow.EventDelivered, a, 1)}}
		next, applied := delivery.Merge(&cur, p)
		if len(applied) != 1 || len(next.History) != 1 || next.State != "" {
			t.Errorf("expired record not fresh: applied %s, %+v", ids(applied), next)
		}
		if next.Version != cur.Version || !next.ExpiresAt.Equal(at(200)) {
			t.Errorf("version %d (want %d kept for the conditional write), expires %v", next.Version, cur.Version, next.ExpiresAt)
		}
	})
	t.Run("live record just before expiry", func(t *testing.T) {
		p := delivery.ApplyParams{MailID: "m1", Now: at(100).Add(-time.Millisecond), ExpiresAt: at(50000),
			Events: []delivery.Event{ev("d", workflow.EventDelivered, a, 1)}}
		next, applied := delivery.Merge(&cur, p)
		if len(applied) != 0 || len(next.History) != 2 {
			t.Errorf("live record treated as fresh: applied %s", ids(applied))
		}
		if !next.ExpiresAt.Equal(at(50000)) {
			t.Errorf("ExpiresAt %v, want extended to %v", next.ExpiresAt, at(50000))
		}
	})
	t.Run("an earlier ExpiresAt keeps the later one", func(t *testing.T) {
		p := delivery.ApplyParams{MailID: "m1", Now: at(10), ExpiresAt: at(50),
			Events: []delivery.Event{ev("w", workflow.EventDelayed, a, 0)}}
		next, _ := delivery.Merge(&cur, p)
		if !next.ExpiresAt.Equal(at(100)) {
			t.Errorf("ExpiresAt %v, want %v kept", next.ExpiresAt, at(100))
		}
	})
	t.Run("Merge does not change cur", func(t *testing.T) {
		before := fmt.Sprintf("%+v", cur)
		delivery.Merge(&cur, params(ev("x", workflow.EventComplained, "z@example.com", 5), ev("y", workflow.EventBounced, a, 0)))
		if after := fmt.Sprintf("%+v", cur); after != before {
			t.Errorf("cur changed:\n%s\n%s", before, after)
		}
	})
}

func TestApplyParamsValidate(t *testing.T) {
	good := delivery.ApplyParams{MailID: "m1", Now: at(0), ExpiresAt: at(1),
		Events: []delivery.Event{ev("d", workflow.EventDelivered, "a@example.com", 0)}}
	if err := good.Validate(); err != nil {
		t.Fatalf("valid params refused: %v", err)
	}
	for _, tc := range []struct {
		name string
		edit func(*delivery.ApplyParams)
		want string
	}{
		{"no mail id", func(p *delivery.ApplyParams) { p.MailID = "" }, "MailID is empty"},
		{"no now", func(p *delivery.ApplyParams) { p.Now = time.Time{} }, "ExpiresAt is not after Now"},
		{"expires at now", func(p *delivery.ApplyParams) { p.ExpiresAt = p.Now }, "ExpiresAt is not after Now"},
		{"event without id", func(p *delivery.ApplyParams) { p.Events[0].ID = "" }, "event 0: ID is empty"},
		{"event without time", func(p *delivery.ApplyParams) { p.Events[0].Time = time.Time{} }, "zero time"},
		{"unknown type", func(p *delivery.ApplyParams) { p.Events[0].Type = "opened" }, `"opened" is not an outcome event type`},
		{"recipient event without recipient", func(p *delivery.ApplyParams) { p.Events[0].Recipient = "" }, "names no recipient"},
		{"whole-mail event with recipient", func(p *delivery.ApplyParams) { p.Events[0].Type = workflow.EventSent }, `not "a@example.com"`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p := good
			p.Events = append([]delivery.Event(nil), good.Events...)
			tc.edit(&p)
			err := p.Validate()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("error %v, want one containing %q", err, tc.want)
			}
		})
	}
}
