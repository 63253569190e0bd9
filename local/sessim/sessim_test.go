package sessim_test

import (
	"context"
	"net/mail"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/mailflow/mailflow/clock"
	"github.com/mailflow/mailflow/local/outbox"
	"github.com/mailflow/mailflow/local/sessim"
	"github.com/mailflow/mailflow/sender"
	"github.com/mailflow/mailflow/sender/sendertest"
	"github.com/mailflow/mailflow/workflow"
)

func newSim(t *testing.T, cfg sessim.Config) (*sessim.Simulator, *outbox.Outbox) {
	t.Helper()
	box, err := outbox.New(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	sim, err := sessim.New(box, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return sim, box
}

// TestConformance runs the sender suite against the simulator delivering to
// an outbox, the local runtime's default.
func TestConformance(t *testing.T) {
	t.Parallel()
	boxes := map[sender.Sender]*outbox.Outbox{}
	sendertest.Run(t, sendertest.Harness{
		NewSender: func(t *testing.T) sender.Sender {
			sim, box := newSim(t, sessim.Config{})
			boxes[sim] = box
			return sim
		},
		Subject: func(t *testing.T, s sender.Sender, id string) (string, bool) {
			f, err := os.Open(boxes[s].Path(id))
			if err != nil {
				return "", false
			}
			defer f.Close()
			m, err := mail.ReadMessage(f)
			if err != nil {
				t.Fatal(err)
			}
			return m.Header.Get("Subject"), true
		},
		Fail:  func(t *testing.T, s sender.Sender, name workflow.ErrorName) { s.(*sessim.Simulator).Inject(name) },
		Fails: sender.Names,
	})
}

func msg(recipients ...string) *sender.Message {
	return &sender.Message{From: "sender@example.com", To: recipients, Raw: sendertest.Raw("x")}
}

func TestRateLimit(t *testing.T) {
	t.Parallel()
	c := clock.NewVirtual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	sim, _ := newSim(t, sessim.Config{MaxSendRate: 2, Clock: c})
	ctx := context.Background()
	for i := range 2 {
		if _, err := sim.Send(ctx, msg("a@example.org")); err != nil {
			t.Fatalf("send %d within the rate: %v", i, err)
		}
	}
	_, err := sim.Send(ctx, msg("a@example.org"))
	if workflow.NameOf(err) != workflow.Throttled {
		t.Fatalf("third send in the same instant = %v, want %s", err, workflow.Throttled)
	}
	c.Advance(500 * time.Millisecond) // one token back
	if _, err := sim.Send(ctx, msg("a@example.org")); err != nil {
		t.Fatalf("after refill: %v", err)
	}
	if _, err := sim.Send(ctx, msg("a@example.org", "b@example.org")); workflow.NameOf(err) != workflow.Throttled {
		t.Fatalf("two recipients count twice: %v", err)
	}
	c.Advance(time.Second)
	if _, err := sim.Send(ctx, msg("a@example.org", "b@example.org")); err != nil {
		t.Fatalf("two recipients after refill: %v", err)
	}
	if st := sim.Stats(); st.Accepted != 4 || st.Throttled != 2 {
		t.Fatalf("stats %+v", st)
	}
}

func TestDailyQuota(t *testing.T) {
	t.Parallel()
	c := clock.NewVirtual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	sim, _ := newSim(t, sessim.Config{Max24HourSend: 3, Clock: c})
	ctx := context.Background()
	if _, err := sim.Send(ctx, msg("a@example.org", "b@example.org")); err != nil {
		t.Fatal(err)
	}
	c.Advance(time.Hour)
	if _, err := sim.Send(ctx, msg("a@example.org", "b@example.org")); workflow.NameOf(err) != workflow.QuotaExhausted {
		t.Fatalf("over the quota: %v", err)
	}
	if q := sim.Quota(); q.SentLast24Hours != 2 || q.Max24HourSend != 3 {
		t.Fatalf("quota %+v", q)
	}
	c.Advance(23*time.Hour + time.Second)
	if _, err := sim.Send(ctx, msg("a@example.org", "b@example.org", "c@example.org")); err != nil {
		t.Fatalf("after the window slid: %v", err)
	}
}

func TestPauseAndVerification(t *testing.T) {
	t.Parallel()
	sim, _ := newSim(t, sessim.Config{VerifiedIdentities: []string{"example.com"}})
	ctx := context.Background()
	bad := msg("a@example.org")
	bad.From = "x@unverified.example"
	if _, err := sim.Send(ctx, bad); workflow.NameOf(err) != workflow.Rejected {
		t.Fatalf("unverified sender: %v", err)
	}
	sim.Pause(true)
	if _, err := sim.Send(ctx, msg("a@example.org")); workflow.NameOf(err) != workflow.SendingPaused {
		t.Fatalf("paused: %v", err)
	}
	sim.Pause(false)
	if _, err := sim.Send(ctx, msg("a@example.org")); err != nil {
		t.Fatal(err)
	}
	if q := sim.Quota(); q.Max24HourSend != -1 {
		t.Fatalf("unlimited quota reported as %v, want -1", q.Max24HourSend)
	}
}

// The mailbox simulator's addresses count against neither the rate nor the
// quota, as on SES.
func TestSimulatorAddressesNotCounted(t *testing.T) {
	t.Parallel()
	c := clock.NewVirtual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	sim, _ := newSim(t, sessim.Config{MaxSendRate: 1, Max24HourSend: 2, Clock: c})
	ctx := context.Background()
	for i := range 5 {
		if _, err := sim.Send(ctx, msg("success@simulator.amazonses.com", "Bounce <bounce+x@simulator.amazonses.com>")); err != nil {
			t.Fatalf("simulator send %d: %v", i, err)
		}
	}
	if q := sim.Quota(); q.SentLast24Hours != 0 {
		t.Fatalf("quota %+v: simulator addresses counted", q)
	}
	// A real recipient beside them counts once.
	if _, err := sim.Send(ctx, msg("a@example.org", "success@simulator.amazonses.com")); err != nil {
		t.Fatal(err)
	}
	if _, err := sim.Send(ctx, msg("b@example.org")); workflow.NameOf(err) != workflow.Throttled {
		t.Fatalf("the real recipient took the one token: %v", err)
	}
	if q := sim.Quota(); q.SentLast24Hours != 1 {
		t.Fatalf("quota %+v, want 1", q)
	}
}

// SES refuses a message tag whose name or value holds anything but
// A-Z a-z 0-9 _ and -; so does the simulator, before counting the send.
func TestTagsAreCheckedAsSESChecksThem(t *testing.T) {
	t.Parallel()
	sim, _ := newSim(t, sessim.Config{})
	m := msg("ok@example.org")
	m.Tags = []workflow.Tag{{Name: "mailflow-mail-id", Value: "order-1/receipt"}}
	_, err := sim.Send(context.Background(), m)
	if workflow.NameOf(err) != workflow.Rejected || !strings.Contains(err.Error(), "Invalid tag value <order-1/receipt>") || !sender.Refused(err) {
		t.Fatalf("a tag value with a / = %v", err)
	}
	m.Tags = []workflow.Tag{{Name: "mailflow-mail-id", Value: "order-1_sreceipt"}}
	if _, err := sim.Send(context.Background(), m); err != nil {
		t.Fatalf("an encoded tag value: %v", err)
	}
}
