package local

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"slices"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/mailflow/mailflow/asl"
	"github.com/mailflow/mailflow/clock"
	"github.com/mailflow/mailflow/local/execstore"
	"github.com/mailflow/mailflow/local/pipes"
	"github.com/mailflow/mailflow/workflow"
)

// ExpressTimeout is the hard limit of an Express execution.
const ExpressTimeout = 5 * time.Minute

// executor runs the state machine synchronously for the pipe, as
// StartSyncExecution does, and records every execution in the store.
type executor struct {
	def          *asl.Definition
	registry     *asl.Registry
	store        *execstore.Store
	stateMachine string
	region       string
	account      string
	now          func() time.Time
	clock        clock.Clock // Wait, Retry and task deadlines; nil: now with wall-clock waits
	random       func() float64
	onEvent      func(executionID string, ev execstore.Event)
	onStore      func(error)
	onFinish     func(execstore.Execution, []execstore.Item)

	// running holds the recorders of the executions under way: their
	// history reaches the store only when they stop.
	mu      sync.Mutex
	running map[string]*recorder
}

// runningEvents returns the history so far of an execution under way.
func (x *executor) runningEvents(id string) ([]execstore.Event, bool) {
	x.mu.Lock()
	rec, ok := x.running[id]
	x.mu.Unlock()
	if !ok {
		return nil, false
	}
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return slices.Clone(rec.events), true
}

var _ pipes.Target = (*executor)(nil)

// recorder buffers an execution's history for the store.
type recorder struct {
	mu      sync.Mutex
	now     func() time.Time
	id      string
	events  []execstore.Event
	outputs []map[string]any // iteration results that name a record
	onEvent func(string, execstore.Event)
}

// detailsScratch holds buffers to encode event details in before they are
// copied out at their exact size.
var detailsScratch = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}

func (r *recorder) OnEvent(e *asl.Event) {
	scratch := detailsScratch.Get().(*[]byte)
	details, err := e.AppendDetails((*scratch)[:0])
	*scratch = details
	details = bytes.Clone(details)
	detailsScratch.Put(scratch)
	if err != nil {
		details = []byte(fmt.Sprintf(`{"encodingError":%q}`, err.Error()))
	}
	ev := execstore.Event{ID: e.ID, PreviousID: e.PreviousEventID, Type: string(e.Type), Timestamp: r.now(), Details: details}
	r.mu.Lock()
	r.events = append(r.events, ev)
	if e.Type == asl.EventType("PassStateExited") || e.Type == asl.EventType("SucceedStateExited") {
		if out, ok := e.Output.(map[string]any); ok {
			if _, hasID := out["messageId"]; hasID {
				if _, hasOutcome := out["outcome"]; hasOutcome {
					r.outputs = append(r.outputs, out)
				}
			}
		}
	}
	r.mu.Unlock()
	if r.onEvent != nil {
		r.onEvent(r.id, ev)
	}
}

func (x *executor) Invoke(ctx context.Context, input []byte) (pipes.Outcome, error) {
	name := uuid.NewString()
	expressID := uuid.NewString()
	id := fmt.Sprintf("arn:aws:states:%s:%s:express:%s:%s:%s", x.region, x.account, x.stateMachine, name, expressID)
	started := x.now()
	rec := &recorder{now: x.now, id: id, onEvent: x.onEvent}
	x.mu.Lock()
	x.running[id] = rec
	x.mu.Unlock()
	x.storeErr(x.store.Start(context.WithoutCancel(ctx), execstore.Execution{
		ID: id, Name: name, StateMachine: x.stateMachine, Input: input, StartedAt: started,
	}))

	firstUUID := true
	var uuidMu sync.Mutex
	ectx, cancel := context.WithTimeout(ctx, ExpressTimeout)
	defer cancel()
	res, err := asl.Execute(ectx, x.def, json.RawMessage(input), asl.Options{
		Registry: x.registry,
		Observer: rec,
		Clock:    x.aslClock(),
		Random:   x.random,
		UUID: func() string {
			uuidMu.Lock()
			defer uuidMu.Unlock()
			if firstUUID {
				firstUUID = false
				return expressID
			}
			return uuid.NewString()
		},
		Region:           x.region,
		AccountID:        x.account,
		StateMachineName: x.stateMachine,
		ExecutionName:    name,
		StateMachineType: "EXPRESS",
	})
	out := pipes.Outcome{ExecutionID: id}
	final := execstore.Execution{ID: id, Name: name, StateMachine: x.stateMachine, Input: input, StartedAt: started, StoppedAt: x.now()}
	switch {
	case err != nil:
		out.Status, out.Error, out.Cause = pipes.StatusFailed, "States.Runtime", err.Error()
	case res.Status == asl.StatusSucceeded:
		text, encErr := asl.EncodeJSON(res.Output)
		if encErr != nil {
			out.Status, out.Error, out.Cause = pipes.StatusFailed, "States.Runtime", encErr.Error()
		} else {
			out.Status, out.Output = pipes.StatusSucceeded, text
		}
	default:
		out.Status, out.Error, out.Cause = res.Status, res.Error, res.Cause
	}
	if ctx.Err() == nil && ectx.Err() == context.DeadlineExceeded {
		out.Status = pipes.StatusTimedOut
	}
	final.Status, final.Output, final.Error, final.Cause = out.Status, out.Output, out.Error, out.Cause
	rec.mu.Lock()
	events, items := rec.events, itemsOf(input, rec.outputs)
	rec.mu.Unlock()
	x.storeErr(x.store.Finish(context.WithoutCancel(ctx), final, events, items))
	x.mu.Lock()
	delete(x.running, id) // the store has the history now
	x.mu.Unlock()
	if x.onFinish != nil {
		final.ItemCount = len(items)
		x.onFinish(final, items)
	}
	return out, nil
}

func (x *executor) storeErr(err error) {
	if err != nil && x.onStore != nil {
		x.onStore(err)
	}
}

// itemsOf pairs each input record with the outcome its iteration reported.
func itemsOf(input []byte, outputs []map[string]any) []execstore.Item {
	var records []workflow.Record
	if json.Unmarshal(input, &records) != nil {
		return nil
	}
	byMessage := make(map[string]map[string]any, len(outputs))
	for _, o := range outputs {
		if id, ok := o["messageId"].(string); ok {
			byMessage[id] = o
		}
	}
	items := make([]execstore.Item, len(records))
	for i, r := range records {
		it := execstore.Item{Index: i, MessageID: r.MessageID, MailID: mailIDOf(r.Body), Outcome: "unfinished"}
		if o, ok := byMessage[r.MessageID]; ok {
			it.Outcome, _ = o["outcome"].(string)
			it.Error, _ = o["error"].(string)
			if m, ok := o["mailId"].(string); ok && m != "" {
				it.MailID = m
			}
		}
		items[i] = it
	}
	return items
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

// aslClock is the interpreter's clock: the runtime's, or without one its
// Now with wall-clock waits.
func (x *executor) aslClock() asl.Clock {
	if x.clock != nil {
		return x.clock
	}
	return nowClock(x.now)
}

// nowClock reads the time from a function and waits on the wall clock.
type nowClock func() time.Time

func (n nowClock) Now() time.Time { return n() }

func (nowClock) Timer(d time.Duration) (<-chan time.Time, func()) { return clock.Wall.Timer(d) }

func (nowClock) Sleep(ctx context.Context, d time.Duration) error { return clock.Wall.Sleep(ctx, d) }
