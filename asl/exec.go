package asl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	jx "github.com/mailflow/mailflow/asl/internal/jsonata"
)

// Status is an execution's status, as DescribeExecution and
// StartSyncExecution report it.
type Status string

// Execution statuses. An execution under way is RUNNING; Execute returns
// one of the other four.
const (
	StatusRunning   Status = "RUNNING"
	StatusSucceeded Status = "SUCCEEDED"
	StatusFailed    Status = "FAILED"
	StatusTimedOut  Status = "TIMED_OUT"
	StatusAborted   Status = "ABORTED"
)

// Options are the dependencies and identity of one execution. Every field
// is optional.
type Options struct {
	Registry *Registry // Task resources; nil means no resource is bound
	Observer Observer  // receives history events; nil skips history

	Clock  Clock          // time and waits (see Clock); default the wall clock
	Random func() float64 // [0,1) for jitter and States.MathRandom
	UUID   func() string  // ids, request ids, States.UUID

	Region           string // default us-east-1
	AccountID        string // default 123456789012
	StateMachineName string // default "StateMachine"
	ExecutionName    string // default a UUID
	// ExecutionArn is $$.Execution.Id; default built from the region,
	// account, state machine and execution names (plus a UUID for EXPRESS),
	// as AWS builds it. Set it when the caller must know the id up front.
	ExecutionArn     string
	RoleArn          string
	StateMachineType string // STANDARD (default) or EXPRESS

	// MaxPayloadBytes bounds the execution input and every task result;
	// default 256 KiB as in AWS.
	MaxPayloadBytes int

	// Sequential runs Map iterations and Parallel branches one after the
	// other in index order, whatever MaxConcurrency says: histories are
	// then the same on every run (the order AWS records with
	// MaxConcurrency 1). By default a Map starts up to MaxConcurrency
	// iterations at once (40, AWS's inline limit, when unbounded) and a
	// Parallel runs all its branches at once, as AWS does; their events
	// interleave as they happen. Then Observer, Clock, Random, UUID and
	// the handlers are called from several goroutines (the observer one
	// event at a time) and must be safe for that.
	Sequential bool
}

// Result is how an execution ended.
type Result struct {
	Status   Status
	Output   any // when SUCCEEDED
	Error    string
	HasError bool
	Cause    string
	HasCause bool
	// Transitions counts the states entered, nested ones included.
	Transitions int64
	// Err is the error that failed the execution (FAILED only), with its
	// position when the interpreter raised it evaluating a field.
	Err *Error
}

type execution struct {
	def         *Definition
	opts        Options
	rec         recorder
	input       any
	ctxOnce     sync.Once
	execObj     map[string]any // built by contextObjects
	smObj       map[string]any
	deadline    time.Time // zero when the definition has no TimeoutSeconds
	startedAt   time.Time
	transitions atomic.Int64
	// JSONata functions' clock and generators
	jrtOnce sync.Once
	jrt     *jx.Runtime
}

// ErrInvalidDefinition is returned by Execute for a definition that Validate
// rejects.
var ErrInvalidDefinition = errors.New("asl: invalid definition")

// Execute runs the state machine on input (a value tree, or JSON text as
// []byte / json.RawMessage) and returns how it ended. The returned error is
// reserved for misuse (invalid definition or input); failures of the state
// machine are reported in Result.
func Execute(ctx context.Context, d *Definition, input any, opts Options) (*Result, error) {
	if d.invalid != nil {
		return nil, fmt.Errorf("%w: %v", ErrInvalidDefinition, d.invalid)
	}
	inSize := -1 // known from the text when input is JSON text
	switch in := input.(type) {
	case []byte:
		v, err := DecodeJSON(in)
		if err != nil {
			return nil, fmt.Errorf("asl: input: %w", err)
		}
		input, inSize = v, len(in)
	case json.RawMessage:
		v, err := DecodeJSON(in)
		if err != nil {
			return nil, fmt.Errorf("asl: input: %w", err)
		}
		input, inSize = v, len(in)
	default:
		v, err := normalize(in)
		if err != nil {
			return nil, fmt.Errorf("asl: input: %w", err)
		}
		input = v
	}
	ex := &execution{def: d, opts: opts}
	ex.fillDefaults()
	ex.rec.obs = ex.opts.Observer
	if d.fanOut && !ex.opts.Sequential {
		ex.rec.mu = &sync.Mutex{}
	}
	res := ex.run(ctx, input, inSize)
	res.Transitions = ex.transitions.Load()
	return res, nil
}

func (ex *execution) fillDefaults() {
	o := &ex.opts
	if o.Clock == nil {
		o.Clock = wallClock{}
	}
	if o.Random == nil {
		o.Random = rand.Float64
	}
	if o.UUID == nil {
		o.UUID = uuid.NewString
	}
	if o.Region == "" {
		o.Region = "us-east-1"
	}
	if o.AccountID == "" {
		o.AccountID = "123456789012"
	}
	if o.StateMachineName == "" {
		o.StateMachineName = "StateMachine"
	}
	if o.ExecutionName == "" {
		o.ExecutionName = o.UUID()
	}
	if o.StateMachineType == "" {
		o.StateMachineType = "STANDARD"
	}
	if o.MaxPayloadBytes == 0 {
		o.MaxPayloadBytes = payloadLimit
	}
}

// contextObjects returns $$.Execution and $$.StateMachine, built on first
// use: most states never read the context object.
func (ex *execution) contextObjects() (execObj, smObj map[string]any) {
	ex.ctxOnce.Do(func() {
		o := &ex.opts
		execID := o.ExecutionArn
		switch {
		case execID != "":
		case !ex.expressSync():
			execID = fmt.Sprintf("arn:aws:states:%s:%s:execution:%s:%s", o.Region, o.AccountID, o.StateMachineName, o.ExecutionName)
		default:
			// express executions carry an extra id part
			execID = fmt.Sprintf("arn:aws:states:%s:%s:express:%s:%s:%s", o.Region, o.AccountID, o.StateMachineName, o.ExecutionName, o.UUID())
		}
		ex.execObj = map[string]any{
			"Id":        execID,
			"Input":     ex.input,
			"Name":      o.ExecutionName,
			"RoleArn":   o.RoleArn,
			"StartTime": isoTime(ex.startedAt),
		}
		if !ex.expressSync() {
			// only standard executions can be redriven
			ex.execObj["RedriveCount"] = json.Number("0")
		}
		ex.smObj = map[string]any{
			"Id":   fmt.Sprintf("arn:aws:states:%s:%s:stateMachine:%s", o.Region, o.AccountID, o.StateMachineName),
			"Name": o.StateMachineName,
		}
	})
	return ex.execObj, ex.smObj
}

func (ex *execution) now() time.Time    { return ex.opts.Clock.Now() }
func (ex *execution) newUUID() string   { return ex.opts.UUID() }
func isoTime(t time.Time) string        { return t.UTC().Format("2006-01-02T15:04:05.000Z") }
func (ex *execution) expressSync() bool { return ex.opts.StateMachineType == "EXPRESS" }

// stop ends an execution early: timeout or abort.
type stopError struct{ status Status }

func (e *stopError) Error() string { return string(e.status) }

func (ex *execution) run(ctx context.Context, input any, inSize int) *Result {
	o := &ex.opts
	ex.startedAt = ex.now()
	ex.input = input
	switch {
	case ex.def.TimeoutSeconds > 0:
		ex.deadline = ex.startedAt.Add(time.Duration(ex.def.TimeoutSeconds) * time.Second)
	case ex.expressSync():
		// Express executions end after five minutes at most
		ex.deadline = ex.startedAt.Add(5 * time.Minute)
	}
	th := &thread{rec: &ex.rec}
	th.side(0, ExecutionStarted, func(e *Event) {
		e.HasInput, e.Input = true, input
	})
	if inSize < 0 {
		inSize = jsonSize(input, o.MaxPayloadBytes)
	}
	if inSize > o.MaxPayloadBytes {
		err := NewError(ErrDataLimitExceeded, "The execution input exceeds the maximum number of bytes service limit.")
		return ex.fail(th, err)
	}
	out, err := ex.runMachine(ctx, ex.def.top, input, th, newScope(nil), inSize)
	if err != nil {
		var stop *stopError
		if errors.As(err, &stop) {
			switch stop.status {
			case StatusTimedOut:
				th.emit(ExecutionTimedOut, func(e *Event) {
					e.HasError, e.Error = true, ErrTimeout
					e.HasCause, e.Cause = true, "The execution timed out."
				})
				return &Result{Status: StatusTimedOut, Error: ErrTimeout, HasError: true, Cause: "The execution timed out.", HasCause: true}
			default:
				th.emit(ExecutionAborted, nil)
				return &Result{Status: StatusAborted}
			}
		}
		return ex.fail(th, AsError(err))
	}
	th.emit(ExecutionSucceeded, func(e *Event) { e.HasOutput, e.Output = true, out })
	return &Result{Status: StatusSucceeded, Output: out}
}

func (ex *execution) fail(th *thread, e *Error) *Result {
	th.emit(ExecutionFailed, func(ev *Event) {
		ev.Error, ev.HasError = e.Name, e.HasName
		ev.Cause, ev.HasCause = e.Cause, e.HasCause
	})
	return &Result{Status: StatusFailed, Error: e.Name, HasError: e.HasName, Cause: e.Cause, HasCause: e.HasCause, Err: e}
}

// checkStop reports a timeout or cancellation between states.
func (ex *execution) checkStop(ctx context.Context) error {
	if ctx.Err() != nil {
		return &stopError{status: StatusAborted}
	}
	if !ex.deadline.IsZero() && !ex.now().Before(ex.deadline) {
		return &stopError{status: StatusTimedOut}
	}
	return nil
}

// sleep waits d on the injected sleeper, cut short by the execution
// timeout.
func (ex *execution) sleep(ctx context.Context, d time.Duration) error {
	timedOut := false
	if !ex.deadline.IsZero() {
		if rem := ex.deadline.Sub(ex.now()); rem < d {
			d, timedOut = rem, true
		}
	}
	if err := ex.opts.Clock.Sleep(ctx, d); err != nil {
		return &stopError{status: StatusAborted}
	}
	if timedOut {
		return &stopError{status: StatusTimedOut}
	}
	return nil
}

// frame is the per-state view used to build the context object.
type frame struct {
	ex         *execution
	st         *state
	entered    time.Time
	retryCount int
	mapIndex   int
	mapValue   any
	inMapItem  bool
}

func (f *frame) ctxObject() any {
	stObj := map[string]any{
		"Name":        f.st.name,
		"EnteredTime": isoTime(f.entered),
	}
	if f.st.typ == typeTask || f.st.typ == typeMap || f.st.typ == typeParallel {
		stObj["RetryCount"] = json.Number(fmt.Sprint(f.retryCount))
	}
	execObj, smObj := f.ex.contextObjects()
	c := map[string]any{
		"Execution":    execObj,
		"StateMachine": smObj,
		"State":        stObj,
	}
	if f.inMapItem {
		c["Map"] = map[string]any{"Item": map[string]any{
			"Index": json.Number(fmt.Sprint(f.mapIndex)),
			"Value": f.mapValue,
		}}
	}
	return c
}

func (f *frame) env(input any, sc *scope) *evalEnv {
	return &evalEnv{input: input, fr: f, vars: sc, ex: f.ex}
}

// env returns the state's evaluation environment for input. The value is
// reused: evaluations within a state run one after the other.
func (r *stateRun) env(input any) *evalEnv {
	r.envBuf = evalEnv{input: input, fr: &r.frame, vars: r.sc, ex: r.ex}
	return &r.envBuf
}

// runMachine runs a block of states from its StartAt. inSize is an upper
// bound of the input's JSON size; each state's output bound is derived from
// it, so payload limits are checked without walking every output.
func (ex *execution) runMachine(ctx context.Context, m *machine, input any, th *thread, sc *scope, inSize int) (any, error) {
	name := m.startAt
	for {
		if err := ex.checkStop(ctx); err != nil {
			return nil, err
		}
		st := m.states[name]
		out, next, outSize, err := ex.runState(ctx, st, input, th, sc, inSize)
		if err != nil {
			return nil, err
		}
		if next == "" {
			return out, nil
		}
		input, inSize = out, outSize
		name = next
	}
}

var enteredTypes = [...][2]EventType{
	typePass:     {"PassStateEntered", "PassStateExited"},
	typeTask:     {"TaskStateEntered", "TaskStateExited"},
	typeChoice:   {"ChoiceStateEntered", "ChoiceStateExited"},
	typeWait:     {"WaitStateEntered", "WaitStateExited"},
	typeSucceed:  {"SucceedStateEntered", "SucceedStateExited"},
	typeFail:     {"FailStateEntered", "FailStateExited"},
	typeParallel: {"ParallelStateEntered", "ParallelStateExited"},
	typeMap:      {"MapStateEntered", "MapStateExited"},
}

// runJSONataState is the query-language seam: a JSONata engine linked into
// this package sets it and runs the data-flow part of a JSONata state (the
// state's entered event is already recorded; the exited event and the
// variable assignment are done by the caller). Nil means JSONata states fail
// with States.Runtime.
var runJSONataState func(ctx context.Context, r *stateRun, input any) (out any, next string, vars map[string]any, err error)

// stateRun carries one state's execution.
type stateRun struct {
	ex        *execution
	st        *state
	th        *thread
	sc        *scope
	frame     frame
	envBuf    evalEnv
	jenvBuf   jenv
	enteredID int64
	// enteredPrev is the event the entered event points to
	enteredPrev int64
	rawInput    any
	// inSize bounds the JSON size of rawInput; resultSize is the size of
	// the state's result once known (-1: unknown, walk the output).
	inSize     int
	resultSize int
}

func (r *stateRun) runtimeErr(msg string) *Error {
	return NewError(ErrRuntime, stateErrPrefix(r.st.name, r.enteredID)+msg)
}

// runtimeErrAt is runtimeErr with the position of the failure: the
// definition field and, when it has one, its expression x.
func (r *stateRun) runtimeErrAt(field string, x *valueExpr, msg string) *Error {
	e := r.runtimeErr(msg)
	if x == nil {
		return e.at(r.st.name, field, "", -1)
	}
	return e.at(r.st.name, field, x.src, -1)
}

// pathErr turns a failed InputPath/OutputPath/ItemsPath... evaluation of x
// into AWS's States.Runtime text.
func (r *stateRun) pathErr(field string, x *valueExpr, err error) *Error {
	src := x.src
	expr, off := exprPosition(x, err)
	var pm *pathMissError
	if errors.As(err, &pm) {
		return r.runtimeErr(fmt.Sprintf("Invalid path '%s' : %s", src, pm.msg)).at(r.st.name, field, expr, off)
	}
	return r.runtimeErr(fmt.Sprintf("Invalid path '%s' : %s", src, err.Error())).at(r.st.name, field, expr, off)
}

// exprErr turns a failed "key.$" (key is the key as written) or *Path
// evaluation of x in the definition field into AWS's text.
func (r *stateRun) exprErr(field, key string, x *valueExpr, err error, input any) *Error {
	expr, off := exprPosition(x, err)
	var ie *intrinsicError
	if errors.As(err, &ie) {
		cause := ie.cause
		if !strings.HasPrefix(cause, "An error occurred") {
			cause = stateErrPrefix(r.st.name, r.enteredID) + cause
		}
		return NewError(ie.name, cause).at(r.st.name, field, expr, off)
	}
	var e *Error
	if errors.As(err, &e) {
		if e.Pos != nil {
			return e
		}
		c := *e
		return c.at(r.st.name, field, expr, off)
	}
	var pm *pathMissError
	if errors.As(err, &pm) {
		return r.runtimeErr(fmt.Sprintf("The JSONPath '%s' specified for the field '%s' could not be found in the input '%s'",
			pm.expr.src, key, mustJSONString(input))).at(r.st.name, field, expr, off)
	}
	return r.runtimeErr(err.Error()).at(r.st.name, field, expr, off)
}

// templateErr turns a failed evaluation of the payload template in field
// into AWS's text.
func (r *stateRun) templateErr(field string, err error, input any) *Error {
	var fe *fieldError
	if errors.As(err, &fe) {
		return r.exprErr(field, fe.field, fe.expr, fe.err, input)
	}
	return r.exprErr(field, "", nil, err, input)
}

func (r *stateRun) evalTemplate(field string, t *template, input any) (any, *Error) {
	v, err := t.eval(r.env(input))
	if err != nil {
		return nil, r.templateErr(field, err, input)
	}
	return v, nil
}

func (r *stateRun) inputPath(input any) (any, *Error) {
	return r.filterPath("InputPath", r.st.inputPath, input)
}

func (r *stateRun) outputPath(output any) (any, *Error) {
	return r.filterPath("OutputPath", r.st.outputPath, output)
}

// filterPath applies InputPath or OutputPath: null gives {}, an absent or
// root path passes the value through, any other path selects from it.
func (r *stateRun) filterPath(field string, p optPath, v any) (any, *Error) {
	if p.isNull {
		return map[string]any{}, nil
	}
	if p.expr == nil || (p.expr.kind == exprInput && p.expr.path.IsRoot()) {
		return v, nil
	}
	out, err := p.expr.eval(r.env(v))
	if err != nil {
		return nil, r.pathErr(field, p.expr, err)
	}
	return out, nil
}

func (r *stateRun) resultPath(rp optPath, raw, result any) (any, *Error) {
	if rp.isNull {
		return raw, nil
	}
	if rp.expr == nil || rp.expr.path.IsRoot() {
		return result, nil
	}
	v, err := rp.expr.path.Set(raw, result)
	if err != nil {
		return nil, NewError(ErrResultPathMatchFailure, stateErrPrefix(r.st.name, r.enteredID)+
			fmt.Sprintf("Unable to apply ResultPath \"%s\" to input \"%s\"", rp.expr.src, mustJSONString(raw))).
			at(r.st.name, "ResultPath", rp.expr.src, -1)
	}
	return v, nil
}

// assign evaluates an Assign block; the values become visible after the
// state completes.
func (r *stateRun) assign(t *template, input any) (map[string]any, *Error) {
	if t == nil {
		return nil, nil
	}
	v, e := r.evalTemplate("Assign", t, input)
	if e != nil {
		return nil, e
	}
	m, _ := v.(map[string]any)
	return m, nil
}

// runState runs one state: it returns the output, the next state ("" to
// end the block) and an upper bound of the output's JSON size.
func (ex *execution) runState(ctx context.Context, st *state, input any, th *thread, sc *scope, inSize int) (any, string, int, error) {
	types := enteredTypes[st.typ]
	ex.transitions.Add(1)
	// states of one thread run one after the other, so the thread keeps a
	// spare stateRun to reuse; nothing refers to it once runState returns
	r := th.spare
	if r == nil {
		r = new(stateRun)
	} else {
		th.spare = nil
	}
	defer func() { th.spare = r }()
	*r = stateRun{ex: ex, st: st, th: th, sc: sc, rawInput: input, inSize: inSize, resultSize: -1}
	r.frame = frame{ex: ex, st: st}
	if st.usesContext {
		r.frame.entered = ex.now()
	}
	r.enteredPrev = th.prev
	r.enteredID = th.emit(types[0], func(e *Event) {
		e.Name = st.name
		e.HasInput, e.Input = true, input
	})
	var (
		out  any
		next string
		vars map[string]any
		err  error
	)
	switch {
	case st.jsonata:
		if runJSONataState == nil {
			return nil, "", 0, r.runtimeErr("The JSONata query language is not supported by this interpreter")
		}
		out, next, vars, err = runJSONataState(ctx, r, input)
		if err != nil && st.typ == typeFail {
			return nil, "", 0, err
		}
	case st.typ == typePass:
		out, vars, err = r.pass(input)
		next = st.successor()
	case st.typ == typeSucceed:
		out, err = r.passThrough(input)
	case st.typ == typeFail:
		return nil, "", 0, r.failState(input)
	case st.typ == typeChoice:
		out, next, vars, err = r.choice(input)
	case st.typ == typeWait:
		out, vars, err = r.wait(ctx, input)
		next = st.successor()
	default: // Task, Map, Parallel
		out, next, vars, err = r.withRetry(ctx, input)
	}
	outSize := inSize
	if err == nil && st.jsonata && sameTree(out, input) {
		// Output absent or $states.input: the input's bound holds
	} else if err == nil && st.mayGrow() {
		limit := ex.opts.MaxPayloadBytes
		// the output is at most the input plus the result (plus the keys of
		// the ResultPath); walk it only when that bound is over the limit
		outSize = -1
		if r.resultSize >= 0 && inSize >= 0 {
			outSize = inSize + r.resultSize + 16 + len(st.resultPathText())
		}
		if outSize < 0 || outSize > limit {
			outSize = jsonSize(out, limit)
		}
		if outSize > limit {
			// an oversized state output ends the execution; States.ALL does
			// not catch it
			err = &Error{Name: ErrDataLimitExceeded, HasName: true, HasCause: true, terminal: true,
				Cause: fmt.Sprintf("The state/task '%s' returned a result with a size exceeding the maximum number of bytes service limit.", st.name)}
		}
	}
	if err != nil {
		stop, isStop := err.(*stopError)
		switch {
		case isStop && stop.status == StatusAborted:
			// the state in flight when the execution (or a failing sibling)
			// stopped it
			th.emit(EventType(st.typName+"StateAborted"), nil)
		case !isStop && th.branch && st.typ != typeFail:
			th.emit(EventType(st.typName+"StateAborted"), nil)
		}
		return nil, "", 0, err
	}
	th.emit(types[1], func(e *Event) {
		e.Name = st.name
		e.HasOutput, e.Output = true, out
		if len(vars) > 0 {
			e.AssignedVariables = vars
		}
	})
	if vars != nil {
		sc.set(vars)
	}
	return out, next, outSize, nil
}

// sameTree reports that a and b are the same value tree (the same object
// or array, or equal scalars).
func sameTree(a, b any) bool {
	switch x := a.(type) {
	case map[string]any:
		y, ok := b.(map[string]any)
		return ok && reflect.ValueOf(x).UnsafePointer() == reflect.ValueOf(y).UnsafePointer()
	case []any:
		y, ok := b.([]any)
		return ok && len(x) == len(y) && (len(x) == 0 || &x[0] == &y[0])
	case string, bool, json.Number, nil:
		return a == b
	}
	return false
}

// mayGrow reports states whose output can be larger than their input and
// so needs the payload-size check.
func (s *state) mayGrow() bool {
	if s.jsonata {
		// Output, Arguments and results are expressions
		return true
	}
	switch s.typ {
	case typePass:
		return s.hasResult || s.parameters != nil || (s.resultPath.expr != nil && !s.resultPath.expr.path.IsRoot())
	case typeTask, typeMap, typeParallel:
		return true
	}
	return false
}

// resultPathText is the ResultPath as written ("" when absent or null).
func (s *state) resultPathText() string {
	if s.resultPath.expr == nil {
		return ""
	}
	return s.resultPath.expr.src
}

// successor is the state that follows on success; "" ends the block.
func (s *state) successor() string {
	if s.end {
		return ""
	}
	return s.next
}

func (r *stateRun) passThrough(input any) (any, error) {
	eff, e := r.inputPath(input)
	if e != nil {
		return nil, e
	}
	out, e := r.outputPath(eff)
	if e != nil {
		return nil, e
	}
	return out, nil
}

func (r *stateRun) pass(input any) (any, map[string]any, error) {
	st := r.st
	eff, e := r.inputPath(input)
	if e != nil {
		return nil, nil, e
	}
	result := eff
	r.resultSize = r.inSize
	if st.hasResult {
		result = st.result
		r.resultSize = st.resultSize
	} else if st.parameters != nil {
		result, e = r.evalTemplate("Parameters", st.parameters, eff)
		if e != nil {
			return nil, nil, e
		}
		r.resultSize = jsonSize(result, r.ex.opts.MaxPayloadBytes)
	}
	vars, e := r.assign(st.assign, result)
	if e != nil {
		return nil, nil, e
	}
	out, e := r.resultPath(st.resultPath, input, result)
	if e != nil {
		return nil, nil, e
	}
	out, e = r.outputPath(out)
	if e != nil {
		return nil, nil, e
	}
	return out, vars, nil
}

func (r *stateRun) failState(input any) error {
	st := r.st
	e := &Error{}
	if st.errorName != nil {
		e.Name, e.HasName = *st.errorName, true
	}
	if st.cause != nil {
		e.Cause, e.HasCause = *st.cause, true
	}
	env := r.env(input)
	if st.errorPath != nil {
		v, err := st.errorPath.eval(env)
		if err != nil {
			return r.exprErr("ErrorPath", "ErrorPath", st.errorPath, err, input)
		}
		s, ok := v.(string)
		if !ok {
			return r.runtimeErrAt("ErrorPath", st.errorPath, fmt.Sprintf("The ErrorPath '%s' must resolve to a string but was: %s", st.errorPath.src, mustJSONString(v)))
		}
		e.Name, e.HasName = s, true
	}
	if st.causePath != nil {
		v, err := st.causePath.eval(env)
		if err != nil {
			return r.exprErr("CausePath", "CausePath", st.causePath, err, input)
		}
		s, ok := v.(string)
		if !ok {
			return r.runtimeErrAt("CausePath", st.causePath, fmt.Sprintf("The CausePath '%s' must resolve to a string but was: %s", st.causePath.src, mustJSONString(v)))
		}
		e.Cause, e.HasCause = s, true
	}
	return e
}

func (r *stateRun) choice(input any) (any, string, map[string]any, error) {
	st := r.st
	eff, e := r.inputPath(input)
	if e != nil {
		return nil, "", nil, e
	}
	env := r.env(eff)
	next := ""
	var assign *template
	for _, c := range st.choices {
		ok, err := c.eval(env)
		if err != nil {
			var ce *choiceError
			if errors.As(err, &ce) {
				return nil, "", nil, r.runtimeErr(err.Error()).at(st.name, ce.field, ce.expr, ce.off)
			}
			return nil, "", nil, r.runtimeErr(err.Error())
		}
		if ok {
			next, assign = c.next, c.assign
			break
		}
	}
	if next == "" {
		if st.defaultNext == "" {
			return nil, "", nil, NewError(ErrNoChoiceMatched, stateErrPrefix(st.name, r.enteredID)+
				"No Choice matched and no Default was specified.")
		}
		next = st.defaultNext
		assign = st.assign
	}
	vars, e := r.assign(assign, eff)
	if e != nil {
		return nil, "", nil, e
	}
	out, e := r.outputPath(eff)
	if e != nil {
		return nil, "", nil, e
	}
	return out, next, vars, nil
}

func (r *stateRun) wait(ctx context.Context, input any) (any, map[string]any, error) {
	st := r.st
	eff, e := r.inputPath(input)
	if e != nil {
		return nil, nil, e
	}
	var d time.Duration
	env := r.env(eff)
	switch {
	case st.seconds != nil:
		d = time.Duration(*st.seconds) * time.Second
	case st.timestamp != nil:
		d = st.timestamp.Sub(r.ex.now())
	case st.secondsPath != nil:
		v, err := st.secondsPath.eval(env)
		if err != nil {
			return nil, nil, r.pathErr("SecondsPath", st.secondsPath, err)
		}
		n, ok := longText(v)
		if !ok {
			return nil, nil, r.runtimeErrAt("SecondsPath", st.secondsPath, fmt.Sprintf("The SecondsPath parameter cannot be parsed as a long value: %s == %s", st.secondsPath.src, rawString(v)))
		}
		if n < 0 {
			return nil, nil, r.runtimeErrAt("SecondsPath", st.secondsPath, fmt.Sprintf("The SecondsPath parameter references a negative value: %s == %s", st.secondsPath.src, rawString(v)))
		}
		d = time.Duration(n) * time.Second
	case st.timestampPath != nil:
		v, err := st.timestampPath.eval(env)
		if err != nil {
			return nil, nil, r.pathErr("TimestampPath", st.timestampPath, err)
		}
		s, _ := v.(string)
		t, perr := parseTimestamp(s)
		if perr != nil {
			return nil, nil, r.runtimeErrAt("TimestampPath", st.timestampPath, fmt.Sprintf("The TimestampPath parameter does not reference a valid ISO-8601 extended offset date-time format string: %s == %s", st.timestampPath.src, rawString(v)))
		}
		d = t.Sub(r.ex.now())
	}
	if d > 0 {
		if err := r.ex.sleep(ctx, d); err != nil {
			return nil, nil, err
		}
	}
	vars, e := r.assign(st.assign, eff)
	if e != nil {
		return nil, nil, e
	}
	out, e := r.outputPath(eff)
	if e != nil {
		return nil, nil, e
	}
	return out, vars, nil
}

// errorMatches reports whether a retrier/catcher's ErrorEquals covers e.
func errorMatches(list []string, e *Error) bool {
	for _, n := range list {
		if n == e.Name {
			return true
		}
		if n == ErrAll && !e.terminal {
			return true
		}
		if n == ErrTaskFailed && e.fromTask && e.Name != ErrTimeout && e.Name != ErrHeartbeatTimeout {
			return true
		}
	}
	return false
}

// backoff is the Retry delay before retry number n (1-based).
func backoff(r *retrier, n int64, random func() float64) time.Duration {
	d := r.intervalSeconds * math.Pow(r.backoffRate, float64(n-1))
	if r.hasMaxDelay && d > r.maxDelaySeconds {
		d = r.maxDelaySeconds
	}
	if r.jitterFull {
		d *= random()
	}
	return time.Duration(d * float64(time.Second))
}

// withRetry runs a Task, Map or Parallel state with its Retry and Catch.
func (r *stateRun) withRetry(ctx context.Context, input any) (any, string, map[string]any, error) {
	st := r.st
	eff, e := r.inputPath(input)
	if e != nil {
		return nil, "", nil, e
	}
	attempts := make([]int64, len(st.retry))
	for {
		var out any
		var vars map[string]any
		var err error
		if st.jsonata {
			out, vars, err = r.jattempt(ctx, input)
		} else {
			out, vars, err = r.attempt(ctx, input, eff)
		}
		if err == nil {
			return out, st.successor(), vars, nil
		}
		var stop *stopError
		if errors.As(err, &stop) {
			return nil, "", nil, err
		}
		ae := AsError(err)
		if ae.uncatchable() {
			return nil, "", nil, ae
		}
		retried := false
		for i, rt := range st.retry {
			if !errorMatches(rt.errorEquals, ae) {
				continue
			}
			if attempts[i] < rt.maxAttempts {
				attempts[i]++
				r.frame.retryCount++
				if err := r.ex.sleep(ctx, backoff(rt, attempts[i], r.ex.opts.Random)); err != nil {
					return nil, "", nil, err
				}
				retried = true
			}
			break
		}
		if retried {
			continue
		}
		r.failFinal(ae)
		for _, c := range st.catch {
			if !errorMatches(c.errorEquals, ae) {
				continue
			}
			errOut := map[string]any{"Error": ae.Name, "Cause": ae.Cause}
			r.resultSize = len(ae.Name) + len(ae.Cause)*2 + 32
			if !ae.HasCause {
				errOut["Cause"] = ""
			}
			if st.jsonata {
				out, vars, err := r.jcatch(c, input, errOut)
				if err != nil {
					return nil, "", nil, err
				}
				return out, c.next, vars, nil
			}
			vars, e := r.assign(c.assign, errOut)
			if e != nil {
				return nil, "", nil, e
			}
			out, e := r.resultPath(c.resultPath, input, errOut)
			if e != nil {
				return nil, "", nil, e
			}
			return out, c.next, vars, nil
		}
		return nil, "", nil, ae
	}
}

// failFinal records the "state failed" event of Map and Parallel once no
// retry is left.
func (r *stateRun) failFinal(e *Error) {
	switch r.st.typ {
	case typeMap:
		r.th.emit(MapStateFailed, nil)
	case typeParallel:
		r.th.emit(ParallelStateFailed, nil)
	}
}

// attempt runs the work of a Task/Map/Parallel once and post-processes the
// result: ResultSelector, Assign, ResultPath, OutputPath.
func (r *stateRun) attempt(ctx context.Context, raw, eff any) (any, map[string]any, error) {
	st := r.st
	var result any
	var err error
	switch st.typ {
	case typeTask:
		result, err = r.task(ctx, eff)
	case typeMap:
		result, err = r.mapState(ctx, eff)
	case typeParallel:
		result, err = r.parallel(ctx, eff)
	}
	if err != nil {
		return nil, nil, err
	}
	if st.resultSelector != nil {
		v, e := r.evalTemplate("ResultSelector", st.resultSelector, result)
		if e != nil {
			return nil, nil, e
		}
		result = v
	}
	r.resultSize = jsonSize(result, r.ex.opts.MaxPayloadBytes)
	vars, e := r.assign(st.assign, result)
	if e != nil {
		return nil, nil, e
	}
	out, e := r.resultPath(st.resultPath, raw, result)
	if e != nil {
		return nil, nil, e
	}
	out, e = r.outputPath(out)
	if e != nil {
		return nil, nil, e
	}
	return out, vars, nil
}
