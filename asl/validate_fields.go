package asl

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	jx "github.com/mailflow/mailflow/asl/internal/jsonata"
)

func fieldSet(names ...string) map[string]bool {
	m := make(map[string]bool, len(names))
	for _, n := range names {
		m[n] = true
	}
	return m
}

var (
	commonFields = []string{"Type", "Comment", "QueryLanguage"}
	flowFields   = []string{"Next", "End"}

	// allowedJSONPath are the fields each state type accepts in JSONPath.
	allowedJSONPath = map[stateType]map[string]bool{
		typePass: fieldSet(append(append([]string{"InputPath", "OutputPath", "Parameters", "ResultPath", "Result", "Assign"}, commonFields...), flowFields...)...),
		typeTask: fieldSet(append(append([]string{"InputPath", "OutputPath", "Parameters", "ResultSelector", "ResultPath", "Resource",
			"Retry", "Catch", "TimeoutSeconds", "TimeoutSecondsPath", "HeartbeatSeconds", "HeartbeatSecondsPath", "Credentials", "Assign"}, commonFields...), flowFields...)...),
		typeChoice:  fieldSet(append([]string{"InputPath", "OutputPath", "Choices", "Default", "Assign"}, commonFields...)...),
		typeWait:    fieldSet(append(append([]string{"InputPath", "OutputPath", "Seconds", "SecondsPath", "Timestamp", "TimestampPath", "Assign"}, commonFields...), flowFields...)...),
		typeSucceed: fieldSet(append([]string{"InputPath", "OutputPath"}, commonFields...)...),
		typeFail:    fieldSet(append([]string{"Error", "Cause", "ErrorPath", "CausePath"}, commonFields...)...),
		typeParallel: fieldSet(append(append([]string{"InputPath", "OutputPath", "Parameters", "ResultSelector", "ResultPath", "Branches",
			"Retry", "Catch", "Assign"}, commonFields...), flowFields...)...),
		typeMap: fieldSet(append(append([]string{"InputPath", "OutputPath", "Parameters", "ResultSelector", "ResultPath", "ItemProcessor",
			"Iterator", "ItemsPath", "ItemSelector", "MaxConcurrency", "MaxConcurrencyPath", "ItemReader", "ItemBatcher", "ResultWriter",
			"ToleratedFailureCount", "ToleratedFailureCountPath", "ToleratedFailurePercentage", "ToleratedFailurePercentagePath",
			"Label", "Retry", "Catch", "Assign"}, commonFields...), flowFields...)...),
	}

	// allowedJSONata are the fields each state type accepts in JSONata.
	allowedJSONata = map[stateType]map[string]bool{
		typePass: fieldSet(append(append([]string{"Output", "Assign"}, commonFields...), flowFields...)...),
		typeTask: fieldSet(append(append([]string{"Arguments", "Output", "Resource", "Retry", "Catch", "TimeoutSeconds",
			"HeartbeatSeconds", "Credentials", "Assign"}, commonFields...), flowFields...)...),
		typeChoice:   fieldSet(append([]string{"Output", "Choices", "Default", "Assign"}, commonFields...)...),
		typeWait:     fieldSet(append(append([]string{"Output", "Seconds", "Timestamp", "Assign"}, commonFields...), flowFields...)...),
		typeSucceed:  fieldSet(append([]string{"Output"}, commonFields...)...),
		typeFail:     fieldSet(append([]string{"Error", "Cause"}, commonFields...)...),
		typeParallel: fieldSet(append(append([]string{"Arguments", "Output", "Branches", "Retry", "Catch", "Assign"}, commonFields...), flowFields...)...),
		typeMap: fieldSet(append(append([]string{"Arguments", "Output", "ItemProcessor", "Items", "ItemSelector", "MaxConcurrency",
			"ItemReader", "ItemBatcher", "ResultWriter", "ToleratedFailureCount", "ToleratedFailurePercentage", "Label",
			"Retry", "Catch", "Assign"}, commonFields...), flowFields...)...),
	}

	// exclusivePairs are fields of which at most one may appear.
	exclusivePairs = [][2]string{
		{"TimeoutSeconds", "TimeoutSecondsPath"}, {"HeartbeatSeconds", "HeartbeatSecondsPath"},
		{"MaxConcurrency", "MaxConcurrencyPath"}, {"ToleratedFailureCount", "ToleratedFailureCountPath"},
		{"ToleratedFailurePercentage", "ToleratedFailurePercentagePath"}, {"Items", "ItemsPath"},
		{"ItemProcessor", "Iterator"}, {"ItemSelector", "Parameters"},
		{"Error", "ErrorPath"}, {"Cause", "CausePath"},
	}

	lambdaARN = regexp.MustCompile(`^arn:[a-z-]+:lambda:[a-z0-9-]*:[0-9]*:function:[A-Za-z0-9_-]+(:(\$LATEST|[A-Za-z0-9_-]+))?$`)
)

// fields checks the field names of a state, mutually exclusive fields and
// the JSONata-only or JSONPath-only fields.
func (v *validator) fields(s *state) {
	allowed := allowedJSONPath[s.typ]
	if s.jsonata {
		allowed = allowedJSONata[s.typ]
	}
	for _, k := range sortedKeys(s.raw) {
		if allowed[k] {
			continue
		}
		if s.jsonata && allowedJSONPath[s.typ][k] {
			v.add(codeSchema, s.ptr, fmt.Sprintf("The QueryLanguage is set to 'JSONata', but field '%s' is only supported for the 'JSONPath' QueryLanguage", k))
			continue
		}
		if !s.jsonata && allowedJSONata[s.typ][k] {
			v.add(codeSchema, s.ptr, fmt.Sprintf("The QueryLanguage is set to 'JSONPath', but field '%s' is only supported for the 'JSONata' QueryLanguage", k))
			continue
		}
		v.add(codeSchema, s.ptr, fmt.Sprintf("Field '%s' is not supported by state type '%s'", k, s.typName))
	}
	for _, p := range exclusivePairs {
		_, a := s.raw[p[0]]
		_, b := s.raw[p[1]]
		if a && b {
			v.add(codeSchema, s.ptr, fmt.Sprintf("The fields '%s' and '%s' are mutually exclusive", p[0], p[1]))
		}
	}
	if s.typ == typeMap {
		v.mapConfig(s)
	}
	if s.jsonata {
		v.jsonataStrings(s.raw, s.ptr)
	}
}

func (v *validator) mapConfig(s *state) {
	if r, ok := s.raw["ItemReader"].(map[string]any); ok {
		if rc, ok := r["ReaderConfig"].(map[string]any); ok {
			_, a := rc["MaxItems"]
			_, b := rc["MaxItemsPath"]
			if a && b {
				v.add(codeSchema, s.ptr+"/ItemReader/ReaderConfig", "The fields 'MaxItems' and 'MaxItemsPath' are mutually exclusive")
			}
		}
	}
	if b, ok := s.raw["ItemBatcher"].(map[string]any); ok {
		for _, p := range [][2]string{{"MaxItemsPerBatch", "MaxItemsPerBatchPath"}, {"MaxInputBytesPerBatch", "MaxInputBytesPerBatchPath"}} {
			_, x := b[p[0]]
			_, y := b[p[1]]
			if x && y {
				v.add(codeSchema, s.ptr+"/ItemBatcher", fmt.Sprintf("The fields '%s' and '%s' are mutually exclusive", p[0], p[1]))
			}
		}
	}
	if pv, ok := s.raw["ToleratedFailurePercentage"]; ok {
		if f, isNum := numberFloat(pv); isNum && (f < 0 || f > 100) {
			v.add(codeSchema, s.ptr+"/ToleratedFailurePercentage", "The value for the field 'ToleratedFailurePercentage' must be between 0 and 100")
		}
	}
	if cv, ok := s.raw["ToleratedFailureCount"]; ok {
		if n, isInt := intNumber(cv); isNum(cv) && (!isInt || n < 0) {
			v.add(codeSchema, s.ptr+"/ToleratedFailureCount", "The value for the field 'ToleratedFailureCount' must be a non-negative INTEGER")
		}
	}
}

func isNum(v any) bool { return isNumber(v) }

// jsonataStrings checks every "{% ... %}" string below a JSONata state.
func (v *validator) jsonataStrings(val any, ptr string) {
	switch x := val.(type) {
	case map[string]any:
		for _, k := range sortedKeys(x) {
			if k == "ItemProcessor" || k == "Branches" || k == "Comment" {
				continue
			}
			v.jsonataStrings(x[k], ptr+"/"+escapePtr(k))
		}
	case []any:
		for i, e := range x {
			v.jsonataStrings(e, fmt.Sprintf("%s/%d", ptr, i))
		}
	case string:
		if msg := checkJSONataString(x); msg != "" {
			code := codeSchema
			if strings.HasPrefix(msg, "The JSONata expression is not valid") {
				code = codeInvalidJSONata
			}
			v.add(code, ptr, msg)
		}
	}
}

// checkJSONataString validates the "{% expr %}" form and the expression's
// syntax (tokens, operators and balanced brackets).
func checkJSONataString(s string) string {
	open, closed := strings.HasPrefix(s, "{%"), strings.HasSuffix(s, "%}")
	if !open && !closed {
		return ""
	}
	if !open || !closed || len(s) < 4 {
		return "The JSONata expression must be enclosed in '{%' and '%}'"
	}
	inner := s[2 : len(s)-2]
	if len(inner) < 2 || !isSpaceByte(inner[0]) || !isSpaceByte(inner[len(inner)-1]) {
		return "The JSONata expression must be separated from '{%' and '%}' by a space"
	}
	body := inner[1 : len(inner)-1]
	if strings.ContainsAny(body, "\n\r") {
		return "The JSONata expression must be on one line"
	}
	// the engine's parser decides; the diagnosis names the mistake
	_, cerr := jx.Compile(body)
	if cerr == nil {
		return ""
	}
	var se *jx.SyntaxError
	if errors.As(cerr, &se) {
		return "The JSONata expression is not valid: " + se.Diagnosis()
	}
	return "The JSONata expression is not valid: " + cerr.Error()
}

func isSpaceByte(c byte) bool { return c == ' ' || c == '\t' || c == '\n' || c == '\r' }

// resourceShape checks the Resource text itself.
func resourceShape(res string) string {
	if strings.Contains(res, "${") {
		if strings.Count(res, "${") != strings.Count(res, "}") {
			return "unterminated substitution"
		}
		return ""
	}
	info := classifyResource(res)
	if info.kind == resLambdaARN && !lambdaARN.MatchString(res) {
		return "invalid Lambda function ARN"
	}
	return ""
}
