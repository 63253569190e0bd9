// Package jsonata evaluates JSONata expressions the way AWS Step Functions
// does, on github.com/blues/jsonata-go.
//
// # Why blues/jsonata-go
//
// Two Go implementations resolve here: github.com/blues/jsonata-go v1.5.4
// and its fork github.com/xiatechs/jsonata-go v1.8.8. Both were run on
// every expression of the recorded AWS corpus and on a set of standard
// JSONata probes. They agree on the corpus, but the fork computes division
// in single precision (1/3 gives 0.33333334, AWS gives
// 0.3333333333333333), binds $eval (which AWS refuses) and a dozen
// non-standard functions that AWS does not have, and pulls in three
// dependencies. blues/jsonata-go has none of these problems and no
// dependencies, so it is the base; what it lacks is added here.
//
// # How an expression runs
//
// Compile parses the expression, collects the variables it mentions and
// compiles it once as the body of a lambda whose parameters are those
// variables ($states first). Evaluating is calling that lambda with the
// values of the moment, so a compiled Expr is immutable and safe for
// concurrent use, and no environment is rebuilt per evaluation. `$` (the
// context value) is undefined: Step Functions expressions read their data
// through $states and variables.
//
// Values cross the boundary as the interpreter's value trees:
// map[string]any, []any, string, json.Number, bool and nil. Numbers become
// float64 going in (JSONata arithmetic is IEEE double) and json.Number
// coming out, written as JavaScript writes them (integers without a
// fraction, 1e21 and above in exponent form).
//
// # Functions
//
// The standard library of blues/jsonata-go is available, with $single
// taking its optional predicate, the URL functions encoding as JavaScript
// does (the base library writes a space as "+"), and these added: $assert,
// $formatInteger and $parseInteger (decimal, words, roman and letter
// pictures), $base64encode and $base64decode, AWS's $partition, $range,
// $hash, $random (optionally seeded), $uuid and $parse, with the edge cases
// AWS shows (fractions truncated, nothing for an empty array or a step
// against the direction, "NaN" for an unparsable integer). $eval is not
// bound, as in AWS: calling it fails with T1006. $now and $millis read the
// execution's clock; $random and $uuid use the execution's generators.
//
// # One front end
//
// This package is the only place in the interpreter that reads JSONata
// text. Compile removes comments (which the base library does not accept)
// and parses with jparse, the base library's parser; the AWS-facing checks
// that need the syntax tree (Unsupported, the binding operators in names,
// the $states members read) walk that tree. One check keeps a scan of its
// own, diagnose (diagnose.go): when jparse rejects an expression,
// SyntaxError.Diagnosis names the mistake for Validate's
// INVALID_JSONATA_EXPRESSION message (unbalanced brackets, an unexpected
// operator, an unterminated string...). It cannot be built on jparse: a
// rejected expression has no tree, the base library's lexer is not
// exported, and jparse.Error reports the token where parsing stopped, which
// is often not where the mistake is (the end of the text for a missing
// closing parenthesis). The scan runs only on that failure path and never
// decides whether an expression is valid; jparse alone does.
//
// Errors carry the JSONata error code and message of the reference
// implementation (for example "T1006: Attempted to invoke a non-function"),
// which is the text AWS puts in States.QueryEvaluationError causes.
package jsonata

import (
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strings"

	jsonata "github.com/blues/jsonata-go"
	"github.com/blues/jsonata-go/jparse"
	"github.com/blues/jsonata-go/jtypes"
)

// Runtime supplies the per-execution dependencies of the time and random
// functions. Any nil field falls back to the system's.
type Runtime struct {
	NowMillis func() int64
	Random    func() float64
	UUID      func() string
}

// Expr is a compiled expression.
type Expr struct {
	src    string
	node   jparse.Node
	fn     jtypes.Callable
	params []param
	// UsesStates reports a reference to $states; StatesFields lists the
	// members read ($states.input, ...), all of them when StatesAll.
	UsesStates   bool
	StatesFields []string
	StatesAll    bool
	// Vars are the state-machine variables the expression reads.
	Vars []string
	// a plain path ($states.input.a.b, $var.x) is walked directly on the
	// value tree, without conversion
	fastVar  string
	fastPath []string
	isFast   bool
	direct   directFn
}

type paramKind uint8

const (
	paramStates paramKind = iota
	paramVar
	paramFunc
	paramRefused
)

type param struct {
	kind paramKind
	name string
	fn   *builtin // paramFunc: fixed functions
	rt   string   // runtime-bound function name (now, millis, random, uuid)
}

// Source returns the expression text.
func (e *Expr) Source() string { return e.src }

// Compile parses an expression. The error is a *SyntaxError.
func Compile(src string) (*Expr, error) {
	node, err := jparse.Parse(stripComments(src))
	if err != nil {
		return nil, &SyntaxError{msg: unsupportedOperator(err, syntaxMessage(err)), src: src}
	}
	if msg := bindingInName(reflect.ValueOf(node)); msg != "" {
		return nil, &SyntaxError{msg: msg, src: src}
	}
	names := map[string]bool{}
	collectVars(reflect.ValueOf(node), names)
	e := &Expr{src: src, node: node}
	e.fastVar, e.fastPath, e.isFast = plainPath(node)
	if e.isFast && e.fastVar == "states" && len(e.fastPath) == 0 {
		e.isFast = false
	}
	e.direct = compileDirect(node)
	fields := map[string]bool{}
	e.StatesAll = statesUse(reflect.ValueOf(node), fields)
	for f := range fields {
		e.StatesFields = append(e.StatesFields, f)
	}
	sort.Strings(e.StatesFields)
	sorted := make([]string, 0, len(names))
	for n := range names {
		sorted = append(sorted, n)
	}
	sort.Strings(sorted)
	var plist []string
	for _, n := range sorted {
		switch {
		case n == "" || n == "$":
			continue
		case n == "states":
			e.UsesStates = true
			continue
		case n == "eval":
			// refused as AWS refuses it: never bound, so calling it fails
			// with T1006
			e.params = append(e.params, param{kind: paramRefused, name: n})
		case awsFuncs[n] != nil:
			e.params = append(e.params, param{kind: paramFunc, name: n, fn: awsFuncs[n]})
		case runtimeFuncs[n]:
			e.params = append(e.params, param{kind: paramFunc, name: n, rt: n})
		case standardFuncs[n]:
			continue
		default:
			e.params = append(e.params, param{kind: paramVar, name: n})
			e.Vars = append(e.Vars, n)
		}
		plist = append(plist, "$"+n)
	}
	wrapper := "function(" + strings.Join(append([]string{"$states"}, plist...), ", ") + ") { (" + stripComments(src) + "\n) }"
	w, err := jsonata.Compile(wrapper)
	if err != nil {
		return nil, &SyntaxError{msg: syntaxMessage(err), src: src}
	}
	v, err := w.Eval(nil)
	if err != nil {
		return nil, &SyntaxError{msg: err.Error(), src: src}
	}
	fn, ok := v.(jtypes.Callable)
	if !ok {
		return nil, &SyntaxError{msg: "expression did not compile to a function", src: src}
	}
	e.fn = fn
	return e, nil
}

// stripComments removes /* ... */ comments outside string literals (the
// base library's lexer reads them as regular expressions).
func stripComments(src string) string {
	if !strings.Contains(src, "/*") {
		return src
	}
	var b strings.Builder
	var quote byte
	for i := 0; i < len(src); i++ {
		c := src[i]
		switch {
		case quote != 0:
			b.WriteByte(c)
			if c == '\\' && i+1 < len(src) {
				i++
				b.WriteByte(src[i])
			} else if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'' || c == '`':
			quote = c
			b.WriteByte(c)
		case c == '/' && i+1 < len(src) && src[i+1] == '*':
			end := strings.Index(src[i+2:], "*/")
			if end < 0 {
				return src // unterminated: let the parser report it
			}
			b.WriteByte(' ')
			i += end + 3
		default:
			b.WriteByte(c)
		}
	}
	return b.String()
}

// plainPath recognises $name.step.step with plain name steps.
func plainPath(n jparse.Node) (string, []string, bool) {
	switch x := n.(type) {
	case *jparse.VariableNode:
		if x.Name == "" || awsFuncs[x.Name] != nil || runtimeFuncs[x.Name] || standardFuncs[x.Name] || x.Name == "eval" {
			return "", nil, false
		}
		return x.Name, nil, true
	case *jparse.PathNode:
		if len(x.Steps) < 2 || x.KeepArrays {
			return "", nil, false
		}
		v, ok := x.Steps[0].(*jparse.VariableNode)
		if !ok {
			return "", nil, false
		}
		name, _, ok := plainPath(v)
		if !ok {
			return "", nil, false
		}
		var steps []string
		for _, st := range x.Steps[1:] {
			nn, ok := st.(*jparse.NameNode)
			if !ok {
				return "", nil, false
			}
			steps = append(steps, nn.Value)
		}
		return name, steps, true
	}
	return "", nil, false
}

// walkPlain follows a plain path through objects; ok is false when the
// walk meets an array (JSONata maps over it: the general evaluator runs).
func walkPlain(v any, steps []string) (res any, defined, ok bool) {
	for _, s := range steps {
		m, isObj := v.(map[string]any)
		if !isObj {
			if _, isArr := v.([]any); isArr {
				return nil, false, false
			}
			return nil, false, true
		}
		v, isObj = m[s]
		if !isObj {
			return nil, false, true
		}
	}
	return v, true, true
}

// statesUse records the members of $states read as $states.name; it
// reports a use of $states as a whole.
func statesUse(v reflect.Value, out map[string]bool) bool {
	all := false
	switch v.Kind() {
	case reflect.Interface, reflect.Pointer:
		if v.IsNil() {
			return false
		}
		switch n := v.Interface().(type) {
		case *jparse.VariableNode:
			return n.Name == "states"
		case *jparse.PathNode:
			if len(n.Steps) >= 2 {
				if vn, ok := n.Steps[0].(*jparse.VariableNode); ok && vn.Name == "states" {
					if nn, ok := n.Steps[1].(*jparse.NameNode); ok {
						out[nn.Value] = true
						for _, st := range n.Steps[2:] {
							all = statesUse(reflect.ValueOf(st), out) || all
						}
						return all
					}
				}
			}
		}
		return statesUse(v.Elem(), out)
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				all = statesUse(v.Field(i), out) || all
			}
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			all = statesUse(v.Index(i), out) || all
		}
	}
	return all
}

// bindingInName finds the @ and # binding operators where the base
// library's lexer reads them as part of a field name ("xs#$i").
func bindingInName(v reflect.Value) string {
	switch v.Kind() {
	case reflect.Interface, reflect.Pointer:
		if v.IsNil() {
			return ""
		}
		if n, ok := v.Interface().(*jparse.NameNode); ok {
			for _, op := range []struct{ tok, what string }{{"@$", "context variable binding"}, {"#$", "positional variable binding"}} {
				if strings.Contains(n.Value, op.tok) {
					return fmt.Sprintf("the %s operator '%s' is not supported by this interpreter", op.what, op.tok[:1])
				}
			}
			return ""
		}
		return bindingInName(v.Elem())
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				if msg := bindingInName(v.Field(i)); msg != "" {
					return msg
				}
			}
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			if msg := bindingInName(v.Index(i)); msg != "" {
				return msg
			}
		}
	}
	return ""
}

// collectVars walks the syntax tree and records every variable name.
func collectVars(v reflect.Value, out map[string]bool) {
	switch v.Kind() {
	case reflect.Interface, reflect.Pointer:
		if v.IsNil() {
			return
		}
		if vn, ok := v.Interface().(*jparse.VariableNode); ok {
			out[vn.Name] = true
			return
		}
		collectVars(v.Elem(), out)
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			f := v.Field(i)
			if !v.Type().Field(i).IsExported() {
				continue
			}
			collectVars(f, out)
		}
	case reflect.Slice, reflect.Array:
		for i := 0; i < v.Len(); i++ {
			collectVars(v.Index(i), out)
		}
	}
}

// ErrUndefined is returned when an expression yields no value.
var ErrUndefined = errors.New("jsonata: undefined result")

// ErrFunctionValue is returned when an expression's value is, or holds, a
// function: JSON has no such value.
var ErrFunctionValue = errors.New("jsonata: the value is or holds a function")

// Data is what an evaluation reads.
type Data interface {
	// StatesField returns a member of $states (input, result,
	// errorOutput, context) as a value tree.
	StatesField(name string) (any, bool)
	// States returns $states converted with ToJ, with at least the members
	// the expression reads (StatesFields, or all of them when StatesAll);
	// the implementation may keep conversions for the next expressions.
	States(e *Expr) any
	// Lookup resolves a variable; ok false means undefined.
	Lookup(name string) (any, bool)
}

// Eval evaluates the expression. The result is a value tree; ErrUndefined
// when the expression returns nothing, ErrFunctionValue when its value is
// or holds a function; otherwise an *EvalError.
func (e *Expr) Eval(env Data, rt *Runtime) (any, error) {
	if e.direct != nil {
		v, defined, handled, err := e.direct(env, rt)
		if handled {
			switch {
			case err != nil:
				return nil, err
			case !defined:
				return nil, ErrUndefined
			}
			return v, nil
		}
	}
	if e.isFast {
		var root any
		var found bool
		path := e.fastPath
		if e.fastVar == "states" {
			root, found = env.StatesField(path[0])
			path = path[1:]
		} else {
			root, found = env.Lookup(e.fastVar)
		}
		if !found {
			return nil, ErrUndefined
		}
		v, defined, ok := walkPlain(root, path)
		if ok {
			if !defined {
				return nil, ErrUndefined
			}
			return v, nil
		}
	}
	var buf [8]reflect.Value
	argv := buf[:0]
	if e.UsesStates {
		argv = append(argv, reflect.ValueOf(env.States(e)))
	} else {
		argv = append(argv, reflect.Value{})
	}
	for _, p := range e.params {
		switch p.kind {
		case paramFunc:
			if p.fn != nil {
				argv = append(argv, reflect.ValueOf(p.fn))
			} else {
				argv = append(argv, reflect.ValueOf(runtimeFunc(p.rt, rt)))
			}
		case paramRefused:
			argv = append(argv, reflect.Value{})
		default:
			v, ok := env.Lookup(p.name)
			if !ok {
				argv = append(argv, reflect.Value{})
				continue
			}
			argv = append(argv, reflect.ValueOf(ToJ(v)))
		}
	}
	res, err := e.call(argv)
	if err != nil {
		return nil, toEvalError(err)
	}
	if !res.IsValid() {
		return nil, ErrUndefined
	}
	out, ok := FromJ(res)
	if !ok {
		return nil, ErrFunctionValue
	}
	return out, nil
}

func (e *Expr) call(argv []reflect.Value) (v reflect.Value, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = &EvalError{Code: "D1001", Msg: "Evaluation failed: " + strings.TrimSpace(strings.ReplaceAll(sprint(r), "\n", " "))}
		}
	}()
	return e.fn.Call(argv)
}
