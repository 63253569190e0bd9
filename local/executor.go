package local

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"sync"
	"sync/atomic"
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
	clock        clock.Clock // the runtime's: timestamps, Wait, Retry and task deadlines
	random       func() float64
	onEvent      func(executionID string, ev execstore.Event)
	onStore      func(error)
	onFinish     func(execstore.Execution, []execstore.Item)

	// running holds the recorders of the executions under way: their
	// history reaches the store only when they stop.
	mu      sync.Mutex
	running map[string]*recorder
	// inFlight counts the executions under way, for whoever yields to
	// them (the delivery-feedback loop); nil counts nothing.
	inFlight *atomic.Int64
}

// runningEvents returns the history so far of an execution under way, each
// event's fields read from its details.
func (x *executor) runningEvents(id string) ([]execstore.Event, bool) {
	x.mu.Lock()
	rec, ok := x.running[id]
	x.mu.Unlock()
	if !ok {
		return nil, false
	}
	rec.mu.Lock()
	events := slices.Clone(rec.events)
	rec.mu.Unlock()
	for i := range events {
		events[i].ReadDetails()
	}
	return events, true
}

var _ pipes.Target = (*executor)(nil)

// recorder buffers an execution's history for the store.
type recorder struct {
	mu      sync.Mutex
	now     func() time.Time
	id      string
	events  []execstore.Event
	results []workflow.ItemResult // iteration results that name a record
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
		if res, ok := itemResultOf(e.Output); ok {
			r.results = append(r.results, res)
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
	started := x.clock.Now()
	rec := &recorder{now: x.clock.Now, id: id, onEvent: x.onEvent}
	x.mu.Lock()
	x.running[id] = rec
	x.mu.Unlock()
	if x.inFlight != nil {
		x.inFlight.Add(1)
		defer x.inFlight.Add(-1)
	}
	x.storeErr(x.store.Start(context.WithoutCancel(ctx), execstore.Execution{
		ID: id, Name: name, StateMachine: x.stateMachine, Input: input, StartedAt: started,
	}))

	firstUUID := true
	var uuidMu sync.Mutex
	ectx, cancel := x.withExpressLimit(ctx)
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
	final := execstore.Execution{ID: id, Name: name, StateMachine: x.stateMachine, Input: input, StartedAt: started, StoppedAt: x.clock.Now()}
	switch {
	case err != nil:
		out.Status, out.Error, out.Cause = asl.StatusFailed, asl.ErrRuntime, err.Error()
	case res.Status == asl.StatusSucceeded:
		text, encErr := asl.EncodeJSON(res.Output)
		if encErr != nil {
			out.Status, out.Error, out.Cause = asl.StatusFailed, asl.ErrRuntime, encErr.Error()
		} else {
			out.Status, out.Output = asl.StatusSucceeded, text
		}
	default:
		out.Status, out.Error, out.Cause = res.Status, res.Error, res.Cause
	}
	if ctx.Err() == nil && errors.Is(context.Cause(ectx), errExpressTimeout) {
		// The interpreter saw its context end, so it names no error: name
		// it, as the pipe dead-letters a record with it.
		out.Status, out.Error, out.Cause = asl.StatusTimedOut, asl.ErrTimeout, expressTimeoutCause
	}
	final.Status, final.Output, final.Error, final.Cause = out.Status, out.Output, out.Error, out.Cause
	rec.mu.Lock()
	final.Events, final.Items = rec.events, itemsOf(input, rec.results)
	rec.mu.Unlock()
	x.storeErr(x.store.Finish(context.WithoutCancel(ctx), final))
	x.mu.Lock()
	delete(x.running, id) // the store has the history now
	x.mu.Unlock()
	if x.onFinish != nil {
		final.Events = nil // the store has them; listeners get the items
		x.onFinish(final, final.Items)
	}
	return out, nil
}

func (x *executor) storeErr(err error) {
	if err != nil && x.onStore != nil {
		x.onStore(err)
	}
}

// itemResultOf reads an iteration's result from a state's output: a value
// with a messageId and an outcome. Fields of another type read as empty.
func itemResultOf(output any) (workflow.ItemResult, bool) {
	out, ok := output.(map[string]any)
	if !ok {
		return workflow.ItemResult{}, false
	}
	id, hasID := out["messageId"]
	outcome, hasOutcome := out["outcome"]
	if !hasID || !hasOutcome {
		return workflow.ItemResult{}, false
	}
	var res workflow.ItemResult
	res.MessageID, hasID = id.(string)
	o, _ := outcome.(string)
	res.Outcome = workflow.Outcome(o)
	res.Error, _ = out["error"].(string)
	res.MailID, _ = out["mailId"].(string)
	return res, hasID
}

// itemsOf pairs each input record with the outcome its iteration reported.
func itemsOf(input []byte, results []workflow.ItemResult) []execstore.Item {
	var records []workflow.Record
	if json.Unmarshal(input, &records) != nil {
		return nil
	}
	byMessage := make(map[string]workflow.ItemResult, len(results))
	for _, o := range results {
		byMessage[o.MessageID] = o
	}
	items := make([]execstore.Item, len(records))
	for i, r := range records {
		it := execstore.Item{Index: i, MessageID: r.MessageID, MailID: workflow.PeekMailID(r.Body), Outcome: workflow.OutcomeUnfinished}
		if o, ok := byMessage[r.MessageID]; ok {
			it.Outcome, it.Error = o.Outcome, o.Error
			if o.MailID != "" {
				it.MailID = o.MailID
			}
		}
		items[i] = it
	}
	return items
}

// errExpressTimeout is the cause of an execution stopped at ExpressTimeout.
var errExpressTimeout = errors.New("the Express execution limit passed")

// expressTimeoutCause is the cause an execution stopped at ExpressTimeout
// reports.
var expressTimeoutCause = fmt.Sprintf("The execution ran longer than %s, the limit of an Express execution.", ExpressTimeout)

// withExpressLimit bounds an execution by ExpressTimeout on the runtime's
// clock: a context deadline on the wall clock, a clock timer otherwise (so a
// scaled run scales the limit as it scales every other wait).
func (x *executor) withExpressLimit(ctx context.Context) (context.Context, context.CancelFunc) {
	if x.clock == clock.Wall {
		return context.WithTimeoutCause(ctx, ExpressTimeout, errExpressTimeout)
	}
	ectx, cancel := context.WithCancelCause(ctx)
	fired, release := x.clock.Timer(ExpressTimeout)
	go func() {
		defer release()
		select {
		case <-fired:
			cancel(errExpressTimeout)
		case <-ectx.Done():
		}
	}()
	return ectx, func() { cancel(context.Canceled) }
}

// aslClock is the interpreter's clock: the runtime's, or nil for the wall
// clock, so the interpreter keeps its own wall-clock deadlines (context
// deadlines, no timer goroutine per task).
func (x *executor) aslClock() asl.Clock {
	if x.clock == clock.Wall {
		return nil
	}
	return x.clock
}
