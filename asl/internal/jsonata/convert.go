package jsonata

import (
	"encoding/json"
	"fmt"
	"math"
	"reflect"
	"strconv"
	"strings"

	"github.com/blues/jsonata-go/jtypes"
)

var jnull *any

// ToJ converts a value tree for evaluation: json.Number becomes float64 and
// null the base library's null. Subtrees without numbers or nulls are
// shared, not copied.
func ToJ(v any) any {
	out, _ := toJ(v)
	return out
}

// toJ returns the converted value and whether it differs from v.
func toJ(v any) (any, bool) {
	switch x := v.(type) {
	case nil:
		// JSON null is the base library's null (a nil *interface{}); a nil
		// interface would read as undefined
		return jnull, true
	case json.Number:
		f, err := strconv.ParseFloat(string(x), 64)
		if err != nil {
			return math.Inf(1), true
		}
		return f, true
	case map[string]any:
		var cp map[string]any
		for k, e := range x {
			ne, changed := toJ(e)
			if !changed {
				continue
			}
			if cp == nil {
				cp = make(map[string]any, len(x))
				for k2, e2 := range x {
					cp[k2] = e2
				}
			}
			cp[k] = ne
		}
		if cp == nil {
			return x, false
		}
		return cp, true
	case []any:
		var cp []any
		for i, e := range x {
			ne, changed := toJ(e)
			if !changed {
				continue
			}
			if cp == nil {
				cp = make([]any, len(x))
				copy(cp, x)
			}
			cp[i] = ne
		}
		if cp == nil {
			return x, false
		}
		return cp, true
	case int:
		return float64(x), true
	case int64:
		return float64(x), true
	}
	return v, false
}

// toJInPlace converts a value tree nothing else refers to (a fresh
// decode) without copying it.
func toJInPlace(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			switch e.(type) {
			case string, bool:
			default:
				x[k] = toJInPlace(e)
			}
		}
		return x
	case []any:
		for i, e := range x {
			x[i] = toJInPlace(e)
		}
		return x
	}
	out, _ := toJ(v)
	return out
}

// FromJ converts an evaluation result back to a value tree. ok is false
// for values JSON cannot carry at the top level (functions). Subtrees that
// need no conversion (those that came from the input unchanged) are shared.
func FromJ(v reflect.Value) (any, bool) {
	if v.IsValid() && v.CanInterface() {
		out, _, ok := fromAny(v.Interface())
		return out, ok
	}
	return fromReflect(v)
}

// fromAny converts the common dynamic types without reflection; changed
// reports a value that differs from x.
func fromAny(x any) (out any, changed, ok bool) {
	switch t := x.(type) {
	case nil:
		return nil, false, true
	case string, bool, json.Number:
		return x, false, true
	case float64:
		return fromFloat(t), true, true
	case *any:
		if t == nil {
			return nil, true, true
		}
		return fromAny(*t)
	case map[string]any:
		var cp map[string]any
		for k, e := range t {
			ne, ch, ok := fromAny(e)
			if !ok {
				return nil, true, false
			}
			if !ch {
				continue
			}
			if cp == nil {
				cp = make(map[string]any, len(t))
				for k2, e2 := range t {
					cp[k2] = e2
				}
			}
			cp[k] = ne
		}
		if cp == nil {
			return t, false, true
		}
		return cp, true, true
	case []any:
		var cp []any
		for i, e := range t {
			ne, ch, ok := fromAny(e)
			if !ok {
				return nil, true, false
			}
			if !ch {
				if cp != nil {
					cp = append(cp, e)
				}
				continue
			}
			if cp == nil {
				cp = make([]any, i, len(t))
				copy(cp, t[:i])
			}
			cp = append(cp, ne)
		}
		if cp == nil {
			return t, false, true
		}
		return cp, true, true
	}
	out, ok = fromReflect(reflect.ValueOf(x))
	return out, true, ok
}

func fromReflect(v reflect.Value) (any, bool) {
	v = jtypes.Resolve(v)
	if !v.IsValid() {
		return nil, true
	}
	switch v.Kind() {
	case reflect.Float32, reflect.Float64:
		return fromFloat(v.Float()), true
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return json.Number(strconv.FormatInt(v.Int(), 10)), true
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return json.Number(strconv.FormatUint(v.Uint(), 10)), true
	case reflect.String:
		if v.Type() == reflect.TypeOf(json.Number("")) {
			return json.Number(v.String()), true
		}
		return v.String(), true
	case reflect.Bool:
		return v.Bool(), true
	case reflect.Map:
		m := make(map[string]any, v.Len())
		it := v.MapRange()
		for it.Next() {
			e, ok := FromJ(it.Value())
			if !ok {
				return nil, false
			}
			m[fmt.Sprint(it.Key().Interface())] = e
		}
		return m, true
	case reflect.Slice, reflect.Array:
		out := make([]any, 0, v.Len())
		for i := 0; i < v.Len(); i++ {
			e, ok := FromJ(v.Index(i))
			if !ok {
				return nil, false
			}
			out = append(out, e)
		}
		return out, true
	case reflect.Func:
		return nil, false
	}
	if _, ok := jtypes.AsCallable(v); ok {
		return nil, false
	}
	if v.Kind() == reflect.Pointer && v.IsNil() {
		return nil, true
	}
	if v.CanInterface() {
		if v.Interface() == nil {
			return nil, true
		}
	}
	return nil, false
}

// fromFloat converts a number; JSON has no literal for the non-finite
// ones, which AWS writes as the strings JavaScript names them by.
func fromFloat(f float64) any {
	switch {
	case math.IsNaN(f):
		return "NaN"
	case math.IsInf(f, 1):
		return "Infinity"
	case math.IsInf(f, -1):
		return "-Infinity"
	}
	return Number(f)
}

// Number renders a float64 as JavaScript's JSON.stringify does.
func Number(f float64) json.Number {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return json.Number("null")
	}
	if f == 0 {
		return json.Number("0")
	}
	if f == math.Trunc(f) && math.Abs(f) < 1e21 {
		return json.Number(strconv.FormatFloat(f, 'f', -1, 64))
	}
	abs := math.Abs(f)
	if abs >= 1e-7 && abs < 1e21 {
		return json.Number(strconv.FormatFloat(f, 'f', -1, 64))
	}
	s := strconv.FormatFloat(f, 'e', -1, 64)
	// Go writes 1e+21 / 1e-07; JavaScript writes 1e+21 / 1e-7
	mant, exp, _ := strings.Cut(s, "e")
	sign := exp[0]
	exp = strings.TrimLeft(exp[1:], "0")
	return json.Number(mant + "e" + string(sign) + exp)
}

func sprint(v any) string { return fmt.Sprint(v) }
