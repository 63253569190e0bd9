package sesevent

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"time"
)

// EnvelopeSource is the source of every event SES sends to EventBridge.
const EnvelopeSource = "aws.ses"

// The detail-type EventBridge gives each event type, as listed in
// "Amazon Simple Email Service events" of the EventBridge event reference.
const (
	DetailSent             = "Email Sent"
	DetailDelivered        = "Email Delivered"
	DetailBounced          = "Email Bounced"
	DetailComplaint        = "Email Complaint Received"
	DetailRejected         = "Email Rejected"
	DetailDeliveryDelayed  = "Email Delivery Delayed"
	DetailRenderingFailure = "Email Rendering Failed"
)

var detailTypes = map[string]string{
	TypeSend:             DetailSent,
	TypeDelivery:         DetailDelivered,
	TypeBounce:           DetailBounced,
	TypeComplaint:        DetailComplaint,
	TypeReject:           DetailRejected,
	TypeDeliveryDelay:    DetailDeliveryDelayed,
	TypeRenderingFailure: DetailRenderingFailure,
}

// DetailType returns the EventBridge detail-type of an event type, false
// for a type Parse does not accept.
func DetailType(eventType string) (string, bool) {
	d, ok := detailTypes[eventType]
	return d, ok
}

// Envelope is an SES event as EventBridge delivers it to a rule's target
// (the events queue on AWS): the EventBridge event with the SES record as
// its detail.
type Envelope struct {
	Version    string   `json:"version"`
	ID         string   `json:"id"`
	DetailType string   `json:"detail-type"`
	Source     string   `json:"source"`
	Account    string   `json:"account"`
	Time       string   `json:"time"`
	Region     string   `json:"region"`
	Resources  []string `json:"resources"`
	Detail     Event    `json:"detail"`
}

// NewEnvelope wraps a record as EventBridge does: id is the event's unique
// id, configurationSetARN (SES publishes through a configuration set) its
// one resource, and at the event's time, which EventBridge gives to the
// second. It validates the record, so that no envelope is built that
// ParseEnvelope would refuse.
func NewEnvelope(e Event, id, account, region, configurationSetARN string, at time.Time) (Envelope, error) {
	env := Envelope{
		Version: "0", ID: id, Source: EnvelopeSource, Account: account,
		Time: at.UTC().Format(time.RFC3339), Region: region, Resources: []string{}, Detail: e,
	}
	env.DetailType, _ = DetailType(e.EventType)
	if configurationSetARN != "" {
		env.Resources = []string{configurationSetARN}
	}
	if err := env.validate(); err != nil {
		return Envelope{}, err
	}
	return env, nil
}

var (
	accountPattern = regexp.MustCompile(`^[0-9]{12}$`)
	regionPattern  = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)
)

// ParseEnvelope decodes and validates an SES event delivered by
// EventBridge: the envelope's fields, then its detail as Parse does. Its
// error lists every problem, each prefixed by the field's JSON path
// ("detail.mail.messageId"). Fields EventBridge may add are ignored, as
// Parse ignores SES's.
func ParseEnvelope(data []byte) (Envelope, error) {
	var raw struct {
		Envelope
		Detail json.RawMessage `json:"detail"`
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	if err := dec.Decode(&raw); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			// The field path names the embedded struct; the JSON path does not.
			field := strings.TrimPrefix(te.Field, "Envelope.")
			return Envelope{}, fmt.Errorf("sesevent: envelope %s: want a JSON %s, got %s", field, te.Type, te.Value)
		}
		return Envelope{}, fmt.Errorf("sesevent: not a JSON EventBridge event: %w", err)
	}
	if dec.More() {
		return Envelope{}, errors.New("sesevent: trailing data after the EventBridge event")
	}
	env := raw.Envelope
	var p problems
	env.check(&p)
	if len(bytes.TrimSpace(raw.Detail)) == 0 || string(bytes.TrimSpace(raw.Detail)) == "null" {
		p.add("detail", "required")
	} else {
		e, err := Parse(raw.Detail)
		if err != nil {
			p.add("detail", "%s", strings.TrimPrefix(err.Error(), "sesevent: "))
		} else {
			env.Detail = e
			env.checkDetailType(&p)
		}
	}
	if len(p) > 0 {
		return Envelope{}, fmt.Errorf("sesevent: invalid EventBridge event %q: %w", env.ID, errors.Join(p...))
	}
	if len(env.Resources) == 0 {
		env.Resources = []string{}
	}
	return env, nil
}

// validate checks an envelope built in memory as ParseEnvelope checks a
// delivered one.
func (env Envelope) validate() error {
	var p problems
	env.check(&p)
	if err := Validate(&env.Detail); err != nil {
		p.add("detail", "%s", strings.TrimPrefix(err.Error(), "sesevent: "))
	} else {
		env.checkDetailType(&p)
	}
	if len(p) > 0 {
		return fmt.Errorf("sesevent: invalid EventBridge event %q: %w", env.ID, errors.Join(p...))
	}
	return nil
}

func (env Envelope) check(p *problems) {
	if env.Version != "0" {
		p.add("version", "want %q, got %q", "0", env.Version)
	}
	p.required("id", env.ID)
	if env.Source != EnvelopeSource {
		p.add("source", "want %q, got %q", EnvelopeSource, env.Source)
	}
	if !accountPattern.MatchString(env.Account) {
		p.add("account", "not a 12-digit AWS account id: %q", env.Account)
	}
	p.timestamp("time", env.Time, true)
	if !regionPattern.MatchString(env.Region) {
		p.add("region", "not an AWS region: %q", env.Region)
	}
	for i, r := range env.Resources {
		if !strings.HasPrefix(r, "arn:") {
			p.add(fmt.Sprintf("resources[%d]", i), "not an ARN: %q", r)
		}
	}
}

// checkDetailType holds detail-type to the detail's eventType, so that a
// rule matching on detail-type sees what the record is.
func (env Envelope) checkDetailType(p *problems) {
	want, _ := DetailType(env.Detail.EventType)
	if env.DetailType != want {
		p.add("detail-type", "want %q for eventType %q, got %q", want, env.Detail.EventType, env.DetailType)
	}
}
