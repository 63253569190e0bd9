package inspect

import (
	"context"
	"encoding/json"
	"errors"
	"sort"
	"strings"
	"time"
)

// Item outcomes, as the state machine reports them per record.
const (
	OutcomeSent         = "sent"
	OutcomeAlreadySent  = "already-sent"
	OutcomeDeadLettered = "dead-lettered"
	OutcomeRetryLater   = "retry-later"
	OutcomeUnfinished   = "unfinished"
)

// Execution statuses.
const (
	StatusRunning   = "RUNNING"
	StatusSucceeded = "SUCCEEDED"
	StatusFailed    = "FAILED"
	StatusTimedOut  = "TIMED_OUT"
	StatusAborted   = "ABORTED"
)

// ErrNotFound is returned for an unknown execution.
var ErrNotFound = errors.New("execution not found")

// Execution is one run of the state machine, from either source.
type Execution struct {
	ID           string          `json:"id"`
	Name         string          `json:"name"`
	StateMachine string          `json:"stateMachine,omitempty"`
	Status       string          `json:"status"`
	Input        json.RawMessage `json:"input,omitempty"`
	// InputTruncated and InputMissing tell why Input may be empty (logs).
	InputTruncated bool            `json:"inputTruncated,omitempty"`
	InputMissing   bool            `json:"inputMissing,omitempty"`
	Output         json.RawMessage `json:"output,omitempty"`
	Error          string          `json:"error,omitempty"`
	Cause          string          `json:"cause,omitempty"`
	StartedAt      time.Time       `json:"startedAt"`
	StoppedAt      time.Time       `json:"stoppedAt,omitzero"`
	Items          []Item          `json:"items"`
	// Events is the history, filled by Get only.
	Events []Event `json:"events,omitempty"`
}

// Duration is how long the execution ran (zero while running).
func (e *Execution) Duration() time.Duration {
	if e.StoppedAt.IsZero() {
		return 0
	}
	return e.StoppedAt.Sub(e.StartedAt)
}

// Failed reports whether the execution did not succeed or left an item
// unsent (dead-lettered, retry-later or unfinished).
func (e *Execution) Failed() bool {
	if e.Status != StatusSucceeded && e.Status != StatusRunning {
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
func (e *Execution) OutcomeCounts() map[string]int {
	m := map[string]int{}
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
		keys = append(keys, k)
	}
	sort.Strings(keys)
	parts := make([]string, len(keys))
	for i, k := range keys {
		parts[i] = k + " " + itoa(counts[k])
	}
	if len(parts) == 0 {
		return "no items"
	}
	return strings.Join(parts, ", ")
}

// Item is one record of the batch (one mail).
type Item struct {
	Index     int    `json:"index"`
	MessageID string `json:"messageId"`
	MailID    string `json:"mailId,omitempty"`
	Outcome   string `json:"outcome"`
	Error     string `json:"error,omitempty"`
	Cause     string `json:"cause,omitempty"`
	// Body is the SQS message body of the record, when known: what replay
	// re-enqueues.
	Body string `json:"body,omitempty"`
}

// Failed reports whether the item was not delivered by its execution.
func (it Item) Failed() bool {
	return it.Outcome != OutcomeSent && it.Outcome != OutcomeAlreadySent
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
}

// Filter selects executions. Zero fields do not filter.
type Filter struct {
	// Status is an execution status, or "failed": executions with a failed
	// item or a status other than SUCCEEDED.
	Status  string
	Outcome string // executions with an item of this outcome
	Since   time.Time
	Until   time.Time
	MailID  string
	Limit   int    // default 20, at most 1000
	Cursor  string // from Page.NextCursor
}

// Page is a page of executions, newest first.
type Page struct {
	Executions []Execution `json:"executions"`
	NextCursor string      `json:"nextCursor,omitempty"`
}

// MailExecution is one execution that touched a mail.
type MailExecution struct {
	ExecutionID string    `json:"executionId"`
	StartedAt   time.Time `json:"startedAt"`
	Item        Item      `json:"item"`
}

// Source is where executions come from.
type Source interface {
	// List returns executions newest first, with their items.
	List(ctx context.Context, f Filter) (Page, error)
	// Get returns one execution with its items and events; id is the
	// execution ARN or its name.
	Get(ctx context.Context, id string) (*Execution, error)
	// MailExecutions lists the executions that touched mailID, newest first.
	MailExecutions(ctx context.Context, mailID string) ([]MailExecution, error)
}

// Statuses accepted by Filter.Status.
var Statuses = []string{StatusRunning, StatusSucceeded, StatusFailed, StatusTimedOut, StatusAborted, "failed"}

// Outcomes accepted by Filter.Outcome.
var Outcomes = []string{OutcomeSent, OutcomeAlreadySent, OutcomeDeadLettered, OutcomeRetryLater, OutcomeUnfinished}

// Validate checks a filter.
func (f Filter) Validate() error {
	if f.Status != "" && !contains(Statuses, f.Status) {
		return errors.New("status " + quote(f.Status) + " is not one of " + strings.Join(Statuses, ", "))
	}
	if f.Outcome != "" && !contains(Outcomes, f.Outcome) {
		return errors.New("outcome " + quote(f.Outcome) + " is not one of " + strings.Join(Outcomes, ", "))
	}
	if f.Limit < 0 || f.Limit > 1000 {
		return errors.New("limit " + itoa(f.Limit) + " is outside 1..1000")
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Until.After(f.Since) {
		return errors.New("until must be after since")
	}
	return nil
}

func (f Filter) matches(e *Execution) bool {
	switch {
	case f.Status == "failed" && !e.Failed():
		return false
	case f.Status != "" && f.Status != "failed" && e.Status != f.Status:
		return false
	case !f.Since.IsZero() && e.StartedAt.Before(f.Since):
		return false
	case !f.Until.IsZero() && !e.StartedAt.Before(f.Until):
		return false
	}
	if f.Outcome != "" || f.MailID != "" {
		for _, it := range e.Items {
			if (f.Outcome == "" || it.Outcome == f.Outcome) && (f.MailID == "" || it.MailID == f.MailID) {
				return true
			}
		}
		return false
	}
	return true
}

// CauseMessage makes a cause readable: a Lambda error's cause is JSON with
// errorMessage, which is what a person wants to see.
func CauseMessage(cause string) string {
	var c struct {
		ErrorMessage string `json:"errorMessage"`
	}
	if strings.HasPrefix(strings.TrimSpace(cause), "{") && json.Unmarshal([]byte(cause), &c) == nil && c.ErrorMessage != "" {
		return c.ErrorMessage
	}
	return cause
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

func quote(s string) string { b, _ := json.Marshal(s); return string(b) }

func itoa(n int) string {
	b, _ := json.Marshal(n)
	return string(b)
}

// record is the part of a Pipes SQS record the model needs.
type record struct {
	MessageID string `json:"messageId"`
	Body      string `json:"body"`
}

// mailIDOf reads the mailId of a body without validating the rest, so even
// an invalid message can be found by its id.
func mailIDOf(body string) string {
	var m struct {
		MailID string `json:"mailId"`
	}
	if json.Unmarshal([]byte(body), &m) != nil {
		return ""
	}
	return m.MailID
}
