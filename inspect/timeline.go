package inspect

import (
	"encoding/json"
	"sort"
	"strings"
	"time"

	"github.com/mailflow/mailflow/asl"
	"github.com/mailflow/mailflow/workflow"
)

// State run statuses.
const (
	RunSucceeded = "succeeded"
	RunFailed    = "failed" // the state's last attempt failed (then caught, or the end)
	RunRunning   = "running"
	// RunAborted is a state or iteration the execution's end cut short: it
	// was still running (a Wait, a task in flight) when the execution
	// failed, timed out or was aborted.
	RunAborted = "aborted"
)

// Timeline is an execution's history grouped by state: the top-level states
// and, for the Map, one lane per iteration.
type Timeline struct {
	States     []StateRun  `json:"states"`
	Iterations []Iteration `json:"iterations"`
}

// Iteration is one Map iteration (one record).
type Iteration struct {
	Index     int              `json:"index"`
	MessageID string           `json:"messageId,omitempty"`
	MailID    string           `json:"mailId,omitempty"`
	Outcome   workflow.Outcome `json:"outcome,omitempty"`
	Status    string           `json:"status"` // succeeded, failed, aborted, running
	Error     string           `json:"error,omitempty"`
	Cause     string           `json:"cause,omitempty"`
	States    []StateRun       `json:"states"`
	// Record is the iteration's input (the SQS record) when logged in full.
	Record json.RawMessage `json:"-"`
}

// StateRun is one visit of a state.
type StateRun struct {
	Name      string          `json:"name"`
	Type      string          `json:"type"` // Task, Pass, Choice, Map, ...
	Entered   time.Time       `json:"entered"`
	Exited    time.Time       `json:"exited,omitzero"`
	Duration  time.Duration   `json:"durationNs"`
	Status    string          `json:"status"`
	Attempts  int             `json:"attempts"`
	Retries   int             `json:"retries"`
	Failures  []Failure       `json:"failures,omitempty"`
	Error     string          `json:"error,omitempty"`
	Cause     string          `json:"cause,omitempty"`
	Input     json.RawMessage `json:"input,omitempty"`
	Output    json.RawMessage `json:"output,omitempty"`
	InputText string          `json:"inputText,omitempty"` // truncated input
	Truncated bool            `json:"truncated,omitempty"`
	Missing   bool            `json:"missing,omitempty"` // no execution data logged
	firstID   int64
}

// Failure is one failed attempt of a task.
type Failure struct {
	At    time.Time `json:"at"`
	Error string    `json:"error"`
	Cause string    `json:"cause,omitempty"`
}

// lane collects the state runs of one thread of events.
type lane struct {
	runs []*StateRun
	open *StateRun
}

func (l *lane) close(at time.Time) {
	if l.open == nil {
		return
	}
	r := l.open
	if r.Exited.IsZero() {
		r.Exited = at
	}
	r.measure()
	l.open = nil
}

// measure sets the run's duration when both its ends are known (a run
// seen only by its failure, at log level ERROR, has no known entry).
func (r *StateRun) measure() {
	if !r.Entered.IsZero() && !r.Exited.IsZero() {
		r.Duration = r.Exited.Sub(r.Entered)
	}
}

// stop ends the run still open when the execution ends (end is the
// execution's last event): a Fail state has failed with the execution's
// error, a Succeed state has succeeded, and any other state ends as the
// execution did (aborted, unless it succeeded).
func (l *lane) stop(end *Event) {
	if r := l.open; r != nil && r.Status == RunRunning {
		switch {
		case r.Type == "Fail":
			r.Status = RunFailed
			r.Error, r.Cause = end.Error, end.Cause
		case r.Type == "Succeed" || end.Type == "ExecutionSucceeded":
			r.Status = RunSucceeded
		default:
			r.Status = RunAborted
		}
	}
	l.close(end.Timestamp)
}

// failedStateType is the type of state a failure event comes from.
func failedStateType(eventType string) string {
	if strings.HasPrefix(eventType, "Map") {
		return "Map"
	}
	return "Task"
}

// remove takes run r out of the lane.
func (l *lane) remove(r *StateRun) {
	for i, x := range l.runs {
		if x == r {
			l.runs = append(l.runs[:i], l.runs[i+1:]...)
			return
		}
	}
}

// lastRun is the lane's last state run, or nil.
func (l *lane) lastRun() *StateRun {
	if len(l.runs) == 0 {
		return nil
	}
	return l.runs[len(l.runs)-1]
}

// executionEnds are the event types that end an execution.
var executionEnds = map[string]bool{"ExecutionSucceeded": true, "ExecutionFailed": true, "ExecutionTimedOut": true, "ExecutionAborted": true}

// terminalOutcome maps the item processor's end states to the outcome
// their output reports, for logs without execution data.
var terminalOutcome = map[string]workflow.Outcome{
	"Sent": workflow.OutcomeSent, "AlreadySent": workflow.OutcomeAlreadySent, "DeadLettered": workflow.OutcomeDeadLettered, "RetryLater": workflow.OutcomeRetryLater,
}

// BuildTimeline groups events into states and Map iterations.
func BuildTimeline(events []Event) Timeline {
	evs := append([]Event(nil), events...)
	sort.Slice(evs, func(i, j int) bool { return evs[i].ID < evs[j].ID })
	const top = -1
	own := map[int64]int{}  // event id -> lane it belongs to
	next := map[int64]int{} // event id -> lane of the events that follow it
	lanes := map[int]*lane{top: {}}
	iterStatus := map[int]string{}
	orphans := map[int64]*StateRun{} // top-level runs known only by their failure, by event id
	var order []int
	laneOf := func(k int) *lane {
		if l, ok := lanes[k]; ok {
			return l
		}
		l := &lane{}
		lanes[k] = l
		return l
	}
	var last time.Time
	for i := range evs {
		ev := &evs[i]
		if ev.Timestamp.After(last) {
			last = ev.Timestamp
		}
		k, ok := next[ev.PreviousID]
		if !ok {
			k = top
		}
		succ := k
		switch ev.Type {
		case "MapIterationStarted":
			if ev.Index != nil {
				k = *ev.Index
			}
			succ = k
			if _, seen := lanes[k]; !seen {
				order = append(order, k)
			}
			laneOf(k)
			iterStatus[k] = RunRunning
		case "MapIterationSucceeded", "MapIterationFailed", "MapIterationAborted":
			if ev.Index != nil {
				k = *ev.Index
			}
			succ = top
			if _, seen := lanes[k]; !seen {
				// Seen by its end only (log level ERROR): the failure it
				// follows, if logged, was its own.
				order = append(order, k)
				if r := orphans[ev.PreviousID]; r != nil && k != top {
					lanes[top].remove(r)
					laneOf(k).runs = append(laneOf(k).runs, r)
				}
			}
			laneOf(k).close(ev.Timestamp)
			switch ev.Type {
			case "MapIterationSucceeded":
				iterStatus[k] = RunSucceeded
			case "MapIterationAborted":
				iterStatus[k] = RunAborted
			default:
				iterStatus[k] = RunFailed
			}
		}
		own[ev.ID], next[ev.ID] = k, succ
		l := laneOf(k)
		switch {
		case strings.HasSuffix(ev.Type, "StateEntered"):
			l.close(ev.Timestamp)
			r := &StateRun{Name: ev.Name, Type: strings.TrimSuffix(ev.Type, "StateEntered"), Entered: ev.Timestamp,
				Status: RunRunning, Input: ev.Input, InputText: ev.InputText, Truncated: ev.InputTruncated, firstID: ev.ID}
			r.Missing = len(ev.Input) == 0 && ev.InputText == ""
			l.runs = append(l.runs, r)
			l.open = r
		case strings.HasSuffix(ev.Type, "StateExited"):
			if r := l.open; r != nil {
				r.Exited = ev.Timestamp
				r.Output = ev.Output
				if ev.Name != "" {
					r.Name = ev.Name
				}
				if r.Status == RunRunning {
					r.Status = RunSucceeded
				}
				l.close(ev.Timestamp)
			}
		case ev.Type == "TaskScheduled" || ev.Type == "LambdaFunctionScheduled":
			if r := l.open; r != nil {
				r.Attempts++
				r.Status = RunRunning
			}
		case ev.Type == "TaskSucceeded" || ev.Type == "LambdaFunctionSucceeded":
			if r := l.open; r != nil {
				r.Status = RunSucceeded
			}
		case ev.Type == "TaskFailed" || ev.Type == "TaskTimedOut" || ev.Type == "LambdaFunctionFailed" ||
			ev.Type == "LambdaFunctionTimedOut" || ev.Type == "MapStateFailed" || ev.Type == "TaskStateAborted":
			if l.open == nil {
				// At log level ERROR a failure is logged without the state
				// it failed in: keep it, in a run of its own whose name and
				// entry are unknown.
				r := &StateRun{Type: failedStateType(ev.Type), Exited: ev.Timestamp, Status: RunFailed, Missing: true, firstID: ev.ID}
				r.Error, r.Cause = ev.Error, ev.Cause
				if r.Error == "" && ev.Type == "TaskTimedOut" {
					r.Error = asl.ErrTimeout
				}
				r.Failures = []Failure{{At: ev.Timestamp, Error: r.Error, Cause: ev.Cause}}
				l.runs = append(l.runs, r)
				if k == top {
					orphans[ev.ID] = r
				}
				break
			}
			if r := l.open; r != nil {
				r.Status = RunFailed
				r.Error, r.Cause = ev.Error, ev.Cause
				if r.Error == "" && ev.Type == "TaskTimedOut" {
					r.Error = asl.ErrTimeout
				}
				r.Failures = append(r.Failures, Failure{At: ev.Timestamp, Error: r.Error, Cause: ev.Cause})
			}
		case ev.Type == "MapStateSucceeded":
			if r := l.open; r != nil {
				r.Status = RunSucceeded
			}
		case executionEnds[ev.Type]:
			// Nothing runs on after the execution: every open state and
			// iteration ends with it.
			for k, ln := range lanes {
				ln.stop(ev)
				if iterStatus[k] != RunRunning {
					continue
				}
				switch r := ln.lastRun(); {
				case r != nil && r.Status == RunFailed:
					iterStatus[k] = RunFailed
				case ev.Type == "ExecutionSucceeded":
					iterStatus[k] = RunSucceeded
				default:
					iterStatus[k] = RunAborted
				}
			}
		}
	}
	finish := func(l *lane) []StateRun {
		out := make([]StateRun, len(l.runs))
		for i, r := range l.runs {
			if r.Attempts > 1 {
				r.Retries = r.Attempts - 1
			}
			if r.Exited.IsZero() && r.Status != RunRunning {
				r.Exited = last
			}
			r.measure()
			out[i] = *r
		}
		return out
	}
	tl := Timeline{States: finish(lanes[top]), Iterations: []Iteration{}}
	sort.Ints(order)
	for _, k := range order {
		it := Iteration{Index: k, Status: iterStatus[k], States: finish(lanes[k])}
		for _, r := range it.States {
			if r.Status == RunFailed {
				it.Error, it.Cause = r.Error, r.Cause
			}
		}
		if len(it.States) > 0 && len(it.States[0].Input) > 0 {
			it.Record = it.States[0].Input
			var rec record
			if json.Unmarshal(it.Record, &rec) == nil {
				it.MessageID = rec.MessageID
				it.MailID = workflow.PeekMailID(rec.Body)
			}
		}
		if n := len(it.States); n > 0 {
			var out workflow.ItemResult
			if json.Unmarshal(it.States[n-1].Output, &out) == nil && out.Outcome != "" {
				it.Outcome = out.Outcome
				if out.MessageID != "" {
					it.MessageID = out.MessageID
				}
				if out.MailID != "" {
					it.MailID = out.MailID
				}
				if out.Error != "" {
					it.Error = out.Error
				}
			}
		}
		if it.Outcome == "" && len(it.States) > 0 && it.Status != RunRunning {
			// No execution data logged: the terminal state names the outcome.
			it.Outcome = terminalOutcome[it.States[len(it.States)-1].Name]
		}
		tl.Iterations = append(tl.Iterations, it)
	}
	return tl
}

// itemsFrom builds the items of an execution from its input records and
// its timeline, the way the local runtime records them: one per input
// record, with the outcome its iteration reported.
func itemsFrom(input json.RawMessage, tl Timeline, events []Event) []Item {
	var records []record
	_ = json.Unmarshal(input, &records)
	n := len(records)
	for _, it := range tl.Iterations {
		n = max(n, it.Index+1)
	}
	items := make([]Item, n)
	for i := range items {
		items[i] = Item{Index: i, Outcome: workflow.OutcomeUnfinished}
		if i < len(records) {
			items[i].MessageID = records[i].MessageID
			items[i].Body = records[i].Body
			items[i].MailID = workflow.PeekMailID(records[i].Body)
		}
	}
	for _, it := range tl.Iterations {
		item := &items[it.Index]
		if item.MessageID == "" {
			item.MessageID = it.MessageID
		}
		if item.MailID == "" {
			item.MailID = it.MailID
		}
		if item.Body == "" && len(it.Record) > 0 {
			var rec record
			if json.Unmarshal(it.Record, &rec) == nil {
				item.Body = rec.Body
			}
		}
		if it.Outcome != "" {
			item.Outcome = it.Outcome
		}
		enrichItem(item, it)
	}
	// Outcome outputs found without their iteration (a listing reads only
	// some event types): match them by message id, as the runtime does.
	for _, ev := range events {
		if ev.Type != "PassStateExited" && ev.Type != "SucceedStateExited" {
			continue
		}
		var out workflow.ItemResult
		if len(ev.Output) == 0 && len(tl.Iterations) == 0 && terminalOutcome[ev.Name] != "" {
			// No execution data, and a listing without the iterations.
			items = append(items, Item{Index: len(items), Outcome: terminalOutcome[ev.Name]})
			continue
		}
		if json.Unmarshal(ev.Output, &out) != nil || out.MessageID == "" || out.Outcome == "" {
			continue
		}
		found := false
		for i := range items {
			if items[i].MessageID == out.MessageID {
				found = true
				if items[i].Outcome == workflow.OutcomeUnfinished {
					items[i].Outcome = out.Outcome
				}
				if items[i].MailID == "" {
					items[i].MailID = out.MailID
				}
				if items[i].Error == "" {
					items[i].Error = out.Error
				}
			}
		}
		if !found {
			items = append(items, Item{Index: len(items), MessageID: out.MessageID, MailID: out.MailID, Outcome: out.Outcome, Error: out.Error})
		}
	}
	return items
}

// CompleteItems adds to each failed item of x the error and cause of the
// failed state of its iteration, read from the timeline of x's events.
func CompleteItems(x *Execution) {
	for _, it := range BuildTimeline(x.Events).Iterations {
		if it.Index < len(x.Items) {
			enrichItem(&x.Items[it.Index], it)
		}
	}
}

// enrichItem adds the error and cause of the iteration's failed state to a
// failed item.
func enrichItem(item *Item, it Iteration) {
	if !item.Failed() {
		return
	}
	if item.Error == "" {
		item.Error = it.Error
	}
	if item.Cause == "" && (it.Error == "" || it.Error == item.Error) {
		item.Cause = CauseMessage(it.Cause)
	}
}
