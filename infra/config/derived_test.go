package config_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/mailflow/mailflow/infra/config"
)

// Omitted, the reserved concurrency follows the send rate: two seconds of
// sends at the configured rate, SES's starting 14/s without one, never
// below one execution's Map concurrency; explicit values are kept.
func TestReservedConcurrencyDerived(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		doc  string
		want int
	}{
		{`{"ses": {"identities": ["example.com"], "allowedFrom": ["example.com"]}}`, 28},
		{`{"ses": {"identities": ["example.com"], "allowedFrom": ["example.com"], "maxSendRate": 50}}`, 100},
		{`{"ses": {"identities": ["example.com"], "allowedFrom": ["example.com"], "maxSendRate": 1}}`, 10},
		{`{"ses": {"identities": ["example.com"], "allowedFrom": ["example.com"], "maxSendRate": 1}, "workflow": {"mapConcurrency": 4}}`, 4},
		{`{"ses": {"identities": ["example.com"], "allowedFrom": ["example.com"]}, "concurrency": {"reservedPerTask": 0}}`, 0},
		{`{"ses": {"identities": ["example.com"], "allowedFrom": ["example.com"]}, "concurrency": {"reservedPerTask": 40}}`, 40},
	} {
		cfg, err := config.Parse([]byte(c.doc))
		if err != nil {
			t.Fatalf("%s: %v", c.doc, err)
		}
		if got := cfg.ReservedConcurrency(); got != c.want {
			t.Errorf("%s: ReservedConcurrency() = %d, want %d", c.doc, got, c.want)
		}
	}
}

// The oldest-message alarm outlasts an ordinary retry: with the defaults,
// 900 s of visibility plus two rounds of a 1 s window and a 290 s
// execution, 1,482 s, rounded up to 1,500.
func TestOldestMessageAlarmDerived(t *testing.T) {
	t.Parallel()
	cfg, err := config.Parse([]byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	if got := cfg.OldestMessageAlarmSeconds(); got != 1500 {
		t.Errorf("OldestMessageAlarmSeconds() = %d, want 1500", got)
	}
	if got := cfg.OldestMessageAlarmSeconds(); got <= cfg.Queue.VisibilityTimeoutSeconds {
		t.Errorf("threshold %d does not exceed the visibility timeout %d", got, cfg.Queue.VisibilityTimeoutSeconds)
	}
}

func TestConcurrencyAndAgeRejected(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ doc, field string }{
		{`{"ses": {"identities": ["example.com"], "allowedFrom": ["example.com"]}, "alarms": {"oldestMessageAgeSeconds": 900}}`, "alarms.oldestMessageAgeSeconds"},
		{`{"ses": {"identities": ["example.com"], "allowedFrom": ["example.com"]}, "concurrency": {"reservedPerTask": 5}}`, "concurrency.reservedPerTask"},
		{`{"ses": {"identities": ["example.com"], "allowedFrom": ["example.com"]}, "concurrency": {"reservedPerTask": -1}}`, "concurrency.reservedPerTask"},
		{`{"ses": {"identities": ["example.com"], "allowedFrom": ["example.com"], "sandboxRecipients": ["not an address"]}}`, "ses.sandboxRecipients[0]"},
	} {
		_, err := config.Parse([]byte(c.doc))
		var cerr *config.Error
		if !errors.As(err, &cerr) || !slices.Contains(cerr.Fields(), c.field) {
			t.Errorf("%s: error %v, want one on %s", c.doc, err, c.field)
		}
	}
}
