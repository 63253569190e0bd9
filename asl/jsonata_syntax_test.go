package asl

import "testing"

func TestJSONataSurroundAndSyntax(t *testing.T) {
	valid := []string{
		"{% $states.input.items %}", "{% 1+2 %}", "{% $sum($states.input.n) %}", "{% $$.a %}",
		"{% $x ? 'a' : 'b' %}", "{% [1..5] %}", "{% {'a': 1, 'b': [true, null]} %}",
		"{% $match($s, /^a.*z$/i) %}", "{% $states.input.a[0].b %}", "{% -1 %}",
		"{% function($v){ $v * 2 }(3) %}", "{% $a & 'x' %}", "{% $exists($x) and $y %}",
		"plain text", "no %} here? no: only suffix",
		"{% $states.input ~> |a|{'b': 1}, ['c']| %}", "{% $states.input.items^(>price) %}",
		"{% /* a comment */ $states.input.a %}", "{% $states.input.items{kind: $sum(price)} %}",
	}
	invalid := []string{"{% 10 %", "10 %}", "{%10%}", "{% 10 + * 2 %}", "{% $sum($x %}",
		"{% $.store.book[?(@.price < 10)].title %}", "{% 420. %}", "{%  %}"}
	for _, s := range valid {
		if msg := checkJSONataString(s); msg != "" {
			t.Errorf("%q rejected: %s", s, msg)
		}
	}
	for _, s := range invalid {
		if checkJSONataString(s) == "" {
			t.Errorf("%q accepted", s)
		}
	}
}
