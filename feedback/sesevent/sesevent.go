// Package sesevent reads the records Amazon SES publishes for a
// configuration set's event destination (SNS, EventBridge, Firehose): the
// JSON documented in "Contents of event data that Amazon SES publishes to
// Amazon SNS" (https://docs.aws.amazon.com/ses/latest/dg/event-publishing-retrieving-sns-contents.html).
//
// Decisions where the documentation is silent:
//   - Only the event types mailflow acts on are accepted: Send, Delivery,
//     Bounce, Complaint, Reject, DeliveryDelay and "Rendering Failure"
//     (spelled with a space, as SES publishes it). Open, Click and
//     Subscription records are refused by name, not silently dropped.
//   - Exactly the object named by eventType must be present; a record that
//     carries another type's object is refused, so a mislabelled record
//     cannot be read as the wrong kind.
//   - Fields SES documents but mailflow does not read are ignored rather
//     than refused, because SES adds fields over time (the "strict" part is
//     about what must be there and what it must look like).
//   - Timestamps stay strings exactly as published and are checked to be
//     RFC 3339, so a record re-marshals byte-for-byte in those fields.
//
// The package imports nothing of mailflow's; the mailId pattern is kept
// here in step with workflow's (which does not export its validator).
package sesevent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"time"
)

// The event types Parse accepts, as SES spells them in eventType.
const (
	TypeSend             = "Send"
	TypeDelivery         = "Delivery"
	TypeBounce           = "Bounce"
	TypeComplaint        = "Complaint"
	TypeReject           = "Reject"
	TypeDeliveryDelay    = "DeliveryDelay"
	TypeRenderingFailure = "Rendering Failure"
)

// Bounce types.
const (
	BouncePermanent    = "Permanent"
	BounceTransient    = "Transient"
	BounceUndetermined = "Undetermined"
)

// MailIDTag is the SES message tag that carries the mail's mailId, so that
// an event can be traced back to the queue message that caused it.
const MailIDTag = "mailflow-mail-id"

// Event is one published record.
type Event struct {
	EventType     string         `json:"eventType"`
	Mail          Mail           `json:"mail"`
	Send          *Send          `json:"send,omitempty"`
	Delivery      *Delivery      `json:"delivery,omitempty"`
	Bounce        *Bounce        `json:"bounce,omitempty"`
	Complaint     *Complaint     `json:"complaint,omitempty"`
	Reject        *Reject        `json:"reject,omitempty"`
	DeliveryDelay *DeliveryDelay `json:"deliveryDelay,omitempty"`
	Failure       *Failure       `json:"failure,omitempty"`
}

// Mail describes the message that produced the event.
type Mail struct {
	Timestamp        string              `json:"timestamp"`
	MessageID        string              `json:"messageId"`
	Source           string              `json:"source"`
	SourceArn        string              `json:"sourceArn,omitempty"`
	SendingAccountID string              `json:"sendingAccountId,omitempty"`
	Destination      []string            `json:"destination"`
	HeadersTruncated bool                `json:"headersTruncated"`
	Headers          []Header            `json:"headers,omitempty"`
	CommonHeaders    *CommonHeaders      `json:"commonHeaders,omitempty"`
	Tags             map[string][]string `json:"tags,omitempty"`
}

// Header is one original header of the mail.
type Header struct {
	Name  string `json:"name"`
	Value string `json:"value"`
}

// CommonHeaders are the headers SES extracts from the mail.
type CommonHeaders struct {
	From      []string `json:"from,omitempty"`
	To        []string `json:"to,omitempty"`
	MessageID string   `json:"messageId,omitempty"`
	Subject   string   `json:"subject,omitempty"`
}

// Send is the (empty) object of a Send event.
type Send struct{}

// Delivery is the object of a Delivery event.
type Delivery struct {
	Timestamp            string   `json:"timestamp"`
	ProcessingTimeMillis int64    `json:"processingTimeMillis"`
	Recipients           []string `json:"recipients"`
	SMTPResponse         string   `json:"smtpResponse,omitempty"`
	ReportingMTA         string   `json:"reportingMTA,omitempty"`
	RemoteMtaIP          string   `json:"remoteMtaIp,omitempty"`
}

// Bounce is the object of a Bounce event.
type Bounce struct {
	BounceType        string             `json:"bounceType"`
	BounceSubType     string             `json:"bounceSubType"`
	BouncedRecipients []BouncedRecipient `json:"bouncedRecipients"`
	Timestamp         string             `json:"timestamp"`
	FeedbackID        string             `json:"feedbackId"`
	ReportingMTA      string             `json:"reportingMTA,omitempty"`
	RemoteMtaIP       string             `json:"remoteMtaIp,omitempty"`
}

// BouncedRecipient is one recipient of a bounce.
type BouncedRecipient struct {
	EmailAddress   string `json:"emailAddress"`
	Action         string `json:"action,omitempty"`
	Status         string `json:"status,omitempty"`
	DiagnosticCode string `json:"diagnosticCode,omitempty"`
}

// Complaint is the object of a Complaint event.
type Complaint struct {
	ComplainedRecipients  []Recipient `json:"complainedRecipients"`
	Timestamp             string      `json:"timestamp"`
	FeedbackID            string      `json:"feedbackId"`
	ComplaintSubType      *string     `json:"complaintSubType,omitempty"`
	UserAgent             string      `json:"userAgent,omitempty"`
	ComplaintFeedbackType string      `json:"complaintFeedbackType,omitempty"`
	ArrivalDate           string      `json:"arrivalDate,omitempty"`
}

// Recipient is a recipient named by address only.
type Recipient struct {
	EmailAddress string `json:"emailAddress"`
}

// Reject is the object of a Reject event.
type Reject struct {
	Reason string `json:"reason"`
}

// DeliveryDelay is the object of a DeliveryDelay event.
type DeliveryDelay struct {
	Timestamp         string             `json:"timestamp"`
	DelayType         string             `json:"delayType"`
	ExpirationTime    string             `json:"expirationTime,omitempty"`
	DelayedRecipients []BouncedRecipient `json:"delayedRecipients"`
	ReportingMTA      string             `json:"reportingMTA,omitempty"`
}

// Failure is the object of a Rendering Failure event.
type Failure struct {
	ErrorMessage string `json:"errorMessage"`
	TemplateName string `json:"templateName"`
}

// problems collects what is wrong with a record, each naming its field.
type problems []error

func (p *problems) add(field, format string, args ...any) {
	*p = append(*p, fmt.Errorf("%s: %s", field, fmt.Sprintf(format, args...)))
}

func (p *problems) required(field, v string) {
	if v == "" {
		p.add(field, "required")
	}
}

func (p *problems) timestamp(field, v string, required bool) {
	if v == "" {
		if required {
			p.add(field, "required")
		}
		return
	}
	if _, err := time.Parse(time.RFC3339Nano, v); err != nil || !rfc3339.MatchString(v) {
		p.add(field, "not an RFC 3339 timestamp: %q", v)
	}
}

// rfc3339 is the RFC 3339 grammar, which time.Parse alone does not hold
// to (it takes a one-digit hour).
var rfc3339 = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}[Tt][0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]+)?([Zz]|[+-][0-9]{2}:[0-9]{2})$`)

// Parse decodes and validates one record. Its error lists every problem,
// each prefixed by the field's JSON path.
func Parse(data []byte) (Event, error) {
	var e Event
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&e); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return Event{}, fmt.Errorf("sesevent: %s: want a JSON %s, got %s", te.Field, te.Type, te.Value)
		}
		return Event{}, fmt.Errorf("sesevent: not a JSON event record: %w", err)
	}
	if dec.More() {
		return Event{}, errors.New("sesevent: trailing data after the event record")
	}
	if err := Validate(&e); err != nil {
		return Event{}, err
	}
	normalise(&e)
	return e, nil
}

// normalise makes empty optional lists and maps nil, as omitted ones are,
// so that a parsed record marshals and parses back to the same value.
func normalise(e *Event) {
	if len(e.Mail.Headers) == 0 {
		e.Mail.Headers = nil
	}
	if len(e.Mail.Tags) == 0 {
		e.Mail.Tags = nil
	}
	if h := e.Mail.CommonHeaders; h != nil {
		if len(h.From) == 0 {
			h.From = nil
		}
		if len(h.To) == 0 {
			h.To = nil
		}
	}
}

// Validate checks a decoded record as Parse does.
func Validate(e *Event) error {
	var p problems
	validateMail(&p, &e.Mail)
	present := map[string]bool{
		TypeSend: e.Send != nil, TypeDelivery: e.Delivery != nil, TypeBounce: e.Bounce != nil,
		TypeComplaint: e.Complaint != nil, TypeReject: e.Reject != nil,
		TypeDeliveryDelay: e.DeliveryDelay != nil, TypeRenderingFailure: e.Failure != nil,
	}
	if _, known := present[e.EventType]; !known {
		if e.EventType == "" {
			p.add("eventType", "required")
		} else {
			p.add("eventType", "%q is not one of Send, Delivery, Bounce, Complaint, Reject, DeliveryDelay, Rendering Failure", e.EventType)
		}
	}
	for _, t := range []string{TypeSend, TypeDelivery, TypeBounce, TypeComplaint, TypeReject, TypeDeliveryDelay, TypeRenderingFailure} {
		switch {
		case t == e.EventType && !present[t]:
			p.add(objectName(t), "required when eventType is %q", t)
		case t != e.EventType && present[t]:
			p.add(objectName(t), "present but eventType is %q", e.EventType)
		}
	}
	if e.Delivery != nil {
		d := e.Delivery
		p.timestamp("delivery.timestamp", d.Timestamp, true)
		if d.ProcessingTimeMillis < 0 {
			p.add("delivery.processingTimeMillis", "negative: %d", d.ProcessingTimeMillis)
		}
		addresses(&p, "delivery.recipients", d.Recipients)
	}
	if e.Bounce != nil {
		b := e.Bounce
		switch b.BounceType {
		case BouncePermanent, BounceTransient, BounceUndetermined:
		case "":
			p.add("bounce.bounceType", "required")
		default:
			p.add("bounce.bounceType", "%q is not one of Permanent, Transient, Undetermined", b.BounceType)
		}
		p.required("bounce.bounceSubType", b.BounceSubType)
		p.timestamp("bounce.timestamp", b.Timestamp, true)
		p.required("bounce.feedbackId", b.FeedbackID)
		recipients(&p, "bounce.bouncedRecipients", b.BouncedRecipients)
	}
	if e.Complaint != nil {
		c := e.Complaint
		p.timestamp("complaint.timestamp", c.Timestamp, true)
		p.timestamp("complaint.arrivalDate", c.ArrivalDate, false)
		p.required("complaint.feedbackId", c.FeedbackID)
		if len(c.ComplainedRecipients) == 0 {
			p.add("complaint.complainedRecipients", "at least one recipient required")
		}
		for i, r := range c.ComplainedRecipients {
			p.required(fmt.Sprintf("complaint.complainedRecipients[%d].emailAddress", i), r.EmailAddress)
		}
	}
	if e.Reject != nil {
		p.required("reject.reason", e.Reject.Reason)
	}
	if e.DeliveryDelay != nil {
		d := e.DeliveryDelay
		p.timestamp("deliveryDelay.timestamp", d.Timestamp, true)
		p.timestamp("deliveryDelay.expirationTime", d.ExpirationTime, false)
		p.required("deliveryDelay.delayType", d.DelayType)
		recipients(&p, "deliveryDelay.delayedRecipients", d.DelayedRecipients)
	}
	if e.Failure != nil {
		p.required("failure.errorMessage", e.Failure.ErrorMessage)
		p.required("failure.templateName", e.Failure.TemplateName)
	}
	if len(p) > 0 {
		return fmt.Errorf("sesevent: invalid %q record: %w", e.EventType, errors.Join(p...))
	}
	return nil
}

func objectName(eventType string) string {
	switch eventType {
	case TypeSend:
		return "send"
	case TypeDelivery:
		return "delivery"
	case TypeBounce:
		return "bounce"
	case TypeComplaint:
		return "complaint"
	case TypeReject:
		return "reject"
	case TypeDeliveryDelay:
		return "deliveryDelay"
	default:
		return "failure"
	}
}

func validateMail(p *problems, m *Mail) {
	p.timestamp("mail.timestamp", m.Timestamp, true)
	p.required("mail.messageId", m.MessageID)
	p.required("mail.source", m.Source)
	addresses(p, "mail.destination", m.Destination)
	for name, values := range m.Tags {
		if name == "" {
			p.add("mail.tags", "empty tag name")
		}
		if len(values) == 0 {
			p.add("mail.tags."+name, "no values")
		}
	}
}

func addresses(p *problems, field string, list []string) {
	if len(list) == 0 {
		p.add(field, "at least one address required")
	}
	for i, a := range list {
		p.required(fmt.Sprintf("%s[%d]", field, i), a)
	}
}

func recipients(p *problems, field string, list []BouncedRecipient) {
	if len(list) == 0 {
		p.add(field, "at least one recipient required")
	}
	for i, r := range list {
		p.required(fmt.Sprintf("%s[%d].emailAddress", field, i), r.EmailAddress)
	}
}

// mailIDPattern is workflow's mailId rule (1-200 of A-Z a-z 0-9 . _ : @ / -);
// TestMailIDAgreesWithWorkflow keeps the two in step.
var mailIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:@/-]{1,200}$`)

// MailID returns the mailId carried in the MailIDTag message tag. false
// means the tag is absent, carries more than one value, or its value is not
// a valid mailId.
func MailID(e Event) (string, bool) {
	values := e.Mail.Tags[MailIDTag]
	if len(values) != 1 {
		return "", false
	}
	id, ok := decodeMailIDTag(values[0])
	if !ok || !mailIDPattern.MatchString(id) {
		return "", false
	}
	return id, true
}
