package sessim_test

import (
	"bufio"
	"context"
	"net"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailflow/mailflow/clock"
	"github.com/mailflow/mailflow/feedback/sesevent"
	"github.com/mailflow/mailflow/local/sessim"
	"github.com/mailflow/mailflow/sender/smtpsend"
)

// smtpServer is a minimal SMTP server answering RCPT TO by address: what
// each test needs is a server that refuses (550) or defers (451) a
// recipient, which a mail catcher does not do. answers maps an address to
// the replies its RCPT TO gets, in turn (the last one repeats); any other
// address is accepted.
type smtpServer struct {
	mu        sync.Mutex
	answers   map[string][]string
	delivered []string // RCPT TO of every completed DATA
}

func startSMTP(t *testing.T, answers map[string][]string) (*smtpServer, string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &smtpServer{answers: answers}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Add(1)
	go func() {
		defer wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				srv.serve(c)
			}()
		}
	}()
	return srv, ln.Addr().String()
}

func (s *smtpServer) reply(addr string) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	list := s.answers[addr]
	if len(list) == 0 {
		return "250 2.1.5 ok"
	}
	r := list[0]
	if len(list) > 1 {
		s.answers[addr] = list[1:]
	}
	return r
}

func (s *smtpServer) serve(c net.Conn) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(c)
	say := func(line string) { c.Write([]byte(line + "\r\n")) }
	say("220 test ESMTP")
	var rcpts []string
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		cmd := strings.ToUpper(strings.TrimSpace(line))
		switch {
		case strings.HasPrefix(cmd, "EHLO"), strings.HasPrefix(cmd, "HELO"):
			say("250 test")
		case strings.HasPrefix(cmd, "MAIL FROM:"):
			say("250 2.1.0 ok")
		case strings.HasPrefix(cmd, "RCPT TO:"):
			addr := strings.Trim(strings.TrimSpace(line)[len("RCPT TO:"):], "<> ")
			ans := s.reply(addr)
			if strings.HasPrefix(ans, "250") {
				rcpts = append(rcpts, addr)
			}
			say(ans)
		case cmd == "DATA":
			say("354 go ahead")
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
			}
			s.mu.Lock()
			s.delivered = append(s.delivered, rcpts...)
			s.mu.Unlock()
			rcpts = nil
			say("250 2.0.0 queued")
		case cmd == "QUIT":
			say("221 bye")
			return
		default:
			say("250 ok")
		}
	}
}

func (s *smtpServer) deliveredTo() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.delivered...)
}

func relaySim(t *testing.T, addr string, cfg sessim.Config) *sessim.Simulator {
	t.Helper()
	relay, err := smtpsend.New(smtpsend.Config{Addr: addr, Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	cfg.Relay = true
	sim, err := sessim.New(relay, cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	return sim
}

// The server's answers decide the events; SES accepted the mail either way.
func TestRelayAnswersDecideOutcomes(t *testing.T) {
	t.Parallel()
	srv, addr := startSMTP(t, map[string][]string{
		"gone@example.org": {"550 5.1.1 no such user"},
	})
	events := newSink(t)
	sim := relaySim(t, addr, sessim.Config{Events: events.publish})
	id, err := sim.Send(context.Background(), msg("ada@example.org", "gone@example.org", "bounce@simulator.amazonses.com"))
	if err != nil || id == "" {
		t.Fatalf("SES must accept the mail: id %q, err %v", id, err)
	}
	got := events.wait(4)
	if got[0].EventType != sesevent.TypeSend || got[0].Mail.MessageID != id {
		t.Fatalf("first event %+v, want the Send event of %s", got[0], id)
	}
	d := got[1]
	if d.EventType != sesevent.TypeDelivery || d.Delivery.Recipients[0] != "ada@example.org" {
		t.Fatalf("2xx: %+v", d)
	}
	b := got[2]
	if b.EventType != sesevent.TypeBounce || b.Bounce.BounceType != sesevent.BouncePermanent || b.Bounce.BounceSubType != "General" {
		t.Fatalf("5xx: %+v", b.Bounce)
	}
	if r := b.Bounce.BouncedRecipients[0]; r.EmailAddress != "gone@example.org" || r.Status != "5.1.1" || r.DiagnosticCode != "smtp; 550 5.1.1 no such user" {
		t.Fatalf("5xx recipient %+v", r)
	}
	if s := got[3]; s.EventType != sesevent.TypeBounce || s.Bounce.BouncedRecipients[0].EmailAddress != "bounce@simulator.amazonses.com" {
		t.Fatalf("simulator address: %+v", s)
	}
	if to := srv.deliveredTo(); len(to) != 1 || to[0] != "ada@example.org" {
		t.Fatalf("server received mail for %v; the simulator's address is answered by SES, not relayed", to)
	}
}

// A 4xx is retried on the simulator's clock: one DeliveryDelay, then a
// Delivery when a retry passes, or a Transient bounce when none does.
func TestRelayDeferredRetries(t *testing.T) {
	t.Parallel()
	srv, addr := startSMTP(t, map[string][]string{
		"later@example.org": {"451 4.3.0 try again later", "451 4.3.0 try again later", "250 2.1.5 ok"},
		"never@example.org": {"452 4.2.2 mailbox full"},
	})
	c := clock.NewVirtual(start)
	events := newSink(t)
	sim := relaySim(t, addr, sessim.Config{Events: events.publish, Clock: c, RelayAttempts: 3, RelayBackoff: time.Minute})
	if _, err := sim.Send(context.Background(), msg("later@example.org")); err != nil {
		t.Fatal(err)
	}
	if _, err := sim.Send(context.Background(), msg("never@example.org")); err != nil {
		t.Fatal(err)
	}
	// Each recipient's Send, then its DeliveryDelay after its first try;
	// the first relay may answer before the second mail is sent, so the
	// two mails' events may interleave.
	got := events.wait(4)
	delays, sends := 0, 0
	for _, e := range got[:4] {
		if e.EventType == sesevent.TypeSend {
			sends++
			continue
		}
		if e.EventType != sesevent.TypeDeliveryDelay || delays >= sends {
			t.Fatalf("after the first 4xx: %+v (%d sends before it)", e, sends)
		}
		delays++
		r := e.DeliveryDelay.DelayedRecipients[0]
		if e.DeliveryDelay.DelayType != "RecipientServerError" || !strings.HasPrefix(r.DiagnosticCode, "smtp; 45") || r.Status[0] != '4' {
			t.Fatalf("delay %+v %+v", e.DeliveryDelay, r)
		}
		if want := timestamp(start.Add(3 * time.Minute)); e.DeliveryDelay.ExpirationTime != want {
			t.Fatalf("expirationTime %s, want %s (1 + 2 minutes of retries)", e.DeliveryDelay.ExpirationTime, want)
		}
	}
	// Nothing more until the backoff passes on the simulator's clock.
	time.Sleep(50 * time.Millisecond)
	if n := events.count(); n != 4 {
		t.Fatalf("%d events before the first retry", n)
	}
	advanceUntil(t, c, events, 6)
	got = events.wait(6)
	byRcpt := map[string]sesevent.Event{}
	for _, e := range got[4:] {
		switch {
		case e.Delivery != nil:
			byRcpt[e.Delivery.Recipients[0]] = e
		case e.Bounce != nil:
			byRcpt[e.Bounce.BouncedRecipients[0].EmailAddress] = e
		}
	}
	if e := byRcpt["later@example.org"]; e.EventType != sesevent.TypeDelivery {
		t.Fatalf("deferred twice, then accepted: %+v", e)
	}
	e := byRcpt["never@example.org"]
	if e.EventType != sesevent.TypeBounce || e.Bounce.BounceType != sesevent.BounceTransient ||
		e.Bounce.BouncedRecipients[0].DiagnosticCode != "smtp; 452 4.2.2 mailbox full" || e.Bounce.BouncedRecipients[0].Status != "4.2.2" {
		t.Fatalf("deferred on every try: %+v", e.Bounce)
	}
	if to := srv.deliveredTo(); len(to) != 1 || to[0] != "later@example.org" {
		t.Fatalf("delivered to %v", to)
	}
	if n := events.count(); n != 6 {
		t.Fatalf("%d events, want 6", n)
	}
}

// advanceUntil moves the virtual clock a minute at a time until n events
// are published.
func advanceUntil(t *testing.T, c *clock.Virtual, events *sink, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for events.count() < n {
		if time.Now().After(deadline) {
			t.Fatalf("%d events, want %d", events.count(), n)
		}
		if c.Pending() > 0 {
			c.Advance(time.Minute)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func timestamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

// A retry pending at Close is dropped, and Close returns with no delivery
// left running. Both recipients go in one transaction: other@ gets the
// mail at once, later@ is deferred and its retry is what Close drops.
func TestRelayCloseDropsPendingRetry(t *testing.T) {
	t.Parallel()
	srv, addr := startSMTP(t, map[string][]string{"later@example.org": {"451 4.3.0 later", "250 ok"}})
	c := clock.NewVirtual(start)
	events := newSink(t)
	sim := relaySim(t, addr, sessim.Config{Events: events.publish, Clock: c})
	if _, err := sim.Send(context.Background(), msg("later@example.org", "other@example.org")); err != nil {
		t.Fatal(err)
	}
	events.wait(3) // Send, DeliveryDelay of later@, Delivery of other@
	sim.Close()
	c.Advance(time.Hour)
	time.Sleep(50 * time.Millisecond)
	if n := events.count(); n != 3 {
		t.Fatalf("%d events after Close, want 3", n)
	}
	if st := sim.Stats(); st.DroppedOutcomes != 1 {
		t.Fatalf("stats %+v, want the deferred recipient's outcome dropped", st)
	}
	if to := srv.deliveredTo(); len(to) != 1 || to[0] != "other@example.org" {
		t.Fatalf("delivered to %v, want only other@ (in the first transaction)", to)
	}
	if _, err := sim.Send(context.Background(), msg("a@example.org")); err == nil {
		t.Fatal("send after Close accepted")
	}
}
