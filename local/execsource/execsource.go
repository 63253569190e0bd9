// Package execsource reads the local runtime's execution store
// (local/execstore) as the read model's [inspect.Source], for the CLI and
// the console of `mailflow dev`.
package execsource

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/mailflow/mailflow/inspect"
	"github.com/mailflow/mailflow/local/execstore"
)

// Store is the part of the execution store a Source reads.
type Store interface {
	List(ctx context.Context, f execstore.Filter) (execstore.Page, error)
	Get(ctx context.Context, id string) (execstore.Execution, error)
	Resolve(ctx context.Context, ref string) (string, error)
	Events(ctx context.Context, id string) ([]execstore.Event, error)
	Items(ctx context.Context, id string) ([]execstore.Item, error)
	ItemsByMail(ctx context.Context, mailID string) ([]execstore.MailItem, error)
}

var _ Store = (*execstore.Store)(nil)

// Source reads the local runtime's execution store.
type Source struct {
	Store Store
	// Running, when set, gives the history so far of an execution under
	// way in this process (the store has it only once it stops); without
	// it a running execution shows no events.
	Running func(id string) ([]execstore.Event, bool)
}

var _ inspect.Source = Source{}

func fromStore(e execstore.Execution, items []execstore.Item) inspect.Execution {
	out := inspect.Execution{
		ID: e.ID, Name: e.Name, StateMachine: e.StateMachine, Status: e.Status,
		Input: e.Input, Output: e.Output, Error: e.Error, Cause: e.Cause,
		StartedAt: e.StartedAt, StoppedAt: e.StoppedAt, Items: []inspect.Item{},
	}
	var records []struct {
		MessageID string `json:"messageId"`
		Body      string `json:"body"`
	}
	_ = json.Unmarshal(e.Input, &records)
	for _, it := range items {
		item := inspect.Item{Index: it.Index, MessageID: it.MessageID, MailID: it.MailID, Outcome: it.Outcome, Error: it.Error, Cause: it.Cause}
		if it.Index < len(records) && records[it.Index].MessageID == it.MessageID {
			item.Body = records[it.Index].Body
		}
		out.Items = append(out.Items, item)
	}
	return out
}

// List implements Source.
func (s Source) List(ctx context.Context, f inspect.Filter) (inspect.Page, error) {
	if err := f.Validate(); err != nil {
		return inspect.Page{}, err
	}
	limit := f.Limit
	if limit == 0 {
		limit = 20
	}
	sf := execstore.Filter{Since: f.Since, Until: f.Until, MailID: f.MailID, Outcome: f.Outcome, Before: f.Cursor}
	switch f.Status {
	case "failed":
		sf.Failed = true
	default:
		sf.Status = f.Status
	}
	sf.Limit = limit
	page, err := s.Store.List(ctx, sf)
	if err != nil {
		return inspect.Page{}, err
	}
	out := inspect.Page{Executions: []inspect.Execution{}, NextCursor: page.NextCursor}
	for _, e := range page.Executions {
		items, err := s.Store.Items(ctx, e.ID)
		if err != nil {
			return inspect.Page{}, err
		}
		x := fromStore(e, items)
		x.Input = nil // lists stay small; Get has it
		for i := range x.Items {
			x.Items[i].Body = ""
		}
		out.Executions = append(out.Executions, x)
	}
	return out, nil
}

// Get implements Source.
func (s Source) Get(ctx context.Context, id string) (*inspect.Execution, error) {
	full, err := s.Store.Resolve(ctx, id)
	if errors.Is(err, execstore.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", inspect.ErrNotFound, id)
	} else if err != nil {
		return nil, err
	}
	e, err := s.Store.Get(ctx, full)
	if err != nil {
		return nil, err
	}
	items, err := s.Store.Items(ctx, full)
	if err != nil {
		return nil, err
	}
	evs, err := s.events(ctx, &e)
	if err != nil {
		return nil, err
	}
	x := fromStore(e, items)
	x.Events = make([]inspect.Event, 0, len(evs))
	for _, ev := range evs {
		x.Events = append(x.Events, Event(ev))
	}
	inspect.CompleteItems(&x)
	return &x, nil
}

// events reads an execution's history: from the runtime while it runs, from
// the store once it has stopped.
func (s Source) events(ctx context.Context, e *execstore.Execution) ([]execstore.Event, error) {
	if e.Status == execstore.StatusRunning && s.Running != nil {
		if evs, ok := s.Running(e.ID); ok {
			return evs, nil
		}
		// It stopped in the meantime: its end state and history are stored.
		stopped, err := s.Store.Get(ctx, e.ID)
		if err != nil {
			return nil, err
		}
		*e = stopped
	}
	return s.Store.Events(ctx, e.ID)
}

// MailExecutions implements Source.
func (s Source) MailExecutions(ctx context.Context, mailID string) ([]inspect.MailExecution, error) {
	items, err := s.Store.ItemsByMail(ctx, mailID)
	if err != nil {
		return nil, err
	}
	out := []inspect.MailExecution{}
	for _, mi := range items {
		out = append(out, inspect.MailExecution{ExecutionID: mi.ExecutionID, StartedAt: mi.StartedAt, Item: inspect.Item{
			Index: mi.Index, MessageID: mi.MessageID, MailID: mi.MailID, Outcome: mi.Outcome, Error: mi.Error, Cause: mi.Cause,
		}})
	}
	return out, nil
}

// Event converts a stored event (details as GetExecutionHistory
// fields, input and output as JSON values) to the model.
func Event(ev execstore.Event) inspect.Event {
	out := inspect.Event{ID: ev.ID, PreviousID: ev.PreviousID, Type: ev.Type, Timestamp: ev.Timestamp}
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
	if json.Unmarshal(ev.Details, &d) == nil {
		out.Name, out.Index, out.Input, out.Output, out.Parameters = d.Name, d.Index, d.Input, d.Output, d.Parameters
		out.Error, out.Cause, out.Resource, out.ResourceType = d.Error, d.Cause, d.Resource, d.ResourceType
	}
	return out
}
