package jsonata

import (
	"errors"
	"testing"
)

func TestDiagnosis(t *testing.T) {
	for _, c := range []struct{ src, want string }{
		{`10 + * 2`, `unexpected "2"`},
		{`$sum($x`, `unbalanced brackets`},
		{`$.store.book[?(@.price < 10)].title`, `unexpected '?'`},
		{`420.`, `invalid number "420."`},
		{``, `empty expression`},
		{`'abc`, `unterminated string`},
		{`/abc`, `unterminated regular expression`},
		{"`x", `unterminated name`},
		{`)`, `unbalanced ")"`},
		{`1 ?`, `expression ends with an operator`},
		{`+$varname`, `unexpected operator "+"`},
		// the parser's message when the operator is one this interpreter lacks
		{`$states.input.a.%`, `the parent operator '%' is not supported by this interpreter (position 16)`},
		// the parser's message when the scan sees nothing wrong
		{`$states.input..x`, `syntax error: '..' (position 13)`},
	} {
		_, err := Compile(c.src)
		var se *SyntaxError
		if !errors.As(err, &se) {
			t.Errorf("%q: compiled (%v)", c.src, err)
			continue
		}
		if got := se.Diagnosis(); got != c.want {
			t.Errorf("%q: diagnosis %q, want %q", c.src, got, c.want)
		}
	}
}
