// Package model is the execution read model: an execution of the mail state
// machine ([Execution]), the records it handled ([Item]) and its history
// ([Event]), in one shape whatever the source.
//
// It is a leaf package (it imports only asl and workflow, which import
// nothing of ours) so that both ends can use it without a cycle:
//
//   - local/execstore, the local runtime's store, writes and returns these
//     types, so what `mailflow dev` records is what the CLI and the console
//     read, with no parallel copy and no conversion;
//   - inspect, the read side shared by the CLI, the console and the AWS
//     (CloudWatch Logs) reader, builds them from either source and
//     re-exports them under its own names (inspect.Execution is
//     model.Execution).
//
// The dependency arrows point one way: inspect → local/execstore → model,
// inspect → model. asl.Event stays apart: it is the interpreter's live event
// (value trees, the Has* flags of GetExecutionHistory), which the local
// runtime encodes into an [Event]'s Details as it happens.
package model

import (
	"encoding/json"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/mailflow/mailflow/asl"
	"github.com/mailflow/mailflow/workflow"
)

// Execution is one run of the state machine, from either source.
type Execution struct {
	ID           string          `json:"id"`
	Name         string          `json:"name"`
	StateMachine string          `json:"stateMachine,omitempty"`
	Status       asl.Status      `json:"status"`
	Input        json.RawMessage `json:"input,omitempty"`
	// InputTruncated and InputMissing tell why Input may be empty (logs):
	// InputMissing means the input is not logged at all (execution data
	// off, or a log level that logs no start event).
	InputTruncated bool            `json:"inputTruncated,omitempty"`
	InputMissing   bool            `json:"inputMissing,omitempty"`
	Output         json.RawMessage `json:"output,omitempty"`
	// OutputTruncated says the output was logged cut short (logs).
	OutputTruncated bool   `json:"outputTruncated,omitempty"`
	Error           string `json:"error,omitempty"`
	Cause           string `json:"cause,omitempty"`
	// StartedAt is zero when the start is unknown (StartMissing).
	StartedAt time.Time `json:"startedAt,omitzero"`
	StoppedAt time.Time `json:"stoppedAt,omitzero"`
	Items     []Item    `json:"items"`
	// Events is the history, filled by Get only.
	Events []Event `json:"events,omitempty"`

	// The fields below are read from logs only.

	// StartMissing says no ExecutionStarted event was read: the start time
	// and the duration are unknown, and FirstLoggedAt is the time of the
	// first event that was.
	StartMissing  bool      `json:"startMissing,omitempty"`
	FirstLoggedAt time.Time `json:"firstLoggedAt,omitzero"`
	// LogLevel is the logging level the events show (ALL, ERROR or FATAL):
	// the lowest level that logs every event type read.
	LogLevel string `json:"logLevel,omitempty"`
	// Warnings name the log event fields that could not be read; the
	// events themselves are kept.
	Warnings []string `json:"warnings,omitempty"`
}

// Duration is how long the execution ran (zero while running, or when its
// start is unknown: see DurationKnown).
func (e *Execution) Duration() time.Duration {
	if !e.DurationKnown() {
		return 0
	}
	return e.StoppedAt.Sub(e.StartedAt)
}

// DurationKnown reports whether both ends of the execution are known.
func (e *Execution) DurationKnown() bool { return !e.StartedAt.IsZero() && !e.StoppedAt.IsZero() }

// OrderTime is the time a listing orders the execution by: its start, or
// the first logged event when the start is unknown.
func (e *Execution) OrderTime() time.Time {
	if e.StartedAt.IsZero() {
		return e.FirstLoggedAt
	}
	return e.StartedAt
}

// Failed reports whether the execution did not succeed or left an item
// unsent (dead-lettered, retry-later or unfinished).
func (e *Execution) Failed() bool {
	if e.Status != asl.StatusSucceeded && e.Status != asl.StatusRunning {
		return true
	}
	for _, it := range e.Items {
		if it.Failed() {
			return true
		}
	}
	return false
}

// OutcomeCounts counts the items by outcome.
func (e *Execution) OutcomeCounts() map[workflow.Outcome]int {
	m := map[workflow.Outcome]int{}
	for _, it := range e.Items {
		m[it.Outcome]++
	}
	return m
}

// Summary is a short text of the item outcomes, e.g. "sent 2, dead-lettered 1".
func (e *Execution) Summary() string {
	counts := e.OutcomeCounts()
	keys := make([]string, 0, len(counts))
	for k := range counts {
		keys = append(keys, string(k))
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + " " + strconv.Itoa(counts[workflow.Outcome(k)])
	}
	if len(parts) == 0 {
		return "no items"
	}
	return strings.Join(parts, ", ")
}

// Item is one record of the batch (one mail).
type Item struct {
	Index     int              `json:"index"`
	MessageID string           `json:"messageId"`
	MailID    string           `json:"mailId,omitempty"`
	Outcome   workflow.Outcome `json:"outcome"`
	Error     string           `json:"error,omitempty"`
	Cause     string           `json:"cause,omitempty"`
	// SESMessageID is the id SES gave the sent mail, when known.
	SESMessageID string `json:"sesMessageId,omitempty"`
	// Steps are the task invocations of the item as their result lines
	// in the task log groups tell them, oldest first (AWS only).
	Steps []Step `json:"steps,omitempty"`
	// Body is the SQS message body of the record, when known: what replay
	// re-enqueues. The local store does not keep it (the execution input
	// has it).
	Body string `json:"body,omitempty"`
}

// Failed reports whether the item was not delivered by its execution.
func (it Item) Failed() bool { return !it.Outcome.Delivered() }

// MailExecution is one execution that touched a mail, with the item of
// that mail.
type MailExecution struct {
	ExecutionID string    `json:"executionId"`
	StartedAt   time.Time `json:"startedAt"`
	Item        Item      `json:"item"`
}

// Event is one history event, normalised across sources.
type Event struct {
	ID         int64     `json:"id"`
	PreviousID int64     `json:"previousId"`
	Type       string    `json:"type"`
	Timestamp  time.Time `json:"timestamp"`
	Name       string    `json:"name,omitempty"`
	Index      *int      `json:"index,omitempty"`
	// Input and Output are JSON values when known in full.
	Input  json.RawMessage `json:"input,omitempty"`
	Output json.RawMessage `json:"output,omitempty"`
	// InputText/OutputText hold a truncated payload as logged (not JSON).
	InputText       string          `json:"inputText,omitempty"`
	OutputText      string          `json:"outputText,omitempty"`
	InputTruncated  bool            `json:"inputTruncated,omitempty"`
	OutputTruncated bool            `json:"outputTruncated,omitempty"`
	Parameters      json.RawMessage `json:"parameters,omitempty"`
	Error           string          `json:"error,omitempty"`
	Cause           string          `json:"cause,omitempty"`
	Resource        string          `json:"resource,omitempty"`
	ResourceType    string          `json:"resourceType,omitempty"`

	// Details is the event's details object as GetExecutionHistory has it
	// (name, input, output, error, cause, ...), when the source records it:
	// the local runtime does, and its store keeps it byte for byte. The
	// fields above are read from it by [Event.ReadDetails]; recording
	// leaves them empty, so that the hot path only encodes.
	Details json.RawMessage `json:"-"`
}

// ReadDetails sets the named fields of e from its Details (input and output
// as JSON values). Details that do not decode leave them as they are.
func (e *Event) ReadDetails() {
	var d struct {
		Name         string          `json:"name"`
		Index        *int            `json:"index"`
		Input        json.RawMessage `json:"input"`
		Output       json.RawMessage `json:"output"`
		Parameters   json.RawMessage `json:"parameters"`
		Error        string          `json:"error"`
		Cause        string          `json:"cause"`
		Resource     string          `json:"resource"`
		ResourceType string          `json:"resourceType"`
	}
	if json.Unmarshal(e.Details, &d) == nil {
		e.Name, e.Index, e.Input, e.Output, e.Parameters = d.Name, d.Index, d.Input, d.Output, d.Parameters
		e.Error, e.Cause, e.Resource, e.ResourceType = d.Error, d.Cause, d.Resource, d.ResourceType
	}
}

// Step is one task invocation of an item, read from its result line.
type Step struct {
	Task string    `json:"task"`
	Time time.Time `json:"time"`
	// Result is "done", or what the task answered (AcquireLock's outcome,
	// ReleaseLock's reason); empty when the task failed.
	Result string `json:"result,omitempty"`
	Error  string `json:"error,omitempty"`
	Cause  string `json:"cause,omitempty"`
}
