package infra_test

import "testing"

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
