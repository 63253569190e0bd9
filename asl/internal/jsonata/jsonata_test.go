package jsonata

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"

	"github.com/mailflow/mailflow/asl/internal/jsonvalue"
)

func eval(t *testing.T, src string, states any, vars map[string]any) (string, error) {
	t.Helper()
	e, err := Compile(src)
	if err != nil {
		return "", err
	}
	v, err := e.Eval(testData{states, vars}, &Runtime{NowMillis: func() int64 { return 0 }, Random: func() float64 { return 0.5 }, UUID: func() string { return "u-1" }})
	if err != nil {
		return "", err
	}
	var buf strings.Builder
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(v)
	return strings.TrimSuffix(buf.String(), "\n"), nil
}

func TestEval(t *testing.T) {
	in, _ := jsonvalue.Decode([]byte(`{"input":{"a":1,"b":[1,2,3],"s":"x","f":0.1,"body":"{\"k\":[1,2]}"}}`))
	vars := map[string]any{"v": json.Number("41"), "o": map[string]any{"k": "val"}}
	for _, c := range []struct{ src, want string }{
		{`$states.input.a + 1`, `2`},
		{`$sum($states.input.b) + $v`, `47`},
		{`$states.input.f + 0.2`, `0.30000000000000004`},
		{`1/3`, `0.3333333333333333`},
		{`1e21`, `1e+21`},
		{`$o.k & $states.input.s`, `"valx"`},
		{`$partition([1,2,3], 2)`, `[[1,2],[3]]`},
		{`$range(1, 9, 2)`, `[1,3,5,7,9]`},
		{`$range(1, 9, 9)`, `1`},
		{`$hash("a", "SHA-256")`, `"ca978112ca1bbdcafac231b39a23dc4da786eff8147c4e72b9807785afee48bb"`},
		{`$parse($states.input.body).k`, `[1,2]`},
		{`$parse("-0")`, `0`},
		{`$uuid()`, `"u-1"`},
		{`$random()`, `0.5`},
		{`$random(7) = $random(7)`, `true`},
		{`$millis()`, `0`},
		{`$now()`, `"1970-01-01T00:00:00.000Z"`},
		{`$single([5])`, `5`},
		{`$single([1,2,3], function($v){$v = 2})`, `2`},
		{`$formatInteger(1234, '#,##0')`, `"1,234"`},
		{`$formatInteger(12, 'w')`, `"twelve"`},
		{`$formatInteger(1999, 'I')`, `"MCMXCIX"`},
		{`$parseInteger('MCMXCIX', 'I')`, `1999`},
		{`$parseInteger('twelve', 'w')`, `12`},
		{`($x := 2; $x * 3)`, `6`},
		{`{'a': [1, 'two']}`, `{"a":[1,"two"]}`},
		{`$states.input.b[$ > 1]`, `[2,3]`},
		{`$range(-1.7, 2, 1)`, `[-1,0,1,2]`},
		{`$range(5, 1, -2)`, `[5,3,1]`},
		{`$partition([1,2,3], 2.9)`, `[[1,2],[3]]`},
		{`$partition([1,2], 5)`, `[[1,2]]`},
		{`[$exists($range(1, 5)), $exists($range(5, 1, 1)), $exists($partition([], 2)), $exists($partition([1], 0)), $exists($hash('a'))]`, `[false,false,false,false,false]`},
		{`$parseInteger('x', '0')`, `"NaN"`},
		{`$encodeUrlComponent("a b/c?d=é")`, `"a%20b%2Fc%3Fd%3D%C3%A9"`},
		{`$encodeUrl("https://x.org/a b?q=1&r=é")`, `"https://x.org/a%20b?q=1&r=%C3%A9"`},
		{`$decodeUrlComponent("a%20b+c")`, `"a b+c"`},
	} {
		got, err := eval(t, c.src, in, vars)
		if err != nil || got != c.want {
			t.Errorf("%s = %s, %v; want %s", c.src, got, err, c.want)
		}
	}
}

func TestErrors(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{`$randomSeeded(1)`, `T1006: Attempted to invoke a non-function`},
		{`$eval("1")`, `T1006: Attempted to invoke a non-function`},
		{`$assert(false, "nope")`, `D3141: nope`},
		{`$single([1,2])`, `D3138: The $single() function expected exactly 1 matching result.  Instead it matched more.`},
		{`"a" + 1`, `T2001: The left side of the "+" operator must evaluate to a number`},
		{`$error("boom")`, `D3137: boom`},
		{`$number("abc")`, `D3030: Unable to cast value to a number: "abc"`},
	} {
		_, err := eval(t, c.src, nil, nil)
		if err == nil || err.Error() != c.want {
			t.Errorf("%s: %v; want %s", c.src, err, c.want)
		}
	}
	if _, err := eval(t, `$nothing`, nil, nil); !errors.Is(err, ErrUndefined) {
		t.Errorf("undefined variable: %v", err)
	}
	if _, err := Compile(`1 +`); err == nil {
		t.Error("syntax error not reported")
	}
	for src, op := range map[string]string{`[1,2]#$i.$i`: "'#'", `[{'a':1}]@$o.$o.a`: "'@'", `a.b.%`: "'%'", `$states.input.xs#$i.$i`: "'#'", `$states.input.xs@$o.$o`: "'@'"} {
		if _, err := Compile(src); err == nil || !strings.Contains(err.Error(), op+" is not supported") {
			t.Errorf("%s: %v", src, err)
		}
	}
}

type testData struct {
	states any
	vars   map[string]any
}

func (d testData) StatesField(name string) (any, bool) {
	m, _ := d.states.(map[string]any)
	v, ok := m[name]
	return v, ok
}

func (d testData) States(*Expr) any { return ToJ(d.states) }

func (d testData) Lookup(name string) (any, bool) {
	v, ok := d.vars[name]
	return v, ok
}

// TestDirect checks the direct shapes against the general evaluator.
func TestDirect(t *testing.T) {
	in, _ := jsonvalue.Decode([]byte(`{"input":{"n":1,"f":1.0,"s":"a","b":false,"z":null,"o":{"k":1},"a":[1],"body":"[1,{\"x\":null}]"}}`))
	vars := map[string]any{"v": json.Number("1"), "o": map[string]any{"x": "a"}}
	for _, src := range []string{
		`$states.input.n = 1`, `$states.input.f = $v`, `$states.input.n != 1`, `$states.input.s = 'a'`, `$states.input.s = 1`,
		`$states.input.b = false`, `$states.input.z = null`, `$states.input.missing = null`, `$states.input.missing != 1`,
		`$states.input.o = $states.input.o`, `$states.input.a = 1`, `$o.x = $states.input.s`, `$nothing = 1`,
		`$parse($states.input.body)`, `$parse($missing)`, `$hash($states.input.s, 'MD5')`, `$partition($states.input.a, 1)`,
		`$hash($states.input.s, 'nope')`,
	} {
		e, err := Compile(src)
		if err != nil {
			t.Fatal(err)
		}
		if e.direct == nil {
			t.Errorf("%s: not evaluated directly", src)
			continue
		}
		d := testData{in, vars}
		got, gerr := e.Eval(d, nil)
		e.direct = nil
		want, werr := e.Eval(d, nil)
		gb, _ := json.Marshal(got)
		wb, _ := json.Marshal(want)
		if string(gb) != string(wb) || (gerr == nil) != (werr == nil) || (gerr != nil && gerr.Error() != werr.Error()) {
			t.Errorf("%s: direct %s %v, general %s %v", src, gb, gerr, wb, werr)
		}
	}
}

func TestUnsupported(t *testing.T) {
	for src, want := range map[string]string{
		`$states.input.phone`:                         "",
		`phone`:                                       "Reference to 'phone' at the top level is not supported.",
		`$count(items)`:                               "Reference to 'items' at the top level is not supported.",
		`{'a': b.c}`:                                  "Reference to 'b' at the top level is not supported.",
		`$states.input.items[value > 3].name`:         "",
		`$states.input.items^(value)`:                 "",
		`$states.input.items{kind: $count(value)}`:    "",
		`$map($states.input.a, function($x){ b })`:    "Reference to 'b' at the top level is not supported.",
		`$map($states.input.a, function($x){ $x.b })`: "",
		`$$.a`:   "Reference to '$$' is not supported.",
		`$v.a.b`: "",
	} {
		e, err := Compile(src)
		if err != nil {
			t.Fatalf("%s: %v", src, err)
		}
		if got := e.Unsupported(); got != want {
			t.Errorf("%s: %q, want %q", src, got, want)
		}
	}
}

func TestComments(t *testing.T) {
	got, err := eval(t, `/* lead */ $states.input.a /* "x" */ & '/* not a comment */'`, map[string]any{"input": map[string]any{"a": "v"}}, nil)
	if err != nil || got != `"v/* not a comment */"` {
		t.Fatalf("%s %v", got, err)
	}
}
