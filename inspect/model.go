package inspect

import (
	"context"
	"encoding/json"
	"errors"
	"strings"
	"time"

	"github.com/mailflow/mailflow/asl"
	"github.com/mailflow/mailflow/inspect/model"
	"github.com/mailflow/mailflow/workflow"
)

// ErrNotFound is returned for an unknown execution.
var ErrNotFound = errors.New("execution not found")

// The model's types are defined in the leaf package model, which the local
// store writes and returns too; these are the same types.
type (
	// Execution is one run of the state machine, from either source.
	Execution = model.Execution
	// Item is one record of the batch (one mail).
	Item = model.Item
	// Event is one history event, normalised across sources.
	Event = model.Event
	// MailExecution is one execution that touched a mail.
	MailExecution = model.MailExecution
)

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

// StatusFailedItems is the Filter.Status of executions with a failed item
// or a status other than SUCCEEDED.
const StatusFailedItems = "failed"

// Statuses accepted by Filter.Status.
var Statuses = []string{
	string(asl.StatusRunning), string(asl.StatusSucceeded), string(asl.StatusFailed),
	string(asl.StatusTimedOut), string(asl.StatusAborted), StatusFailedItems,
}

// Outcomes accepted by Filter.Outcome.
var Outcomes = func() []string {
	var out []string
	for _, o := range workflow.Outcomes() {
		out = append(out, string(o))
	}
	return out
}()

// Validate checks a filter.
func (f Filter) Validate() error {
	var problems []error
	if f.Status != "" && !contains(Statuses, f.Status) {
		problems = append(problems, errors.New("status "+quote(f.Status)+" is not one of "+strings.Join(Statuses, ", ")))
	}
	if f.Outcome != "" && !contains(Outcomes, f.Outcome) {
		problems = append(problems, errors.New("outcome "+quote(f.Outcome)+" is not one of "+strings.Join(Outcomes, ", ")))
	}
	if f.Limit < 0 || f.Limit > 1000 {
		problems = append(problems, errors.New("limit "+itoa(f.Limit)+" is outside 1..1000"))
	}
	if !f.Since.IsZero() && !f.Until.IsZero() && !f.Until.After(f.Since) {
		problems = append(problems, errors.New("until must be after since"))
	}
	return errors.Join(problems...)
}

func (f Filter) matches(e *Execution) bool {
	switch {
	case f.Status == StatusFailedItems && !e.Failed():
		return false
	case f.Status != "" && f.Status != StatusFailedItems && string(e.Status) != f.Status:
		return false
	case !f.Since.IsZero() && e.OrderTime().Before(f.Since):
		return false
	case !f.Until.IsZero() && !e.OrderTime().Before(f.Until):
		return false
	}
	if f.Outcome != "" || f.MailID != "" {
		for _, it := range e.Items {
			if (f.Outcome == "" || string(it.Outcome) == f.Outcome) && (f.MailID == "" || it.MailID == f.MailID) {
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
