package asl_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/mailflow/mailflow/asl"
)

// harness is a virtual clock that a Sleep moves on (recording the pause)
// and a history recorder.
type harness struct {
	mu     sync.Mutex
	now    time.Time
	sleeps []time.Duration
	events []*asl.Event
}

func newHarness() *harness {
	return &harness{now: time.Date(2024, 5, 1, 12, 0, 0, 0, time.UTC)}
}

func (h *harness) options(reg *asl.Registry) asl.Options {
	return asl.Options{
		Registry: reg,
		Clock:    h,
		Random:   func() float64 { return 0.5 },
		UUID:     func() string { return "uuid" },
		Observer: asl.ObserverFunc(func(e *asl.Event) { h.events = append(h.events, e) }),
	}
}

func (h *harness) Now() time.Time {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.now
}

func (h *harness) Sleep(ctx context.Context, d time.Duration) error {
	h.mu.Lock()
	defer h.mu.Unlock()
	h.sleeps = append(h.sleeps, d)
	h.now = h.now.Add(d)
	return ctx.Err()
}

// Timer fires after d of real time (nothing else moves this clock while a
// task runs), moving the virtual time to its deadline.
func (h *harness) Timer(d time.Duration) (<-chan time.Time, func()) {
	ch := make(chan time.Time, 1)
	at := h.Now().Add(d)
	t := time.AfterFunc(d, func() {
		h.mu.Lock()
		if h.now.Before(at) {
			h.now = at
		}
		h.mu.Unlock()
		ch <- at
	})
	return ch, func() { t.Stop() }
}

func (h *harness) types() []string {
	var out []string
	for _, e := range h.events {
		out = append(out, string(e.Type))
	}
	return out
}

func mustParse(t *testing.T, src string) *asl.Definition {
	t.Helper()
	d, err := asl.Parse([]byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if err := asl.Validate(d).Err(); err != nil {
		t.Fatal(err)
	}
	return d
}

func run(t *testing.T, d *asl.Definition, input string, opts asl.Options) *asl.Result {
	t.Helper()
	res, err := asl.Execute(context.Background(), d, []byte(input), opts)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func jsonText(v any) string {
	b, _ := asl.EncodeJSON(v)
	return string(b)
}

func TestDataFlowOrder(t *testing.T) {
	d := mustParse(t, `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::sqs:sendMessage",
		"InputPath":"$.in","Parameters":{"x.$":"$.v","ctx.$":"$$.State.Name"},
		"ResultSelector":{"got.$":"$.x"},"ResultPath":"$.in.result","OutputPath":"$.in","End":true}}}`)
	reg := asl.NewRegistry()
	var seen any
	reg.Register("arn:aws:states:::sqs:sendMessage", asl.TaskHandlerFunc(func(_ context.Context, req *asl.TaskRequest) (any, error) {
		seen = req.Input
		return req.Input, nil
	}))
	h := newHarness()
	res := run(t, d, `{"in":{"v":1.50},"other":true}`, h.options(reg))
	if res.Status != asl.StatusSucceeded {
		t.Fatalf("%+v", res)
	}
	if got := jsonText(seen); got != `{"ctx":"T","x":1.50}` {
		t.Errorf("task input %s", got)
	}
	if got := jsonText(res.Output); got != `{"result":{"got":1.50},"v":1.50}` {
		t.Errorf("output %s", got)
	}
}

func TestRetryBackoffAndCatch(t *testing.T) {
	d := mustParse(t, `{"StartAt":"T","States":{
		"T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:123456789012:function:flaky",
			"Retry":[{"ErrorEquals":["Mail.Throttled"],"IntervalSeconds":2,"BackoffRate":3,"MaxAttempts":3,"MaxDelaySeconds":10},
			         {"ErrorEquals":["States.ALL"],"MaxAttempts":0}],
			"Catch":[{"ErrorEquals":["States.ALL"],"ResultPath":"$.error","Next":"Caught"}],"End":true},
		"Caught":{"Type":"Pass","End":true}}}`)
	reg := asl.NewRegistry()
	calls := 0
	reg.RegisterLambda("flaky", asl.LambdaHandlerFunc(func(context.Context, []byte) ([]byte, error) {
		calls++
		return nil, asl.NewError("Mail.Throttled", "slow down")
	}))
	h := newHarness()
	res := run(t, d, `{"id":7}`, h.options(reg))
	if calls != 4 {
		t.Errorf("calls = %d, want 4", calls)
	}
	want := []time.Duration{2 * time.Second, 6 * time.Second, 10 * time.Second}
	if !reflect.DeepEqual(h.sleeps, want) {
		t.Errorf("sleeps = %v, want %v", h.sleeps, want)
	}
	if got := jsonText(res.Output); got != `{"error":{"Cause":"slow down","Error":"Mail.Throttled"},"id":7}` {
		t.Errorf("output %s", got)
	}
}

func TestJitterFull(t *testing.T) {
	d := mustParse(t, `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:1:function:f",
		"Retry":[{"ErrorEquals":["E"],"IntervalSeconds":4,"MaxAttempts":1,"JitterStrategy":"FULL"}],"End":true}}}`)
	reg := asl.NewRegistry()
	reg.RegisterLambda("f", asl.LambdaHandlerFunc(func(context.Context, []byte) ([]byte, error) {
		return nil, asl.NewError("E", "")
	}))
	h := newHarness()
	res := run(t, d, `{}`, h.options(reg))
	if res.Status != asl.StatusFailed || res.Error != "E" {
		t.Fatalf("%+v", res)
	}
	if !reflect.DeepEqual(h.sleeps, []time.Duration{2 * time.Second}) {
		t.Errorf("sleeps = %v, want [2s] (random 0.5 of 4s)", h.sleeps)
	}
}

type throttled struct{}

func (*throttled) Error() string { return "too fast" }

func TestLambdaErrorNames(t *testing.T) {
	d := mustParse(t, `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:1:function:f","End":true}}}`)
	for _, tc := range []struct {
		err       error
		name      string
		causeText string
	}{
		{errors.New("boom"), "errorString", `{"errorMessage":"boom","errorType":"errorString"}`},
		{&throttled{}, "throttled", `{"errorMessage":"too fast","errorType":"throttled"}`},
	} {
		reg := asl.NewRegistry()
		reg.RegisterLambda("f", asl.LambdaHandlerFunc(func(context.Context, []byte) ([]byte, error) { return nil, tc.err }))
		res := run(t, d, `{}`, newHarness().options(reg))
		if res.Error != tc.name || res.Cause != tc.causeText {
			t.Errorf("got %q %q, want %q %q", res.Error, res.Cause, tc.name, tc.causeText)
		}
	}
}

func TestLambdaInvokeWrapperAndLimit(t *testing.T) {
	d := mustParse(t, `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke",
		"Parameters":{"FunctionName":"f","Payload.$":"$"},"Catch":[{"ErrorEquals":["States.ALL"],"Next":"C"}],"End":true},
		"C":{"Type":"Pass","End":true}}}`)
	reg := asl.NewRegistry()
	big := false
	reg.RegisterLambda("f", asl.LambdaHandlerFunc(func(_ context.Context, p []byte) ([]byte, error) {
		if big {
			return []byte(`"` + strings.Repeat("a", 257*1024) + `"`), nil
		}
		return p, nil
	}))
	h := newHarness()
	res := run(t, d, `{"a":1}`, h.options(reg))
	out := res.Output.(map[string]any)
	if jsonText(out["Payload"]) != `{"a":1}` || jsonText(out["StatusCode"]) != "200" {
		t.Errorf("wrapper %s", jsonText(out))
	}
	hdr := out["SdkHttpMetadata"].(map[string]any)["HttpHeaders"].(map[string]any)
	if hdr["Content-Length"] != "7" {
		t.Errorf("Content-Length %v", hdr["Content-Length"])
	}
	big = true
	res = run(t, d, `{"a":1}`, h.options(reg))
	if got := jsonText(res.Output); !strings.Contains(got, `"Error":"States.DataLimitExceeded"`) {
		t.Errorf("oversized result: %s", got)
	}
}

func TestMapHistoryIDs(t *testing.T) {
	d := mustParse(t, `{"StartAt":"M","States":{"M":{"Type":"Map","ItemsPath":"$.xs","MaxConcurrency":1,
		"ItemSelector":{"i.$":"$$.Map.Item.Index","v.$":"$$.Map.Item.Value"},
		"ItemProcessor":{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}},"End":true}}}`)
	h := newHarness()
	res := run(t, d, `{"xs":["a","b"]}`, h.options(nil))
	if got := jsonText(res.Output); got != `[{"i":0,"v":"a"},{"i":1,"v":"b"}]` {
		t.Errorf("output %s", got)
	}
	var ids []string
	for _, e := range h.events {
		ids = append(ids, fmt.Sprintf("%d<%d:%s", e.ID, e.PreviousEventID, e.Type))
	}
	want := []string{"1<0:ExecutionStarted", "2<0:MapStateEntered", "3<2:MapStateStarted",
		"4<3:MapIterationStarted", "5<4:PassStateEntered", "6<5:PassStateExited", "7<6:MapIterationSucceeded",
		"8<6:MapIterationStarted", "9<8:PassStateEntered", "10<9:PassStateExited", "11<10:MapIterationSucceeded",
		"12<11:MapStateSucceeded", "13<11:MapStateExited", "14<13:ExecutionSucceeded"}
	if !reflect.DeepEqual(ids, want) {
		t.Errorf("history\n got %v\nwant %v", ids, want)
	}
}

func TestVariablesScope(t *testing.T) {
	d := mustParse(t, `{"StartAt":"A","States":{
		"A":{"Type":"Pass","Assign":{"x":1,"y.$":"$.in"},"Next":"P"},
		"P":{"Type":"Parallel","Branches":[{"StartAt":"B","States":{"B":{"Type":"Pass","Assign":{"x":2},"Parameters":{"x.$":"$x","y.$":"$y"},"End":true}}}],
		     "Next":"Z"},
		"Z":{"Type":"Pass","Parameters":{"x.$":"$x","branch.$":"$[0]"},"End":true}}}`)
	res := run(t, d, `{"in":"v"}`, newHarness().options(nil))
	if got := jsonText(res.Output); got != `{"branch":{"x":1,"y":"v"},"x":1}` {
		t.Errorf("output %s", got)
	}
}

func TestChoiceAndFail(t *testing.T) {
	d := mustParse(t, `{"StartAt":"C","States":{
		"C":{"Type":"Choice","Choices":[
			{"And":[{"Variable":"$.n","IsNumeric":true},{"Variable":"$.n","NumericGreaterThanPath":"$.limit"}],"Next":"Big"},
			{"Variable":"$.s","StringMatches":"mail-*.eml","Next":"Mail"}],"Default":"F"},
		"Big":{"Type":"Succeed"},
		"Mail":{"Type":"Pass","Result":"mail","End":true},
		"F":{"Type":"Fail","ErrorPath":"$.err","CausePath":"States.Format('n={}', $.n)"}}}`)
	o := newHarness().options(nil)
	if r := run(t, d, `{"n":5,"limit":4.5}`, o); r.Status != asl.StatusSucceeded {
		t.Errorf("big: %+v", r)
	}
	if r := run(t, d, `{"n":1,"limit":4,"s":"mail-1.eml"}`, o); r.Output != "mail" {
		t.Errorf("mail: %+v", r)
	}
	r := run(t, d, `{"n":1,"limit":4,"s":"x","err":"Bad"}`, o)
	if r.Status != asl.StatusFailed || r.Error != "Bad" || r.Cause != "n=1" {
		t.Errorf("fail: %+v", r)
	}
}

func TestRuntimeErrorIsNotCaught(t *testing.T) {
	d := mustParse(t, `{"StartAt":"P","States":{"P":{"Type":"Pass","InputPath":"$.missing","End":true}}}`)
	r := run(t, d, `{}`, newHarness().options(nil))
	want := "An error occurred while executing the state 'P' (entered at the event id #2). Invalid path '$.missing' : No results for path: $['missing']"
	if r.Error != asl.ErrRuntime || r.Cause != want {
		t.Errorf("%+v", r)
	}
}

func TestExecutionTimeoutOnVirtualClock(t *testing.T) {
	d := mustParse(t, `{"TimeoutSeconds":10,"StartAt":"W","States":{"W":{"Type":"Wait","Seconds":3600,"End":true}}}`)
	h := newHarness()
	r := run(t, d, `{}`, h.options(nil))
	if r.Status != asl.StatusTimedOut {
		t.Fatalf("%+v", r)
	}
	if !reflect.DeepEqual(h.sleeps, []time.Duration{10 * time.Second}) {
		t.Errorf("sleeps %v", h.sleeps)
	}
	if last := h.events[len(h.events)-1].Type; last != asl.ExecutionTimedOut {
		t.Errorf("last event %s", last)
	}
}

func TestCancellationAborts(t *testing.T) {
	d := mustParse(t, `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::sns:publish","End":true}}}`)
	reg := asl.NewRegistry()
	ctx, cancel := context.WithCancel(context.Background())
	reg.Register("arn:aws:states:::sns:publish", asl.TaskHandlerFunc(func(c context.Context, _ *asl.TaskRequest) (any, error) {
		cancel()
		<-c.Done()
		return nil, c.Err()
	}))
	h := newHarness()
	res, err := asl.Execute(ctx, d, []byte(`{}`), h.options(reg))
	if err != nil || res.Status != asl.StatusAborted {
		t.Fatalf("%v %+v", err, res)
	}
	if got := h.types(); strings.Join(got[len(got)-2:], " ") != "TaskStateAborted ExecutionAborted" {
		t.Errorf("events %v", got)
	}
}

func TestTaskTimeout(t *testing.T) {
	d := mustParse(t, `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:1:function:slow","TimeoutSeconds":1,"End":true}}}`)
	reg := asl.NewRegistry()
	reg.RegisterLambda("slow", asl.LambdaHandlerFunc(func(c context.Context, _ []byte) ([]byte, error) {
		<-c.Done()
		return nil, c.Err()
	}))
	h := newHarness()
	r := run(t, d, `{}`, h.options(reg))
	if r.Error != asl.ErrTimeout {
		t.Fatalf("%+v", r)
	}
	if got := h.types(); got[len(got)-2] != string(asl.LambdaFunctionTimedOut) {
		t.Errorf("events %v", got)
	}
}

// A parsed definition is shared by concurrent executions (run with -race).
func TestConcurrentExecutions(t *testing.T) {
	d := mustParse(t, `{"StartAt":"M","States":{"M":{"Type":"Map","ItemsPath":"$.xs",
		"ItemProcessor":{"StartAt":"P","States":{"P":{"Type":"Pass","Parameters":{"v.$":"States.MathAdd($, 1)"},"ResultPath":"$","End":true}}},
		"ResultPath":"$.out","End":true}}}`)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			res, err := asl.Execute(context.Background(), d, map[string]any{"xs": []any{json.Number(fmt.Sprint(i)), json.Number("1")}}, asl.Options{})
			if err != nil || res.Status != asl.StatusSucceeded {
				t.Errorf("%v %+v", err, res)
				return
			}
			want := fmt.Sprintf(`[{"v":%d},{"v":2}]`, i+1)
			if got := jsonText(res.Output.(map[string]any)["out"]); got != want {
				t.Errorf("got %s want %s", got, want)
			}
		}()
	}
	wg.Wait()
}

func TestValidateLocations(t *testing.T) {
	d, err := asl.Parse([]byte(`{"StartAt":"A","States":{
		"A":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:1:function:nobody","Retry":[{"ErrorEquals":[],"BackoffRate":0.5}],"Next":"Gone"},
		"B":{"Type":"Pass","End":true}}}`))
	if err != nil {
		t.Fatal(err)
	}
	issues := asl.Validate(d, asl.WithBoundResources(asl.NewRegistry()))
	want := map[string]bool{
		"/States/A/Retry/0/ErrorEquals": false, "/States/A/Retry/0/BackoffRate": false,
		"/States/A": false, "/States/B": false, "/States/A/Resource": false,
	}
	for _, i := range issues {
		if _, ok := want[i.Location]; ok {
			want[i.Location] = true
		}
	}
	for loc, found := range want {
		if !found {
			t.Errorf("no issue at %s; got %v", loc, issues)
		}
	}
}

func TestHistorySkippedWithoutObserver(t *testing.T) {
	d := mustParse(t, `{"StartAt":"P","States":{"P":{"Type":"Pass","InputPath":"$.x","Next":"Q"},"Q":{"Type":"Pass","InputPath":"$.nope","End":true}}}`)
	r := run(t, d, `{"x":{}}`, asl.Options{})
	// ids still count: Q was entered as event 4
	if !strings.Contains(r.Cause, "entered at the event id #4") {
		t.Errorf("cause %q", r.Cause)
	}
}

func TestStringMatches(t *testing.T) {
	for _, tc := range []struct {
		pattern, s string
		want       bool
	}{
		{"*", "", true}, {"*", "abc", true}, {"a*", "abc", true}, {"*c", "abc", true},
		{"a*c", "abxc", true}, {"a*c", "abcx", false}, {"log-*.txt", "log-2024.txt", true},
		{`a\*b`, "a*b", true}, {`a\*b`, "axb", false}, {"*a*a*a*a*a*a*a*a*b", strings.Repeat("a", 60), false},
		{"abc", "abc", true}, {"abc", "abcd", false}, {"*b*", "abc", true}, {"a*b*c", "aXbYc", true},
	} {
		d := mustParse(t, fmt.Sprintf(`{"StartAt":"C","States":{"C":{"Type":"Choice","Choices":[{"Variable":"$.s","StringMatches":%q,"Next":"Y"}],"Default":"N"},
			"Y":{"Type":"Pass","Result":true,"End":true},"N":{"Type":"Pass","Result":false,"End":true}}}`, tc.pattern))
		r := run(t, d, fmt.Sprintf(`{"s":%q}`, tc.s), asl.Options{})
		if r.Output != tc.want {
			t.Errorf("%q matches %q = %v, want %v", tc.pattern, tc.s, r.Output, tc.want)
		}
	}
}

func TestConcurrentMapAndParallel(t *testing.T) {
	d := mustParse(t, `{"StartAt":"M","States":{
		"M":{"Type":"Map","ItemsPath":"$.xs","MaxConcurrency":3,
			"ItemProcessor":{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::sqs:sendMessage","End":true}}},
			"ResultPath":"$.out","Next":"P"},
		"P":{"Type":"Parallel","Branches":[
			{"StartAt":"A","States":{"A":{"Type":"Pass","Result":1,"End":true}}},
			{"StartAt":"B","States":{"B":{"Type":"Task","Resource":"arn:aws:states:::sqs:sendMessage","End":true}}}],"End":true}}}`)
	reg := asl.NewRegistry()
	var mu sync.Mutex
	active, peak := 0, 0
	reg.Register("arn:aws:states:::sqs:sendMessage", asl.TaskHandlerFunc(func(ctx context.Context, req *asl.TaskRequest) (any, error) {
		if s, ok := req.Input.(string); ok && s == "bad" {
			return nil, asl.NewError("Bad", "bad item")
		}
		mu.Lock()
		active++
		peak = max(peak, active)
		mu.Unlock()
		defer func() {
			mu.Lock()
			active--
			mu.Unlock()
		}()
		select {
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
			return nil, ctx.Err()
		}
		return req.Input, nil
	}))
	var events []*asl.Event
	var emu sync.Mutex
	opts := asl.Options{Registry: reg, Observer: asl.ObserverFunc(func(e *asl.Event) {
		emu.Lock()
		events = append(events, e)
		emu.Unlock()
	})}
	res := run(t, d, `{"xs":["a","b","c","d","e","f"]}`, opts)
	if res.Status != asl.StatusSucceeded {
		t.Fatalf("%+v", res)
	}
	if got := jsonText(res.Output); got != `[1,{"out":["a","b","c","d","e","f"],"xs":["a","b","c","d","e","f"]}]` {
		t.Errorf("output %s", got)
	}
	if peak < 2 || peak > 3 {
		t.Errorf("peak concurrency %d, want 2..3 (MaxConcurrency 3)", peak)
	}
	for i, e := range events {
		if e.ID != int64(i+1) {
			t.Fatalf("event %d has id %d", i, e.ID)
		}
	}
	// the three iterations started together are recorded before any runs
	if got := eventTrail(events[2:6]); got != "MapStateStarted MapIterationStarted/0 MapIterationStarted/1 MapIterationStarted/2" {
		t.Errorf("start of the Map: %s", got)
	}
	for _, e := range events[3:6] {
		if e.PreviousEventID != events[2].ID {
			t.Errorf("iteration %d starts from event %d, want MapStateStarted (%d)", *e.Index, e.PreviousEventID, events[2].ID)
		}
	}

	events = nil
	res = run(t, d, `{"xs":["a","bad","c","d","e","f"]}`, opts)
	if res.Status != asl.StatusFailed || res.Error != "Bad" {
		t.Errorf("failure: %+v", res)
	}
	// item 1 fails while 0 and 2 run: they are aborted, 3.. never start
	ends := map[string]string{}
	for _, e := range events {
		switch e.Type {
		case asl.MapIterationStarted, asl.MapIterationSucceeded, asl.MapIterationFailed, asl.MapIterationAborted:
			ends[fmt.Sprint(*e.Index)] = string(e.Type)
		}
	}
	want := map[string]string{"0": "MapIterationAborted", "1": "MapIterationFailed", "2": "MapIterationAborted"}
	if fmt.Sprint(ends) != fmt.Sprint(want) {
		t.Errorf("iterations ended %v, want %v", ends, want)
	}
	if last := events[len(events)-2]; last.Type != asl.MapStateFailed {
		t.Errorf("event before the end is %s, want MapStateFailed", last.Type)
	}

	// Sequential: one at a time whatever MaxConcurrency says
	peak = 0
	opts.Sequential = true
	if res := run(t, d, `{"xs":["a","b","c"]}`, opts); res.Status != asl.StatusSucceeded || peak != 1 {
		t.Errorf("sequential: %+v, peak %d", res.Status, peak)
	}
}

// eventTrail names events as "Type" or "Type/index".
func eventTrail(events []*asl.Event) string {
	var parts []string
	for _, e := range events {
		if e.Index != nil {
			parts = append(parts, fmt.Sprintf("%s/%d", e.Type, *e.Index))
		} else {
			parts = append(parts, string(e.Type))
		}
	}
	return strings.Join(parts, " ")
}

func TestStateOutputLimitIsNotCaughtByAll(t *testing.T) {
	d := mustParse(t, `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::sqs:sendMessage",
		"ResultPath":"$.r","Catch":[{"ErrorEquals":["States.ALL"],"Next":"C"}],"End":true},"C":{"Type":"Succeed"}}}`)
	reg := asl.NewRegistry()
	reg.Register("arn:aws:states:::sqs:sendMessage", asl.TaskHandlerFunc(func(context.Context, *asl.TaskRequest) (any, error) {
		return strings.Repeat("x", 200*1024), nil
	}))
	in := fmt.Sprintf(`{"pad":%q}`, strings.Repeat("y", 100*1024))
	r := run(t, d, in, asl.Options{Registry: reg})
	if r.Status != asl.StatusFailed || r.Error != asl.ErrDataLimitExceeded {
		t.Errorf("%+v", r.Status)
	}
}

func TestValidateWarnings(t *testing.T) {
	d, err := asl.Parse([]byte(`{"StartAt":"P","States":{"P":{"Type":"Pass","Parameters":{"a":"$.x","b.$":"$.y"},"Result":{"r.$":"$.z"},"End":true}}}`))
	if err != nil {
		t.Fatal(err)
	}
	issues := asl.Validate(d)
	if issues.Err() != nil {
		t.Fatalf("warnings must not reject: %v", issues)
	}
	got := map[string]string{}
	for _, i := range issues {
		got[i.Code] = i.Location
	}
	if got["NO_DOLLAR"] != "/States/P/Parameters/a" || got["PASS_RESULT_IS_STATIC"] != "/States/P/Result" {
		t.Errorf("warnings %v", issues)
	}
}

func TestGoValuesAreNormalized(t *testing.T) {
	d := mustParse(t, `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::sqs:sendMessage","ResultPath":"$.r","End":true}}}`)
	reg := asl.NewRegistry()
	type reply struct {
		ID    string `json:"id"`
		Count int    `json:"count"`
	}
	reg.Register("arn:aws:states:::sqs:sendMessage", asl.TaskHandlerFunc(func(context.Context, *asl.TaskRequest) (any, error) {
		return reply{ID: "m-1", Count: 2}, nil
	}))
	res, err := asl.Execute(context.Background(), d, map[string]int{"n": 1}, asl.Options{Registry: reg})
	if err != nil {
		t.Fatal(err)
	}
	if got := jsonText(res.Output); got != `{"n":1,"r":{"count":2,"id":"m-1"}}` {
		t.Errorf("output %s", got)
	}
}

func TestResources(t *testing.T) {
	d := mustParse(t, `{"StartAt":"P","States":{"P":{"Type":"Parallel","Branches":[
		{"StartAt":"A","States":{"A":{"Type":"Task","Resource":"arn:aws:states:::sqs:sendMessage","End":true}}},
		{"StartAt":"M","States":{"M":{"Type":"Map","ItemProcessor":{"StartAt":"B","States":{"B":{"Type":"Task","Resource":"arn:aws:lambda:us-east-1:1:function:f","End":true}}},"End":true}}}],"End":true}}}`)
	if got := strings.Join(d.Resources(), " "); got != "arn:aws:lambda:us-east-1:1:function:f arn:aws:states:::sqs:sendMessage" {
		t.Errorf("resources %s", got)
	}
}

func TestHeartbeat(t *testing.T) {
	d := mustParse(t, `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::sqs:sendMessage","HeartbeatSeconds":1,"End":true}}}`)
	for _, beat := range []bool{true, false} {
		reg := asl.NewRegistry()
		reg.Register("arn:aws:states:::sqs:sendMessage", asl.TaskHandlerFunc(func(ctx context.Context, _ *asl.TaskRequest) (any, error) {
			for range 6 {
				select {
				case <-time.After(200 * time.Millisecond):
				case <-ctx.Done():
					return nil, ctx.Err()
				}
				if beat {
					asl.Heartbeat(ctx)
				}
			}
			return "done", nil
		}))
		r := run(t, d, `{}`, asl.Options{Registry: reg})
		if beat && r.Status != asl.StatusSucceeded {
			t.Errorf("with heartbeats: %+v", r)
		}
		if !beat && r.Error != asl.ErrHeartbeatTimeout {
			t.Errorf("without heartbeats: %+v", r)
		}
	}
}

func TestMaxConcurrencyPathQuotesTheValueAsAWS(t *testing.T) {
	d := mustParse(t, `{"StartAt":"MapState","States":{"MapState":{"Type":"Map","ItemsPath":"$.Values","MaxConcurrencyPath":"$.M",
		"ItemProcessor":{"StartAt":"P","States":{"P":{"Type":"Pass","End":true}}},"End":true}}}`)
	for in, shown := range map[string]string{`"NoNumber"`: `NoNumber`, `{}`: `{}`, `1.5`: `1.5`, `-1`: `-1`, `[1]`: `[1]`, `"<&>"`: `<&>`} {
		res := run(t, d, `{"M":`+in+`,"Values":["x"]}`, asl.Options{})
		want := `An error occurred while executing the state 'MapState' (entered at the event id #2). The MaxConcurrencyPath field refers to value "` + shown + `" which is not a valid integer: $.M`
		if res.Error != asl.ErrRuntime || res.Cause != want {
			t.Errorf("%s: %s %s", in, res.Error, res.Cause)
		}
	}
}

// TestConcurrentIterationsShareNothing runs iterations that read the item
// through ItemSelector and $$, assign variables, retry with jitter and
// wait, all at once; run with -race it shows they share no state.
func TestConcurrentIterationsShareNothing(t *testing.T) {
	for _, def := range []string{
		`{"StartAt":"M","States":{"M":{"Type":"Map","ItemsPath":"$.xs",
			"ItemSelector":{"v.$":"$$.Map.Item.Value","i.$":"$$.Map.Item.Index"},
			"ItemProcessor":{"StartAt":"A","States":{
				"A":{"Type":"Pass","Assign":{"mine.$":"$.v"},"Next":"W"},
				"W":{"Type":"Wait","Seconds":1,"Next":"T"},
				"T":{"Type":"Task","Resource":"arn:aws:states:::sqs:sendMessage","Parameters":{"v.$":"$mine","i.$":"$.i"},
					"Retry":[{"ErrorEquals":["Flaky"],"IntervalSeconds":1,"JitterStrategy":"FULL"}],"End":true}}},"End":true}}}`,
		`{"QueryLanguage":"JSONata","StartAt":"M","States":{"M":{"Type":"Map","Items":"{% $states.input.xs %}",
			"ItemSelector":{"v":"{% $states.context.Map.Item.Value %}","i":"{% $states.context.Map.Item.Index %}"},
			"ItemProcessor":{"StartAt":"A","States":{
				"A":{"Type":"Pass","Assign":{"mine":"{% $states.input.v %}"},"Next":"T"},
				"T":{"Type":"Task","Resource":"arn:aws:states:::sqs:sendMessage","Arguments":{"v":"{% $mine %}","i":"{% $states.input.i %}"},
					"Retry":[{"ErrorEquals":["Flaky"],"IntervalSeconds":1,"JitterStrategy":"FULL"}],"End":true}}},"End":true}}}`,
	} {
		d := mustParse(t, def)
		reg := asl.NewRegistry()
		var mu sync.Mutex
		tried := map[string]bool{}
		reg.Register("arn:aws:states:::sqs:sendMessage", asl.TaskHandlerFunc(func(_ context.Context, req *asl.TaskRequest) (any, error) {
			in := req.Input.(map[string]any)
			v := in["v"].(string)
			mu.Lock()
			first := !tried[v]
			tried[v] = true
			mu.Unlock()
			if first {
				return nil, asl.NewError("Flaky", "try again")
			}
			return v + "@" + string(in["i"].(json.Number)), nil
		}))
		h := newHarness()
		opts := h.options(reg)
		var n atomic.Int64
		opts.UUID = func() string { return fmt.Sprint(n.Add(1)) }
		xs := make([]string, 30)
		want := make([]string, 30)
		for i := range xs {
			xs[i] = fmt.Sprintf("%q", fmt.Sprintf("x%d", i))
			want[i] = fmt.Sprintf("%q", fmt.Sprintf("x%d@%d", i, i))
		}
		res := run(t, d, `{"xs":[`+strings.Join(xs, ",")+`]}`, opts)
		if got := jsonText(res.Output); res.Status != asl.StatusSucceeded || got != "["+strings.Join(want, ",")+"]" {
			t.Errorf("%+v %s", res, got)
		}
	}
}

// TestParallelFailureAbortsRunningBranches: branches run at once; when one
// fails, the state another is in is recorded as aborted, as AWS records
// it, and the Parallel fails with the first error.
func TestParallelFailureAbortsRunningBranches(t *testing.T) {
	d := mustParse(t, `{"StartAt":"P","States":{"P":{"Type":"Parallel","Branches":[
		{"StartAt":"Slow","States":{"Slow":{"Type":"Task","Resource":"arn:aws:states:::sqs:sendMessage","End":true}}},
		{"StartAt":"Boom","States":{"Boom":{"Type":"Task","Resource":"arn:aws:states:::sns:publish","End":true}}}],"End":true}}}`)
	reg := asl.NewRegistry()
	slowRunning := make(chan struct{})
	reg.Register("arn:aws:states:::sqs:sendMessage", asl.TaskHandlerFunc(func(ctx context.Context, _ *asl.TaskRequest) (any, error) {
		close(slowRunning)
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-time.After(5 * time.Second):
			return nil, errors.New("the failing branch did not cancel this one")
		}
	}))
	reg.Register("arn:aws:states:::sns:publish", asl.TaskHandlerFunc(func(context.Context, *asl.TaskRequest) (any, error) {
		<-slowRunning // both branches run at once
		return nil, asl.NewError("Boom", "branch failed")
	}))
	h := newHarness()
	res := run(t, d, `{}`, h.options(reg))
	if res.Status != asl.StatusFailed || res.Error != "Boom" || res.Cause != "branch failed" {
		t.Fatalf("%+v", res)
	}
	seen := map[asl.EventType]bool{}
	for _, e := range h.events {
		seen[e.Type] = true
	}
	for _, typ := range []asl.EventType{asl.TaskStateAborted, asl.TaskFailed, asl.ParallelStateFailed} {
		if !seen[typ] {
			t.Errorf("no %s in %s", typ, eventTrail(h.events))
		}
	}
}
