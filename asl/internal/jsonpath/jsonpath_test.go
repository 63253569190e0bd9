package jsonpath

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
)

func decode(t *testing.T, s string) any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatal(err)
	}
	return v
}

func TestEval(t *testing.T) {
	t.Parallel()
	doc := `{"a":{"b":[10,20,30],"c-d":"x"},"items":[{"v":1,"s":"ok"},{"v":2,"s":"failed"},{"v":3,"s":"failed"}],"k\\\"q":1}`
	tests := []struct {
		path, want string
		definite   bool
	}{
		{"$", doc, true},
		{"$.a.b[0]", `10`, true},
		{"$.a.b[-1]", `30`, true},
		{"$.a.c-d", `"x"`, true},
		{"$['a']['c-d']", `"x"`, true},
		{"$.a.b[*]", `[10,20,30]`, false},
		{"$.a.b[1:]", `[20,30]`, false},
		{"$.a.b[:1]", `[10]`, false},
		{"$.a.b[0,2]", `[10,30]`, false},
		{"$.items[*].v", `[1,2,3]`, false},
		{"$.items[?(@.s == 'failed')].v", `[2,3]`, false},
		{"$..v", `[1,2,3]`, false},
		{"$.nothing[*]", `[]`, false},
		{"$.a.b[(@.length-1)]", `30`, true},
		{`$['k\"q']`, `1`, true},
	}
	v := decode(t, doc)
	for _, tc := range tests {
		p, err := Compile(tc.path)
		if err != nil {
			t.Errorf("%s: %v", tc.path, err)
			continue
		}
		if p.IsDefinite() != tc.definite {
			t.Errorf("%s: definite=%v, want %v", tc.path, p.IsDefinite(), tc.definite)
		}
		got, err := p.Eval(v)
		if err != nil {
			t.Errorf("%s: %v", tc.path, err)
			continue
		}
		if !reflect.DeepEqual(got, decode(t, tc.want)) {
			t.Errorf("%s = %v, want %s", tc.path, got, tc.want)
		}
	}
}

// Jayway's wording is what AWS puts in States.Runtime causes.
func TestEvalErrors(t *testing.T) {
	t.Parallel()
	v := decode(t, `{"a":{"b":1},"arr":[1]}`)
	tests := map[string]string{
		"$.x":       "No results for path: $['x']",
		"$.a.x":     "No results for path: $['a']['x']",
		"$.no.such": "Missing property in path $['no']",
		"$.arr[5]":  "No results for path: $['arr'][5]",
	}
	for path, want := range tests {
		_, err := MustCompile(path).Eval(v)
		if err == nil || err.Error() != want {
			t.Errorf("%s: error %v, want %q", path, err, want)
		}
	}
}

func TestCompileErrors(t *testing.T) {
	t.Parallel()
	for _, p := range []string{"a.b", "$.", "$[", "$['x", "$[1:2:0]", "$.a[?(@.x]"} {
		if _, err := Compile(p); err == nil {
			t.Errorf("%s: no error", p)
		}
	}
}

func TestSetCopiesOnWrite(t *testing.T) {
	t.Parallel()
	orig := decode(t, `{"a":{"b":1},"keep":{"x":1}}`)
	p := MustCompile("$.a.c.d")
	out, err := p.Set(orig, "v")
	if err != nil {
		t.Fatal(err)
	}
	want := decode(t, `{"a":{"b":1,"c":{"d":"v"}},"keep":{"x":1}}`)
	if !reflect.DeepEqual(out, want) {
		t.Fatalf("Set = %v", out)
	}
	if !reflect.DeepEqual(orig, decode(t, `{"a":{"b":1},"keep":{"x":1}}`)) {
		t.Fatalf("Set modified its input: %v", orig)
	}
	// untouched branches are shared, not copied
	if reflect.ValueOf(out.(map[string]any)["keep"]).Pointer() != reflect.ValueOf(orig.(map[string]any)["keep"]).Pointer() {
		t.Error("untouched subtree was copied")
	}
	if _, err := MustCompile("$.a.b.c").Set(orig, 1); err == nil {
		t.Error("setting below a number: no error")
	}
}

// FuzzCompileEval: any text either fails to compile or evaluates and sets
// without panicking.
func FuzzCompileEval(f *testing.F) {
	for _, s := range []string{"$", "$.a.b[0]", "$..x", "$[?(@.s == 'x')].v", "$['a','b']", "$.a[1:3:2]", "$.a[(@.length-1)]", `$['k\"q']`} {
		f.Add(s)
	}
	doc := map[string]any{"a": []any{map[string]any{"s": "x", "v": json.Number("1")}, "t"}, "b": map[string]any{"c": nil}}
	f.Fuzz(func(t *testing.T, s string) {
		p, err := Compile(s)
		if err != nil {
			return
		}
		v, err := p.Eval(doc)
		if err == nil && !p.IsDefinite() {
			if _, ok := v.([]any); !ok {
				t.Fatalf("%s: indefinite path gave %T", s, v)
			}
		}
		if p.IsDefinite() {
			_, _ = p.Set(doc, "x")
		}
	})
}
