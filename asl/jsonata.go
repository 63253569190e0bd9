package asl

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	jx "github.com/mailflow/mailflow/asl/internal/jsonata"
)

// JSONata states: every field value may be a "{% expression %}" string, at
// any depth of an object or array. A template is compiled once by Parse.

type jkind uint8

const (
	jLit jkind = iota
	jExpr
	jObj
	jArr
)

type jtmpl struct {
	kind  jkind
	lit   any
	expr  *jx.Expr
	keys  []string
	vals  []*jtmpl
	loc   string // field location in AWS's error texts ("Output/result")
	exprs bool   // some expression below
}

// jsonataState holds the compiled JSONata fields of a state.
type jsonataState struct {
	arguments, output, assign *jtmpl
	items, itemSelector       *jtmpl
	maxConcurrency            *jtmpl
	timeoutSeconds, heartbeat *jtmpl
	seconds, timestamp        *jtmpl
	errorT, causeT            *jtmpl
	conditions                []*jtmpl // per choice rule
	ruleOutput, ruleAssign    []*jtmpl
}

// isJSONataString reports the "{% ... %}" form.
func isJSONataString(s string) bool {
	return len(s) >= 4 && strings.HasPrefix(s, "{%") && strings.HasSuffix(s, "%}")
}

func (p *parser) jtemplate(v any, loc, ptr string) *jtmpl {
	switch x := v.(type) {
	case string:
		if !isJSONataString(x) {
			return &jtmpl{kind: jLit, lit: x, loc: loc}
		}
		src := strings.TrimSpace(x[2 : len(x)-2])
		e, err := jx.Compile(src)
		if err != nil {
			if checkJSONataString(x) == "" {
				p.issues = append(p.issues, Issue{Code: codeInvalidJSONata, Location: ptr, Message: "The JSONata expression is not valid: " + err.Error()})
			}
			return &jtmpl{kind: jLit, lit: x, loc: loc}
		}
		if msg := e.Unsupported(); msg != "" {
			p.issues = append(p.issues, Issue{Code: codeUnsupportedJSONata, Location: ptr, Message: msg})
		}
		return &jtmpl{kind: jExpr, expr: e, loc: loc, exprs: true}
	case map[string]any:
		t := &jtmpl{kind: jObj, loc: loc, lit: x}
		for _, k := range sortedKeys(x) {
			c := p.jtemplate(x[k], joinLoc(loc, k), ptr+"/"+escapePtr(k))
			t.keys = append(t.keys, k)
			t.vals = append(t.vals, c)
			t.exprs = t.exprs || c.exprs
		}
		return t
	case []any:
		t := &jtmpl{kind: jArr, loc: loc, lit: x}
		for i, e := range x {
			c := p.jtemplate(e, fmt.Sprintf("%s[%d]", loc, i), fmt.Sprintf("%s/%d", ptr, i))
			t.vals = append(t.vals, c)
			t.exprs = t.exprs || c.exprs
		}
		return t
	}
	return &jtmpl{kind: jLit, lit: v, loc: loc}
}

func joinLoc(a, b string) string {
	if a == "" {
		return b
	}
	return a + "/" + b
}

func (p *parser) jfield(o map[string]any, key, ptr string) *jtmpl {
	return p.jfieldAt(o, key, "", ptr)
}

// jfieldAt compiles a field whose error location is under prefix
// ("Choices[1]", "Catch[0]").
func (p *parser) jfieldAt(o map[string]any, key, prefix, ptr string) *jtmpl {
	v, ok := o[key]
	if !ok {
		return nil
	}
	return p.jtemplate(v, joinLoc(prefix, key), ptr+"/"+key)
}

// jsonataFields compiles the JSONata fields of a state.
func (p *parser) jsonataFields(s *state, o map[string]any, ptr string) {
	j := &jsonataState{}
	s.ja = j
	j.arguments = p.jfield(o, "Arguments", ptr)
	j.output = p.jfield(o, "Output", ptr)
	j.assign = p.jfield(o, "Assign", ptr)
	switch s.typ {
	case typeTask:
		j.timeoutSeconds = p.jfield(o, "TimeoutSeconds", ptr)
		j.heartbeat = p.jfield(o, "HeartbeatSeconds", ptr)
		s.resInfo = classifyResource(s.resource)
	case typeWait:
		j.seconds = p.jfield(o, "Seconds", ptr)
		j.timestamp = p.jfield(o, "Timestamp", ptr)
	case typeFail:
		j.errorT = p.jfield(o, "Error", ptr)
		j.causeT = p.jfield(o, "Cause", ptr)
	case typeMap:
		j.items = p.jfield(o, "Items", ptr)
		j.itemSelector = p.jfield(o, "ItemSelector", ptr)
		j.maxConcurrency = p.jfield(o, "MaxConcurrency", ptr)
	case typeChoice:
		cs, _ := o["Choices"].([]any)
		for i, c := range cs {
			co, _ := c.(map[string]any)
			cp := fmt.Sprintf("%s/Choices/%d", ptr, i)
			prefix := fmt.Sprintf("Choices[%d]", i)
			j.conditions = append(j.conditions, p.jfieldAt(co, "Condition", prefix, cp))
			j.ruleOutput = append(j.ruleOutput, p.jfieldAt(co, "Output", prefix, cp))
			j.ruleAssign = append(j.ruleAssign, p.jfieldAt(co, "Assign", prefix, cp))
		}
	}
	if cs, ok := o["Catch"].([]any); ok {
		for i, c := range cs {
			co, _ := c.(map[string]any)
			if i >= len(s.catch) || co == nil {
				break
			}
			cp := fmt.Sprintf("%s/Catch/%d", ptr, i)
			prefix := fmt.Sprintf("Catch[%d]", i)
			s.catch[i].jOutput = p.jfieldAt(co, "Output", prefix, cp)
			s.catch[i].jAssign = p.jfieldAt(co, "Assign", prefix, cp)
		}
	}
}

// jenv is the data one JSONata evaluation sees: the members of $states.
// Converted members are kept for the following expressions of the state.
type jenv struct {
	r           *stateRun
	input       any
	result      any
	hasResult   bool
	errorOutput any
	hasError    bool
	mapItem     bool
	mapIndex    int
	mapValue    any
	ctxObj      any
	conv        [4]any // input, result, errorOutput, context converted
	converted   [4]bool
	present     [4]bool
}

var statesMembers = [4]string{"input", "result", "errorOutput", "context"}

// jenv returns the state's evaluation data for input; the value is reused
// (the evaluations of a state run one after the other).
func (r *stateRun) jenv(input any) *jenv {
	r.jenvBuf = jenv{r: r, input: input}
	return &r.jenvBuf
}

// Lookup reads a variable.
func (e *jenv) Lookup(name string) (any, bool) { return e.r.sc.lookup(name) }

// StatesField returns a member of $states as a value tree.
func (e *jenv) StatesField(name string) (any, bool) {
	switch name {
	case "input":
		return e.input, true
	case "result":
		return e.result, e.hasResult
	case "errorOutput":
		return e.errorOutput, e.hasError
	case "context":
		if e.ctxObj == nil {
			f := e.r.frame
			if e.mapItem {
				f.inMapItem, f.mapIndex, f.mapValue = true, e.mapIndex, e.mapValue
			}
			e.ctxObj = f.ctxObject()
		}
		return e.ctxObj, true
	}
	return nil, false
}

// States returns $states converted, with the members x reads.
func (e *jenv) States(x *jx.Expr) any {
	m := make(map[string]any, 4)
	for i, name := range statesMembers {
		if !x.StatesAll && !slices.Contains(x.StatesFields, name) {
			continue
		}
		if !e.converted[i] {
			v, ok := e.StatesField(name)
			e.converted[i], e.present[i] = true, ok
			if ok {
				e.conv[i] = jx.ToJ(v)
			}
		}
		if e.present[i] {
			m[name] = e.conv[i]
		}
	}
	return m
}

// jsonataRuntime returns the execution's clock and generators for the
// JSONata functions, built on first use.
func (ex *execution) jsonataRuntime() *jx.Runtime {
	ex.jrtOnce.Do(func() {
		ex.jrt = &jx.Runtime{
			NowMillis: func() int64 { return ex.now().UnixMilli() },
			Random:    ex.opts.Random,
			UUID:      ex.opts.UUID,
		}
	})
	return ex.jrt
}

// jeval evaluates a template. Undefined results and evaluation errors
// become States.QueryEvaluationError with AWS's texts.
func (r *stateRun) jeval(t *jtmpl, env *jenv) (any, error) {
	switch t.kind {
	case jLit:
		return t.lit, nil
	case jExpr:
		v, err := t.expr.Eval(env, r.ex.jsonataRuntime())
		if err != nil {
			if errors.Is(err, jx.ErrUndefined) {
				return nil, r.queryErr(t.loc, t, fmt.Sprintf("The JSONata expression '%s' specified for the field '%s' returned nothing (undefined).", t.expr.Source(), t.loc))
			}
			if errors.Is(err, jx.ErrFunctionValue) {
				return nil, r.queryErr(t.loc, t, fmt.Sprintf("The JSONata expression '%s' specified for the field '%s' returned an unsupported result type.", t.expr.Source(), t.loc))
			}
			return nil, r.queryErr(t.loc, t, fmt.Sprintf("The JSONata expression '%s' specified for the field '%s' threw an error during evaluation. %s", t.expr.Source(), t.loc, err.Error()))
		}
		return v, nil
	case jObj:
		if !t.exprs {
			return t.lit, nil
		}
		m := make(map[string]any, len(t.keys))
		for i, k := range t.keys {
			v, err := r.jeval(t.vals[i], env)
			if err != nil {
				return nil, err
			}
			m[k] = v
		}
		return m, nil
	default:
		if !t.exprs {
			return t.lit, nil
		}
		a := make([]any, len(t.vals))
		for i, c := range t.vals {
			v, err := r.jeval(c, env)
			if err != nil {
				return nil, err
			}
			a[i] = v
		}
		return a, nil
	}
}

// queryErr records AWS's EvaluationFailed event and returns the error.
// location is "" when the failure is not tied to a field; t is the
// template that failed, or nil.
func (r *stateRun) queryErr(location string, t *jtmpl, msg string) *Error {
	// Map iterations running concurrently may fail their ItemSelector at
	// the same time: the thread's cursor is read and moved under the
	// recorder's lock
	mu := r.th.rec.mu
	if mu != nil {
		mu.Lock()
	}
	prev := r.th.prev
	if mu != nil {
		mu.Unlock()
	}
	if prev == r.enteredID && r.st.typ != typeWait {
		// nothing happened since the state was entered: AWS chains the
		// event to the one before the entered event
		prev = r.enteredPrev
	}
	cause := stateErrPrefix(r.st.name, r.enteredID) + msg
	id := r.th.side(prev, EvaluationFailed, func(e *Event) {
		e.HasError, e.Error = true, ErrQueryEvaluationError
		e.HasCause, e.Cause = true, cause
		e.Location = location
		e.State = r.st.name
	})
	if mu != nil {
		mu.Lock()
		defer mu.Unlock()
	}
	r.th.prev = id
	field, expr := locField(location), ""
	if t != nil {
		if field == "" {
			field = locField(t.loc)
		}
		if t.expr != nil {
			expr = t.expr.Source()
		}
	}
	return NewError(ErrQueryEvaluationError, cause).at(r.st.name, field, expr, -1)
}

// locField is the definition field of an error location: "Output" for
// "Output/result", "Condition" for "Choices[1]/Condition".
func locField(loc string) string {
	for _, p := range [...]string{"Choices[", "Catch["} {
		if strings.HasPrefix(loc, p) {
			if i := strings.IndexByte(loc, '/'); i >= 0 {
				loc = loc[i+1:]
			}
			break
		}
	}
	if i := strings.IndexAny(loc, "/["); i >= 0 {
		loc = loc[:i]
	}
	return loc
}

func (r *stateRun) typeErr(t *jtmpl, want string, v any) *Error {
	return r.queryErr(t.loc, t, fmt.Sprintf("The JSONata expression '%s' specified for the field '%s' returned an unexpected result type. Expected '%s', but was '%s' for value: %s",
		t.exprSource(), t.loc, want, typeName(v), mustJSONString(v)))
}

func (t *jtmpl) exprSource() string {
	if t.expr != nil {
		return t.expr.Source()
	}
	return mustJSONString(t.lit)
}

// assignOutput evaluates Assign and Output (both see the variables as they
// were when the state was entered); the output defaults to def.
func (r *stateRun) assignOutput(assign, output *jtmpl, env *jenv, def any) (any, map[string]any, error) {
	var vars map[string]any
	if assign != nil {
		v, err := r.jeval(assign, env)
		if err != nil {
			return nil, nil, err
		}
		vars, _ = v.(map[string]any)
	}
	out := def
	if output != nil {
		v, err := r.jeval(output, env)
		if err != nil {
			return nil, nil, err
		}
		out = v
	}
	return out, vars, nil
}

// runJSONata runs the data flow of a JSONata state.
func (r *stateRun) runJSONata(ctx context.Context, input any) (any, string, map[string]any, error) {
	st := r.st
	j := st.ja
	env := r.jenv(input)
	switch st.typ {
	case typePass:
		out, vars, err := r.assignOutput(j.assign, j.output, env, input)
		return out, st.successor(), vars, err
	case typeSucceed:
		out, _, err := r.assignOutput(nil, j.output, env, input)
		return out, "", nil, err
	case typeFail:
		return nil, "", nil, r.jfail(env)
	case typeChoice:
		return r.jchoice(env)
	case typeWait:
		if err := r.jwait(ctx, env); err != nil {
			return nil, "", nil, err
		}
		out, vars, err := r.assignOutput(j.assign, j.output, env, input)
		return out, st.successor(), vars, err
	}
	return r.withRetry(ctx, input)
}

func (r *stateRun) jstring(t *jtmpl, env *jenv) (string, bool, error) {
	if t == nil {
		return "", false, nil
	}
	v, err := r.jeval(t, env)
	if err != nil {
		return "", false, err
	}
	s, ok := v.(string)
	if !ok {
		return "", false, r.typeErr(t, "string", v)
	}
	return s, true, nil
}

func (r *stateRun) jfail(env *jenv) error {
	j := r.st.ja
	e := &Error{}
	name, ok, err := r.jstring(j.errorT, env)
	if err != nil {
		return err
	}
	e.Name, e.HasName = name, ok
	cause, ok, err := r.jstring(j.causeT, env)
	if err != nil {
		return err
	}
	e.Cause, e.HasCause = cause, ok
	return e
}

func (r *stateRun) jchoice(env *jenv) (any, string, map[string]any, error) {
	st, j := r.st, r.st.ja
	for i, c := range st.choices {
		cond := j.conditions[i]
		if cond == nil {
			continue
		}
		v, err := r.jeval(cond, env)
		if err != nil {
			return nil, "", nil, err
		}
		b, ok := v.(bool)
		if !ok {
			return nil, "", nil, r.typeErr(cond, "boolean", v)
		}
		if b {
			out, vars, err := r.assignOutput(j.ruleAssign[i], j.ruleOutput[i], env, env.input)
			return out, c.next, vars, err
		}
	}
	if st.defaultNext == "" {
		return nil, "", nil, NewError(ErrNoChoiceMatched, stateErrPrefix(st.name, r.enteredID)+
			"No Choice matched and no Default was specified.")
	}
	out, vars, err := r.assignOutput(j.assign, j.output, env, env.input)
	return out, st.defaultNext, vars, err
}

// jint evaluates an integer field (a number or an expression).
func (r *stateRun) jint(t *jtmpl, env *jenv) (int64, error) {
	v, err := r.jeval(t, env)
	if err != nil {
		return 0, err
	}
	n, ok := intNumber(v)
	if !ok {
		return 0, r.typeErr(t, "integer", v)
	}
	return n, nil
}

func (r *stateRun) jwait(ctx context.Context, env *jenv) error {
	j := r.st.ja
	var d time.Duration
	switch {
	case j.seconds != nil:
		n, err := r.jint(j.seconds, env)
		if err != nil {
			return err
		}
		if n < 0 {
			return r.queryErr("Seconds", j.seconds, fmt.Sprintf("The Seconds field references a negative value: %d", n))
		}
		d = time.Duration(n) * time.Second
	case j.timestamp != nil:
		s, _, err := r.jstring(j.timestamp, env)
		if err != nil {
			return err
		}
		t, perr := parseTimestamp(s)
		if perr != nil {
			return r.queryErr("Timestamp", j.timestamp, "The Timestamp field cannot be parsed as an ISO-8601 extended offset date-time format string: "+s)
		}
		d = t.Sub(r.ex.now())
	}
	if d > 0 {
		return r.ex.sleep(ctx, d)
	}
	return nil
}

// jtaskArgs evaluates a JSONata Task's Arguments, TimeoutSeconds and
// HeartbeatSeconds.
func (r *stateRun) jtaskArgs(input any) (params any, timeout, heartbeat int64, err error) {
	j := r.st.ja
	env := r.jenv(input)
	params = input
	if j.arguments != nil {
		if params, err = r.jeval(j.arguments, env); err != nil {
			return nil, 0, 0, err
		}
	}
	if j.timeoutSeconds != nil {
		if timeout, err = r.jint(j.timeoutSeconds, env); err != nil {
			return nil, 0, 0, err
		}
	}
	if j.heartbeat != nil {
		if heartbeat, err = r.jint(j.heartbeat, env); err != nil {
			return nil, 0, 0, err
		}
	}
	return params, timeout, heartbeat, nil
}

// jmapItems evaluates a JSONata Map's Items and MaxConcurrency.
func (r *stateRun) jmapItems(input any) ([]any, int64, error) {
	j := r.st.ja
	env := r.jenv(input)
	items := input
	if j.items != nil {
		v, err := r.jeval(j.items, env)
		if err != nil {
			return nil, 0, err
		}
		arr, ok := v.([]any)
		if !ok {
			return nil, 0, r.typeErr(j.items, "array", v)
		}
		items = arr
	}
	arr, ok := items.([]any)
	if !ok {
		return nil, 0, r.queryErr("", j.items, "Map state input must be an array but was: "+mustJSONString(items))
	}
	var maxConc int64
	if j.maxConcurrency != nil {
		n, err := r.jint(j.maxConcurrency, env)
		if err != nil {
			return nil, 0, err
		}
		maxConc = n
	}
	return arr, maxConc, nil
}

// jmapItem is the input of iteration i: ItemSelector evaluated with
// $states.context.Map.Item, or the item itself.
func (r *stateRun) jmapItem(input any, i int, item any) (any, error) {
	j := r.st.ja
	if j.itemSelector == nil {
		return item, nil
	}
	// iterations may run concurrently: a fresh environment each
	env := &jenv{r: r, input: input, mapItem: true, mapIndex: i, mapValue: item}
	return r.jeval(j.itemSelector, env)
}

// jattempt runs a JSONata Task, Map or Parallel once and evaluates Assign
// and Output with $states.result.
func (r *stateRun) jattempt(ctx context.Context, input any) (any, map[string]any, error) {
	st := r.st
	var result any
	var err error
	switch st.typ {
	case typeTask:
		result, err = r.task(ctx, input)
	case typeMap:
		result, err = r.mapState(ctx, input)
	case typeParallel:
		result, err = r.parallel(ctx, input)
	}
	if err != nil {
		return nil, nil, err
	}
	env := r.jenv(input)
	env.result, env.hasResult = result, true
	return r.assignOutput(st.ja.assign, st.ja.output, env, result)
}

// jcatch evaluates a catcher's Assign and Output with
// $states.errorOutput; the output defaults to the error output.
func (r *stateRun) jcatch(c *catcher, input, errOut any) (any, map[string]any, error) {
	env := r.jenv(input)
	env.errorOutput, env.hasError = errOut, true
	return r.assignOutput(c.jAssign, c.jOutput, env, errOut)
}

func init() {
	runJSONataState = func(ctx context.Context, r *stateRun, input any) (any, string, map[string]any, error) {
		return r.runJSONata(ctx, input)
	}
}
