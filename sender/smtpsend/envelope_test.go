package smtpsend_test

import (
	"bufio"
	"context"
	"net"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/mailflow/mailflow/sender"
	"github.com/mailflow/mailflow/sender/sendertest"
	"github.com/mailflow/mailflow/sender/smtpsend"
	"github.com/mailflow/mailflow/workflow"
)

// envelopeRecorder is an SMTP server that accepts every mail and records
// the MAIL and RCPT commands exactly as they arrive.
type envelopeRecorder struct {
	addr string
	mu   sync.Mutex
	cmds []string
}

func startRecorder(t *testing.T) *envelopeRecorder {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	r := &envelopeRecorder{addr: l.Addr().String()}
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			go r.serve(c)
		}
	}()
	return r
}

func (r *envelopeRecorder) serve(c net.Conn) {
	defer c.Close()
	in := bufio.NewReader(c)
	reply := func(s string) { c.Write([]byte(s + "\r\n")) }
	reply("220 recorder")
	for {
		line, err := in.ReadString('\n')
		if err != nil {
			return
		}
		line = strings.TrimRight(line, "\r\n")
		verb := strings.ToUpper(strings.SplitN(line, " ", 2)[0])
		switch {
		case verb == "MAIL" || verb == "RCPT":
			r.mu.Lock()
			r.cmds = append(r.cmds, line)
			r.mu.Unlock()
			reply("250 ok")
		case verb == "DATA":
			reply("354 go on")
			for {
				l, err := in.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
			}
			reply("250 queued")
		case verb == "QUIT":
			reply("221 bye")
			return
		default:
			reply("250 recorder")
		}
	}
}

func (r *envelopeRecorder) commands() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.cmds)
}

// TestEnvelopeKeepsTheMailbox: a quoted local part stays quoted on the
// envelope, so "victim@evil"@example.org is that mailbox at example.org and
// never the address victim@evil; IDN domains go as A-labels; display names
// stay out of the envelope.
func TestEnvelopeKeepsTheMailbox(t *testing.T) {
	t.Parallel()
	rec := startRecorder(t)
	s, err := smtpsend.New(smtpsend.Config{Addr: rec.addr})
	if err != nil {
		t.Fatal(err)
	}
	_, err = s.Send(context.Background(), &sender.Message{
		From: "Shop <billing@example.com>",
		To:   []string{`"victim@evil"@example.org`, "Bü <b@Bücher.example>"},
		Bcc:  []string{`"a\"b c"@example.net`},
		Raw:  sendertest.Raw("envelope"),
	})
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"MAIL FROM:<billing@example.com>",
		`RCPT TO:<"victim@evil"@example.org>`,
		"RCPT TO:<b@xn--bcher-kva.example>",
		`RCPT TO:<"a\"b c"@example.net>`,
	}
	got := rec.commands()
	for i := range got {
		got[i], _, _ = strings.Cut(got[i], " BODY=") // net/smtp may add ESMTP parameters
	}
	if !slices.Equal(got, want) {
		t.Fatalf("envelope\n got %q\nwant %q", got, want)
	}
}

// TestEnvelopeRefusesWhatSMTPCannotCarry: a non-ASCII local part and a
// domain that fails IDNA are refused before any connection.
func TestEnvelopeRefusesWhatSMTPCannotCarry(t *testing.T) {
	t.Parallel()
	rec := startRecorder(t)
	s, err := smtpsend.New(smtpsend.Config{Addr: rec.addr})
	if err != nil {
		t.Fatal(err)
	}
	for _, rcpt := range []string{"jösé@example.org", "x@xn--a.example", strings.Repeat("a", 1000) + "@example.org"} {
		_, err := s.Send(context.Background(), &sender.Message{From: "a@example.com", To: []string{rcpt}, Raw: sendertest.Raw("x")})
		if workflow.NameOf(err) != workflow.InvalidMessage || !sender.Refused(err) {
			t.Errorf("recipient %.40q: %v, want %s", rcpt, err, workflow.InvalidMessage)
		}
	}
	if cmds := rec.commands(); len(cmds) != 0 {
		t.Fatalf("the server saw %q", cmds)
	}
}
