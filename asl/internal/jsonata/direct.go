package jsonata

import (
	"encoding/json"
	"reflect"
	"strconv"

	"github.com/blues/jsonata-go/jparse"
)

// Direct evaluation of the commonest expression shapes, on the value tree
// and without the general evaluator: a comparison (= or !=) of plain paths
// and literals whose values are scalars, and a call of an added function
// with such arguments. Anything else (an object or array operand, a path
// meeting an array) falls back to the general evaluator, so the results
// are the same.

type operand struct {
	isLit bool
	lit   any
	v     string   // plain path: variable
	path  []string // and steps
}

func newOperand(n jparse.Node) (operand, bool) {
	switch x := n.(type) {
	case *jparse.StringNode:
		return operand{isLit: true, lit: x.Value}, true
	case *jparse.NumberNode:
		return operand{isLit: true, lit: Number(x.Value)}, true
	case *jparse.BooleanNode:
		return operand{isLit: true, lit: x.Value}, true
	case *jparse.NullNode:
		return operand{isLit: true, lit: nil}, true
	}
	v, path, ok := plainPath(n)
	if !ok || (v == "states" && len(path) == 0) {
		return operand{}, false
	}
	return operand{v: v, path: path}, true
}

// value returns the operand's value; ok is false when the general
// evaluator must decide.
func (o *operand) value(env Data) (v any, defined, ok bool) {
	if o.isLit {
		return o.lit, true, true
	}
	var root any
	var found bool
	path := o.path
	if o.v == "states" {
		root, found = env.StatesField(path[0])
		path = path[1:]
	} else {
		root, found = env.Lookup(o.v)
	}
	if !found {
		return nil, false, true
	}
	return walkPlain(root, path)
}

type directFn func(env Data, rt *Runtime) (res any, defined, handled bool, err error)

func compileDirect(n jparse.Node) directFn {
	switch x := n.(type) {
	case *jparse.ComparisonOperatorNode:
		if x.Type != jparse.ComparisonEqual && x.Type != jparse.ComparisonNotEqual {
			return nil
		}
		l, ok1 := newOperand(x.LHS)
		r, ok2 := newOperand(x.RHS)
		if !ok1 || !ok2 {
			return nil
		}
		neq := x.Type == jparse.ComparisonNotEqual
		return func(env Data, _ *Runtime) (any, bool, bool, error) {
			a, da, ok := l.value(env)
			if !ok || !scalar(a) {
				return nil, false, false, nil
			}
			b, db, ok := r.value(env)
			if !ok || !scalar(b) {
				return nil, false, false, nil
			}
			if !da || !db {
				return false, true, true, nil
			}
			return scalarEqual(a, b) != neq, true, true, nil
		}
	case *jparse.FunctionCallNode:
		fv, ok := x.Func.(*jparse.VariableNode)
		if !ok || awsFuncs[fv.Name] == nil {
			return nil
		}
		fn := awsFuncs[fv.Name]
		args := make([]operand, len(x.Args))
		for i, a := range x.Args {
			o, ok := newOperand(a)
			if !ok {
				return nil
			}
			args[i] = o
		}
		return func(env Data, _ *Runtime) (any, bool, bool, error) {
			argv := make([]reflect.Value, len(args))
			for i := range args {
				v, defined, ok := args[i].value(env)
				if !ok {
					return nil, false, false, nil
				}
				if defined {
					argv[i] = reflect.ValueOf(ToJ(v))
				}
			}
			res, err := fn.call(argv)
			if err != nil {
				return nil, false, true, toEvalError(err)
			}
			if !res.IsValid() {
				return nil, false, true, nil
			}
			out, ok := FromJ(res)
			if !ok {
				return nil, false, true, ErrFunctionValue
			}
			return out, true, true, nil
		}
	}
	return nil
}

func scalar(v any) bool {
	switch v.(type) {
	case nil, string, bool, json.Number:
		return true
	}
	return false
}

// scalarEqual is JSONata's = on scalars: same type and value; numbers by
// value.
func scalarEqual(a, b any) bool {
	switch x := a.(type) {
	case json.Number:
		y, ok := b.(json.Number)
		if !ok {
			return false
		}
		fx, err1 := strconv.ParseFloat(string(x), 64)
		fy, err2 := strconv.ParseFloat(string(y), 64)
		return err1 == nil && err2 == nil && fx == fy
	case nil:
		return b == nil
	}
	return a == b
}
