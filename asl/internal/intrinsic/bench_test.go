package intrinsic

import "testing"

// The resolver is a plain lookup so the figures are this package's own.
var benchPaths = map[string]any{
	"$.name": "John", "$.place": "Lisbon", "$.csv": "a,b,c,d,e",
	"$.arr": []any{"1", "2", "2", "3"}, "$.obj": map[string]any{"a": "x", "b": []any{true, nil}},
}

func benchResolve(p string) (any, error) { return benchPaths[p], nil }

func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(`States.Format('Hello {}, welcome to {}!', $.name, States.ArrayGetItem(States.StringSplit($.csv, ','), 2))`); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEval(b *testing.B) {
	for _, c := range []struct{ name, expr string }{
		{"Format", `States.Format('Hello {}, welcome to {}!', $.name, $.place)`},
		{"FormatConst", `States.Format('{}-{}', 1, 'two')`},
		{"MathAdd", `States.MathAdd(41, 1)`},
		{"ArrayLength", `States.ArrayLength($.arr)`},
		{"ArrayContains", `States.ArrayContains($.arr, '3')`},
		{"JsonToString", `States.JsonToString($.obj)`},
		{"StringSplit", `States.StringSplit($.csv, ',')`},
		{"Nested", `States.Format('{}', States.ArrayGetItem(States.StringSplit($.csv, ','), 2))`},
	} {
		e, err := Parse(c.expr)
		if err != nil {
			b.Fatal(err)
		}
		b.Run(c.name, func(b *testing.B) {
			b.ReportAllocs()
			for b.Loop() {
				if _, err := e.Eval(benchResolve, fixedEnv); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
