package asl

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/mailflow/mailflow/asl/internal/jsonpath"
)

type exprKind uint8

const (
	exprInput     exprKind = iota // $...
	exprContext                   // $$...
	exprVar                       // $name...
	exprIntrinsic                 // States.Fn(...)
)

// intrinsicExpr is a parsed intrinsic function call.
type intrinsicExpr interface {
	eval(resolve func(path string) (any, error), env *evalEnv) (any, error)
}

// parseIntrinsic is bound to the intrinsic package in intrinsic_bind.go.
var parseIntrinsic func(expr string) (intrinsicExpr, error)

// isIntrinsic reports whether s looks like an intrinsic function call.
func isIntrinsic(s string) bool { return strings.HasPrefix(s, "States.") }

// valueExpr is a compiled reference: a JSONPath on the input, the context
// object or a variable, or an intrinsic function call.
type valueExpr struct {
	src     string
	kind    exprKind
	varName string
	path    *jsonpath.Path
	fn      intrinsicExpr
}

func isVarStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

func isVarChar(c byte) bool {
	return isVarStart(c) || (c >= '0' && c <= '9')
}

// compilePath compiles a reference path ($, $$ or $var); intrinsics are not
// allowed (InputPath, ItemsPath, Variable ...).
func compilePath(src string) (*valueExpr, error) {
	switch {
	case strings.HasPrefix(src, "$$"):
		p, err := jsonpath.Compile(src[1:])
		if err != nil {
			return nil, err
		}
		return &valueExpr{src: src, kind: exprContext, path: p}, nil
	case len(src) > 1 && src[0] == '$' && isVarStart(src[1]):
		i := 1
		for i < len(src) && isVarChar(src[i]) {
			i++
		}
		p, err := jsonpath.Compile("$" + src[i:])
		if err != nil {
			return nil, err
		}
		return &valueExpr{src: src, kind: exprVar, varName: src[1:i], path: p}, nil
	case strings.HasPrefix(src, "$"):
		p, err := jsonpath.Compile(src)
		if err != nil {
			return nil, err
		}
		return &valueExpr{src: src, kind: exprInput, path: p}, nil
	}
	return nil, fmt.Errorf("%q is not a valid JSONPath", src)
}

// compileValueExpr compiles the value of a "key.$" field: a path or an
// intrinsic function call.
func compileValueExpr(src string) (*valueExpr, error) {
	if isIntrinsic(src) {
		if parseIntrinsic == nil {
			return nil, fmt.Errorf("intrinsic functions are not available")
		}
		fn, err := parseIntrinsic(src)
		if err != nil {
			return nil, err
		}
		return &valueExpr{src: src, kind: exprIntrinsic, fn: fn}, nil
	}
	return compilePath(src)
}

// evalEnv is what expressions read: the current input, the context object
// and the variables in scope.
type evalEnv struct {
	input any
	fr    *frame // builds the context object on demand
	vars  *scope
	ex    *execution
}

// pathMissError is a definite path that found nothing.
type pathMissError struct {
	expr *valueExpr
	msg  string // Jayway's text
	off  int    // byte offset in expr.src of the failing step, -1 unknown
}

func (e *pathMissError) Error() string { return e.msg }

func (x *valueExpr) root(env *evalEnv) (any, error) {
	switch x.kind {
	case exprContext:
		return env.fr.ctxObject(), nil
	case exprVar:
		v, ok := env.vars.lookup(x.varName)
		if !ok {
			return nil, &pathMissError{expr: x, msg: fmt.Sprintf("The variable '%s' is not defined", x.varName), off: 0}
		}
		return v, nil
	}
	return env.input, nil
}

// eval evaluates the expression. Path misses are *pathMissError; intrinsic
// failures are *Error.
func (x *valueExpr) eval(env *evalEnv) (any, error) {
	if x.kind == exprIntrinsic {
		return x.fn.eval(func(p string) (any, error) { return resolveArg(p, env) }, env)
	}
	r, err := x.root(env)
	if err != nil {
		return nil, err
	}
	v, err := x.path.Eval(r)
	if err != nil {
		return nil, &pathMissError{expr: x, msg: err.Error(), off: x.srcOffset(err)}
	}
	return v, nil
}

// srcOffset maps the offset of a path failure to the expression as
// written: a variable's path is compiled as "$" followed by what comes
// after the name, a context path without its first "$".
func (x *valueExpr) srcOffset(err error) int {
	nf, ok := err.(*jsonpath.NotFoundError)
	if !ok {
		return -1
	}
	switch x.kind {
	case exprContext:
		return nf.Offset + 1
	case exprVar:
		return nf.Offset + len(x.varName)
	}
	return nf.Offset
}

// exprPosition returns the text and the failure offset to record for a
// failed evaluation of x.
func exprPosition(x *valueExpr, err error) (string, int) {
	if x == nil {
		return "", -1
	}
	var pm *pathMissError
	if errors.As(err, &pm) {
		if pm.expr == x {
			return x.src, pm.off
		}
		// a path argument of an intrinsic call: placed when its text
		// occurs once in the call
		if i := strings.Index(x.src, pm.expr.src); i >= 0 && pm.off >= 0 && strings.Count(x.src, pm.expr.src) == 1 {
			return x.src, i + pm.off
		}
		return x.src, -1
	}
	var ie *intrinsicError
	if errors.As(err, &ie) {
		return x.src, ie.offset
	}
	return x.src, -1
}

// template is a compiled payload template (Parameters, ResultSelector,
// ItemSelector, Assign): literal parts are kept as values and shared, "key.$"
// fields hold compiled expressions.
type template struct {
	literal  any // when constant
	isConst  bool
	fields   []tfield    // object
	items    []*template // array
	isObject bool
}

type tfield struct {
	key  string // output key, without ".$"
	raw  string // key as written
	sub  *template
	expr *valueExpr
}

// compileTemplate compiles v; ptr is its JSON pointer for messages.
func compileTemplate(v any, ptr string, errs *[]Issue) *template {
	switch x := v.(type) {
	case map[string]any:
		t := &template{isObject: true}
		constant := true
		for _, k := range sortedKeys(x) {
			if base, ok := strings.CutSuffix(k, ".$"); ok {
				if _, clash := x[base]; clash {
					*errs = append(*errs, Issue{Code: codeSchema, Location: ptr,
						Message: fmt.Sprintf("A duplicate field will exist after renaming to strip the \".$\" suffix from: %s", k)})
				}
			}
			val := x[k]
			if strings.HasSuffix(k, ".$") {
				s, ok := val.(string)
				if !ok {
					*errs = append(*errs, Issue{Code: codeSchema, Location: ptr,
						Message: fmt.Sprintf("The value for the field '%s' must be a STRING that contains a JSONPath but was an %s", k, typeName(val))})
					continue
				}
				e, err := compileValueExpr(s)
				if err != nil {
					*errs = append(*errs, Issue{Code: codeSchema, Location: ptr,
						Message: fmt.Sprintf("The value for the field '%s' must be a valid JSONPath or a valid intrinsic function call", k)})
					continue
				}
				t.fields = append(t.fields, tfield{key: strings.TrimSuffix(k, ".$"), raw: k, expr: e})
				constant = false
				continue
			}
			sub := compileTemplate(val, ptr+"/"+escapePtr(k), errs)
			if !sub.isConst {
				constant = false
			}
			t.fields = append(t.fields, tfield{key: k, raw: k, sub: sub})
		}
		if constant {
			return &template{literal: v, isConst: true}
		}
		return t
	case []any:
		t := &template{}
		constant := true
		for i, e := range x {
			sub := compileTemplate(e, fmt.Sprintf("%s/%d", ptr, i), errs)
			if !sub.isConst {
				constant = false
			}
			t.items = append(t.items, sub)
		}
		if constant {
			return &template{literal: v, isConst: true}
		}
		return t
	}
	return &template{literal: v, isConst: true}
}

// fieldError describes a failed "key.$" evaluation for the caller.
type fieldError struct {
	expr  *valueExpr
	field string
	err   error
}

func (e *fieldError) Error() string { return e.err.Error() }

func (t *template) eval(env *evalEnv) (any, error) {
	if t.isConst {
		return t.literal, nil
	}
	if t.isObject {
		out := make(map[string]any, len(t.fields))
		for i := range t.fields {
			f := &t.fields[i]
			if f.expr != nil {
				v, err := f.expr.eval(env)
				if err != nil {
					var fe *fieldError
					if asFieldError(err, &fe) {
						return nil, err
					}
					return nil, &fieldError{field: f.raw, err: err, expr: f.expr}
				}
				out[f.key] = v
				continue
			}
			v, err := f.sub.eval(env)
			if err != nil {
				return nil, err
			}
			out[f.key] = v
		}
		return out, nil
	}
	out := make([]any, len(t.items))
	for i, it := range t.items {
		v, err := it.eval(env)
		if err != nil {
			return nil, err
		}
		out[i] = v
	}
	return out, nil
}

func asFieldError(err error, fe **fieldError) bool {
	f, ok := err.(*fieldError)
	if ok {
		*fe = f
	}
	return ok
}

func escapePtr(s string) string {
	s = strings.ReplaceAll(s, "~", "~0")
	return strings.ReplaceAll(s, "/", "~1")
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sortStrings(keys)
	return keys
}

func sortStrings(s []string) { slices.Sort(s) }
