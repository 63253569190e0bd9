package asl

import (
	"errors"
	"fmt"
	"regexp"
	"strings"
)

// genericARN is arn:PARTITION:SERVICE:REGION:ACCOUNT:RESOURCE.
var genericARN = regexp.MustCompile(`^arn:[a-z-]+:[a-z0-9-]+:[a-z0-9-]*:[0-9]*:.+$`)

// Diagnostic codes, as ValidateStateMachineDefinition reports them.
const (
	codeSchema            = "SCHEMA_VALIDATION_FAILED"
	codeInvalidJSON       = "INVALID_JSON_DESCRIPTION"
	codeMissingTransition = "MISSING_TRANSITION_TARGET"
	codeUnreachable       = "UNREACHABLE_STATE"
	codeNoTerminal        = "MISSING_END_STATE"
	codeInvalidResource   = "INVALID_RESOURCE"
	warnNoDollar          = "NO_DOLLAR"
	warnPassResultStatic  = "PASS_RESULT_IS_STATIC"
	codeUnboundResource   = "UNBOUND_RESOURCE"
	codeDuplicateState    = "DUPLICATE_STATE_NAME"
	// JSONata expressions that do not parse, and what AWS refuses in them
	codeInvalidJSONata     = "INVALID_JSONATA_EXPRESSION"
	codeUnsupportedJSONata = "UNSUPPORTED_JSONATA_EXPRESSION"
)

// Issue is one validation finding. Location is a JSON pointer into the
// definition ("/States/Send/Retry/0"); Code is AWS's diagnostic code where
// AWS has one.
type Issue struct {
	Code     string
	Location string
	Message  string
	Severity string // "ERROR" or "WARNING"; empty means ERROR
}

// State and Field read the issue's Location structurally: the name of the
// state it points into (the innermost one, for states of a Map's
// ItemProcessor or a Parallel's Branches) and the field of that state
// ("Parameters", "Next", ...), or, outside any state, the field of the
// state machine ("StartAt"). Each is "" when the location does not name
// one (a whole state, a JSON syntax error).
func (i Issue) State() string { s, _ := i.position(); return s }

// Field: see State.
func (i Issue) Field() string { _, f := i.position(); return f }

func (i Issue) position() (state, field string) {
	if !strings.HasPrefix(i.Location, "/") {
		return "", ""
	}
	segs := strings.Split(i.Location[1:], "/")
	for k := range segs {
		segs[k] = strings.ReplaceAll(strings.ReplaceAll(segs[k], "~1", "/"), "~0", "~")
	}
	at := func(k int) string {
		if k < len(segs) {
			return segs[k]
		}
		return ""
	}
	if at(0) != "States" || len(segs) < 2 {
		return "", at(0)
	}
	for k := 0; at(k) == "States" && k+1 < len(segs); {
		state, field = at(k+1), at(k+2)
		switch {
		case (field == "ItemProcessor" || field == "Iterator") && at(k+3) == "States" && k+4 < len(segs):
			k += 3
		case field == "Branches" && at(k+4) == "States" && k+5 < len(segs):
			k += 4
		default:
			return state, field
		}
	}
	return state, field
}

func (i Issue) String() string {
	if i.Location == "" {
		return i.Code + ": " + i.Message
	}
	return fmt.Sprintf("%s: %s at %s", i.Code, i.Message, i.Location)
}

// Issues is the result of Validate.
type Issues []Issue

// Err returns nil when there is no error-level issue, otherwise an error
// listing them.
func (is Issues) Err() error {
	var msgs []string
	for _, i := range is {
		if i.Severity == "" || i.Severity == "ERROR" {
			msgs = append(msgs, i.String())
		}
	}
	if len(msgs) == 0 {
		return nil
	}
	return errors.New("asl: invalid definition: " + strings.Join(msgs, "; "))
}

type validateConfig struct {
	registry    *Registry
	checkBound  bool
	machineType string
}

// ValidateOption configures Validate.
type ValidateOption func(*validateConfig)

// WithBoundResources makes every Task resource an error unless reg can
// serve it.
func WithBoundResources(reg *Registry) ValidateOption {
	return func(c *validateConfig) { c.registry, c.checkBound = reg, true }
}

// WithType validates for a STANDARD (default) or EXPRESS state machine.
func WithType(t string) ValidateOption {
	return func(c *validateConfig) { c.machineType = t }
}

// Validate returns every issue found in d.
func Validate(d *Definition, opts ...ValidateOption) Issues {
	cfg := validateConfig{machineType: "STANDARD"}
	for _, o := range opts {
		o(&cfg)
	}
	out := append(Issues(nil), d.issues...)
	out = append(out, duplicateKeys(d.src)...)
	v := &validator{cfg: cfg, out: &out, names: map[string]string{}}
	v.machine(d.top)
	return out
}

// ValidateJSON parses and validates definition text, reporting text that is
// not a JSON object the way AWS does.
func ValidateJSON(b []byte, opts ...ValidateOption) Issues {
	d, err := Parse(b)
	if err != nil {
		return Issues{textIssue(b, err)}
	}
	return Validate(d, opts...)
}

func textIssue(b []byte, err error) Issue {
	if strings.TrimSpace(string(b)) == "" {
		return Issue{Code: codeSchema, Message: "Definition must be a valid JSON object"}
	}
	var pe *ParseError
	if errors.As(err, &pe) && strings.Contains(pe.Err.Error(), "must be a valid JSON object") {
		return Issue{Code: codeSchema, Message: "Definition must be a valid JSON object"}
	}
	if is, ok := jacksonTokenIssue(string(b)); ok {
		return is
	}
	return Issue{Code: codeInvalidJSON, Message: err.Error()}
}

// jacksonTokenIssue words an unrecognised leading token the way AWS's JSON
// parser (Jackson) does, location included.
func jacksonTokenIssue(text string) (Issue, bool) {
	i := 0
	line, col := 1, 1
	for i < len(text) && strings.ContainsRune(" \t\r\n", rune(text[i])) {
		if text[i] == '\n' {
			line, col = line+1, 1
		} else {
			col++
		}
		i++
	}
	j := i
	for j < len(text) && (isVarChar(text[j]) || text[j] == '$') {
		j++
	}
	tok := text[i:j]
	if tok == "" || tok == "true" || tok == "false" || tok == "null" || (tok[0] >= '0' && tok[0] <= '9') {
		return Issue{}, false
	}
	loc := fmt.Sprintf("[Source: (String)%q; line: %d, column: %d]", text, line, col+len(tok))
	return Issue{Code: codeInvalidJSON, Location: loc, Message: fmt.Sprintf(
		"Unrecognized token '%s': was expecting (JSON String, Number, Array, Object or token 'null', 'true' or 'false')\n at %s", tok, loc)}, true
}

type validator struct {
	cfg   validateConfig
	out   *Issues
	names map[string]string // state name -> pointer; names are unique machine-wide
}

func (v *validator) add(code, loc, msg string) {
	*v.out = append(*v.out, Issue{Code: code, Location: loc, Message: msg})
}

func (v *validator) machine(m *machine) {
	if m == nil || m.states == nil {
		return
	}
	loc := m.ptr
	if loc == "" {
		loc = "/"
	}
	if len(m.states) == 0 {
		v.add(codeSchema, m.ptr+"/States", "The field 'States' must contain at least one state")
	}
	if m.states[m.startAt] == nil {
		v.add(codeMissingTransition, m.ptr+"/StartAt", fmt.Sprintf("Missing 'Next' target: %s", m.startAt))
	}
	reach := map[string]bool{}
	var walk func(name string)
	walk = func(name string) {
		if reach[name] || m.states[name] == nil {
			return
		}
		reach[name] = true
		for _, n := range m.states[name].targets() {
			walk(n)
		}
	}
	walk(m.startAt)
	terminal := false
	for _, name := range m.order {
		s := m.states[name]
		if s.typ == 0 {
			continue
		}
		v.state(m, s)
		if !reach[name] && m.states[m.startAt] != nil {
			v.add(codeUnreachable, s.ptr, fmt.Sprintf("State '%s' is not reachable.", name))
		}
		if s.isTerminal() {
			terminal = true
		}
	}
	if !terminal && len(m.states) > 0 {
		v.add(codeNoTerminal, loc, "No terminal state found in the state machine.")
	}
}

func (s *state) targets() []string {
	var t []string
	if s.next != "" {
		t = append(t, s.next)
	}
	for _, c := range s.choices {
		if c.next != "" {
			t = append(t, c.next)
		}
	}
	if s.defaultNext != "" {
		t = append(t, s.defaultNext)
	}
	for _, c := range s.catch {
		if c.next != "" {
			t = append(t, c.next)
		}
	}
	return t
}

func (s *state) isTerminal() bool {
	return s.end || s.typ == typeSucceed || s.typ == typeFail
}

func (v *validator) warn(code, loc, msg string) {
	*v.out = append(*v.out, Issue{Code: code, Location: loc, Message: msg, Severity: "WARNING"})
}

// warnings reports what AWS flags without rejecting: a template value that
// looks like a path or intrinsic without ".$" on its key, and ".$" keys in a
// Pass state's static Result.
func (v *validator) warnings(s *state) {
	if s.jsonata {
		return
	}
	for _, key := range []string{"Parameters", "ResultSelector", "ItemSelector", "Assign"} {
		if t, ok := s.raw[key]; ok {
			v.noDollar(t, s.ptr+"/"+key)
		}
	}
	if r, ok := s.raw["Result"]; ok && s.typ == typePass && hasDollarKey(r) {
		v.warn(warnPassResultStatic, s.ptr+"/Result", "The Result of a Pass state is static: fields ending in '.$' are not evaluated")
	}
}

func (v *validator) noDollar(val any, ptr string) {
	switch x := val.(type) {
	case map[string]any:
		for _, k := range sortedKeys(x) {
			if str, ok := x[k].(string); ok && !strings.HasSuffix(k, ".$") &&
				(strings.HasPrefix(str, "$.") || strings.HasPrefix(str, "$$.") || (isIntrinsic(str) && strings.HasSuffix(str, ")"))) {
				v.warn(warnNoDollar, ptr+"/"+escapePtr(k), fmt.Sprintf("The value of '%s' looks like a JSONPath or intrinsic function, but the field name does not end with '.$'", k))
				continue
			}
			v.noDollar(x[k], ptr+"/"+escapePtr(k))
		}
	case []any:
		for i, e := range x {
			v.noDollar(e, fmt.Sprintf("%s/%d", ptr, i))
		}
	}
}

func hasDollarKey(val any) bool {
	switch x := val.(type) {
	case map[string]any:
		for k, e := range x {
			if strings.HasSuffix(k, ".$") || hasDollarKey(e) {
				return true
			}
		}
	case []any:
		for _, e := range x {
			if hasDollarKey(e) {
				return true
			}
		}
	}
	return false
}

func (v *validator) state(m *machine, s *state) {
	v.fields(s)
	v.warnings(s)
	if prev, dup := v.names[s.name]; dup {
		v.add(codeDuplicateState, s.ptr, fmt.Sprintf("Duplicate State name: '%s' (also at %s)", s.name, prev))
	} else {
		v.names[s.name] = s.ptr
	}
	_, hasNext := s.raw["Next"]
	_, hasEnd := s.raw["End"]
	switch s.typ {
	case typeChoice:
		if c, ok := s.raw["Choices"]; !ok {
			v.add(codeSchema, s.ptr, "These fields are required: [Choices]")
		} else if arr, isArr := c.([]any); !isArr || len(arr) == 0 {
			v.add(codeSchema, s.ptr+"/Choices", "The field 'Choices' must be a non-empty ARRAY")
		}
		if hasNext || hasEnd {
			v.add(codeSchema, s.ptr, "Choice states can not have 'Next' or 'End'")
		}
	case typeSucceed, typeFail:
		if hasNext || hasEnd {
			v.add(codeSchema, s.ptr, fmt.Sprintf("%s states can not have 'Next' or 'End'", s.typName))
		}
	default:
		switch {
		case hasNext && hasEnd && s.end:
			v.add(codeSchema, s.ptr, "The fields 'Next' and 'End' are mutually exclusive")
		case !hasNext && !s.end:
			v.add(codeSchema, s.ptr, "These fields are required: [Next]")
		}
	}
	for _, t := range s.targets() {
		if m.states[t] == nil {
			v.add(codeMissingTransition, s.ptr, fmt.Sprintf("Missing 'Next' target: %s", t))
		}
	}
	switch s.typ {
	case typeTask:
		if s.heartbeatSeconds > 0 && s.timeoutSeconds > 0 && s.heartbeatSeconds >= s.timeoutSeconds {
			v.add(codeSchema, s.ptr+"/HeartbeatSeconds", "HeartbeatSeconds must be smaller than TimeoutSeconds")
		}
		switch r := s.raw["Resource"].(type) {
		case nil:
			v.add(codeSchema, s.ptr, "These fields are required: [Resource]")
		case string:
			v.resource(s)
		case map[string]any:
			// a CloudFormation intrinsic ({"Ref": ...}, {"Fn::GetAtt": ...})
			// that the template substitutes before deployment
			if !isCFNIntrinsic(r) {
				v.add(codeSchema, s.ptr+"/Resource", "The value for the field 'Resource' must be a STRING")
			}
		default:
			v.add(codeSchema, s.ptr+"/Resource", "The value for the field 'Resource' must be a STRING")
		}
	case typeParallel:
		if arr, ok := s.raw["Branches"].([]any); ok && len(arr) == 0 {
			v.add(codeSchema, s.ptr+"/Branches", "The field 'Branches' must be a non-empty ARRAY")
		}
		for _, b := range s.branches {
			v.machine(b)
		}
	case typeMap:
		v.machine(s.processor)
	case typeFail:
		if s.errorName != nil && s.errorPath != nil {
			v.add(codeSchema, s.ptr, "The fields 'Error' and 'ErrorPath' are mutually exclusive")
		}
		if s.cause != nil && s.causePath != nil {
			v.add(codeSchema, s.ptr, "The fields 'Cause' and 'CausePath' are mutually exclusive")
		}
	case typeWait:
		n := 0
		for _, k := range []string{"Seconds", "SecondsPath", "Timestamp", "TimestampPath"} {
			if _, ok := s.raw[k]; ok {
				n++
			}
		}
		if n != 1 {
			v.add(codeSchema, s.ptr, "Exactly one of the fields 'Seconds', 'SecondsPath', 'Timestamp' or 'TimestampPath' is required")
		}
	}
}

func (v *validator) resource(s *state) {
	res := s.resource
	loc := s.ptr + "/Resource"
	if strings.HasSuffix(res, ".waitForTaskToken") && v.cfg.machineType == "EXPRESS" {
		v.add(codeSchema, loc, "Express state machine does not support '.waitForTaskToken' service integration ")
	}
	if strings.HasSuffix(res, ".sync") && v.cfg.machineType == "EXPRESS" {
		v.add(codeSchema, loc, "Express state machine does not support '.sync' service integration")
	}
	if msg := resourceShape(res); msg != "" {
		v.add(codeInvalidResource, loc, fmt.Sprintf("The value for the field 'Resource' is not a valid resource ARN: %s", msg))
		return
	}
	if strings.Contains(res, "${") {
		// a template substitution, resolved before deployment
		return
	}
	info := classifyResource(res)
	if (info.kind == resUnknown && !genericARN.MatchString(res)) || (info.kind == resService && !knownServiceResource(info)) {
		shown := res
		if parts := strings.SplitN(res, ":", 3); len(parts) == 3 {
			shown = "arn:<partition>:" + parts[2]
		}
		v.add(codeSchema, loc, fmt.Sprintf("The resource provided %s is not recognized. The value is not a valid resource ARN, or the resource is not available in this region.", shown))
	}
	if v.cfg.checkBound && !v.cfg.registry.Bound(res) {
		v.add(codeUnboundResource, loc, fmt.Sprintf("No handler is registered for the resource '%s'", res))
	}
	if v.cfg.checkBound && info.kind == resService && info.service == "lambda" && v.cfg.registry.handler(res) == nil {
		// a literal FunctionName can be checked before running
		if params, ok := s.raw["Parameters"].(map[string]any); ok {
			if fn, ok := params["FunctionName"].(string); ok {
				if name, _ := functionName(fn); v.cfg.registry.lambda(name) == nil {
					v.add(codeUnboundResource, s.ptr+"/Parameters/FunctionName", fmt.Sprintf("No Lambda function named '%s' is registered", name))
				}
			}
		}
	}
}

func isCFNIntrinsic(m map[string]any) bool {
	if len(m) != 1 {
		return false
	}
	for k := range m {
		return k == "Ref" || strings.HasPrefix(k, "Fn::")
	}
	return false
}
