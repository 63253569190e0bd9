// Package execsource reads the local runtime's execution store
// (local/execstore) as the read model's [inspect.Source], for the CLI and
// the console of `mailflow dev`. The store keeps the read model's own types
// (inspect/model), so nothing is converted on the way.
package execsource

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/mailflow/mailflow/asl"
	"github.com/mailflow/mailflow/inspect"
	"github.com/mailflow/mailflow/local/execstore"
	"github.com/mailflow/mailflow/workflow"
)

// Store is the part of the execution store a Source reads.
type Store interface {
	List(ctx context.Context, f execstore.Filter) (execstore.Page, error)
	Get(ctx context.Context, id string) (inspect.Execution, error)
	Resolve(ctx context.Context, ref string) (string, error)
	Events(ctx context.Context, id string) ([]inspect.Event, error)
	Items(ctx context.Context, id string) ([]inspect.Item, error)
	ItemsByMail(ctx context.Context, mailID string) ([]inspect.MailExecution, error)
}

var _ Store = (*execstore.Store)(nil)

// Source reads the local runtime's execution store.
type Source struct {
	Store Store
	// Running, when set, gives the history so far of an execution under
	// way in this process (the store has it only once it stops); without
	// it a running execution shows no events.
	Running func(id string) ([]inspect.Event, bool)
}

var _ inspect.Source = Source{}

// withItems sets the stored items of e, with the bodies of their records
// from its input (the store keeps no bodies).
func withItems(e *inspect.Execution, items []inspect.Item) {
	e.Items = items
	if e.Items == nil {
		e.Items = []inspect.Item{}
	}
	var records []workflow.Record
	_ = json.Unmarshal(e.Input, &records)
	for i := range e.Items {
		it := &e.Items[i]
		if it.Index < len(records) && records[it.Index].MessageID == it.MessageID {
			it.Body = records[it.Index].Body
		}
	}
}

// pendingItems are the items of an execution under way, which the store
// records only once it stops: one per record of its input, unfinished
// until its iteration reports an outcome in the history so far.
func pendingItems(input []byte, evs []inspect.Event) []inspect.Item {
	var records []workflow.Record
	if json.Unmarshal(input, &records) != nil {
		return nil
	}
	items := make([]inspect.Item, len(records))
	for i, r := range records {
		items[i] = inspect.Item{Index: i, MessageID: r.MessageID, MailID: workflow.PeekMailID(r.Body), Outcome: workflow.OutcomeUnfinished}
	}
	for _, it := range inspect.BuildTimeline(evs).Iterations {
		if it.Index < len(items) && it.Outcome != "" {
			items[it.Index].Outcome = it.Outcome
		}
	}
	return items
}

// List implements inspect.Source.
func (s Source) List(ctx context.Context, f inspect.Filter) (inspect.Page, error) {
	if err := f.Validate(); err != nil {
		return inspect.Page{}, err
	}
	limit := f.Limit
	if limit == 0 {
		limit = 20
	}
	sf := execstore.Filter{Since: f.Since, Until: f.Until, MailID: f.MailID, Outcome: workflow.Outcome(f.Outcome), Before: f.Cursor}
	switch f.Status {
	case inspect.StatusFailedItems:
		sf.Failed = true
	default:
		sf.Status = asl.Status(f.Status)
	}
	sf.Limit = limit
	page, err := s.Store.List(ctx, sf)
	if err != nil {
		return inspect.Page{}, err
	}
	out := inspect.Page{Executions: []inspect.Execution{}, NextCursor: page.NextCursor}
	for _, x := range page.Executions {
		items, err := s.Store.Items(ctx, x.ID)
		if err != nil {
			return inspect.Page{}, err
		}
		if x.Status == asl.StatusRunning && len(items) == 0 {
			items = pendingItems(x.Input, nil)
		}
		x.Items = items // without bodies: lists stay small; Get has them
		if x.Items == nil {
			x.Items = []inspect.Item{}
		}
		x.Input = nil // likewise
		out.Executions = append(out.Executions, x)
	}
	return out, nil
}

// Get implements inspect.Source.
func (s Source) Get(ctx context.Context, id string) (*inspect.Execution, error) {
	full, err := s.Store.Resolve(ctx, id)
	if err != nil {
		return nil, notFound(id, err)
	}
	x, err := s.Store.Get(ctx, full)
	if err != nil { // pruned since it was resolved
		return nil, notFound(id, err)
	}
	items, err := s.Store.Items(ctx, full)
	if err != nil {
		return nil, err
	}
	evs, err := s.events(ctx, &x)
	if err != nil {
		return nil, err
	}
	if x.Status == asl.StatusRunning && len(items) == 0 {
		items = pendingItems(x.Input, evs)
	}
	withItems(&x, items)
	x.Events = evs
	if x.Events == nil {
		x.Events = []inspect.Event{}
	}
	inspect.CompleteItems(&x)
	return &x, nil
}

// notFound is the read model's ErrNotFound for an id the store does not
// know, with what history the store keeps (the execution may have been
// pruned); other errors pass through.
func notFound(id string, err error) error {
	if !errors.Is(err, execstore.ErrNotFound) {
		return err
	}
	var nf *execstore.NotFoundError
	if errors.As(err, &nf) {
		return fmt.Errorf("%w: %s%s", inspect.ErrNotFound, id, nf.Kept.Note())
	}
	return fmt.Errorf("%w: %s", inspect.ErrNotFound, id)
}

// events reads an execution's history: from the runtime while it runs, from
// the store once it has stopped.
func (s Source) events(ctx context.Context, e *inspect.Execution) ([]inspect.Event, error) {
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

// MailExecutions implements inspect.Source.
func (s Source) MailExecutions(ctx context.Context, mailID string) ([]inspect.MailExecution, error) {
	out, err := s.Store.ItemsByMail(ctx, mailID)
	if out == nil && err == nil {
		out = []inspect.MailExecution{}
	}
	return out, err
}
