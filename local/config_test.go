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
