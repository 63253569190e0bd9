package inspect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/mailflow/mailflow/asl"
	"github.com/mailflow/mailflow/local/execstore"
	"github.com/mailflow/mailflow/workflow"
)

// LocalSource reads the local runtime's execution store.
type LocalSource struct {
	Store *execstore.Store
	// Running, when set, gives the history so far of an execution under
	// way in this process (the store has it only once it stops); without
	// it a running execution shows no events.
	Running func(id string) ([]Event, bool)
}

var _ Source = LocalSource{}

// withItems sets the stored items of e, with the bodies of their records
// from its input (the store keeps no bodies).
func withItems(e *Execution, items []Item) {
	e.Items = items
	if e.Items == nil {
		e.Items = []Item{}
	}
	var records []record
	_ = json.Unmarshal(e.Input, &records)
	for i := range e.Items {
		it := &e.Items[i]
		if it.Index < len(records) && records[it.Index].MessageID == it.MessageID {
			it.Body = records[it.Index].Body
		}
	}
}

// List implements Source.
func (s LocalSource) List(ctx context.Context, f Filter) (Page, error) {
	if err := f.Validate(); err != nil {
		return Page{}, err
	}
	limit := f.Limit
	if limit == 0 {
		limit = 20
	}
	sf := execstore.Filter{Since: f.Since, Until: f.Until, MailID: f.MailID, Outcome: workflow.Outcome(f.Outcome), Before: f.Cursor}
	switch f.Status {
	case StatusFailedItems:
		sf.Failed = true
	default:
		sf.Status = asl.Status(f.Status)
	}
	sf.Limit = limit
	page, err := s.Store.List(ctx, sf)
	if err != nil {
		return Page{}, err
	}
	out := Page{Executions: []Execution{}, NextCursor: page.NextCursor}
	for _, x := range page.Executions {
		items, err := s.Store.Items(ctx, x.ID)
		if err != nil {
			return Page{}, err
		}
		x.Items = items // without bodies: lists stay small; Get has them
		if x.Items == nil {
			x.Items = []Item{}
		}
		x.Input = nil // likewise
		out.Executions = append(out.Executions, x)
	}
	return out, nil
}

// Get implements Source.
func (s LocalSource) Get(ctx context.Context, id string) (*Execution, error) {
	full, err := s.Store.Resolve(ctx, id)
	if errors.Is(err, execstore.ErrNotFound) {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, id)
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
	x := e
	withItems(&x, items)
	x.Events = evs
	if x.Events == nil {
		x.Events = []Event{}
	}
	tl := BuildTimeline(x.Events)
	for _, it := range tl.Iterations {
		if it.Index < len(x.Items) {
			enrichItem(&x.Items[it.Index], it)
		}
	}
	return &x, nil
}

// events reads an execution's history: from the runtime while it runs, from
// the store once it has stopped.
func (s LocalSource) events(ctx context.Context, e *Execution) ([]Event, error) {
	if e.Status == asl.StatusRunning && s.Running != nil {
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
func (s LocalSource) MailExecutions(ctx context.Context, mailID string) ([]MailExecution, error) {
	out, err := s.Store.ItemsByMail(ctx, mailID)
	if out == nil && err == nil {
		out = []MailExecution{}
	}
	return out, err
}
