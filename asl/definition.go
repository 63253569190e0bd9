package asl

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"
)

// Query languages.
const (
	JSONPath = "JSONPath"
	JSONata  = "JSONata"
)

// Definition is a parsed state machine. It is immutable after Parse and safe
// to share between concurrent executions.
type Definition struct {
	Comment        string
	StartAt        string
	Version        string
	TimeoutSeconds int64
	QueryLanguage  string

	src    []byte
	doc    any
	top    *machine
	issues []Issue // found while parsing; reported by Validate
	// invalid is Validate's verdict without options, computed once;
	// Execute refuses such a definition.
	invalid error
	// fanOut marks a definition that can run goroutines (see hasFanOut);
	// only those pay for the recorder's lock.
	fanOut bool
}

// Document returns the parsed JSON document (read-only).
func (d *Definition) Document() any { return d.doc }

// machine is a block of states: the top level, a Parallel branch or a Map
// item processor.
type machine struct {
	startAt string
	states  map[string]*state
	order   []string
	ptr     string // JSON pointer of the block ("" for the top level)
}

type stateType uint8

const (
	typePass stateType = iota + 1
	typeTask
	typeChoice
	typeWait
	typeSucceed
	typeFail
	typeParallel
	typeMap
)

var stateTypeNames = map[string]stateType{
	"Pass": typePass, "Task": typeTask, "Choice": typeChoice, "Wait": typeWait,
	"Succeed": typeSucceed, "Fail": typeFail, "Parallel": typeParallel, "Map": typeMap,
}

type optPath struct {
	set    bool // field present
	isNull bool // field present with null
	expr   *valueExpr
}

type state struct {
	name    string
	typName string
	typ     stateType
	ptr     string
	raw     map[string]any
	jsonata bool
	ja      *jsonataState // compiled JSONata fields
	// usesContext: some field of the state mentions $$, so the entry time
	// must be recorded for $$.State.EnteredTime
	usesContext bool

	next string
	end  bool

	inputPath  optPath
	outputPath optPath
	resultPath optPath

	parameters     *template
	resultSelector *template
	assign         *template
	result         any
	hasResult      bool
	resultSize     int // JSON size of Result

	// Task
	resource         string
	resInfo          resourceInfo // resource split once for history
	timeoutSeconds   int64
	timeoutPath      *valueExpr
	heartbeatSeconds int64
	heartbeatPath    *valueExpr
	retry            []*retrier
	catch            []*catcher

	// Choice
	choices     []*choiceRule
	defaultNext string

	// Wait
	seconds       *int64
	secondsPath   *valueExpr
	timestamp     *time.Time
	timestampRaw  string
	timestampPath *valueExpr

	// Fail
	errorName, cause     *string
	errorPath, causePath *valueExpr

	// Parallel
	branches []*machine

	// Map
	processor          *machine
	itemsPath          optPath
	itemSelector       *template
	itemSelectorField  string // "ItemSelector", or "Parameters" as written
	maxConcurrency     int64
	maxConcurrencyPath *valueExpr
}

type retrier struct {
	errorEquals     []string
	intervalSeconds float64
	maxAttempts     int64
	backoffRate     float64
	maxDelaySeconds float64
	hasMaxDelay     bool
	jitterFull      bool
}

type catcher struct {
	errorEquals []string
	next        string
	resultPath  optPath
	assign      *template
	// JSONata catchers
	jOutput, jAssign *jtmpl
}

// Parse decodes a state machine definition. It fails only when the text is
// not a JSON object; every other problem is kept and reported by Validate,
// and Execute refuses a definition that has errors.
func Parse(b []byte) (*Definition, error) {
	doc, err := DecodeJSON(b)
	if err != nil {
		return nil, &ParseError{Err: err}
	}
	root, ok := doc.(map[string]any)
	if !ok {
		return nil, &ParseError{Err: fmt.Errorf("definition must be a valid JSON object")}
	}
	d := &Definition{src: append([]byte(nil), b...), doc: doc}
	p := &parser{d: d}
	d.QueryLanguage = JSONPath
	if ql, ok := root["QueryLanguage"]; ok {
		s, _ := ql.(string)
		if s != JSONPath && s != JSONata {
			p.issue("/QueryLanguage", "The value for the field 'QueryLanguage' must be one of [JSONPath, JSONata]")
		} else {
			d.QueryLanguage = s
		}
	}
	d.Comment, _ = root["Comment"].(string)
	d.Version, _ = root["Version"].(string)
	if v, ok := root["TimeoutSeconds"]; ok {
		n, ok := intNumber(v)
		if !ok || n < 0 {
			p.issue("/TimeoutSeconds", "The value for the field 'TimeoutSeconds' must be a non-negative integer")
		}
		d.TimeoutSeconds = n
	}
	var missing []string
	if _, ok := root["States"]; !ok {
		missing = append(missing, "States")
	}
	if _, ok := root["StartAt"]; !ok {
		missing = append(missing, "StartAt")
	}
	if len(missing) > 0 {
		p.issue("/", "These fields are required: ["+strings.Join(missing, ", ")+"]")
	}
	p.topQL = d.QueryLanguage
	d.top = p.machine(root, "", d.QueryLanguage)
	d.StartAt = d.top.startAt
	d.fanOut = hasFanOut(d.top)
	d.issues = p.issues
	d.invalid = Validate(d).Err()
	return d, nil
}

// hasFanOut reports a state in m or below it that can run goroutines: a
// Parallel with two branches or more, or a Map whose MaxConcurrency is not
// a literal 1.
func hasFanOut(m *machine) bool {
	if m == nil {
		return false
	}
	for _, s := range m.states {
		switch s.typ {
		case typeParallel:
			if len(s.branches) > 1 {
				return true
			}
			for _, b := range s.branches {
				if hasFanOut(b) {
					return true
				}
			}
		case typeMap:
			if s.maxConcurrency != 1 || s.maxConcurrencyPath != nil || (s.ja != nil && s.ja.maxConcurrency != nil) || hasFanOut(s.processor) {
				return true
			}
		}
	}
	return false
}

// ParseError is returned by Parse for text that is not a JSON object.
type ParseError struct{ Err error }

func (e *ParseError) Error() string { return "asl: " + e.Err.Error() }
func (e *ParseError) Unwrap() error { return e.Err }

type parser struct {
	d      *Definition
	issues []Issue
	topQL  string // query language of the enclosing state machine
}

func (p *parser) issue(ptr, msg string) {
	p.issues = append(p.issues, Issue{Code: codeSchema, Location: ptr, Message: msg})
}

func (p *parser) machine(obj map[string]any, ptr, ql string) *machine {
	m := &machine{states: map[string]*state{}, ptr: ptr}
	loc := ptr
	if loc == "" {
		loc = "/"
	}
	if v, ok := obj["StartAt"]; ok {
		s, ok := v.(string)
		if !ok {
			p.issue(ptr+"/StartAt", "The value for the field 'StartAt' must be a STRING")
		}
		m.startAt = s
	} else if ptr != "" {
		p.issue(loc, "These fields are required: [StartAt]")
	}
	sv, ok := obj["States"]
	if !ok {
		if ptr != "" {
			p.issue(loc, "These fields are required: [States]")
		}
		return m
	}
	states, ok := sv.(map[string]any)
	if !ok {
		p.issue(ptr+"/States", "The value for the field 'States' must be an OBJECT")
		return m
	}
	for _, name := range sortedKeys(states) {
		sptr := ptr + "/States/" + escapePtr(name)
		so, ok := states[name].(map[string]any)
		if !ok {
			p.issue(sptr, "A state must be an OBJECT")
			continue
		}
		if len(name) > 80 {
			p.issue(sptr, fmt.Sprintf("State name '%s' exceeds the maximum length of 80 characters", name))
		}
		m.states[name] = p.state(name, so, sptr, ql)
		m.order = append(m.order, name)
	}
	return m
}

func (p *parser) str(o map[string]any, key, ptr string) (string, bool) {
	v, ok := o[key]
	if !ok {
		return "", false
	}
	s, ok := v.(string)
	if !ok {
		p.issue(ptr+"/"+key, fmt.Sprintf("The value for the field '%s' must be a STRING", key))
		return "", false
	}
	return s, true
}

func (p *parser) optPath(o map[string]any, key, ptr string) optPath {
	v, ok := o[key]
	if !ok {
		return optPath{}
	}
	if v == nil {
		return optPath{set: true, isNull: true}
	}
	s, ok := v.(string)
	if !ok {
		p.issue(ptr+"/"+key, fmt.Sprintf("The value for the field '%s' must be a STRING", key))
		return optPath{}
	}
	e, err := compilePath(s)
	if err != nil {
		p.issue(ptr+"/"+key, fmt.Sprintf("The value for the field '%s' must be a valid JSONPath", key))
		return optPath{}
	}
	return optPath{set: true, expr: e}
}

func (p *parser) pathField(o map[string]any, key, ptr string, allowIntrinsic bool) *valueExpr {
	s, ok := p.str(o, key, ptr)
	if !ok {
		return nil
	}
	var e *valueExpr
	var err error
	if allowIntrinsic {
		e, err = compileValueExpr(s)
	} else {
		e, err = compilePath(s)
	}
	if err != nil {
		p.issue(ptr+"/"+key, fmt.Sprintf("The value for the field '%s' must be a valid JSONPath", key))
		return nil
	}
	return e
}

func (p *parser) intField(o map[string]any, key, ptr string, min int64) (int64, bool) {
	v, ok := o[key]
	if !ok {
		return 0, false
	}
	n, ok := intNumber(v)
	if !ok || n < min {
		p.issue(ptr+"/"+key, fmt.Sprintf("The value for the field '%s' must be an INTEGER >= %d", key, min))
		return 0, false
	}
	return n, true
}

func (p *parser) template(o map[string]any, key, ptr string) *template {
	v, ok := o[key]
	if !ok {
		return nil
	}
	return compileTemplate(v, ptr+"/"+key, &p.issues)
}

func (p *parser) state(name string, o map[string]any, ptr, ql string) *state {
	s := &state{name: name, ptr: ptr, raw: o}
	if v, ok := o["QueryLanguage"]; ok {
		q, _ := v.(string)
		switch q {
		case JSONPath:
			if p.topQL == JSONata {
				p.issue(ptr, "'QueryLanguage' can not be 'JSONPath' if set to 'JSONata' for whole state machine")
			}
		case JSONata:
		default:
			p.issue(ptr+"/QueryLanguage", "The value for the field 'QueryLanguage' must be one of [JSONPath, JSONata]")
		}
		if q != "" {
			ql = q
		}
	}
	s.jsonata = ql == JSONata
	s.usesContext = s.jsonata || mentionsContext(o)
	tv, ok := o["Type"]
	if !ok {
		p.issue(ptr, "These fields are required: [Type]")
		return s
	}
	s.typName, _ = tv.(string)
	s.typ = stateTypeNames[s.typName]
	if s.typ == 0 {
		p.issue(ptr+"/Type", fmt.Sprintf("Invalid State Type: %v", tv))
		return s
	}
	if s.jsonata {
		p.structure(s, o, ptr, ql)
		p.jsonataFields(s, o, ptr)
		return s
	}
	s.next, _ = p.str(o, "Next", ptr)
	if v, ok := o["End"]; ok {
		b, ok := v.(bool)
		if !ok {
			p.issue(ptr+"/End", "The value for the field 'End' must be a BOOLEAN")
		}
		s.end = b
	}
	s.inputPath = p.optPath(o, "InputPath", ptr)
	s.outputPath = p.optPath(o, "OutputPath", ptr)
	s.resultPath = p.optPath(o, "ResultPath", ptr)
	if s.resultPath.expr != nil {
		if s.resultPath.expr.kind != exprInput || !s.resultPath.expr.path.IsDefinite() {
			p.issue(ptr+"/ResultPath", "The value for the field 'ResultPath' must be a valid Reference Path")
		}
	}
	s.parameters = p.template(o, "Parameters", ptr)
	s.resultSelector = p.template(o, "ResultSelector", ptr)
	s.assign = p.template(o, "Assign", ptr)
	if v, ok := o["Result"]; ok {
		s.result, s.hasResult = v, true
		s.resultSize = jsonSize(v, 1<<30)
	}
	p.structure(s, o, ptr, ql)
	switch s.typ {
	case typeTask:
		s.resource, _ = o["Resource"].(string)
		s.resInfo = classifyResource(s.resource)
		if n, ok := p.intField(o, "TimeoutSeconds", ptr, 1); ok {
			s.timeoutSeconds = n
		}
		s.timeoutPath = p.pathField(o, "TimeoutSecondsPath", ptr, false)
		if n, ok := p.intField(o, "HeartbeatSeconds", ptr, 1); ok {
			s.heartbeatSeconds = n
		}
		s.heartbeatPath = p.pathField(o, "HeartbeatSecondsPath", ptr, false)
	case typeChoice:
		if cs, ok := o["Choices"].([]any); ok {
			for i, c := range cs {
				cp := fmt.Sprintf("%s/Choices/%d", ptr, i)
				co, ok := c.(map[string]any)
				if !ok {
					p.issue(cp, "A choice rule must be an OBJECT")
					continue
				}
				s.choices = append(s.choices, p.choiceRule(co, cp, true))
			}
		}
		s.defaultNext, _ = p.str(o, "Default", ptr)
	case typeWait:
		if v, ok := o["Seconds"]; ok {
			n, ok := intNumber(v)
			if !ok || n < 0 {
				p.issue(ptr+"/Seconds", "The value for the field 'Seconds' must be a non-negative INTEGER")
			}
			s.seconds = &n
		}
		s.secondsPath = p.pathField(o, "SecondsPath", ptr, false)
		if ts, ok := p.str(o, "Timestamp", ptr); ok {
			s.timestampRaw = ts
			t, err := parseTimestamp(ts)
			if err != nil {
				p.issue(ptr+"/Timestamp", "String does not match RFC3339 timestamp")
			} else {
				s.timestamp = &t
			}
		}
		s.timestampPath = p.pathField(o, "TimestampPath", ptr, false)
	case typeFail:
		if v, ok := p.str(o, "Error", ptr); ok {
			s.errorName = &v
		}
		if v, ok := p.str(o, "Cause", ptr); ok {
			s.cause = &v
		}
		s.errorPath = p.pathField(o, "ErrorPath", ptr, true)
		s.causePath = p.pathField(o, "CausePath", ptr, true)
	case typeMap:
		s.itemsPath = p.optPath(o, "ItemsPath", ptr)
		if sel := p.template(o, "ItemSelector", ptr); sel != nil {
			s.itemSelector, s.itemSelectorField = sel, "ItemSelector"
		} else if s.parameters != nil {
			s.itemSelector, s.itemSelectorField = s.parameters, "Parameters"
			s.parameters = nil
		}
		if n, ok := p.intField(o, "MaxConcurrency", ptr, 0); ok {
			s.maxConcurrency = n
		}
		s.maxConcurrencyPath = p.pathField(o, "MaxConcurrencyPath", ptr, false)
	}
	return s
}

// structure parses the fields shared by both query languages: transitions,
// Retry/Catch, branches and item processors.
func (p *parser) structure(s *state, o map[string]any, ptr, ql string) {
	if s.jsonata {
		s.next, _ = p.str(o, "Next", ptr)
		s.end, _ = o["End"].(bool)
		if s.typ == typeChoice {
			s.defaultNext, _ = p.str(o, "Default", ptr)
		}
		if s.typ == typeTask {
			s.resource, _ = o["Resource"].(string)
		}
		if s.typ == typeChoice {
			// JSONata rules: Condition + Next; only transitions matter here
			if cs, ok := o["Choices"].([]any); ok {
				for i, c := range cs {
					co, _ := c.(map[string]any)
					r := &choiceRule{ptr: fmt.Sprintf("%s/Choices/%d", ptr, i), topLevel: true}
					r.next, _ = co["Next"].(string)
					s.choices = append(s.choices, r)
				}
			}
		}
	}
	if s.typ == typeTask {
		if cv, ok := o["Credentials"]; ok {
			co, isObj := cv.(map[string]any)
			_, hasRole := co["RoleArn"]
			_, hasRolePath := co["RoleArn.$"]
			if !isObj || (!hasRole && !hasRolePath) {
				p.issue(ptr+"/Credentials", "The field 'RoleArn' is required but was missing")
			}
		}
	}
	if s.typ == typeTask || s.typ == typeParallel || s.typ == typeMap {
		if rs, ok := o["Retry"].([]any); ok {
			for i, r := range rs {
				rp := fmt.Sprintf("%s/Retry/%d", ptr, i)
				ro, ok := r.(map[string]any)
				if !ok {
					p.issue(rp, "A retrier must be an OBJECT")
					continue
				}
				s.retry = append(s.retry, p.retrier(ro, rp))
			}
		} else if _, ok := o["Retry"]; ok {
			p.issue(ptr+"/Retry", "The value for the field 'Retry' must be an ARRAY")
		}
		if cs, ok := o["Catch"].([]any); ok {
			for i, c := range cs {
				cp := fmt.Sprintf("%s/Catch/%d", ptr, i)
				co, ok := c.(map[string]any)
				if !ok {
					p.issue(cp, "A catcher must be an OBJECT")
					continue
				}
				s.catch = append(s.catch, p.catcher(co, cp, s.jsonata))
			}
		} else if _, ok := o["Catch"]; ok {
			p.issue(ptr+"/Catch", "The value for the field 'Catch' must be an ARRAY")
		}
	}
	switch s.typ {
	case typeParallel:
		bs, ok := o["Branches"].([]any)
		if !ok {
			p.issue(ptr, "These fields are required: [Branches]")
			return
		}
		for i, b := range bs {
			bp := fmt.Sprintf("%s/Branches/%d", ptr, i)
			bo, ok := b.(map[string]any)
			if !ok {
				p.issue(bp, "A branch must be an OBJECT")
				continue
			}
			s.branches = append(s.branches, p.machine(bo, bp, p.nestedQL(ql)))
		}
	case typeMap:
		key := "ItemProcessor"
		v, ok := o[key]
		if !ok {
			key = "Iterator"
			v, ok = o[key]
		}
		if !ok {
			p.issue(ptr, "These fields are required: [ItemProcessor]")
			return
		}
		po, ok := v.(map[string]any)
		if !ok {
			p.issue(ptr+"/"+key, "The value for the field '"+key+"' must be an OBJECT")
			return
		}
		if pc, ok := po["ProcessorConfig"].(map[string]any); ok && pc["Mode"] == "DISTRIBUTED" {
			// a distributed processor is a child state machine with its own
			// query language
			saved := p.topQL
			p.topQL, _ = po["QueryLanguage"].(string)
			s.processor = p.machine(po, ptr+"/"+key, ql)
			p.topQL = saved
			return
		}
		s.processor = p.machine(po, ptr+"/"+key, p.nestedQL(ql))
	}
}

// nestedQL is the query language of the states of a Parallel branch or an
// inline Map processor that do not name one: the state machine's, not the
// enclosing state's (the Amazon States Language makes a state's language
// independent of its container's).
func (p *parser) nestedQL(enclosing string) string {
	if p.topQL != "" {
		return p.topQL
	}
	return enclosing
}

func (p *parser) errorEquals(o map[string]any, ptr string) []string {
	v, ok := o["ErrorEquals"]
	if !ok {
		p.issue(ptr, "These fields are required: [ErrorEquals]")
		return nil
	}
	arr, ok := v.([]any)
	if !ok || len(arr) == 0 {
		p.issue(ptr+"/ErrorEquals", "The value for the field 'ErrorEquals' must be a non-empty ARRAY of STRING")
		return nil
	}
	out := make([]string, 0, len(arr))
	for i, e := range arr {
		s, ok := e.(string)
		if !ok {
			p.issue(fmt.Sprintf("%s/ErrorEquals/%d", ptr, i), "The value for the field 'ErrorEquals' must be an ARRAY of STRING")
			continue
		}
		out = append(out, s)
	}
	for i, s := range out {
		if s == ErrAll && (len(out) > 1 || i != len(out)-1) {
			p.issue(ptr+"/ErrorEquals", "States.ALL must appear alone in ErrorEquals")
		}
	}
	return out
}

func (p *parser) number(o map[string]any, key, ptr string, def float64) float64 {
	v, ok := o[key]
	if !ok {
		return def
	}
	f, ok := numberFloat(v)
	if !ok {
		p.issue(ptr+"/"+key, fmt.Sprintf("The value for the field '%s' must be a NUMBER", key))
		return def
	}
	return f
}

func (p *parser) retrier(o map[string]any, ptr string) *retrier {
	r := &retrier{errorEquals: p.errorEquals(o, ptr)}
	r.intervalSeconds = p.number(o, "IntervalSeconds", ptr, 1)
	if _, ok := o["IntervalSeconds"]; ok {
		if n, ok := intNumber(o["IntervalSeconds"]); !ok || n < 1 {
			p.issue(ptr+"/IntervalSeconds", "The value for the field 'IntervalSeconds' must be an INTEGER >= 1")
		}
	}
	r.maxAttempts = 3
	if v, ok := o["MaxAttempts"]; ok {
		n, ok := intNumber(v)
		if !ok || n < 0 {
			p.issue(ptr+"/MaxAttempts", "The value for the field 'MaxAttempts' must be a non-negative INTEGER")
		}
		r.maxAttempts = n
	}
	r.backoffRate = p.number(o, "BackoffRate", ptr, 2)
	if r.backoffRate < 1 {
		p.issue(ptr+"/BackoffRate", "The value for the field 'BackoffRate' must be >= 1.0")
	}
	if _, ok := o["MaxDelaySeconds"]; ok {
		r.maxDelaySeconds = p.number(o, "MaxDelaySeconds", ptr, 0)
		r.hasMaxDelay = true
		if r.maxDelaySeconds < 1 {
			p.issue(ptr+"/MaxDelaySeconds", "The value for the field 'MaxDelaySeconds' must be an INTEGER >= 1")
		}
	}
	if js, ok := p.str(o, "JitterStrategy", ptr); ok {
		switch js {
		case "FULL":
			r.jitterFull = true
		case "NONE":
		default:
			p.issue(ptr+"/JitterStrategy", "The value for the field 'JitterStrategy' must be one of [FULL, NONE]")
		}
	}
	return r
}

func (p *parser) catcher(o map[string]any, ptr string, jsonata bool) *catcher {
	c := &catcher{errorEquals: p.errorEquals(o, ptr)}
	c.next, _ = p.str(o, "Next", ptr)
	if _, ok := o["Next"]; !ok {
		p.issue(ptr, "These fields are required: [Next]")
	}
	if !jsonata {
		c.resultPath = p.optPath(o, "ResultPath", ptr)
		c.assign = p.template(o, "Assign", ptr)
	}
	return c
}

// parseTimestamp accepts the ISO-8601 extended offset date-time forms AWS
// accepts (RFC 3339, with or without fractional seconds).
func parseTimestamp(s string) (time.Time, error) {
	if len(s) < 20 || s[10] != 'T' {
		return time.Time{}, fmt.Errorf("not an ISO-8601 timestamp: %s", s)
	}
	return time.Parse(time.RFC3339Nano, s)
}

// rawString is a helper for messages that quote JSON values.
func rawString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// mentionsContext reports a "$$" in the state's own fields (nested blocks
// of Map and Parallel states are states of their own).
func mentionsContext(v any) bool {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			if k == "ItemProcessor" || k == "Iterator" || k == "Branches" {
				continue
			}
			if strings.Contains(k, "$$") || mentionsContext(e) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if mentionsContext(e) {
				return true
			}
		}
	case string:
		return strings.Contains(x, "$$")
	}
	return false
}

// Resources lists the distinct Task resources of the definition, nested
// blocks included, sorted; a runtime uses it to check its bindings.
func (d *Definition) Resources() []string {
	seen := map[string]bool{}
	var walk func(m *machine)
	walk = func(m *machine) {
		if m == nil {
			return
		}
		for _, s := range m.states {
			if s.typ == typeTask && s.resource != "" {
				seen[s.resource] = true
			}
			for _, b := range s.branches {
				walk(b)
			}
			walk(s.processor)
		}
	}
	walk(d.top)
	out := make([]string, 0, len(seen))
	for r := range seen {
		out = append(out, r)
	}
	sortStrings(out)
	return out
}
