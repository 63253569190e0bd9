package sessim_test

import (
	"context"
	"encoding/json"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailflow/mailflow/clock"
	"github.com/mailflow/mailflow/feedback/sesevent"
	"github.com/mailflow/mailflow/local/sessim"
	"github.com/mailflow/mailflow/sender"
	"github.com/mailflow/mailflow/workflow"
)

// sink collects published events after a JSON round trip through
// sesevent.Parse, which proves they have the shape SES publishes.
type sink struct {
	t      *testing.T
	mu     sync.Mutex
	events []sesevent.Event
	more   chan struct{}
}

func newSink(t *testing.T) *sink { return &sink{t: t, more: make(chan struct{}, 100)} }

func (s *sink) publish(e sesevent.Event) {
	b, err := json.Marshal(e)
	if err != nil {
		s.t.Errorf("marshal: %v", err)
		return
	}
	parsed, err := sesevent.Parse(b)
	if err != nil {
		s.t.Errorf("published record does not parse: %v\n%s", err, b)
		return
	}
	s.mu.Lock()
	s.events = append(s.events, parsed)
	s.mu.Unlock()
	s.more <- struct{}{}
}

// wait returns the events once there are n of them.
func (s *sink) wait(n int) []sesevent.Event {
	s.t.Helper()
	deadline := time.After(5 * time.Second)
	for {
		s.mu.Lock()
		got := len(s.events)
		s.mu.Unlock()
		if got >= n {
			s.mu.Lock()
			defer s.mu.Unlock()
			return append([]sesevent.Event(nil), s.events...)
		}
		select {
		case <-s.more:
		case <-deadline:
			s.t.Fatalf("%d events published, want %d", got, n)
		}
	}
}

func (s *sink) count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.events)
}

var start = time.Date(2026, 3, 2, 10, 0, 0, 0, time.UTC)

func TestMailboxSimulatorEvents(t *testing.T) {
	t.Parallel()
	c := clock.NewVirtual(start)
	events := newSink(t)
	sim, _ := newSim(t, sessim.Config{Clock: c, Events: events.publish, EventDelay: 2 * time.Second})
	m := msg("success@simulator.amazonses.com", "Bounce <bounce@simulator.amazonses.com>", "ooto@simulator.amazonses.com")
	m.Cc = []string{"complaint@simulator.amazonses.com", "suppressionlist@simulator.amazonses.com"}
	m.Bcc = []string{"ada@example.org"}
	m.ConfigurationSet = "mailflow"
	m.Tags = []workflow.Tag{{Name: sesevent.MailIDTag, Value: sesevent.MailIDTagValue("order-1:receipt")}, {Name: "campaign", Value: "q1"}}
	id, err := sim.Send(context.Background(), m)
	if err != nil {
		t.Fatal(err)
	}
	send := events.wait(1)[0]
	wantDest := []string{"success@simulator.amazonses.com", "bounce@simulator.amazonses.com", "ooto@simulator.amazonses.com",
		"complaint@simulator.amazonses.com", "suppressionlist@simulator.amazonses.com", "ada@example.org"}
	if send.EventType != sesevent.TypeSend || send.Mail.MessageID != id || strings.Join(send.Mail.Destination, ",") != strings.Join(wantDest, ",") ||
		send.Mail.Timestamp != "2026-03-02T10:00:00.000Z" || send.Mail.Source != "sender@example.com" {
		t.Fatalf("send event %+v", send)
	}
	if got := send.Mail.Tags; got["campaign"][0] != "q1" || got["ses:configuration-set"][0] != "mailflow" || got["ses:from-domain"][0] != "example.com" {
		t.Fatalf("tags %v", got)
	}

	c.Advance(2*time.Second - time.Millisecond)
	if n := events.count(); n != 1 {
		t.Fatalf("%d events before the delay passed, want only Send", n)
	}
	c.Advance(time.Millisecond)
	all := events.wait(8)
	type outcome struct{ kind, addr string }
	var got []outcome
	for _, e := range all[1:] {
		if e.Mail.MessageID != id {
			t.Fatalf("event for another mail: %+v", e.Mail)
		}
		if mid, ok := sesevent.MailID(e); !ok || mid != "order-1:receipt" {
			t.Fatalf("MailID of %s event = %q, %v", e.EventType, mid, ok)
		}
		switch e.EventType {
		case sesevent.TypeDelivery:
			if e.Delivery.ProcessingTimeMillis != 2000 || e.Delivery.Timestamp != "2026-03-02T10:00:02.000Z" || e.Delivery.SMTPResponse == "" {
				t.Fatalf("delivery %+v", e.Delivery)
			}
			got = append(got, outcome{"Delivery", e.Delivery.Recipients[0]})
		case sesevent.TypeBounce:
			b := e.Bounce
			r := b.BouncedRecipients[0]
			if b.BounceType != sesevent.BouncePermanent || r.Action != "failed" || r.Status != "5.1.1" {
				t.Fatalf("bounce %+v", b)
			}
			if b.BounceSubType == "General" && r.DiagnosticCode != "smtp; 550 5.1.1 user unknown" {
				t.Fatalf("general bounce diagnostic %q", r.DiagnosticCode)
			}
			got = append(got, outcome{"Bounce/" + b.BounceSubType, r.EmailAddress})
		case sesevent.TypeComplaint:
			if e.Complaint.ComplaintFeedbackType != "abuse" {
				t.Fatalf("complaint %+v", e.Complaint)
			}
			got = append(got, outcome{"Complaint", e.Complaint.ComplainedRecipients[0].EmailAddress})
		default:
			t.Fatalf("unexpected %s event", e.EventType)
		}
	}
	want := []outcome{
		{"Delivery", "success@simulator.amazonses.com"},
		{"Bounce/General", "bounce@simulator.amazonses.com"},
		{"Delivery", "ooto@simulator.amazonses.com"},
		{"Delivery", "complaint@simulator.amazonses.com"},
		{"Complaint", "complaint@simulator.amazonses.com"},
		{"Bounce/OnAccountSuppressionList", "suppressionlist@simulator.amazonses.com"},
		{"Delivery", "ada@example.org"},
	}
	if len(got) != len(want) {
		t.Fatalf("outcomes %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("outcome %d = %v, want %v (all: %v)", i, got[i], want[i], got)
		}
	}
	if n := events.count(); n != 8 {
		t.Fatalf("%d events, want 8", n)
	}
}

func TestSimulatorAddressLabelsAndCase(t *testing.T) {
	t.Parallel()
	events := newSink(t)
	sim, _ := newSim(t, sessim.Config{Events: events.publish})
	if _, err := sim.Send(context.Background(), msg("Bounce+order-7@Simulator.AmazonSES.com", "nobody@simulator.amazonses.com")); err != nil {
		t.Fatal(err)
	}
	all := events.wait(3) // Send, then the outcomes at once: EventDelay is 0
	if b := all[1].Bounce; all[1].EventType != sesevent.TypeBounce || b.BouncedRecipients[0].EmailAddress != "Bounce+order-7@Simulator.AmazonSES.com" {
		t.Fatalf("labelled bounce address gave %+v", all[1])
	}
	if all[2].EventType != sesevent.TypeDelivery {
		t.Fatalf("an unknown simulator mailbox gave %s, want Delivery", all[2].EventType)
	}
	if _, ok := sesevent.MailID(all[0]); ok {
		t.Fatal("MailID found without the tag")
	}
}

func TestRefusedSendsPublishNothing(t *testing.T) {
	t.Parallel()
	events := newSink(t)
	sim, _ := newSim(t, sessim.Config{Events: events.publish})
	sim.Inject(workflow.Throttled)
	if _, err := sim.Send(context.Background(), msg("bounce@simulator.amazonses.com")); !sender.Refused(err) {
		t.Fatalf("injected throttle: %v", err)
	}
	if n := events.count(); n != 0 {
		t.Fatalf("%d events for a refused send", n)
	}
	if _, err := sessim.New(sim, sessim.Config{EventDelay: -time.Second}); err == nil || !strings.Contains(err.Error(), "EventDelay") {
		t.Fatalf("negative EventDelay: %v", err)
	}
}

// Outcomes still delayed at Close are dropped: the sink is not called once
// Close has returned, however far the clock moves.
func TestCloseDropsDelayedOutcomes(t *testing.T) {
	t.Parallel()
	c := clock.NewVirtual(start)
	events := newSink(t)
	sim, _ := newSim(t, sessim.Config{Clock: c, Events: events.publish, EventDelay: time.Second})
	if _, err := sim.Send(context.Background(), msg("a@example.org", "bounce@simulator.amazonses.com")); err != nil {
		t.Fatal(err)
	}
	if n := events.count(); n != 1 {
		t.Fatalf("%d events before the delay, want the Send event", n)
	}
	if err := sim.Close(); err != nil {
		t.Fatal(err)
	}
	c.Advance(time.Minute)
	time.Sleep(50 * time.Millisecond)
	if n := events.count(); n != 1 {
		t.Fatalf("%d events after Close, want only the Send event", n)
	}
	if st := sim.Stats(); st.DroppedOutcomes != 2 || st.Accepted != 1 {
		t.Fatalf("stats %+v", st)
	}
	if c.Pending() != 0 {
		t.Fatalf("%d timers left pending after Close", c.Pending())
	}
}
