package infra_test

import (
	"strings"
	"testing"
)

// TestSamplingRule: the state machine's executions are sampled by the
// stack's own X-Ray rule at the configured rate (5 % with no reservoir by
// default, so a slow pipeline is not traced in full), matched by the state
// machine's name; the tasks it invokes follow that decision and
// record-event traces only what arrives sampled.
func TestSamplingRule(t *testing.T) {
	s := synth(t, "main", mainConfig)
	smID, _ := s.one(t, "AWS::StepFunctions::StateMachine")
	_, rule := s.one(t, "AWS::XRay::SamplingRule")
	r, _ := at(props(rule), "SamplingRule").(map[string]any)
	equalJSON(t, "ServiceName", r["ServiceName"], getAtt(smID, "Name"))
	for k, want := range map[string]any{
		"FixedRate": 0.05, "ReservoirSize": 0.0, "ServiceType": "AWS::StepFunctions::StateMachine",
		"ResourceARN": "*", "Host": "*", "HTTPMethod": "*", "URLPath": "*", "Version": 1.0,
	} {
		if r[k] != want {
			t.Errorf("sampling rule %s = %v, want %v", k, r[k], want)
		}
	}
	if name, _ := r["RuleName"].(string); name == "" || len(name) > 32 || !strings.HasPrefix(name, "mailflow-") {
		t.Errorf("rule name %q: want mailflow-<stack>, at most 32 characters", name)
	}

	custom := synth(t, "sampled", `{
  "stackName": "a-very-long-stack-name-for-the-sampling-rule",
  "ses": {"identities": ["example.com"], "allowedFrom": ["example.com"]},
  "tracing": {"sampleRate": 1, "reservoirPerSecond": 2}
}`)
	_, rule = custom.one(t, "AWS::XRay::SamplingRule")
	r, _ = at(props(rule), "SamplingRule").(map[string]any)
	if r["FixedRate"] != 1.0 || r["ReservoirSize"] != 2.0 {
		t.Errorf("configured rule: rate %v reservoir %v, want 1 and 2", r["FixedRate"], r["ReservoirSize"])
	}
	if name, _ := r["RuleName"].(string); len(name) > 32 || !strings.HasPrefix(name, "mailflow-a-very-long") {
		t.Errorf("long stack name gives rule name %q (%d characters)", name, len(name))
	}
}
