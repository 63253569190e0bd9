package workflow

import (
	"encoding/json"
	"errors"
	"fmt"
	"time"
)

// PipelineEventSource is the "source" of the records the state machine
// sends to the events queue, beside SES's (whose EventBridge source is
// "aws.ses").
const PipelineEventSource = "mailflow.pipeline"

// PipelineEvent is what the pipeline tells the events queue about a mail:
// that it was accepted (AcquireLock took the lock for it and sends this)
// or dead-lettered (the definition's RecordDeadLettered state builds it).
// The delivery-feedback consumer turns it into an [OutcomeEvent] and
// records it with the mail's delivery state.
type PipelineEvent struct {
	Source      string           `json:"source"` // PipelineEventSource
	Type        OutcomeEventType `json:"type"`   // EventAccepted or EventDeadLettered
	MessageID   string           `json:"messageId"`
	ExecutionID string           `json:"executionId"`
	Time        string           `json:"time"` // the state's entered time, RFC 3339
	// MailID is set for accepted; a dead-lettered record carries the
	// queue body instead, from which the consumer reads the mailId (the
	// body may break the contract, and then has no mailId to report).
	MailID string `json:"mailId,omitempty"`
	Body   string `json:"body,omitempty"`
	// Error is the caught error (its Error and Cause), for dead-lettered.
	Error *PipelineError `json:"error,omitempty"`
}

// PipelineError is a caught error as the state machine passes it on.
type PipelineError struct {
	Error string `json:"Error"`
	Cause string `json:"Cause,omitempty"`
}

// ParsePipelineEvent decodes and checks a pipeline record.
func ParsePipelineEvent(data []byte) (PipelineEvent, error) {
	var e PipelineEvent
	if err := json.Unmarshal(data, &e); err != nil {
		return PipelineEvent{}, fmt.Errorf("pipeline event: %w", err)
	}
	if e.Source != PipelineEventSource {
		return PipelineEvent{}, fmt.Errorf("pipeline event: source %q is not %q", e.Source, PipelineEventSource)
	}
	if e.MessageID == "" {
		return PipelineEvent{}, errors.New("pipeline event: messageId is empty")
	}
	if _, err := time.Parse(time.RFC3339Nano, e.Time); err != nil {
		return PipelineEvent{}, fmt.Errorf("pipeline event: time %q is not RFC 3339", e.Time)
	}
	switch e.Type {
	case EventAccepted:
		if !mailIDPattern.MatchString(e.MailID) {
			return PipelineEvent{}, fmt.Errorf("pipeline event: accepted: mailId %q is not a mailId", e.MailID)
		}
	case EventDeadLettered:
		if e.Error == nil || e.Error.Error == "" {
			return PipelineEvent{}, errors.New("pipeline event: dead-lettered: no error")
		}
	default:
		return PipelineEvent{}, fmt.Errorf("pipeline event: type %q is not %s or %s", e.Type, EventAccepted, EventDeadLettered)
	}
	return e, nil
}

// ValidMailID reports whether s is a valid mailId.
func ValidMailID(s string) bool { return mailIDPattern.MatchString(s) }
