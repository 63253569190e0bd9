package workflow_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/mailflow/mailflow/testkit"
	"github.com/mailflow/mailflow/workflow"
)

func sampleSettings() workflow.Settings {
	fn := func(name string) string { return "arn:aws:lambda:eu-west-1:123456789012:function:mailflow-" + name }
	return workflow.Settings{Substitutions: map[string]string{
		workflow.PlaceholderReserveSends:     fn("reserve-sends"),
		workflow.PlaceholderAcquireLock:      fn("acquire-lock"),
		workflow.PlaceholderFetchAttachments: fn("fetch-attachments"),
		workflow.PlaceholderSend:             fn("send"),
		workflow.PlaceholderSendInline:       fn("send-inline"),
		workflow.PlaceholderReleaseLock:      fn("release-lock"),
		workflow.PlaceholderDeadLetterQueue:  "https://sqs.eu-west-1.amazonaws.com/123456789012/mailflow-dlq",
		workflow.PlaceholderEventsQueue:      "https://sqs.eu-west-1.amazonaws.com/123456789012/mailflow-events",
	}}
}

// TestDefinitionPassesASLValidator runs the npm asl-validator package on the
// definition as shipped (with placeholders) and as rendered for a deployment.
func TestDefinitionPassesASLValidator(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	raw := filepath.Join(dir, "mail.asl.json")
	if err := os.WriteFile(raw, workflow.Definition(), 0o644); err != nil {
		t.Fatal(err)
	}
	rendered, err := workflow.Render(sampleSettings())
	if err != nil {
		t.Fatal(err)
	}
	renderedFile := filepath.Join(dir, "rendered.asl.json")
	if err := os.WriteFile(renderedFile, rendered, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := testkit.Node(t, "testdata/asl-validate.cjs", raw, renderedFile)
	if err != nil {
		t.Fatalf("asl-validator rejects the definition: %v\n%s", err, out)
	}
	if strings.Count(string(out), `"isValid":true`) != 2 {
		t.Fatalf("unexpected validator output:\n%s", out)
	}
}

type state struct {
	Type           string                  `json:"Type"`
	Resource       string                  `json:"Resource"`
	Next           string                  `json:"Next"`
	End            bool                    `json:"End"`
	Default        string                  `json:"Default"`
	Choices        []struct{ Next string } `json:"Choices"`
	Catch          []catcher               `json:"Catch"`
	Retry          []retrier               `json:"Retry"`
	Parameters     map[string]any          `json:"Parameters"`
	ResultSelector map[string]any          `json:"ResultSelector"`
	Result         any                     `json:"Result"`
	ResultPath     *string                 `json:"ResultPath"`
	OutputPath     *string                 `json:"OutputPath"`
	ItemsPath      string                  `json:"ItemsPath"`
	MaxConcurrency int                     `json:"MaxConcurrency"`
	ItemProcessor  *machine                `json:"ItemProcessor"`
}

type catcher struct {
	ErrorEquals []string `json:"ErrorEquals"`
	Next        string   `json:"Next"`
}

type retrier struct {
	ErrorEquals     []string `json:"ErrorEquals"`
	IntervalSeconds float64  `json:"IntervalSeconds"`
	MaxAttempts     *int     `json:"MaxAttempts"`
	BackoffRate     float64  `json:"BackoffRate"`
	MaxDelaySeconds float64  `json:"MaxDelaySeconds"`
	JitterStrategy  string   `json:"JitterStrategy"`
}

type machine struct {
	StartAt string           `json:"StartAt"`
	States  map[string]state `json:"States"`
}

func loadDefinition(t *testing.T) machine {
	t.Helper()
	var m machine
	if err := json.Unmarshal(workflow.Definition(), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func (s state) successors() []string {
	var out []string
	if s.Next != "" {
		out = append(out, s.Next)
	}
	if s.Default != "" {
		out = append(out, s.Default)
	}
	for _, c := range s.Choices {
		out = append(out, c.Next)
	}
	for _, c := range s.Catch {
		out = append(out, c.Next)
	}
	return out
}

// reaches reports whether every path from start ends in a state for which
// end is true, never passing through an End without it.
func reaches(t *testing.T, m machine, start string, end func(name string) bool) bool {
	t.Helper()
	seen := map[string]bool{}
	var walk func(name string) bool
	walk = func(name string) bool {
		if end(name) {
			return true
		}
		if seen[name] {
			return true // a cycle adds no new endings
		}
		seen[name] = true
		s, ok := m.States[name]
		if !ok {
			t.Fatalf("transition to unknown state %q", name)
		}
		if s.End || s.Type == "Succeed" || s.Type == "Fail" {
			return false
		}
		for _, n := range s.successors() {
			if !walk(n) {
				return false
			}
		}
		return true
	}
	return walk(start)
}

// TestDefinitionStructure walks the definition and proves the properties the
// pipeline relies on: no error escapes the Map, permanent errors reach the
// dead-letter queue, transient ones the batch-failure list, and the output is
// exactly {"batchItemFailures":[...]}.
func TestDefinitionStructure(t *testing.T) {
	t.Parallel()
	top := loadDefinition(t)
	// Before the Map: the records under a name, then the batch's send
	// reservation, whose every failure goes on without it.
	if top.StartAt != "Batch" || top.States["Batch"].Type != "Pass" || top.States["Batch"].Next != "ReserveSends" {
		t.Fatalf("the definition must start by naming the records, got %q", top.StartAt)
	}
	reserve := top.States["ReserveSends"]
	if reserve.Type != "Task" || reserve.Next != workflow.MapStateName || len(reserve.Catch) != 1 ||
		!slices.Equal(reserve.Catch[0].ErrorEquals, []string{"States.ALL"}) || reserve.Catch[0].Next != "Unpaced" {
		t.Fatalf("ReserveSends must go on to the Map, and to Unpaced on any error: %+v", reserve)
	}
	if unpaced := top.States["Unpaced"]; unpaced.Type != "Pass" || unpaced.Next != workflow.MapStateName || !jsonEqual(unpaced.Result, map[string]any{"grants": []any{}}) {
		t.Fatalf("Unpaced must give no grants and go on to the Map: %+v", unpaced)
	}
	mapState, ok := top.States[workflow.MapStateName]
	if !ok || mapState.Type != "Map" {
		t.Fatalf("the definition must run the Map over the batch, got %+v", top.States)
	}
	if mapState.ResultPath != nil || mapState.OutputPath != nil || mapState.ItemsPath != "$.records" {
		t.Fatal("the Map must iterate the whole batch")
	}
	if mapState.MaxConcurrency < 1 {
		t.Fatal("the Map's concurrency must be bounded")
	}
	// After the Map, every path ends in a Pass whose output is exactly
	// {"batchItemFailures": [...]}, and nothing can fail.
	ends := 0
	for name, s := range top.States {
		if name == workflow.MapStateName || name == "Batch" || name == "ReserveSends" || name == "Unpaced" {
			continue
		}
		switch {
		case s.Type == "Fail" || s.Type == "Task" || s.Type == "Map" || s.Type == "Parallel":
			t.Errorf("%s: a %s state after the Map could fail the whole batch", name, s.Type)
		case s.Type == "Choice" && s.Default == "":
			t.Errorf("%s: a Choice without Default can fail with States.NoChoiceMatched", name)
		case s.End:
			ends++
			if s.Type != "Pass" || s.ResultPath != nil || s.OutputPath != nil {
				t.Errorf("%s: the execution must end in a plain Pass", name)
			}
			params := jsonEqual(s.Parameters, map[string]any{"batchItemFailures.$": "$.outcomes[?(@.retryLater == true)].failure"})
			empty := jsonEqual(s.Result, map[string]any{"batchItemFailures": []any{}})
			if !params && !empty {
				t.Errorf("%s: output is not exactly {\"batchItemFailures\": [...]}: %v %v", name, s.Parameters, s.Result)
			}
		}
	}
	if ends != 2 || !reaches(t, top, top.StartAt, func(n string) bool { return top.States[n].End }) {
		t.Fatal("the definition must end in the failure report or the empty report")
	}

	inner := *mapState.ItemProcessor
	reachable := map[string]bool{}
	var visit func(string)
	visit = func(n string) {
		if reachable[n] {
			return
		}
		reachable[n] = true
		for _, s := range inner.States[n].successors() {
			visit(s)
		}
	}
	visit(inner.StartAt)

	for name, s := range inner.States {
		if !reachable[name] {
			t.Errorf("%s is unreachable", name)
		}
		switch s.Type {
		case "Fail":
			t.Errorf("%s: a Fail state inside the Map would fail the whole batch", name)
		case "Task":
			if len(s.Catch) == 0 || !slices.Contains(s.Catch[len(s.Catch)-1].ErrorEquals, "States.ALL") {
				t.Errorf("%s: the last Catch must match States.ALL", name)
			}
		case "Choice":
			if s.Default == "" {
				t.Errorf("%s: a Choice without Default can fail with States.NoChoiceMatched", name)
			}
		}
		if s.End || s.Type == "Succeed" {
			if s.Type != "Pass" {
				t.Errorf("%s: every iteration must end in a Pass that states its outcome", name)
				continue
			}
			retry, ok := s.Parameters["retryLater"].(bool)
			if !ok {
				t.Errorf("%s: ending state has no boolean retryLater", name)
				continue
			}
			failure, hasFailure := s.Parameters["failure"].(map[string]any)
			if retry != hasFailure {
				t.Errorf("%s: retryLater=%v but failure present=%v", name, retry, hasFailure)
			}
			if retry && !jsonEqual(failure, map[string]any{"itemIdentifier.$": "$.messageId"}) {
				t.Errorf("%s: failure = %v, want the record's messageId as itemIdentifier", name, failure)
			}
		}
	}

	isDeadLetterSend := func(n string) bool { return n == "DeadLetter" }
	// A transient failure goes back to the queue, except on the record's
	// last receive, where GiveUp? dead-letters it with its reason.
	isRetryLater := func(n string) bool { return n == "RetryLater" || n == workflow.GiveUpStateName }
	giveUp := inner.States[workflow.GiveUpStateName]
	if giveUp.Type != "Choice" || giveUp.Default != "RetryLater" || len(giveUp.Choices) != 1 || giveUp.Choices[0].Next != "DeadLetter" {
		t.Fatalf("%s must dead-letter on the last receive and otherwise retry later: %+v", workflow.GiveUpStateName, giveUp)
	}
	for _, end := range []string{"DeadLettered", "RetryLater"} {
		if _, ok := inner.States[end]; !ok {
			t.Fatalf("state %s is missing", end)
		}
	}
	if p := inner.States["RetryLater"].Parameters; p["retryLater"] != true {
		t.Fatal("RetryLater must report the record as a batch failure")
	}
	dl := inner.States["DeadLetter"]
	if !strings.HasPrefix(dl.Resource, "arn:aws:states:::sqs:sendMessage") {
		t.Fatal("DeadLetter must use the SQS sendMessage integration")
	}
	attrs, _ := dl.Parameters["MessageAttributes"].(map[string]any)
	for _, a := range []string{workflow.DLQAttrError, workflow.DLQAttrFailure, workflow.DLQAttrMessageID, workflow.DLQAttrExecutionID} {
		if _, ok := attrs[a]; !ok {
			t.Errorf("DeadLetter does not set message attribute %s", a)
		}
	}

	for name, s := range inner.States {
		if s.Type != "Task" {
			continue
		}
		for _, c := range s.Catch {
			permanent := true
			for _, e := range c.ErrorEquals {
				if workflow.KindOf(workflow.ErrorName(e)) != workflow.KindPermanent {
					permanent = false
				}
			}
			switch {
			case name == "DeadLetter":
				// Sending to the DLQ failed: only redelivery is left (not
				// GiveUp?, which would send to the DLQ again).
				if !reaches(t, inner, c.Next, func(n string) bool { return n == "RetryLater" }) {
					t.Errorf("%s: a failed dead-letter send must go back to the queue", name)
				}
			case permanent:
				if !reaches(t, inner, c.Next, isDeadLetterSend) {
					t.Errorf("%s: catch %v must lead to the dead-letter queue", name, c.ErrorEquals)
				}
			case strings.HasPrefix(name, "Release"):
				// Releasing is best effort; its own catch keeps the route it was on.
			case strings.HasPrefix(name, "Record"):
				// Telling the events queue is best effort: failing it must
				// not change where the mail goes.
				if c.Next != s.Next || !slices.Equal(c.ErrorEquals, []string{"States.ALL"}) {
					t.Errorf("%s: a failed record must go on to %s, not %s", name, s.Next, c.Next)
				}
			default:
				if !reaches(t, inner, c.Next, isRetryLater) {
					t.Errorf("%s: catch %v must lead to the batch-failure list", name, c.ErrorEquals)
				}
			}
		}
	}

	send := inner.States["Send"]
	var throttle *retrier
	for i, r := range send.Retry {
		if slices.Contains(r.ErrorEquals, string(workflow.Throttled)) {
			throttle = &send.Retry[i]
		}
	}
	if throttle == nil || throttle.BackoffRate <= 1 || throttle.MaxDelaySeconds <= 0 || throttle.JitterStrategy != "FULL" {
		t.Fatalf("Send must retry %s with backoff, a capped delay and full jitter: %+v", workflow.Throttled, throttle)
	}
	for _, task := range []string{"AcquireLock", "FetchAttachments", "Send", "ReleaseForRetry", "ReleaseForDeadLetter"} {
		found := false
		for _, r := range inner.States[task].Retry {
			if slices.Contains(r.ErrorEquals, "Lambda.ServiceException") && slices.Contains(r.ErrorEquals, "Lambda.TooManyRequestsException") {
				found = true
			}
		}
		if !found {
			t.Errorf("%s does not retry Lambda service errors", task)
		}
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return string(x) == string(y)
}

func TestRender(t *testing.T) {
	t.Parallel()
	s := sampleSettings()
	s.MapConcurrency = 25
	out, err := workflow.Render(s)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(out), "${") {
		t.Fatal("placeholders left after Render")
	}
	if !strings.Contains(string(out), `"MaxConcurrency": 25`) {
		t.Fatal("MapConcurrency not applied")
	}
	if !strings.Contains(string(out), `$.outcomes[?(@.retryLater == true)].failure`) {
		t.Fatal("Render escaped or changed a path")
	}

	budget := sampleSettings()
	budget.ThrottleRetry = &workflow.RetryBudget{MaxAttempts: 3, MaxDelaySeconds: 20}
	budget.MaxReceiveCount = 8
	out, err = workflow.Render(budget)
	if err != nil {
		t.Fatal(err)
	}
	var rendered machine
	if err := json.Unmarshal(out, &rendered); err != nil {
		t.Fatal(err)
	}
	found := false
	for _, r := range rendered.States[workflow.MapStateName].ItemProcessor.States["Send"].Retry {
		if slices.Contains(r.ErrorEquals, string(workflow.Throttled)) {
			found = true
			if *r.MaxAttempts != 3 || r.MaxDelaySeconds != 20 || r.JitterStrategy != "FULL" {
				t.Fatalf("throttle retrier after ThrottleRetry: %+v", r)
			}
		}
	}
	if !found {
		t.Fatal("no throttle retrier after ThrottleRetry")
	}
	if !strings.Contains(string(out), `"NumericGreaterThanEquals": 8`) {
		t.Fatal("MaxReceiveCount not applied to the give-up choice")
	}

	bad := sampleSettings()
	bad.ThrottleRetry = &workflow.RetryBudget{MaxAttempts: -1, MaxDelaySeconds: 0}
	bad.MaxReceiveCount = -2
	delete(bad.Substitutions, workflow.PlaceholderSend)
	bad.Substitutions["SendFunctionArm"] = "typo"
	bad.MapConcurrency = -1
	_, err = workflow.Render(bad)
	if err == nil {
		t.Fatal("Render accepted bad settings")
	}
	for _, want := range []string{`"SendFunctionArn" is missing`, `"SendFunctionArm" is not used`, "MapConcurrency -1", "ThrottleRetry.MaxAttempts -1", "ThrottleRetry.MaxDelaySeconds 0", "MaxReceiveCount -2"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not say %s", err, want)
		}
	}
	if got := workflow.Placeholders(); len(got) != 8 {
		t.Fatalf("Placeholders = %v", got)
	}
}

// TestSendStatesDifferOnlyInFunction: the Send task's two states (staged
// messages to its own function, inline ones to the small SendInline) must
// not drift apart in their parameters, retries or catches; and only an
// inline message takes the small one.
func TestSendStatesDifferOnlyInFunction(t *testing.T) {
	var def struct {
		States map[string]struct {
			ItemProcessor struct {
				States map[string]map[string]any
			}
		}
	}
	if err := json.Unmarshal(workflow.Definition(), &def); err != nil {
		t.Fatal(err)
	}
	states := def.States["ProcessRecords"].ItemProcessor.States
	large, small := states["Send"], states["SendInline"]
	if small == nil || large == nil {
		t.Fatalf("Send %v, SendInline %v", large != nil, small != nil)
	}
	fn := func(s map[string]any) any { return s["Parameters"].(map[string]any)["FunctionName"] }
	if fn(large) != "${"+workflow.PlaceholderSend+"}" || fn(small) != "${"+workflow.PlaceholderSendInline+"}" {
		t.Errorf("functions: Send %v, SendInline %v", fn(large), fn(small))
	}
	a, _ := json.Marshal(large)
	small["Parameters"].(map[string]any)["FunctionName"] = fn(large)
	b, _ := json.Marshal(small)
	if string(a) != string(b) {
		t.Errorf("Send and SendInline differ beyond the function:\n%s\n%s", a, b)
	}
	choice, _ := json.Marshal(states["Inline?"])
	want := `{"Choices":[{"IsPresent":true,"Next":"SendInline","Variable":"$.staged.message.inline"}],"Comment":` // the rest is the comment and the default
	if !strings.HasPrefix(string(choice), want) || states["Inline?"]["Default"] != "Send" || states["FetchAttachments"]["Next"] != "Inline?" {
		t.Errorf("Inline? = %s; FetchAttachments goes to %v", choice, states["FetchAttachments"]["Next"])
	}
}
