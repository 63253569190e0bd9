package intrinsic

import (
	"encoding/json"
	"errors"
	"testing"
)

var errNoPath = errors.New("no such path")

// fuzzValues are what paths resolve to, picked by the path's length.
var fuzzValues = []any{
	nil, true, "", "a,b{}c", "RGF0YQ==", "{\"k\": [1, 2.5, null]}", json.Number("0"), json.Number("-2.5"),
	json.Number("1e400"), json.Number("-1e400"), json.Number("2147483648"), json.Number("999999999999999999999"),
	json.Number("9223372036854775807"), json.Number("-9223372036854775808"), json.Number("0.5"), json.Number("-2147483648"),
	[]any{}, []any{json.Number("1"), "x", []any{nil}, map[string]any{"a": json.Number("1.0")}},
	map[string]any{}, map[string]any{"a": []any{true}, "b": "s"},
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{
		`States.Format('Hello {} {}', $.a, $$.Execution.Id)`,
		`States.Format('\{\} \'q\' \\ {}', States.UUID())`,
		`States.StringToJson($.s)`,
		`States.JsonToString($)`,
		`States.Array(1, -2.5e3, 'x', true, false, null, $var.x)`,
		`States.ArrayPartition($.a, 2)`,
		`States.ArrayContains($.a, $.b)`,
		`States.ArrayRange(-3, 10, 2)`,
		`States.ArrayGetItem($.a, 0)`,
		`States.ArrayLength(States.Array())`,
		`States.ArrayUnique($.a)`,
		`States.Base64Encode($.s)`,
		`States.Base64Decode($.s)`,
		`States.Hash($.s, 'SHA-256')`,
		`States.JsonMerge($.a, $.b, false)`,
		`States.MathRandom(1, 10, 3)`,
		`States.MathAdd($.a, -1)`,
		`States.StringSplit($.s, ',')`,
		`States.Array($['a,b)'], $.a[?(@.x == 'y')])`,
		`States.Format($.t, $.a, $.b, $.c)`,
		`States.ArrayPartition($.abcdefg, $.abcdefgh)`,
		`States.ArrayRange($.a, $.abcdefghij, $.abcd)`,
		`States.MathRandom($.abcdefghijkl, $.abcdefghi, $.ab)`,
		`States.ArrayGetItem($.abcdefghijklm, $.abcdefghijk)`,
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		e, err := Parse(s)
		if err != nil {
			var ie *Error
			if !errors.As(err, &ie) || ie.Name != ErrValidation {
				t.Fatalf("Parse(%q) returned %T %v", s, err, err)
			}
			return
		}
		resolve := func(p string) (any, error) {
			if len(p)%7 == 6 {
				return nil, errNoPath
			}
			return fuzzValues[len(p)%len(fuzzValues)], nil
		}
		_, err = e.Eval(resolve, fixedEnv)
		if err != nil && err != errNoPath {
			var ie *Error
			if !errors.As(err, &ie) || ie.Name != ErrRuntime {
				t.Fatalf("Eval(%q) returned %T %v", s, err, err)
			}
		}
	})
}
