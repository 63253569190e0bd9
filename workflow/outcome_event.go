package workflow

import (
	"bytes"
	"errors"
	"io"
	"regexp"
	"slices"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/go-json-experiment/json"
	"github.com/go-json-experiment/json/jsontext"
)

// OutcomeEventVersion is the schema version of [OutcomeEvent].
const OutcomeEventVersion = 1

// OutcomeEventType is what happened to a mail, as an [OutcomeEvent] tells
// its producer.
type OutcomeEventType string

// Outcome event types, one per state change of a mail.
const (
	// EventAccepted: the message passed validation and entered the pipeline.
	EventAccepted OutcomeEventType = "accepted"
	// EventSent: SES accepted the mail (sesMessageId set). Same string as [OutcomeSent].
	EventSent OutcomeEventType = OutcomeEventType(OutcomeSent)
	// EventDelivered: the recipient's server accepted the mail.
	EventDelivered OutcomeEventType = "delivered"
	// EventBounced: the recipient's server refused the mail (bounce set).
	EventBounced OutcomeEventType = "bounced"
	// EventComplained: the recipient reported the mail (complaint set).
	EventComplained OutcomeEventType = "complained"
	// EventDelayed: delivery to the recipient is delayed and still tried.
	EventDelayed OutcomeEventType = "delayed"
	// EventDeadLettered: a permanent error; the mail went to the dead-letter
	// queue (reason set). Same string as [OutcomeDeadLettered].
	EventDeadLettered OutcomeEventType = OutcomeEventType(OutcomeDeadLettered)
	// EventRejected: SES accepted the mail and then refused to send it
	// (it found a virus, say; reason set).
	EventRejected OutcomeEventType = "rejected"
	// EventRenderingFailed: SES could not render the mail (reason set).
	EventRenderingFailed OutcomeEventType = "rendering-failed"
)

// OutcomeEventTypes lists every event type, in the order above.
func OutcomeEventTypes() []OutcomeEventType {
	return []OutcomeEventType{EventAccepted, EventSent, EventDelivered, EventBounced, EventComplained, EventDelayed, EventDeadLettered, EventRejected, EventRenderingFailed}
}

// PerRecipient reports whether events of type t are about one recipient
// (SES reports delivery, bounce, complaint and delay per recipient) and so
// carry "recipient"; the others are about the whole mail.
func (t OutcomeEventType) PerRecipient() bool {
	switch t {
	case EventDelivered, EventBounced, EventComplained, EventDelayed:
		return true
	}
	return false
}

// HasReason reports whether events of type t say why (dead-lettered,
// rejected, rendering-failed) and so carry "reason".
func (t OutcomeEventType) HasReason() bool {
	switch t {
	case EventDeadLettered, EventRejected, EventRenderingFailed:
		return true
	}
	return false
}

// OutcomeEvent is one state change of a mail, as mailflow reports it to
// the mail's producer (schema outcome-event version 1, [OutcomeEventSchemaV1]).
type OutcomeEvent struct {
	Version int `json:"version"`
	// ID is unique per event; a receiver drops an ID it has seen, since
	// delivery is at least once.
	ID     string           `json:"id"`
	Type   OutcomeEventType `json:"type"`
	MailID string           `json:"mailId"`
	// Time is when the state changed (RFC 3339 on the wire).
	Time time.Time `json:"time"`
	// Recipient is the envelope address, for per-recipient types only.
	Recipient    string          `json:"recipient,omitempty"`
	SESMessageID string          `json:"sesMessageId,omitempty"`
	Reason       *EventReason    `json:"reason,omitzero"`
	Bounce       *EventBounce    `json:"bounce,omitzero"`
	Complaint    *EventComplaint `json:"complaint,omitzero"`
}

// EventReason is why a mail was dead-lettered.
type EventReason struct {
	// Error is the error name (a Mail.* name or one of the runtime's).
	Error string `json:"error"`
	Cause string `json:"cause,omitempty"`
}

// EventBounce is the bounce as SES classifies it.
type EventBounce struct {
	Type           string `json:"type"`
	SubType        string `json:"subType"`
	DiagnosticCode string `json:"diagnosticCode,omitempty"`
}

// EventComplaint is the complaint as SES reports it; the feedback type is
// absent when the mailbox provider gave none.
type EventComplaint struct {
	FeedbackType string `json:"feedbackType,omitempty"`
}

// InvalidOutcomeEventError lists every rule an outcome event breaks.
type InvalidOutcomeEventError struct {
	Problems []*FieldError
}

func (e *InvalidOutcomeEventError) Error() string {
	parts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		parts[i] = p.Error()
	}
	return "invalid outcome event: " + strings.Join(parts, "; ")
}

// Unwrap exposes each problem to errors.As and errors.Is.
func (e *InvalidOutcomeEventError) Unwrap() []error {
	errs := make([]error, len(e.Problems))
	for i, p := range e.Problems {
		errs[i] = p
	}
	return errs
}

// Has reports whether field breaks a rule.
func (e *InvalidOutcomeEventError) Has(field string) bool {
	return slices.ContainsFunc(e.Problems, func(p *FieldError) bool { return p.Field == field })
}

// Bounds of the free-text fields, counted in characters so the JSON
// Schema (maxLength) says the same.
const (
	maxEventCause      = 4096
	maxEventDiagnostic = 4096
)

var (
	eventIDPattern = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)
	// rfc3339Pattern is checked before time.Parse, which also accepts a
	// comma before the fraction and more than nine fraction digits.
	rfc3339Pattern      = regexp.MustCompile(`^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\.[0-9]{1,9})?(Z|[+-][0-9]{2}:[0-9]{2})$`)
	sesMessageIDPattern = regexp.MustCompile(`^[!-~]{1,256}$`)
	errorNamePattern    = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9._-]{0,127}$`)
	bounceTypePattern   = regexp.MustCompile(`^[A-Za-z]{1,64}$`)
	feedbackTypePattern = regexp.MustCompile(`^[a-z][a-z-]{0,63}$`)
)

// bounceTypes are SES's bounce types. Sub-types are not listed: SES adds
// them over time, and an unknown one must not make an event unreadable.
var bounceTypes = []string{"Undetermined", "Permanent", "Transient"}

// wireEvent is OutcomeEvent as it is decoded: the time stays a string so
// its syntax is checked here, not by the time package's looser parser.
type wireEvent struct {
	Version      int              `json:"version"`
	ID           string           `json:"id"`
	Type         OutcomeEventType `json:"type"`
	MailID       string           `json:"mailId"`
	Time         string           `json:"time"`
	Recipient    string           `json:"recipient"`
	SESMessageID string           `json:"sesMessageId"`
	Reason       *EventReason     `json:"reason"`
	Bounce       *EventBounce     `json:"bounce"`
	Complaint    *EventComplaint  `json:"complaint"`
}

// ParseOutcomeEvent decodes and validates one outcome event. Unknown
// fields, explicit nulls and duplicate names are refused at every level;
// each problem names its field.
func ParseOutcomeEvent(body []byte) (OutcomeEvent, error) {
	if fe := scanEvent(body); fe != nil {
		return OutcomeEvent{}, &InvalidOutcomeEventError{Problems: []*FieldError{fe}}
	}
	var w wireEvent
	if err := json.Unmarshal(body, &w, json.RejectUnknownMembers(true)); err != nil {
		return OutcomeEvent{}, &InvalidOutcomeEventError{Problems: []*FieldError{decodeProblem(err)}}
	}
	e := OutcomeEvent{
		Version: w.Version, ID: w.ID, Type: w.Type, MailID: w.MailID,
		Recipient: w.Recipient, SESMessageID: w.SESMessageID,
		Reason: w.Reason, Bounce: w.Bounce, Complaint: w.Complaint,
	}
	var p problems
	timeOK := false
	switch {
	case w.Time == "":
		p.add("time", "required")
	case !rfc3339Pattern.MatchString(w.Time):
		p.add("time", "%q is not an RFC 3339 date-time", w.Time)
	default:
		t, err := time.Parse(time.RFC3339Nano, w.Time)
		if err != nil {
			p.add("time", "%q is not an RFC 3339 date-time", w.Time)
		}
		e.Time, timeOK = t, err == nil
	}
	e.validate(&p, timeOK)
	if len(p) > 0 {
		return OutcomeEvent{}, &InvalidOutcomeEventError{Problems: p}
	}
	return e, nil
}

// Validate checks e against the rules [ParseOutcomeEvent] applies, for
// the Go code that builds events.
func (e OutcomeEvent) Validate() error {
	var p problems
	e.validate(&p, true)
	if len(p) > 0 {
		return &InvalidOutcomeEventError{Problems: p}
	}
	return nil
}

// MarshalJSON checks e and encodes it, so no invalid event leaves.
func (e OutcomeEvent) MarshalJSON() ([]byte, error) {
	if err := e.Validate(); err != nil {
		return nil, err
	}
	type plain OutcomeEvent
	return json.Marshal(plain(e))
}

func (e OutcomeEvent) validate(p *problems, checkTime bool) {
	if e.Version != OutcomeEventVersion {
		p.add("version", "must be %d, got %d", OutcomeEventVersion, e.Version)
	}
	switch {
	case e.ID == "":
		p.add("id", "required")
	case !eventIDPattern.MatchString(e.ID):
		p.add("id", "%q must be 1 to 128 of A-Z a-z 0-9 . _ : -", e.ID)
	}
	known := slices.Contains(OutcomeEventTypes(), e.Type)
	switch {
	case e.Type == "":
		p.add("type", "required")
	case !known:
		p.add("type", "%q is not one of %v", e.Type, OutcomeEventTypes())
	}
	switch {
	case e.MailID == "":
		p.add("mailId", "required")
	case !mailIDPattern.MatchString(e.MailID):
		p.add("mailId", "%q must be 1 to 200 of A-Z a-z 0-9 . _ : @ / -", e.MailID)
	}
	if checkTime {
		if y := e.Time.Year(); e.Time.IsZero() || y < 0 || y > 9999 {
			p.add("time", "%v is the zero time or outside the years 0000 to 9999", e.Time)
		}
	}
	if !known {
		return // which fields belong depends on the type
	}
	e.validateRecipient(p)
	switch {
	case e.SESMessageID == "" && e.Type != EventAccepted && e.Type != EventDeadLettered:
		p.add("sesMessageId", "required for %s", e.Type)
	case e.SESMessageID != "" && e.Type == EventAccepted:
		p.add("sesMessageId", "not allowed for %s", e.Type)
	case e.SESMessageID != "" && !sesMessageIDPattern.MatchString(e.SESMessageID):
		p.add("sesMessageId", "%q must be 1 to 256 printable ASCII characters", e.SESMessageID)
	}
	e.validateReason(p)
	e.validateBounce(p)
	e.validateComplaint(p)
}

func (e OutcomeEvent) validateRecipient(p *problems) {
	switch {
	case e.Recipient == "" && e.Type.PerRecipient():
		p.add("recipient", "required for %s", e.Type)
	case e.Recipient != "" && !e.Type.PerRecipient():
		p.add("recipient", "not allowed for %s", e.Type)
	case e.Recipient != "":
		b, err := ParseMailbox(e.Recipient)
		switch {
		case err != nil:
			p.add("recipient", "%v", err)
		case b.Name != "" || b.Address() != e.Recipient:
			p.add("recipient", "%q must be a bare address such as %q", e.Recipient, b.Address())
		}
	}
}

func (e OutcomeEvent) validateReason(p *problems) {
	r := e.Reason
	switch {
	case r == nil && e.Type.HasReason():
		p.add("reason", "required for %s", e.Type)
	case r != nil && !e.Type.HasReason():
		p.add("reason", "not allowed for %s", e.Type)
	case r != nil:
		switch {
		case r.Error == "":
			p.add("reason.error", "required")
		case !errorNamePattern.MatchString(r.Error):
			p.add("reason.error", "%q is not an error name", r.Error)
		}
		checkText(p, "reason.cause", r.Cause, maxEventCause)
	}
}

func (e OutcomeEvent) validateBounce(p *problems) {
	b := e.Bounce
	switch {
	case b == nil && e.Type == EventBounced:
		p.add("bounce", "required for %s", e.Type)
	case b != nil && e.Type != EventBounced:
		p.add("bounce", "not allowed for %s", e.Type)
	case b != nil:
		switch {
		case b.Type == "":
			p.add("bounce.type", "required")
		case !slices.Contains(bounceTypes, b.Type):
			p.add("bounce.type", "%q is not one of %v", b.Type, bounceTypes)
		}
		switch {
		case b.SubType == "":
			p.add("bounce.subType", "required")
		case !bounceTypePattern.MatchString(b.SubType):
			p.add("bounce.subType", "%q must be 1 to 64 ASCII letters", b.SubType)
		}
		checkText(p, "bounce.diagnosticCode", b.DiagnosticCode, maxEventDiagnostic)
	}
}

func (e OutcomeEvent) validateComplaint(p *problems) {
	c := e.Complaint
	switch {
	case c == nil && e.Type == EventComplained:
		p.add("complaint", "required for %s", e.Type)
	case c != nil && e.Type != EventComplained:
		p.add("complaint", "not allowed for %s", e.Type)
	case c != nil && c.FeedbackType != "" && !feedbackTypePattern.MatchString(c.FeedbackType):
		p.add("complaint.feedbackType", "%q must be 1 to 64 of a-z and -, starting with a letter", c.FeedbackType)
	}
}

// checkText bounds a free-text field in characters and refuses invalid
// UTF-8 (which the JSON decoder would have turned into U+FFFD).
func checkText(p *problems, field, s string, max int) {
	switch {
	case !utf8.ValidString(s):
		p.add(field, "not valid UTF-8")
	case utf8.RuneCountInString(s) > max:
		p.add(field, "%d characters, at most %d", utf8.RuneCountInString(s), max)
	}
}

// scanEvent walks the tokens of body once: the grammar (valid UTF-8, no
// lone surrogate escape), duplicate names and explicit nulls, each refused
// with its path. The JSON Schema refuses nulls too, so both say the same.
func scanEvent(body []byte) *FieldError {
	dec := jsontext.NewDecoder(bytes.NewReader(body))
	for first := true; ; first = false {
		tok, err := dec.ReadToken()
		if err == io.EOF && !first {
			return nil
		}
		if err != nil {
			var serr *jsontext.SyntacticError
			if errors.As(err, &serr) && serr.Err == jsontext.ErrDuplicateName {
				return &FieldError{Field: pointerField(serr.JSONPointer), Rule: "duplicate key"}
			}
			return &FieldError{Field: "event", Rule: "not valid JSON: " + err.Error()}
		}
		if first && tok.Kind() != '{' {
			return &FieldError{Field: "event", Rule: "not a JSON object"}
		}
		if tok.Kind() == 'n' {
			return &FieldError{Field: pointerField(dec.StackPointer()), Rule: "null; omit the field instead"}
		}
	}
}

// decodeProblem names the field of a decoding error: a wrong type or an
// unknown member.
func decodeProblem(err error) *FieldError {
	var serr *json.SemanticError
	if errors.As(err, &serr) && serr.JSONPointer != "" {
		field := pointerField(serr.JSONPointer)
		if errors.Is(serr.Err, json.ErrUnknownName) {
			return &FieldError{Field: field, Rule: "unknown field"}
		}
		if serr.JSONKind != 0 {
			return &FieldError{Field: field, Rule: "wrong type: " + serr.JSONKind.String()}
		}
		return &FieldError{Field: field, Rule: "wrong value"}
	}
	return &FieldError{Field: "event", Rule: "not a JSON object"}
}

// pointerField turns a JSON pointer ("/bounce/type") into a field path
// ("bounce.type").
func pointerField(ptr jsontext.Pointer) string {
	var parts []string
	for tok := range ptr.Tokens() {
		parts = append(parts, tok)
	}
	if len(parts) == 0 {
		return "event"
	}
	return strings.Join(parts, ".")
}
