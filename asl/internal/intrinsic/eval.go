package intrinsic

import (
	"encoding/json"
	"fmt"
	"math"
	"strconv"
)

// Eval evaluates the expression. Path arguments are resolved with resolve,
// whose errors are returned unchanged; failures of the functions themselves
// are *Error with Name ErrRuntime.
func (e *Expr) Eval(resolve Resolver, env Env) (any, error) {
	v, err := e.root.eval(resolve, env)
	if err != nil {
		if ee, ok := err.(*evalError); ok {
			return nil, &Error{Name: ErrRuntime, Cause: fmt.Sprintf(CauseFormat, e.src, ee.detail), Offset: ee.offset}
		}
		return nil, err
	}
	return v, nil
}

func (n *node) eval(resolve Resolver, env Env) (any, error) {
	switch n.kind {
	case nodeConst:
		return n.val, nil
	case nodePath:
		if resolve == nil {
			return nil, &evalError{detail: fmt.Sprintf("no value is available for the path '%s'", n.path), offset: n.pos, placed: true}
		}
		return resolve(n.path)
	}
	// Most calls have few arguments: keep them off the heap.
	var buf [4]any
	args := buf[:0]
	for i := range n.args {
		v, err := n.args[i].eval(resolve, env)
		if err != nil {
			return nil, err
		}
		args = append(args, v)
	}
	v, err := n.call(args, env)
	if err != nil {
		if ee, ok := err.(*evalError); ok && !ee.placed {
			ee.offset, ee.placed = n.pos, true
		}
	}
	return v, err
}

func (n *node) call(args []any, env Env) (any, error) {
	switch n.fn {
	case fnFormat:
		return n.format(args)
	case fnStringToJSON:
		return stringToJSON(args)
	case fnJSONToString:
		return jsonToString(args[0]), nil
	case fnArray:
		out := make([]any, len(args))
		copy(out, args)
		return out, nil
	case fnArrayPartition:
		return arrayPartition(args)
	case fnArrayContains:
		return arrayContains(args)
	case fnArrayRange:
		return arrayRange(args)
	case fnArrayGetItem:
		return arrayGetItem(args)
	case fnArrayLength:
		a, err := argArray(fnArrayLength, args, 0)
		if err != nil {
			return nil, err
		}
		return intNumber(int64(len(a))), nil
	case fnArrayUnique:
		return arrayUnique(args)
	case fnBase64Encode:
		return base64Encode(args)
	case fnBase64Decode:
		return base64Decode(args)
	case fnHash:
		return hashOf(args)
	case fnJSONMerge:
		return jsonMerge(args)
	case fnMathRandom:
		return mathRandom(args, env)
	case fnMathAdd:
		return mathAdd(args)
	case fnStringSplit:
		return stringSplit(args)
	case fnUUID:
		return env.uuid(), nil
	}
	return nil, fail("unsupported intrinsic function")
}

// Argument helpers. Positions in messages count from 1.

func argString(fn funcID, args []any, i int) (string, error) {
	s, ok := args[i].(string)
	if !ok {
		return "", badType(fn, args, i, "string")
	}
	return s, nil
}

func argArray(fn funcID, args []any, i int) ([]any, error) {
	a, ok := args[i].([]any)
	if !ok {
		return nil, badType(fn, args, i, "array")
	}
	return a, nil
}

func argObject(fn funcID, args []any, i int) (map[string]any, error) {
	m, ok := args[i].(map[string]any)
	if !ok {
		return nil, badType(fn, args, i, "object")
	}
	return m, nil
}

// argInt reads an integer argument, rounding a fraction half up as Java's
// Math.round does.
func argInt(fn funcID, args []any, i int) (int64, error) {
	v := args[i]
	if n, ok := v.(json.Number); ok && isIntegral(string(n)) {
		if x, err := strconv.ParseInt(string(n), 10, 64); err == nil {
			return x, nil
		}
	}
	f, ok := toFloat(v)
	if !ok {
		return 0, badType(fn, args, i, "number")
	}
	return javaRound(f), nil
}

// javaRound is Java's Math.round(double): floor(x + 1/2) without the
// rounding error of the addition, saturating at the long range.
func javaRound(f float64) int64 {
	switch {
	case math.IsNaN(f):
		return 0
	case f >= math.MaxInt64:
		return math.MaxInt64
	case f <= math.MinInt64:
		return math.MinInt64
	}
	r := math.Floor(f)
	if f-r >= 0.5 {
		r++
	}
	return int64(r)
}

func badType(fn funcID, args []any, i int, want string) error {
	return fail("Invalid arguments in %s: argument %d must be of type %s, but was of type %s",
		funcs[fn].name, i+1, want, typeName(args[i]))
}

// smallInts holds small integers already boxed, so counts and ranges need
// no allocation.
const smallMin, smallMax = -128, 1024

var smallInts = func() []any {
	s := make([]any, smallMax-smallMin+1)
	for i := range s {
		s[i] = json.Number(strconv.Itoa(i + smallMin))
	}
	return s
}()

func intNumber(x int64) any {
	if x >= smallMin && x <= smallMax {
		return smallInts[x-smallMin]
	}
	return json.Number(strconv.FormatInt(x, 10))
}
