package infra

import (
	"testing"

	"github.com/mailflow/mailflow/infra/config"
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

func TestFromAddressPatterns(t *testing.T) {
	got := fromAddressPatterns([]string{"Billing@Example.com", "example.org"})
	if len(got) != 2 || *got[0] != "billing@example.com" || *got[1] != "*@example.org" {
		t.Errorf("got %v %v", *got[0], *got[1])
	}
}
