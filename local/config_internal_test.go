package local

import (
	"strings"
	"testing"
	"time"

	"github.com/mailflow/mailflow/asl"
	"github.com/mailflow/mailflow/workflow"
)

// TestLeaseOutlastsTheLongestExecution: a lease that ends before an
// execution can is refused, naming both and where the longest execution
// comes from. The lease is not a setting, so the rule is checked on its
// own.
func TestLeaseOutlastsTheLongestExecution(t *testing.T) {
	t.Parallel()
	ps := timingProblems(7*time.Minute, 4*time.Minute, 290*time.Second, "the state machine's TimeoutSeconds", false)
	if len(ps) != 1 || ps[0].Field != FieldLease ||
		!strings.Contains(ps[0].Error(), "the lock lease 4m0s must be longer than the longest execution 4m50s (the state machine's TimeoutSeconds)") {
		t.Fatalf("problems %v", ps)
	}
	// Allowing a short visibility timeout does not allow a short lease.
	if ps := timingProblems(time.Minute, 4*time.Minute, 290*time.Second, "x", true); len(ps) != 1 || ps[0].Field != FieldLease {
		t.Fatalf("problems %v", ps)
	}
	if ps := timingProblems(DefaultVisibilityTimeout, LockLease, 290*time.Second, "x", false); len(ps) != 0 {
		t.Fatalf("the defaults: %v", ps)
	}
}

// TestLongestExecutionIsTheDefinitions: the longest execution is the
// rendered state machine's TimeoutSeconds, within the Express limit.
func TestLongestExecutionIsTheDefinitions(t *testing.T) {
	t.Parallel()
	subs := map[string]string{}
	for _, p := range workflow.Placeholders() {
		subs[p] = "arn:aws:lambda:us-east-1:000000000000:function:" + p
	}
	text, err := workflow.Render(workflow.Settings{Substitutions: subs, MapConcurrency: 3, MaxReceiveCount: 7})
	if err != nil {
		t.Fatal(err)
	}
	def, err := asl.Parse(text)
	if err != nil {
		t.Fatal(err)
	}
	got, source := longestExecution()
	if want := time.Duration(def.TimeoutSeconds) * time.Second; def.TimeoutSeconds == 0 || got != want || source != "the state machine's TimeoutSeconds" {
		t.Fatalf("longest execution %s (%s), the rendered definition says %d s", got, source, def.TimeoutSeconds)
	}
	if got > ExpressTimeout {
		t.Fatalf("longest execution %s beyond the Express limit", got)
	}
}
