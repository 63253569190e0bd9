package infra

import (
	"strings"
	"testing"

	"github.com/mailflow/mailflow/infra/config"
	"github.com/mailflow/mailflow/workflow"
)

// Every log retention the configuration accepts has a CDK value, and no
// other.
func TestRetentionDaysMatchConfig(t *testing.T) {
	cfg := config.Default()
	cfg.SES.Identities = []string{"example.com"}
	cfg.SES.AllowedFrom = []string{"example.com"}
	accepted := 0
	for d := 0; d <= 4000; d++ {
		cfg.Logs.RetentionDays = d
		ok := cfg.Validate() == nil
		if _, mapped := retentionDays[d]; ok != mapped {
			t.Errorf("%d days: config accepts %v, CDK value exists %v", d, ok, mapped)
		}
		if ok {
			accepted++
		}
	}
	if accepted != len(retentionDays) || accepted < 20 {
		t.Errorf("config accepts %d values, %d mapped", accepted, len(retentionDays))
	}
}

func TestApplyRetryBudget(t *testing.T) {
	def := []byte(`{"States": {"A": {"Retry": [
		{"ErrorEquals": ["Mail.Transient"], "MaxAttempts": 2},
		{"ErrorEquals": ["Mail.Throttled", "Other"], "MaxAttempts": 6, "MaxDelaySeconds": 8, "IntervalSeconds": 1}]},
		"B": {"Iterator": {"States": {"C": {"Retry": [{"ErrorEquals": ["Mail.Throttled"]}]}}}}}}`)
	out, err := applyRetryBudget(def, workflow.Throttled, config.RetryBudget{MaxAttempts: 3, MaxDelaySeconds: 5})
	if err != nil {
		t.Fatal(err)
	}
	s := strings.Join(strings.Fields(string(out)), "")
	for _, want := range []string{
		`{"ErrorEquals":["Mail.Transient"],"MaxAttempts":2}`,
		`{"ErrorEquals":["Mail.Throttled","Other"],"IntervalSeconds":1,"MaxAttempts":3,"MaxDelaySeconds":5}`,
		`{"ErrorEquals":["Mail.Throttled"],"MaxAttempts":3,"MaxDelaySeconds":5}`,
	} {
		if !strings.Contains(s, want) {
			t.Errorf("missing %s in\n%s", want, s)
		}
	}
	if _, err := applyRetryBudget([]byte(`{"States": {}}`), workflow.Throttled, config.RetryBudget{}); err == nil ||
		!strings.Contains(err.Error(), "no retrier for Mail.Throttled") {
		t.Errorf("definition without the retrier: %v", err)
	}
	if _, err := applyRetryBudget([]byte(`{`), workflow.Throttled, config.RetryBudget{}); err == nil {
		t.Error("invalid definition accepted")
	}
}

func TestFromAddressPatterns(t *testing.T) {
	got := fromAddressPatterns([]string{"Billing@Example.com", "example.org"})
	if len(got) != 2 || *got[0] != "billing@example.com" || *got[1] != "*@example.org" {
		t.Errorf("got %v %v", *got[0], *got[1])
	}
}
