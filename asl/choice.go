package asl

import (
	"fmt"
	"strings"
	"time"
)

type choiceOp uint8

const (
	opNone choiceOp = iota
	opStringEquals
	opStringLessThan
	opStringGreaterThan
	opStringLessThanEquals
	opStringGreaterThanEquals
	opStringMatches
	opNumericEquals
	opNumericLessThan
	opNumericGreaterThan
	opNumericLessThanEquals
	opNumericGreaterThanEquals
	opBooleanEquals
	opTimestampEquals
	opTimestampLessThan
	opTimestampGreaterThan
	opTimestampLessThanEquals
	opTimestampGreaterThanEquals
	opIsNull
	opIsPresent
	opIsNumeric
	opIsString
	opIsBoolean
	opIsTimestamp
)

var choiceOps = map[string]choiceOp{
	"StringEquals": opStringEquals, "StringLessThan": opStringLessThan,
	"StringGreaterThan": opStringGreaterThan, "StringLessThanEquals": opStringLessThanEquals,
	"StringGreaterThanEquals": opStringGreaterThanEquals, "StringMatches": opStringMatches,
	"NumericEquals": opNumericEquals, "NumericLessThan": opNumericLessThan,
	"NumericGreaterThan": opNumericGreaterThan, "NumericLessThanEquals": opNumericLessThanEquals,
	"NumericGreaterThanEquals": opNumericGreaterThanEquals, "BooleanEquals": opBooleanEquals,
	"TimestampEquals": opTimestampEquals, "TimestampLessThan": opTimestampLessThan,
	"TimestampGreaterThan": opTimestampGreaterThan, "TimestampLessThanEquals": opTimestampLessThanEquals,
	"TimestampGreaterThanEquals": opTimestampGreaterThanEquals,
	"IsNull":                     opIsNull, "IsPresent": opIsPresent, "IsNumeric": opIsNumeric,
	"IsString": opIsString, "IsBoolean": opIsBoolean, "IsTimestamp": opIsTimestamp,
}

type choiceRule struct {
	ptr      string
	variable *valueExpr
	op       choiceOp
	opName   string
	operand  any
	opPath   *valueExpr // *Path variants
	pattern  []patternPart
	ts       time.Time
	and, or  []*choiceRule
	not      *choiceRule
	next     string
	assign   *template
	topLevel bool
}

type patternPart struct {
	lit  string
	star bool
}

func (p *parser) choiceRule(o map[string]any, ptr string, top bool) *choiceRule {
	r := &choiceRule{ptr: ptr, topLevel: top}
	if top {
		r.next, _ = p.str(o, "Next", ptr)
		if _, ok := o["Next"]; !ok {
			p.issue(ptr, "These fields are required: [Next]")
		}
		r.assign = p.template(o, "Assign", ptr)
	}
	sub := func(key string) []*choiceRule {
		arr, ok := o[key].([]any)
		if !ok || len(arr) == 0 {
			p.issue(ptr+"/"+key, fmt.Sprintf("The value for the field '%s' must be a non-empty ARRAY", key))
			return nil
		}
		var out []*choiceRule
		for i, e := range arr {
			eo, ok := e.(map[string]any)
			if !ok {
				p.issue(fmt.Sprintf("%s/%s/%d", ptr, key, i), "A choice rule must be an OBJECT")
				continue
			}
			out = append(out, p.choiceRule(eo, fmt.Sprintf("%s/%s/%d", ptr, key, i), false))
		}
		return out
	}
	switch {
	case o["And"] != nil:
		r.and = sub("And")
		return r
	case o["Or"] != nil:
		r.or = sub("Or")
		return r
	case o["Not"] != nil:
		no, ok := o["Not"].(map[string]any)
		if !ok {
			p.issue(ptr+"/Not", "The value for the field 'Not' must be an OBJECT")
			return r
		}
		r.not = p.choiceRule(no, ptr+"/Not", false)
		return r
	}
	if v, ok := o["Variable"]; ok {
		s, _ := v.(string)
		e, err := compilePath(s)
		if err != nil {
			p.issue(ptr+"/Variable", "The value for the field 'Variable' must be a valid JSONPath")
		} else {
			r.variable = e
		}
	} else {
		p.issue(ptr, "These fields are required: [Variable]")
	}
	for k, v := range o {
		name := k
		isPath := strings.HasSuffix(k, "Path") && k != "Path"
		if isPath {
			name = strings.TrimSuffix(k, "Path")
		}
		op, ok := choiceOps[name]
		if !ok {
			continue
		}
		if r.op != opNone {
			p.issue(ptr, "A choice rule must have exactly one comparison operator")
		}
		r.op, r.opName = op, k
		if isPath {
			if op >= opIsNull || op == opStringMatches {
				p.issue(ptr+"/"+k, fmt.Sprintf("Unknown comparison operator '%s'", k))
				continue
			}
			s, _ := v.(string)
			e, err := compilePath(s)
			if err != nil {
				p.issue(ptr+"/"+k, fmt.Sprintf("The value for the field '%s' must be a valid JSONPath", k))
				continue
			}
			r.opPath = e
			continue
		}
		r.operand = v
		bad := false
		switch {
		case op >= opStringEquals && op <= opStringMatches:
			s, ok := v.(string)
			bad = !ok
			if ok && op == opStringMatches {
				r.pattern = compilePattern(s)
			}
		case op >= opNumericEquals && op <= opNumericGreaterThanEquals:
			bad = !isNumber(v)
		case op == opBooleanEquals || op >= opIsNull:
			_, ok := v.(bool)
			bad = !ok
		default: // timestamps
			s, ok := v.(string)
			if ok {
				t, err := parseTimestamp(s)
				bad = err != nil
				r.ts = t
			} else {
				bad = true
			}
		}
		if bad {
			p.issue(ptr+"/"+k, fmt.Sprintf("The value for the field '%s' has the wrong type", k))
		}
	}
	if r.op == opNone {
		p.issue(ptr, "A choice rule must have a comparison operator")
	}
	return r
}

func compilePattern(s string) []patternPart {
	var parts []patternPart
	var cur strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c == '\\' && i+1 < len(s):
			i++
			cur.WriteByte(s[i])
		case c == '*':
			if cur.Len() > 0 {
				parts = append(parts, patternPart{lit: cur.String()})
				cur.Reset()
			}
			parts = append(parts, patternPart{star: true})
		default:
			cur.WriteByte(c)
		}
	}
	if cur.Len() > 0 {
		parts = append(parts, patternPart{lit: cur.String()})
	}
	return parts
}

// matchPattern matches s against literal parts and "*" wildcards in
// linear time (a star backtracks only to the last star seen).
func matchPattern(parts []patternPart, s string) bool {
	pi, si := 0, 0
	starPart, starPos := -1, 0
	for {
		if pi < len(parts) && parts[pi].star {
			starPart, starPos = pi, si
			pi++
			continue
		}
		if pi < len(parts) && strings.HasPrefix(s[si:], parts[pi].lit) {
			si += len(parts[pi].lit)
			pi++
			if pi == len(parts) && si == len(s) {
				return true
			}
			if pi < len(parts) {
				continue
			}
		} else if pi == len(parts) && si == len(s) {
			return true
		}
		if starPart < 0 || starPos >= len(s) {
			return false
		}
		// let the last star absorb one more byte and retry from there
		starPos++
		pi, si = starPart+1, starPos
	}
}

// choiceError is a runtime failure while evaluating a choice rule: field is
// the rule's field whose path failed ("Variable", "StringEqualsPath"...),
// expr its text and off the failure's offset in it.
type choiceError struct {
	msg         string
	field, expr string
	off         int
}

func (e *choiceError) Error() string { return e.msg }

func (r *choiceRule) eval(env *evalEnv) (bool, error) {
	switch {
	case r.and != nil:
		for _, s := range r.and {
			ok, err := s.eval(env)
			if err != nil || !ok {
				return false, err
			}
		}
		return true, nil
	case r.or != nil:
		for _, s := range r.or {
			ok, err := s.eval(env)
			if err != nil || ok {
				return ok, err
			}
		}
		return false, nil
	case r.not != nil:
		ok, err := r.not.eval(env)
		return !ok, err
	}
	if r.variable == nil {
		return false, nil
	}
	val, err := r.variable.eval(env)
	if r.op == opIsPresent {
		want, _ := r.operand.(bool)
		return (err == nil) == want, nil
	}
	if err != nil {
		_, off := exprPosition(r.variable, err)
		return false, &choiceError{msg: fmt.Sprintf("Invalid path '%s': The choice state's condition path references an invalid value.", r.variable.src),
			field: "Variable", expr: r.variable.src, off: off}
	}
	operand := r.operand
	if r.opPath != nil {
		operand, err = r.opPath.eval(env)
		if err != nil {
			_, off := exprPosition(r.opPath, err)
			return false, &choiceError{msg: fmt.Sprintf("Invalid path '%s': The choice state's condition path references an invalid value.", r.opPath.src),
				field: r.opName, expr: r.opPath.src, off: off}
		}
	}
	switch r.op {
	case opIsNull:
		return (val == nil) == operand.(bool), nil
	case opIsNumeric:
		return isNumber(val) == operand.(bool), nil
	case opIsString:
		_, ok := val.(string)
		return ok == operand.(bool), nil
	case opIsBoolean:
		_, ok := val.(bool)
		return ok == operand.(bool), nil
	case opIsTimestamp:
		s, ok := val.(string)
		if ok {
			_, err := parseTimestamp(s)
			ok = err == nil
		}
		return ok == operand.(bool), nil
	case opBooleanEquals:
		a, ok1 := val.(bool)
		b, ok2 := operand.(bool)
		return ok1 && ok2 && a == b, nil
	case opStringMatches:
		s, ok := val.(string)
		return ok && matchPattern(r.pattern, s), nil
	}
	switch {
	case r.op >= opStringEquals && r.op <= opStringGreaterThanEquals:
		a, ok1 := val.(string)
		b, ok2 := operand.(string)
		if !ok1 || !ok2 {
			return false, nil
		}
		return cmpResult(r.op-opStringEquals, strings.Compare(a, b)), nil
	case r.op >= opNumericEquals && r.op <= opNumericGreaterThanEquals:
		if !isNumber(val) || !isNumber(operand) {
			return false, nil
		}
		c, ok := compareNumbers(val, operand)
		return ok && cmpResult(r.op-opNumericEquals, c), nil
	default:
		a, ok1 := val.(string)
		b, ok2 := operand.(string)
		if !ok1 || !ok2 {
			return false, nil
		}
		ta, err1 := parseTimestamp(a)
		tb, err2 := parseTimestamp(b)
		if err1 != nil || err2 != nil {
			return false, nil
		}
		return cmpResult(r.op-opTimestampEquals, ta.Compare(tb)), nil
	}
}

// cmpResult maps an offset within an operator group (Equals, LessThan,
// GreaterThan, LessThanEquals, GreaterThanEquals) and a comparison result.
func cmpResult(kind choiceOp, c int) bool {
	switch kind {
	case 0:
		return c == 0
	case 1:
		return c < 0
	case 2:
		return c > 0
	case 3:
		return c <= 0
	case 4:
		return c >= 0
	}
	return false
}
