package asl_test

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/mailflow/mailflow/asl"
)

func TestJSONataPassOutputAssign(t *testing.T) {
	d := mustParse(t, `{"QueryLanguage":"JSONata","StartAt":"A","States":{
		"A":{"Type":"Pass","Assign":{"x":"{% $states.input.n * 2 %}"},"Output":{"sum":"{% $states.input.n + 0.5 %}"},"Next":"B"},
		"B":{"Type":"Pass","Assign":{"x":"{% $x + 1 %}","prev":"{% $x %}"},"Output":"{% [$x, $states.input.sum, 1/3, 10/2] %}","Next":"C"},
		"C":{"Type":"Pass","Output":{"x":"{% $x %}","prev":"{% $prev %}","in":"{% $states.input %}"},"End":true}}}`)
	h := newHarness()
	res := run(t, d, `{"n":21}`, h.options(nil))
	// Assign and Output of a state both see the variables as they were on
	// entry; the assignment shows from the next state on
	if res.Status != asl.StatusSucceeded || jsonText(res.Output) != `{"in":[42,21.5,0.3333333333333333,5],"prev":42,"x":43}` {
		t.Fatalf("%+v %s", res, jsonText(res.Output))
	}
	if got := jsonText(h.events[4].AssignedVariables); got != `{"prev":42,"x":43}` {
		t.Errorf("B assigned %s", got)
	}
}

func TestJSONataUndefinedFieldFails(t *testing.T) {
	d := mustParse(t, `{"QueryLanguage":"JSONata","StartAt":"A","States":{
		"A":{"Type":"Pass","Output":{"v":"{% $nope %}"},"End":true}}}`)
	res := run(t, d, `{}`, newHarness().options(nil))
	want := "An error occurred while executing the state 'A' (entered at the event id #2). The JSONata expression '$nope' specified for the field 'Output/v' returned nothing (undefined)."
	if res.Error != asl.ErrQueryEvaluationError || res.Cause != want {
		t.Fatalf("%s: %s", res.Error, res.Cause)
	}
}

// A value that is or holds a function has no JSON form: the field fails,
// wherever the function sits (the whole value, an object member, an array
// element), and the state's other fields do not hide it.
func TestJSONataFunctionValueFails(t *testing.T) {
	for _, c := range []struct{ output, expr, field string }{
		{`"{% $sum %}"`, "$sum", "Output"},
		{`{"v":"{% function($x){$x} %}"}`, "function($x){$x}", "Output/v"},
		{`"{% {'a': [1, $uppercase]} %}"`, "{'a': [1, $uppercase]}", "Output"},
		{`"{% [1, function($x){$x * 2}] %}"`, "[1, function($x){$x * 2}]", "Output"},
	} {
		d := mustParse(t, `{"QueryLanguage":"JSONata","StartAt":"A","States":{
		"A":{"Type":"Pass","Output":`+c.output+`,"End":true}}}`)
		res := run(t, d, `{}`, newHarness().options(nil))
		want := "An error occurred while executing the state 'A' (entered at the event id #2). The JSONata expression '" + c.expr + "' specified for the field '" + c.field + "' returned an unsupported result type."
		if res.Error != asl.ErrQueryEvaluationError || res.Cause != want {
			t.Errorf("%s:\n got %s: %s\nwant %s", c.output, res.Error, res.Cause, want)
		}
	}
}

func TestJSONataEvalRefused(t *testing.T) {
	d := mustParse(t, `{"QueryLanguage":"JSONata","StartAt":"A","States":{
		"A":{"Type":"Pass","Output":"{% $eval('1+1') %}","End":true}}}`)
	res := run(t, d, `{}`, newHarness().options(nil))
	if res.Error != asl.ErrQueryEvaluationError || !strings.HasSuffix(res.Cause, "threw an error during evaluation. T1006: Attempted to invoke a non-function") {
		t.Fatalf("%s: %s", res.Error, res.Cause)
	}
}

func TestJSONataScopes(t *testing.T) {
	// Map iterations read outer variables; what they assign stays inside.
	d := mustParse(t, `{"QueryLanguage":"JSONata","StartAt":"Init","States":{
		"Init":{"Type":"Pass","Assign":{"base":10,"seen":"outer"},"Next":"M"},
		"M":{"Type":"Map","Items":"{% $states.input.items %}",
			"ItemSelector":{"v":"{% $states.context.Map.Item.Value %}","i":"{% $states.context.Map.Item.Index %}"},
			"ItemProcessor":{"StartAt":"Set","States":{
				"Set":{"Type":"Pass","Assign":{"seen":"{% 'inner' & $states.input.i %}"},"Next":"Use"},
				"Use":{"Type":"Pass","Output":"{% $states.input.v + $base & ':' & $seen %}","End":true}}},
			"Next":"After"},
		"After":{"Type":"Pass","Output":{"results":"{% $states.input %}","seen":"{% $seen %}"},"End":true}}}`)
	res := run(t, d, `{"items":[1,2]}`, newHarness().options(nil))
	if got := jsonText(res.Output); got != `{"results":["11:inner0","12:inner1"],"seen":"outer"}` {
		t.Fatalf("%+v %s", res, got)
	}
}

func TestJSONataParallelArgumentsAndResult(t *testing.T) {
	d := mustParse(t, `{"QueryLanguage":"JSONata","StartAt":"P","States":{
		"P":{"Type":"Parallel","Arguments":{"n":"{% $states.input.n %}"},
			"Branches":[
				{"StartAt":"A","States":{"A":{"Type":"Pass","Output":"{% $states.input.n + 1 %}","End":true}}},
				{"StartAt":"B","States":{"B":{"Type":"Pass","Output":"{% $states.input.n * 3 %}","End":true}}}],
			"Output":{"sum":"{% $sum($states.result) %}","input":"{% $states.input %}"},"End":true}}}`)
	res := run(t, d, `{"n":2}`, newHarness().options(nil))
	if got := jsonText(res.Output); got != `{"input":{"n":2},"sum":9}` {
		t.Fatalf("%+v %s", res, got)
	}
}

func TestJSONataTaskCatchErrorOutput(t *testing.T) {
	reg := asl.NewRegistry()
	reg.Register("arn:aws:lambda:us-east-1:123456789012:function:fail", asl.TaskHandlerFunc(func(context.Context, *asl.TaskRequest) (any, error) {
		return nil, asl.NewError("Custom.Failure", "it broke")
	}))
	d := mustParse(t, `{"QueryLanguage":"JSONata","StartAt":"T","States":{
		"T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:123456789012:function:fail","Arguments":{"k":"{% $states.input.k %}"},
			"Catch":[{"ErrorEquals":["States.ALL"],"Assign":{"err":"{% $states.errorOutput.Error %}"},
				"Output":{"caught":"{% $states.errorOutput %}","in":"{% $states.input.k %}"},"Next":"After"}],"End":true},
		"After":{"Type":"Pass","Output":{"o":"{% $states.input %}","err":"{% $err %}"},"End":true}}}`)
	res := run(t, d, `{"k":"v"}`, newHarness().options(reg))
	want := `{"err":"Custom.Failure","o":{"caught":{"Cause":"it broke","Error":"Custom.Failure"},"in":"v"}}`
	if got := jsonText(res.Output); got != want {
		t.Fatalf("%+v\n got %s\nwant %s", res, got, want)
	}
}

func TestJSONataTaskResultDefaultsAndTimeouts(t *testing.T) {
	reg := asl.NewRegistry()
	var got *asl.TaskRequest
	reg.Register("arn:aws:lambda:us-east-1:123456789012:function:echo", asl.TaskHandlerFunc(func(_ context.Context, req *asl.TaskRequest) (any, error) {
		got = req
		return map[string]any{"echo": req.Input}, nil
	}))
	d := mustParse(t, `{"QueryLanguage":"JSONata","StartAt":"T","States":{
		"T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:123456789012:function:echo","Arguments":"{% $states.input.args %}",
			"TimeoutSeconds":"{% $states.input.t %}","HeartbeatSeconds":"{% $states.input.t - 1 %}","End":true}}}`)
	res := run(t, d, `{"args":[1,"a"],"t":30}`, newHarness().options(reg))
	if jsonText(res.Output) != `{"echo":[1,"a"]}` || got.TimeoutSeconds != 30 || got.HeartbeatSeconds != 29 {
		t.Fatalf("%+v %s %+v", res, jsonText(res.Output), got)
	}
}

func TestJSONataChoiceWaitFail(t *testing.T) {
	d := mustParse(t, `{"QueryLanguage":"JSONata","StartAt":"C","States":{
		"C":{"Type":"Choice","Choices":[{"Condition":"{% $states.input.n > 1 %}","Assign":{"path":"big"},"Output":{"n":"{% $states.input.n %}"},"Next":"W"}],
			"Default":"F","Assign":{"path":"small"}},
		"W":{"Type":"Wait","Seconds":"{% $states.input.n %}","Next":"F"},
		"F":{"Type":"Fail","Error":"{% 'E.' & $path %}","Cause":"{% $string($states.input.n) %}"}}}`)
	h := newHarness()
	res := run(t, d, `{"n":5}`, h.options(nil))
	if res.Error != "E.big" || res.Cause != "5" || len(h.sleeps) != 1 || h.sleeps[0] != 5*time.Second {
		t.Fatalf("%+v %v", res, h.sleeps)
	}
	res = run(t, d, `{"n":0}`, newHarness().options(nil))
	if res.Error != "E.small" || res.Cause != "0" {
		t.Fatalf("%+v", res)
	}
	bad := mustParse(t, `{"QueryLanguage":"JSONata","StartAt":"C","States":{
		"C":{"Type":"Choice","Choices":[{"Condition":"{% $states.input.n %}","Next":"S"}],"Default":"S"},
		"S":{"Type":"Succeed"}}}`)
	res = run(t, bad, `{"n":5}`, newHarness().options(nil))
	if res.Error != asl.ErrQueryEvaluationError || !strings.Contains(res.Cause, "Expected 'boolean', but was 'number' for value: 5") {
		t.Fatalf("%+v", res)
	}
}

func TestJSONataMixedLanguages(t *testing.T) {
	d := mustParse(t, `{"StartAt":"P","States":{
		"P":{"Type":"Pass","Parameters":{"v.$":"$.v"},"Assign":{"fromPath.$":"$.v"},"Next":"J"},
		"J":{"QueryLanguage":"JSONata","Type":"Pass","Output":{"both":"{% [$states.input.v, $fromPath] %}"},"Assign":{"fromJ":"{% $fromPath + 1 %}"},"Next":"Q"},
		"Q":{"Type":"Pass","Parameters":{"j.$":"$fromJ","both.$":"$.both"},"End":true}}}`)
	res := run(t, d, `{"v":1}`, newHarness().options(nil))
	if got := jsonText(res.Output); got != `{"both":[1,1],"j":2}` {
		t.Fatalf("%+v %s", res, got)
	}
}

func TestJSONataValidation(t *testing.T) {
	for src, want := range map[string]string{
		`{"QueryLanguage":"JSONata","StartAt":"A","States":{"A":{"Type":"Pass","Parameters":{},"End":true}}}`:                         "The QueryLanguage is set to 'JSONata', but field 'Parameters' is only supported for the 'JSONPath' QueryLanguage",
		`{"StartAt":"A","States":{"A":{"Type":"Pass","Output":{},"End":true}}}`:                                                       "The QueryLanguage is set to 'JSONPath', but field 'Output' is only supported for the 'JSONata' QueryLanguage",
		`{"QueryLanguage":"JSONata","StartAt":"A","States":{"A":{"Type":"Pass","Output":"{% $states.input.a.% %}","End":true}}}`:      "The JSONata expression is not valid",
		`{"QueryLanguage":"JSONata","StartAt":"A","States":{"A":{"Type":"Pass","Output":{"v":"{% phone %}"},"End":true}}}`:            "UNSUPPORTED_JSONATA_EXPRESSION: Reference to 'phone' at the top level is not supported. at /States/A/Output/v",
		`{"QueryLanguage":"JSONata","StartAt":"A","States":{"A":{"Type":"Pass","Output":"{% a[1,2) %}","End":true}}}`:                 "INVALID_JSONATA_EXPRESSION",
		`{"QueryLanguage":"JSONata","StartAt":"A","States":{"A":{"Type":"Pass","Output":"{% $states.input.a.b.% %}","End":true}}}`:    "the parent operator '%' is not supported by this interpreter",
		`{"QueryLanguage":"JSONata","StartAt":"A","States":{"A":{"Type":"Pass","Output":"{% $states.input.xs#$i.$i %}","End":true}}}`: "the positional variable binding operator '#' is not supported by this interpreter",
		`{"QueryLanguage":"JSONata","StartAt":"A","States":{"A":{"QueryLanguage":"JSONPath","Type":"Pass","End":true}}}`:              "'QueryLanguage' can not be 'JSONPath' if set to 'JSONata' for whole state machine",
	} {
		d, err := asl.Parse([]byte(src))
		if err != nil {
			t.Fatal(err)
		}
		err = asl.Validate(d).Err()
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: %v, want %q", src, err, want)
		}
	}
}

func TestJSONataErrorLocations(t *testing.T) {
	for def, loc := range map[string]string{
		`{"QueryLanguage":"JSONata","StartAt":"A","States":{"A":{"Type":"Pass","Output":{"a":[1,{"b":"{% $nope %}"}]},"End":true}}}`:                                                                                                                                              "Output/a[1]/b",
		`{"QueryLanguage":"JSONata","StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Condition":"{% false %}","Next":"S"},{"Condition":"{% $nope %}","Next":"S"}],"Default":"S"},"S":{"Type":"Succeed"}}}`:                                                               "Choices[1]/Condition",
		`{"QueryLanguage":"JSONata","StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Condition":"{% true %}","Output":{"v":"{% $nope %}"},"Next":"S"}],"Default":"S"},"S":{"Type":"Succeed"}}}`:                                                                          "Choices[0]/Output/v",
		`{"QueryLanguage":"JSONata","StartAt":"P","States":{"P":{"Type":"Parallel","Branches":[{"StartAt":"F","States":{"F":{"Type":"Fail","Error":"E"}}}],"Catch":[{"ErrorEquals":["States.ALL"],"Assign":{"x":"{% $nope %}"},"Next":"S"}],"End":true},"S":{"Type":"Succeed"}}}`: "Catch[0]/Assign/x",
	} {
		h := newHarness()
		res := run(t, mustParse(t, def), `{}`, h.options(nil))
		if res.Error != asl.ErrQueryEvaluationError || !strings.Contains(res.Cause, "specified for the field '"+loc+"' returned nothing") {
			t.Errorf("%s: %s %s", loc, res.Error, res.Cause)
			continue
		}
		var found bool
		for _, e := range h.events {
			if e.Type == asl.EvaluationFailed && e.Location == loc && e.State != "" {
				found = true
			}
		}
		if !found {
			t.Errorf("%s: no EvaluationFailed event with the location", loc)
		}
	}
}

func TestJSONataNestedStatesUseTheMachinesLanguage(t *testing.T) {
	// a JSONata Map in a JSONPath machine: the item processor's states are
	// JSONPath unless they say otherwise
	d := mustParse(t, `{"StartAt":"M","States":{"M":{"QueryLanguage":"JSONata","Type":"Map","Items":"{% $states.input.xs %}",
		"ItemProcessor":{"StartAt":"P","States":{"P":{"Type":"Pass","Parameters":{"v.$":"$"},"End":true}}},"End":true}}}`)
	res := run(t, d, `{"xs":[1,2]}`, newHarness().options(nil))
	if got := jsonText(res.Output); got != `[{"v":1},{"v":2}]` {
		t.Fatalf("%+v %s", res, got)
	}
}

func TestJSONataNonFiniteNumbers(t *testing.T) {
	d := mustParse(t, `{"QueryLanguage":"JSONata","StartAt":"A","States":{"A":{"Type":"Pass","Output":{"nan":"{% $parseInteger('abc', '0') %}"},"End":true}}}`)
	res := run(t, d, `{}`, newHarness().options(nil))
	if got := jsonText(res.Output); got != `{"nan":"NaN"}` {
		t.Fatalf("%+v %s", res, got)
	}
}

func TestJSONataConcurrentItemSelectorFailure(t *testing.T) {
	d := mustParse(t, `{"QueryLanguage":"JSONata","StartAt":"M","States":{"M":{"Type":"Map","Items":"{% $states.input.xs %}",
		"ItemSelector":{"v":"{% $states.context.Map.Item.Value.missing %}"},
		"ItemProcessor":{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}},"End":true}}}`)
	opts := newHarness().options(nil)
	opts.Observer = asl.ObserverFunc(func(*asl.Event) {})
	res := run(t, d, `{"xs":[{},{},{},{}]}`, opts)
	if res.Error != asl.ErrQueryEvaluationError || !strings.Contains(res.Cause, "'ItemSelector/v' returned nothing") {
		t.Fatalf("%+v", res)
	}
}

func TestJSONataMapToleratedFailureExpressions(t *testing.T) {
	// inline Map: the tolerated-failure fields are accepted as expressions
	for _, field := range []string{`"ToleratedFailurePercentage":"{% $states.input.v %}"`, `"ToleratedFailureCount":"{% 1 %}"`, `"MaxConcurrency":"{% 1 %}"`} {
		d := mustParse(t, `{"QueryLanguage":"JSONata","StartAt":"Start","States":{"Start":{"Type":"Map","Items":[1,"{% $number(\"2\") %}",3],`+field+`,
			"ItemProcessor":{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}},"End":true}}}`)
		res := run(t, d, `{"v":100}`, newHarness().options(nil))
		if got := jsonText(res.Output); res.Status != asl.StatusSucceeded || got != `[1,2,3]` {
			t.Errorf("%s: %+v %s", field, res, got)
		}
	}
}

func TestJSONataParseValues(t *testing.T) {
	d := mustParse(t, `{"QueryLanguage":"JSONata","StartAt":"S","States":{"S":{"Type":"Pass","Output":{"r":"{% $parse($states.input.s) %}"},"End":true}}}`)
	for in, want := range map[string]string{`"-0"`: `0`, `"1.1"`: `1.1`, `"{\"Arg1\": 1, \"Arg2\": []}"`: `{"Arg1":1,"Arg2":[]}`, `"[1, 2, \"HelloWorld\"]"`: `[1,2,"HelloWorld"]`} {
		res := run(t, d, `{"s":`+in+`}`, newHarness().options(nil))
		if got := jsonText(res.Output); got != `{"r":`+want+`}` {
			t.Errorf("%s: %+v %s", in, res, got)
		}
	}
}
