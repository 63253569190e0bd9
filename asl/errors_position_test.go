package asl_test

import (
	"context"
	"strings"
	"testing"

	"github.com/mailflow/mailflow/asl"
)

// The position of an error the interpreter raises is structured data on the
// *Error (Pos): the state, the definition field, the expression and the
// byte offset of the failing step or call in it. The cause text stays
// AWS's.
func TestErrorPosition(t *testing.T) {
	const jpPass = `{"StartAt":"P","States":{"P":{"Type":"Pass",%s,"End":true}}}`
	pass := func(fields string) string { return strings.Replace(jpPass, "%s", fields, 1) }
	const jaPass = `{"QueryLanguage":"JSONata","StartAt":"P","States":{"P":{"Type":"Pass",%s,"End":true}}}`
	jpass := func(fields string) string { return strings.Replace(jaPass, "%s", fields, 1) }
	for _, c := range []struct {
		name, def, input  string
		err               string // Error name
		causeSuffix       string // end of the cause, unchanged text
		state, field, exp string
		offset            int
	}{
		{name: "parameters missing member", def: pass(`"Parameters":{"a.$":"$.x.y"}`), input: `{"x":{}}`,
			err: asl.ErrRuntime, causeSuffix: `The JSONPath '$.x.y' specified for the field 'a.$' could not be found in the input '{"x":{}}'`,
			state: "P", field: "Parameters", exp: "$.x.y", offset: 3},
		{name: "nested parameters", def: pass(`"Parameters":{"o":{"list":[{"b.$":"$.a['k'].m"}]}}`), input: `{"a":{"k":{}}}`,
			err: asl.ErrRuntime, state: "P", field: "Parameters", exp: "$.a['k'].m", offset: 8},
		{name: "input path wrong type", def: pass(`"InputPath":"$.a.b"`), input: `{"a":1}`,
			err: asl.ErrRuntime, causeSuffix: `Invalid path '$.a.b' : Expected to find an object with property ['b'] in path $['a'] but found 'java.lang.Integer'. This is not a json object according to the JsonProvider: 'com.jayway.jsonpath.spi.json.JsonSmartJsonProvider'.`,
			state: "P", field: "InputPath", exp: "$.a.b", offset: 3},
		{name: "output path index", def: pass(`"OutputPath":"$.list[5]"`), input: `{"list":[1]}`,
			err: asl.ErrRuntime, state: "P", field: "OutputPath", exp: "$.list[5]", offset: 6},
		{name: "context path", def: pass(`"Parameters":{"a.$":"$$.Execution.Nope"}`), input: `{}`,
			err: asl.ErrRuntime, state: "P", field: "Parameters", exp: "$$.Execution.Nope", offset: 12},
		{name: "undefined variable", def: pass(`"Parameters":{"a.$":"$nope.x"}`), input: `{}`,
			err: asl.ErrRuntime, state: "P", field: "Parameters", exp: "$nope.x", offset: 0},
		{name: "intrinsic inner call", def: pass(`"Parameters":{"v.$":"States.Format('{}', States.StringToJson($.s))"}`), input: `{"s":"{bad"}`,
			err: asl.ErrRuntime, state: "P", field: "Parameters", exp: "States.Format('{}', States.StringToJson($.s))", offset: 20},
		{name: "intrinsic path argument", def: pass(`"Parameters":{"v.$":"States.Format('{}', $.a.missing)"}`), input: `{"a":{}}`,
			err: asl.ErrRuntime, state: "P", field: "Parameters", exp: "States.Format('{}', $.a.missing)", offset: 23},
		{name: "result path", def: pass(`"Result":1,"ResultPath":"$.a.b"`), input: `{"a":"s"}`,
			err: asl.ErrResultPathMatchFailure, state: "P", field: "ResultPath", exp: "$.a.b", offset: -1},
		{name: "choice variable",
			def:   `{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Variable":"$.a","StringEqualsPath":"$.b.c","Next":"E"}],"Default":"E"},"E":{"Type":"Succeed"}}}`,
			input: `{"a":"x","b":{}}`, err: asl.ErrRuntime, state: "C", field: "StringEqualsPath", exp: "$.b.c", offset: 3},
		{name: "map items path",
			def:   `{"StartAt":"M","States":{"M":{"Type":"Map","ItemsPath":"$.items","ItemProcessor":{"StartAt":"I","States":{"I":{"Type":"Pass","End":true}}},"End":true}}}`,
			input: `{"items":"no"}`, err: asl.ErrRuntime, causeSuffix: `Map state input must be an array but was: "no"`,
			state: "M", field: "ItemsPath", exp: "$.items", offset: -1},
		{name: "map item selector in iteration",
			def:   `{"StartAt":"M","States":{"M":{"Type":"Map","ItemSelector":{"v.$":"$$.Map.Item.Value.x"},"ItemProcessor":{"StartAt":"I","States":{"I":{"Type":"Pass","End":true}}},"End":true}}}`,
			input: `[{"y":1}]`, err: asl.ErrRuntime, state: "M", field: "ItemSelector", exp: "$$.Map.Item.Value.x", offset: 17},
		{name: "jsonata output undefined", def: jpass(`"Output":"{% $states.input.x.y %}"`), input: `{}`,
			err: asl.ErrQueryEvaluationError, causeSuffix: `The JSONata expression '$states.input.x.y' specified for the field 'Output' returned nothing (undefined).`,
			state: "P", field: "Output", exp: "$states.input.x.y", offset: -1},
		{name: "jsonata nested output", def: jpass(`"Output":{"r":["{% $nope() %}"]}`), input: `{}`,
			err: asl.ErrQueryEvaluationError, state: "P", field: "Output", exp: "$nope()", offset: -1},
		{name: "jsonata condition type",
			def:   `{"QueryLanguage":"JSONata","StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Condition":"{% $states.input.n %}","Next":"E"}],"Default":"E"},"E":{"Type":"Succeed"}}}`,
			input: `{"n":1}`, err: asl.ErrQueryEvaluationError, state: "C", field: "Condition", exp: "$states.input.n", offset: -1},
		{name: "jsonata map items",
			def:   `{"QueryLanguage":"JSONata","StartAt":"M","States":{"M":{"Type":"Map","Items":"{% $states.input.n %}","ItemProcessor":{"StartAt":"I","States":{"I":{"Type":"Pass","End":true}}},"End":true}}}`,
			input: `{"n":1}`, err: asl.ErrQueryEvaluationError, state: "M", field: "Items", exp: "$states.input.n", offset: -1},
		{name: "fail state has no position", def: `{"StartAt":"F","States":{"F":{"Type":"Fail","Error":"E","Cause":"c"}}}`, input: `{}`,
			err: "E", causeSuffix: "c"},
	} {
		t.Run(c.name, func(t *testing.T) {
			d := mustParse(t, c.def)
			res, err := asl.Execute(context.Background(), d, []byte(c.input), asl.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if res.Status != asl.StatusFailed || res.Err == nil {
				t.Fatalf("status %s, err %v", res.Status, res.Err)
			}
			e := res.Err
			if e.Name != c.err || res.Error != c.err {
				t.Errorf("error %q, want %q", e.Name, c.err)
			}
			if !strings.HasSuffix(e.Cause, c.causeSuffix) || e.Cause != res.Cause {
				t.Errorf("cause %q, want it to end with %q", e.Cause, c.causeSuffix)
			}
			if e.Error() != e.Name+": "+e.Cause {
				t.Errorf("Error() = %q", e.Error())
			}
			if c.state == "" {
				if e.Pos != nil {
					t.Errorf("position %+v, want none", *e.Pos)
				}
				return
			}
			want := asl.Position{State: c.state, Field: c.field, Expr: c.exp, Offset: c.offset}
			if e.Pos == nil || *e.Pos != want {
				t.Errorf("position %+v, want %+v", e.Pos, want)
			}
			if c.offset >= 0 && c.exp != "" && c.offset >= len(c.exp) {
				t.Errorf("offset %d outside %q", c.offset, c.exp)
			}
		})
	}
}

// Validation issues name their state and field.
func TestIssuePosition(t *testing.T) {
	for _, c := range []struct{ loc, state, field string }{
		{"/States/A/Parameters/x.$", "A", "Parameters"},
		{"/States/M/ItemProcessor/States/B/Next", "B", "Next"},
		{"/States/P/Branches/1/States/a~1b/Arguments", "a/b", "Arguments"},
		{"/States/M/ItemProcessor", "M", "ItemProcessor"},
		{"/States/A", "A", ""},
		{"/StartAt", "", "StartAt"},
		{"[Source: (String)\"x\"; line: 1, column: 2]", "", ""},
	} {
		is := asl.Issue{Location: c.loc}
		if is.State() != c.state || is.Field() != c.field {
			t.Errorf("%s: (%q, %q), want (%q, %q)", c.loc, is.State(), is.Field(), c.state, c.field)
		}
	}
	issues := asl.ValidateJSON([]byte(`{"QueryLanguage":"JSONata","StartAt":"A","States":{"A":{"Type":"Pass","Output":{"x":"{% 1 + %}"},"End":true}}}`))
	if len(issues) != 1 || issues[0].State() != "A" || issues[0].Field() != "Output" {
		t.Errorf("issues %v: want one at state A, field Output", issues)
	}
}
