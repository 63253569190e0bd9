package local_test

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/mailflow/mailflow/local"
)

// TestValidateReportsEveryProblem: a configuration with three mistakes
// reports all three, each naming its field.
func TestValidateReportsEveryProblem(t *testing.T) {
	cfg := local.Config{DataDir: t.TempDir(), BatchSize: 20000, VisibilityTimeout: time.Millisecond, DefaultSender: "nobody@elsewhere.org", AllowedSenders: []string{"example.com"}}
	err := cfg.Validate()
	if err == nil {
		t.Fatal("no error")
	}
	var fields []string
	for _, p := range cfg.Problems() {
		fields = append(fields, p.Field)
	}
	want := []string{local.FieldBatchSize, local.FieldVisibilityTimeout, local.FieldDefaultSender}
	if strings.Join(fields, ",") != strings.Join(want, ",") {
		t.Fatalf("problems in %v, want %v", fields, want)
	}
	for _, w := range []string{"BatchSize 20000 is outside 1..10000", "VisibilityTimeout 1ms is outside 1s..12h", `DefaultSender "nobody@elsewhere.org"`} {
		if !strings.Contains(err.Error(), w) {
			t.Errorf("%q does not say %q", err, w)
		}
	}
	var p local.Problem
	if !errors.As(err, &p) {
		t.Errorf("%v holds no Problem", err)
	}
	if _, err := local.Start(t.Context(), cfg); err == nil || err.Error() != cfg.Validate().Error() {
		t.Errorf("Start: %v, want the problems of Validate", err)
	}
}

// TestValidateZeroIsDefault: a zero field takes its default, unless the
// caller says it was given.
func TestValidateZeroIsDefault(t *testing.T) {
	cfg := local.Config{DataDir: "d"}
	if err := cfg.Validate(); err != nil {
		t.Fatal(err)
	}
	ps := cfg.Problems(local.FieldBatchSize)
	if len(ps) != 1 || ps[0].Field != local.FieldBatchSize {
		t.Fatalf("explicit zero batch size: %v", ps)
	}
	if err := (local.Config{}).Validate(); err == nil || !strings.Contains(err.Error(), "DataDir") {
		t.Errorf("no data directory: %v", err)
	}
}

// TestValidateVisibilityOutlastsTheLease: a visibility timeout not longer
// than the lock lease is refused, naming both, unless it is allowed
// explicitly; Start refuses it the same way.
func TestValidateVisibilityOutlastsTheLease(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		visibility time.Duration
		allow      bool
		want       string // "" for valid
	}{
		{2 * time.Minute, false, "VisibilityTimeout 2m0s must be longer than the lock lease 6m0s: a record would reappear while an execution still holds its lease"},
		{local.LockLease, false, "VisibilityTimeout 6m0s must be longer than the lock lease 6m0s"},
		{local.LockLease + 500*time.Millisecond, false, "VisibilityTimeout 6m0.5s is not a whole number of seconds"},
		{local.LockLease + time.Second, false, ""},
		{2 * time.Second, true, ""},
		{0, false, ""}, // the default, which outlasts the lease
	} {
		cfg := local.Config{DataDir: t.TempDir(), VisibilityTimeout: tc.visibility, AllowShortVisibility: tc.allow}
		err := cfg.Validate()
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%s (allowed %v): %v", tc.visibility, tc.allow, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%s: %v, want %q", tc.visibility, err, tc.want)
		}
	}
	cfg := local.Config{DataDir: t.TempDir(), Addr: "127.0.0.1:0", VisibilityTimeout: 2 * time.Minute}
	_, err := local.Start(t.Context(), cfg)
	if err == nil || !strings.Contains(err.Error(), "must be longer than the lock lease 6m0s") ||
		!strings.Contains(err.Error(), "set AllowShortVisibility to accept it anyway") {
		t.Fatalf("Start with a 2m visibility timeout: %v", err)
	}
	if local.DefaultVisibilityTimeout <= local.LockLease {
		t.Fatalf("the default visibility timeout %s does not outlast the lease %s", local.DefaultVisibilityTimeout, local.LockLease)
	}
}
