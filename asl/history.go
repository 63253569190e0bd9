package asl

import (
	"strconv"
	"sync"

	"github.com/mailflow/mailflow/asl/internal/jsonvalue"
)

// EventType names a history event as GetExecutionHistory does.
type EventType string

// History event types.
const (
	ExecutionStarted   EventType = "ExecutionStarted"
	ExecutionSucceeded EventType = "ExecutionSucceeded"
	ExecutionFailed    EventType = "ExecutionFailed"
	ExecutionTimedOut  EventType = "ExecutionTimedOut"
	ExecutionAborted   EventType = "ExecutionAborted"

	TaskScheduled EventType = "TaskScheduled"
	TaskStarted   EventType = "TaskStarted"
	TaskSucceeded EventType = "TaskSucceeded"
	TaskFailed    EventType = "TaskFailed"
	TaskTimedOut  EventType = "TaskTimedOut"

	LambdaFunctionScheduled EventType = "LambdaFunctionScheduled"
	LambdaFunctionStarted   EventType = "LambdaFunctionStarted"
	LambdaFunctionSucceeded EventType = "LambdaFunctionSucceeded"
	LambdaFunctionFailed    EventType = "LambdaFunctionFailed"
	LambdaFunctionTimedOut  EventType = "LambdaFunctionTimedOut"

	MapStateStarted       EventType = "MapStateStarted"
	MapStateSucceeded     EventType = "MapStateSucceeded"
	MapStateFailed        EventType = "MapStateFailed"
	MapStateAborted       EventType = "MapStateAborted"
	MapIterationStarted   EventType = "MapIterationStarted"
	MapIterationSucceeded EventType = "MapIterationSucceeded"
	MapIterationFailed    EventType = "MapIterationFailed"
	MapIterationAborted   EventType = "MapIterationAborted"

	ParallelStateStarted   EventType = "ParallelStateStarted"
	ParallelStateSucceeded EventType = "ParallelStateSucceeded"
	ParallelStateFailed    EventType = "ParallelStateFailed"
	ParallelStateAborted   EventType = "ParallelStateAborted"

	WaitStateAborted EventType = "WaitStateAborted"
	// EvaluationFailed records a JSONata expression that failed.
	EvaluationFailed EventType = "EvaluationFailed"
	TaskStateAborted EventType = "TaskStateAborted"
)

// Event is one history event. Input, Output, Parameters and the values of
// AssignedVariables are value trees (AWS returns them as JSON text; marshal
// them with EncodeJSON when text is needed). Optional fields are set only
// when the Has* flag or the pointer says so, so a flattened event has the
// same keys as AWS's.
type Event struct {
	ID              int64
	PreviousEventID int64
	Type            EventType

	Name      string // state name (entered/exited, map iterations)
	HasInput  bool
	Input     any
	HasOutput bool
	Output    any

	Error    string
	HasError bool
	Cause    string
	HasCause bool

	Resource     string
	ResourceType string
	Region       string
	HasParams    bool
	Parameters   any

	TimeoutInSeconds   *int64
	HeartbeatInSeconds *int64
	Index              *int
	Length             *int

	AssignedVariables map[string]any

	// EvaluationFailed: the field ("Output/result") and the state
	Location string
	State    string
}

// Observer receives history events in order as they happen, one at a
// time. Map iterations and Parallel branches call it from their own
// goroutines (unless Options.Sequential is set), never two at once; it
// must not retain the event's values for mutation (they are shared with
// the execution).
type Observer interface {
	OnEvent(e *Event)
}

// ObserverFunc adapts a function to Observer.
type ObserverFunc func(e *Event)

// OnEvent calls f(e).
func (f ObserverFunc) OnEvent(e *Event) { f(e) }

// Flatten renders the event the way GetExecutionHistory flattens its
// single *EventDetails object: id, previousEventId, type and the details.
func (e *Event) Flatten() map[string]any {
	m := map[string]any{"id": e.ID, "previousEventId": e.PreviousEventID, "type": string(e.Type)}
	if e.Name != "" {
		m["name"] = e.Name
	}
	if e.HasInput {
		m["input"] = e.Input
	}
	if e.HasOutput {
		m["output"] = e.Output
	}
	if e.HasError {
		m["error"] = e.Error
	}
	if e.HasCause {
		m["cause"] = e.Cause
	}
	if e.Resource != "" {
		m["resource"] = e.Resource
	}
	if e.ResourceType != "" {
		m["resourceType"] = e.ResourceType
	}
	if e.Region != "" {
		m["region"] = e.Region
	}
	if e.HasParams {
		m["parameters"] = e.Parameters
	}
	if e.TimeoutInSeconds != nil {
		m["timeoutInSeconds"] = *e.TimeoutInSeconds
	}
	if e.HeartbeatInSeconds != nil {
		m["heartbeatInSeconds"] = *e.HeartbeatInSeconds
	}
	if e.Index != nil {
		m["index"] = *e.Index
	}
	if e.Length != nil {
		m["length"] = *e.Length
	}
	if e.AssignedVariables != nil {
		m["assignedVariables"] = e.AssignedVariables
	}
	if e.Location != "" {
		m["location"] = e.Location
	}
	if e.State != "" {
		m["state"] = e.State
	}
	return m
}

// recorder numbers events and hands them to the observer. Without an
// observer it only counts, so ids stay right (error texts cite them) and no
// event is allocated.
type recorder struct {
	obs  Observer
	last int64
	// mu serialises numbering and delivery when iterations or branches run
	// concurrently; nil in sequential executions.
	mu *sync.Mutex
}

// lastID returns the id of the latest event.
func (r *recorder) lastID() int64 {
	if r.mu != nil {
		r.mu.Lock()
		defer r.mu.Unlock()
	}
	return r.last
}

// thread is one sequential flow of events (the execution, a branch, an
// iteration); prev is the id the next event points to.
type thread struct {
	rec  *recorder
	prev int64
	// branch marks a Parallel branch: AWS records a state failing there as
	// aborted (the whole Parallel stops).
	branch bool
	spare  *stateRun
}

// emit records an event built by fill (called only when observed) and
// makes it the thread's latest event.
func (t *thread) emit(typ EventType, fill func(e *Event)) int64 {
	id := t.side(t.prev, typ, fill)
	t.prev = id
	return id
}

// side records an event pointing to prev without moving the thread.
func (t *thread) side(prev int64, typ EventType, fill func(e *Event)) int64 {
	r := t.rec
	if r.mu != nil {
		r.mu.Lock()
		defer r.mu.Unlock()
	}
	r.last++
	id := r.last
	if r.obs != nil {
		e := &Event{ID: id, PreviousEventID: prev, Type: typ}
		if fill != nil {
			fill(e)
		}
		r.obs.OnEvent(e)
	}
	return id
}

// AppendDetails appends the event's details as a JSON object: Flatten
// without id, previousEventId and type, encoded as EncodeJSON would encode
// it (keys sorted), but without building the map. A store that keeps the
// envelope fields apart calls it for every event.
func (e *Event) AppendDetails(b []byte) ([]byte, error) {
	// Keys in sorted order, as EncodeJSON writes a map.
	b = append(b, '{')
	first := true
	key := func(k string) {
		if !first {
			b = append(b, ',')
		}
		first = false
		b = jsonvalue.AppendString(b, k)
		b = append(b, ':')
	}
	value := func(k string, v any) error {
		key(k)
		var err error
		b, err = jsonvalue.Append(b, v)
		return err
	}
	str := func(k, v string) {
		key(k)
		b = jsonvalue.AppendString(b, v)
	}
	num := func(k string, v int64) {
		key(k)
		b = strconv.AppendInt(b, v, 10)
	}
	if e.AssignedVariables != nil {
		if err := value("assignedVariables", e.AssignedVariables); err != nil {
			return b, err
		}
	}
	if e.HasCause {
		str("cause", e.Cause)
	}
	if e.HasError {
		str("error", e.Error)
	}
	if e.HeartbeatInSeconds != nil {
		num("heartbeatInSeconds", *e.HeartbeatInSeconds)
	}
	if e.Index != nil {
		num("index", int64(*e.Index))
	}
	if e.HasInput {
		if err := value("input", e.Input); err != nil {
			return b, err
		}
	}
	if e.Length != nil {
		num("length", int64(*e.Length))
	}
	if e.Location != "" {
		str("location", e.Location)
	}
	if e.Name != "" {
		str("name", e.Name)
	}
	if e.HasOutput {
		if err := value("output", e.Output); err != nil {
			return b, err
		}
	}
	if e.HasParams {
		if err := value("parameters", e.Parameters); err != nil {
			return b, err
		}
	}
	if e.Region != "" {
		str("region", e.Region)
	}
	if e.Resource != "" {
		str("resource", e.Resource)
	}
	if e.ResourceType != "" {
		str("resourceType", e.ResourceType)
	}
	if e.State != "" {
		str("state", e.State)
	}
	if e.TimeoutInSeconds != nil {
		num("timeoutInSeconds", *e.TimeoutInSeconds)
	}
	return append(b, '}'), nil
}
