package sessim

import (
	"fmt"
	"maps"
	"net/mail"
	"slices"
	"strings"
	"time"

	"github.com/mailflow/mailflow/feedback/sesevent"
	"github.com/mailflow/mailflow/sender"
)

// SimulatorDomain is the domain of SES's mailbox simulator.
const SimulatorDomain = "simulator.amazonses.com"

// What each mailbox simulator address does, following SES's "Using the
// mailbox simulator": success is delivered; bounce is refused by the
// receiving server with a hard bounce (SMTP 550 5.1.1); ooto is delivered
// and the receiver answers with an out-of-office reply; complaint is
// delivered and the recipient marks it as spam; suppressionlist bounces as
// an address on the suppression list does, without SES trying it.
const (
	SimSuccess         = "success"
	SimBounce          = "bounce"
	SimOutOfOffice     = "ooto"
	SimComplaint       = "complaint"
	SimSuppressionList = "suppressionlist"
)

// The texts the simulated events carry, worded as SES words them.
const (
	smtpDelivered      = "250 2.6.0 Message received"
	diagnosticUnknown  = "smtp; 550 5.1.1 user unknown"
	diagnosticSuppress = "Amazon SES did not send the message to this address because it is on the suppression list for your account. For more information about removing addresses from the suppression list, see the Amazon SES Developer Guide at https://docs.aws.amazon.com/ses/latest/dg/sending-email-suppression-list.html"
	complaintAgent     = "Amazon SES Mailbox Simulator"
)

// simulatorKind returns which mailbox simulator address addr is (a
// "+label" is allowed, as SES allows it), or "" for any other address.
func simulatorKind(addr string) string {
	at := strings.LastIndexByte(addr, '@')
	if at < 0 || !strings.EqualFold(addr[at+1:], SimulatorDomain) {
		return ""
	}
	local, _, _ := strings.Cut(strings.ToLower(addr[:at]), "+")
	switch local {
	case SimSuccess, SimBounce, SimOutOfOffice, SimComplaint, SimSuppressionList:
		return local
	}
	return ""
}

// bareAddress is the address of an RFC 5322 recipient, without a display name.
func bareAddress(r string) string {
	if a, err := mail.ParseAddress(r); err == nil {
		return a.Address
	}
	return r
}

// timestamp is SES's event time format: UTC with milliseconds.
func timestamp(t time.Time) string { return t.UTC().Format("2006-01-02T15:04:05.000Z07:00") }

// mailObject is the "mail" object of every event of one send, taken when
// the send is accepted (the caller may reuse the message afterwards).
func (s *Simulator) mailObject(m *sender.Message, id string, sentAt time.Time) sesevent.Mail {
	var dest []string
	for _, list := range [][]string{m.To, m.Cc, m.Bcc} {
		for _, r := range list {
			dest = append(dest, bareAddress(r))
		}
	}
	tags := map[string][]string{}
	for _, t := range m.Tags {
		tags[t.Name] = append(tags[t.Name], t.Value)
	}
	// SES adds its own tags to every event published through a configuration set.
	if m.ConfigurationSet != "" {
		tags["ses:configuration-set"] = []string{m.ConfigurationSet}
	}
	from := bareAddress(m.From)
	tags["ses:from-domain"] = []string{from[strings.LastIndexByte(from, '@')+1:]}
	return sesevent.Mail{
		Timestamp:   timestamp(sentAt),
		MessageID:   id,
		Source:      m.From,
		Destination: dest,
		Tags:        tags,
	}
}

// publish hands the sink the Send event of an accepted mail now and, after
// EventDelay on the simulator's clock, each recipient's outcome.
func (s *Simulator) publish(m *sender.Message, id string, sentAt time.Time) {
	events := s.cfg.Events
	base := s.mailObject(m, id, sentAt)
	events(sesevent.Event{EventType: sesevent.TypeSend, Mail: cloneMail(base), Send: &sesevent.Send{}})
	outcomes := func() {
		now := s.cfg.Clock.Now()
		seq := 0
		for _, addr := range base.Destination {
			for _, e := range s.outcome(addr, now, sentAt) {
				seq++
				e.Mail = cloneMail(base)
				if e.Bounce != nil {
					e.Bounce.FeedbackID = feedbackID(id, seq)
				}
				if e.Complaint != nil {
					e.Complaint.FeedbackID = feedbackID(id, seq)
				}
				events(e)
			}
		}
	}
	if s.cfg.EventDelay <= 0 {
		outcomes()
		return
	}
	fired, stop := s.cfg.Clock.Timer(s.cfg.EventDelay)
	if !s.background(func() {
		defer stop()
		select {
		case <-fired:
			outcomes()
		case <-s.done.Done():
			s.dropped(len(base.Destination))
		}
	}) {
		stop()
		s.dropped(len(base.Destination))
	}
}

// cloneMail copies the mail object so that a sink may keep or change what
// it is handed without touching the other events of the send.
func cloneMail(m sesevent.Mail) sesevent.Mail {
	m.Destination = slices.Clone(m.Destination)
	m.Tags = maps.Clone(m.Tags)
	for k, v := range m.Tags {
		m.Tags[k] = slices.Clone(v)
	}
	return m
}

func feedbackID(messageID string, seq int) string {
	return fmt.Sprintf("%s-feedback-%06d", messageID, seq)
}

// outcome is what becomes of one recipient: the events SES publishes for it
// after the Send event (without their mail object).
func (s *Simulator) outcome(addr string, now, sentAt time.Time) []sesevent.Event {
	ts := timestamp(now)
	delivered := sesevent.Event{EventType: sesevent.TypeDelivery, Delivery: &sesevent.Delivery{
		Timestamp:            ts,
		ProcessingTimeMillis: now.Sub(sentAt).Milliseconds(),
		Recipients:           []string{addr},
		SMTPResponse:         smtpDelivered,
		ReportingMTA:         s.mta(),
	}}
	bounce := func(subType, status, diagnostic string) sesevent.Event {
		return sesevent.Event{EventType: sesevent.TypeBounce, Bounce: &sesevent.Bounce{
			BounceType:    sesevent.BouncePermanent,
			BounceSubType: subType,
			BouncedRecipients: []sesevent.BouncedRecipient{
				{EmailAddress: addr, Action: "failed", Status: status, DiagnosticCode: diagnostic},
			},
			Timestamp:    ts,
			ReportingMTA: "dsn; " + s.mta(),
		}}
	}
	switch simulatorKind(addr) {
	case SimBounce:
		return []sesevent.Event{bounce("General", "5.1.1", diagnosticUnknown)}
	case SimSuppressionList:
		return []sesevent.Event{bounce("OnAccountSuppressionList", "5.1.1", diagnosticSuppress)}
	case SimComplaint:
		return []sesevent.Event{delivered, {EventType: sesevent.TypeComplaint, Complaint: &sesevent.Complaint{
			ComplainedRecipients:  []sesevent.Recipient{{EmailAddress: addr}},
			Timestamp:             ts,
			ArrivalDate:           ts,
			UserAgent:             complaintAgent,
			ComplaintFeedbackType: "abuse",
		}}}
	default:
		// success, ooto (the out-of-office reply goes to the sender's
		// mailbox; SES publishes no event for it) and every real address.
		return []sesevent.Event{delivered}
	}
}

func (s *Simulator) mta() string { return "a0-0.smtp-out." + s.cfg.Region + ".amazonses.com" }
