package sessim

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"slices"
	"strings"
	"time"

	"net/textproto"

	"github.com/mailflow/mailflow/feedback/sesevent"
	"github.com/mailflow/mailflow/sender"
	"github.com/mailflow/mailflow/workflow"
)

// accept answers a relayed send as SES answers SendEmail: the mail is
// taken, its Send event published and its delivery left to the
// background.
func (s *Simulator) accept(m *sender.Message, sentAt time.Time) (string, error) {
	id := messageID(sentAt)
	relayed := cloneMessage(m)
	relayed.Raw = withMessageID(relayed.Raw, id)
	base := s.mailObject(m, id, sentAt)
	// The outcomes follow the Send event, never precede it.
	sendPublished := make(chan struct{})
	if !s.background(func() {
		<-sendPublished
		s.relay(relayed, base, sentAt)
	}) {
		// Closed between admission and now: nothing was taken.
		s.refund(m)
		return "", sender.NotAccepted(workflow.Errorf(workflow.Transient, "InternalFailure: %s", TextTransient))
	}
	defer close(sendPublished)
	s.mu.Lock()
	s.stats.Accepted++
	s.mu.Unlock()
	if s.cfg.Events != nil {
		s.cfg.Events(sesevent.Event{EventType: sesevent.TypeSend, Mail: cloneMail(base), Send: &sesevent.Send{}})
	}
	return id, nil
}

// relay delivers to each recipient in turn, publishing what becomes of it.
func (s *Simulator) relay(m *sender.Message, base sesevent.Mail, sentAt time.Time) {
	if s.cfg.EventDelay > 0 && s.cfg.Clock.Sleep(s.done, s.cfg.EventDelay) != nil {
		s.dropped(len(base.Destination))
		return
	}
	seq := 0
	publish := func(e sesevent.Event) {
		if s.cfg.Events == nil {
			return
		}
		seq++
		e.Mail = cloneMail(base)
		if e.Bounce != nil {
			e.Bounce.FeedbackID = feedbackID(base.MessageID, seq)
		}
		if e.Complaint != nil {
			e.Complaint.FeedbackID = feedbackID(base.MessageID, seq)
		}
		s.cfg.Events(e)
	}
	// The relayed recipients go in one transaction, as the mail is handed
	// to the server without the simulator; the simulator's own addresses
	// get their simulated outcome, after the first answer.
	var relayed, simulated []string
	for _, r := range slices.Concat(m.To, m.Cc, m.Bcc) {
		if simulatorKind(bareAddress(r)) != "" {
			simulated = append(simulated, r)
		} else {
			relayed = append(relayed, r)
		}
	}
	answered := func() {
		for _, r := range simulated {
			for _, e := range s.outcome(bareAddress(r), s.cfg.Clock.Now(), sentAt) {
				publish(e)
			}
		}
		simulated = nil
	}
	if len(relayed) == 0 {
		answered()
		return
	}
	if !s.deliver(m, relayed, sentAt, publish, answered) {
		s.dropped(len(simulated)) // still unanswered if Close came first
	}
}

// eachSender relays a message in one transaction and reports the
// recipients the server refused (smtpsend.Sender does).
type eachSender interface {
	SendEach(ctx context.Context, m *sender.Message) (string, map[string]error, error)
}

// send relays m to recipients (as m spells them) and returns each one's
// answer: nil when it got the mail.
func (s *Simulator) send(m *sender.Message, recipients []string) map[string]error {
	one := *m
	// Only the envelope changes: the headers are in the raw message.
	one.To, one.Cc, one.Bcc = recipients, nil, nil
	answers := make(map[string]error, len(recipients))
	var refused map[string]error
	var err error
	if es, ok := s.next.(eachSender); ok {
		_, refused, err = es.SendEach(s.done, &one)
	} else {
		_, err = s.next.Send(s.done, &one)
	}
	for _, r := range recipients {
		answers[r] = err
		if err == nil {
			answers[r] = refused[r]
		}
	}
	return answers
}

// deliver tries the recipients until each one's server answered for good
// or the tries run out, publishing what becomes of each; answered runs
// after the first answer. false means Close ended it first, and the
// recipients still waiting are counted as dropped.
func (s *Simulator) deliver(m *sender.Message, recipients []string, sentAt time.Time, publish func(sesevent.Event), answered func()) bool {
	firstTry := s.cfg.Clock.Now()
	wait := s.cfg.RelayBackoff
	pending := recipients
	for attempt := 1; ; attempt++ {
		answers := s.send(m, pending)
		if s.done.Err() != nil {
			s.dropped(len(pending))
			return false
		}
		now := s.cfg.Clock.Now()
		ts := timestamp(now)
		var retry []string
		for _, r := range pending {
			addr := bareAddress(r)
			err := answers[r]
			if err == nil {
				publish(sesevent.Event{EventType: sesevent.TypeDelivery, Delivery: &sesevent.Delivery{
					Timestamp: ts, ProcessingTimeMillis: now.Sub(sentAt).Milliseconds(),
					Recipients: []string{addr}, SMTPResponse: smtpDelivered, ReportingMTA: s.mta(),
				}})
				continue
			}
			a := answerOf(err)
			failed := sesevent.BouncedRecipient{EmailAddress: addr, Action: "failed", Status: a.status, DiagnosticCode: a.diagnostic}
			bounce := func(bounceType string) {
				publish(sesevent.Event{EventType: sesevent.TypeBounce, Bounce: &sesevent.Bounce{
					BounceType: bounceType, BounceSubType: "General", BouncedRecipients: []sesevent.BouncedRecipient{failed},
					Timestamp: ts, ReportingMTA: "dsn; " + s.mta(),
				}})
			}
			switch {
			case a.permanent:
				bounce(sesevent.BouncePermanent)
			case attempt >= s.cfg.RelayAttempts:
				bounce(sesevent.BounceTransient)
			default:
				if attempt == 1 {
					delayed := failed
					delayed.Action = "delayed"
					publish(sesevent.Event{EventType: sesevent.TypeDeliveryDelay, DeliveryDelay: &sesevent.DeliveryDelay{
						Timestamp: ts, DelayType: a.delayType, ExpirationTime: timestamp(firstTry.Add(s.retryWindow())),
						DelayedRecipients: []sesevent.BouncedRecipient{delayed}, ReportingMTA: s.mta(),
					}})
				}
				retry = append(retry, r)
			}
		}
		if attempt == 1 {
			answered()
		}
		if len(retry) == 0 {
			return true
		}
		pending = retry
		if s.cfg.Clock.Sleep(s.done, wait) != nil {
			s.dropped(len(pending))
			return false
		}
		wait *= 2
	}
}

// retryWindow is how long after the first try the last one is made.
func (s *Simulator) retryWindow() time.Duration {
	var d time.Duration
	for i := range s.cfg.RelayAttempts - 1 {
		d += s.cfg.RelayBackoff << i
	}
	return d
}

// answer is what a failed delivery means for the events.
type answer struct {
	permanent  bool
	status     string // the enhanced status code, e.g. 5.1.1
	diagnostic string // "smtp; 550 5.1.1 user unknown"
	delayType  string // DeliveryDelay's delayType
}

var enhancedStatus = regexp.MustCompile(`^([245]\.[0-9]{1,3}\.[0-9]{1,3})\b`)

// answerOf reads the server's reply from a delivery error: a 5xx is
// permanent, a 4xx is not; an error without a reply is a failed
// connection, unless the message itself was refused before any was sent.
func answerOf(err error) answer {
	var te *textproto.Error
	if errors.As(err, &te) {
		text := strings.ReplaceAll(te.Msg, "\n", " ")
		a := answer{permanent: te.Code >= 500, diagnostic: fmt.Sprintf("smtp; %d %s", te.Code, text), delayType: "RecipientServerError"}
		if m := enhancedStatus.FindStringSubmatch(text); m != nil {
			a.status = m[1]
		} else {
			a.status = fmt.Sprintf("%d.0.0", te.Code/100)
		}
		return a
	}
	if n := workflow.NameOf(err); n == workflow.InvalidMessage || n == workflow.Rejected {
		return answer{permanent: true, status: "5.0.0", diagnostic: err.Error()}
	}
	return answer{status: "4.4.1", diagnostic: err.Error(), delayType: "TransientCommunicationFailure"}
}

// messageID is an id in the shape of SES's: the time in hex, then random.
func messageID(at time.Time) string {
	var b [16]byte
	rand.Read(b[:])
	h := hex.EncodeToString(b[:])
	return fmt.Sprintf("%016x-%s-%s-%s-%s-%s-000000", at.UnixMilli(), h[:8], h[8:12], h[12:16], h[16:20], h[20:])
}

// withMessageID gives raw the Message-ID SES gives a mail that has none.
func withMessageID(raw []byte, id string) []byte {
	if msg, err := mail.ReadMessage(bytes.NewReader(raw)); err == nil && strings.TrimSpace(msg.Header.Get("Message-Id")) != "" {
		return raw
	}
	return append([]byte("Message-ID: <"+id+"@email.amazonses.com>\r\n"), raw...)
}

// cloneMessage copies what the background delivery reads, since the caller
// may reuse the message once Send returns.
func cloneMessage(m *sender.Message) *sender.Message {
	c := *m
	c.To, c.Cc, c.Bcc = slices.Clone(m.To), slices.Clone(m.Cc), slices.Clone(m.Bcc)
	c.Raw = slices.Clone(m.Raw)
	c.Tags = slices.Clone(m.Tags)
	return &c
}
