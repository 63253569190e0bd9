package infra_test

import (
	"testing"

	"github.com/mailflow/mailflow/infra"
	"github.com/mailflow/mailflow/internal/taskkit"
)

// TestErrorLogLevel: the cheaper execution log level (BENCHMARKS.md: the
// execution history at ALL with data is about half the cost per mail) is a
// configuration choice that reaches the state machine as configured.
func TestErrorLogLevel(t *testing.T) {
	s := synth(t, "error-logs", `{
  "ses": {"identities": ["example.com"], "allowedFrom": ["example.com"]},
  "workflow": {"logLevel": "ERROR", "includeExecutionData": false}
}`)
	_, sm := s.one(t, "AWS::StepFunctions::StateMachine")
	lc, ok := props(sm)["LoggingConfiguration"].(map[string]any)
	if !ok {
		t.Fatal("the state machine has no logging configuration at level ERROR")
	}
	if lc["Level"] != "ERROR" || lc["IncludeExecutionData"] != false {
		t.Errorf("logging %s, want level ERROR without execution data", mustJSON(lc))
	}
}

// TestInlineMessagesOffAtAllWithData: at ALL with execution data every
// state's input is logged, so FetchAttachments stages every message (an
// inline one would be logged whole, base64-encoded where the address
// masking cannot see it); at the default ERROR it keeps its inline bound.
func TestInlineMessagesOffAtAllWithData(t *testing.T) {
	for name, tc := range map[string]struct {
		cfg  string
		want any
	}{
		"default": {`{"ses": {"identities": ["example.com"], "allowedFrom": ["example.com"]}}`, nil},
		"all-with-data": {`{"ses": {"identities": ["example.com"], "allowedFrom": ["example.com"]},
  "workflow": {"logLevel": "ALL", "includeExecutionData": true}}`, "0"},
	} {
		s := synth(t, "inline-"+name, tc.cfg)
		id := s.ids(t)
		for _, task := range infra.Tasks() {
			vars, _ := at(props(s.resources("AWS::Lambda::Function")[id.fn[task]]), "Environment", "Variables").(map[string]any)
			want := any(nil)
			if task == infra.TaskFetchAttachments {
				want = tc.want
			}
			if got := vars[taskkit.EnvInlineMaxBytes]; got != want {
				t.Errorf("%s: %s %s = %v, want %v", name, task, taskkit.EnvInlineMaxBytes, got, want)
			}
		}
	}
}
