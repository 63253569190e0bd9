package conformance

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"

	"github.com/mailflow/mailflow/asl"
)

// ValidationResult is the outcome of one validation definition.
type ValidationResult struct {
	ID      string
	Want    string // "accept" or "reject"
	Got     string
	Detail  string // expected diagnostic and ours, for reports
	Matches bool   // verdict matches
	// Diagnostic is "" when every AWS diagnostic (code, location and
	// message) has an equal issue, else the first one missing.
	Diagnostic string
}

var createMsg = regexp.MustCompile(`^Invalid State Machine Definition: '([A-Z_]+): (.*?)(?: at (/[^']*))?'$`)

// awsDiagnostics extracts (code, location, message) triples from an AWS
// answer: ValidateStateMachineDefinition diagnostics or the
// CreateStateMachine error message.
func awsDiagnostics(exp map[string]any) [][3]string {
	var out [][3]string
	if ds, ok := exp["diagnostics"].([]any); ok {
		for _, d := range ds {
			m, _ := d.(map[string]any)
			code, _ := m["code"].(string)
			loc, _ := m["location"].(string)
			msg, _ := m["message"].(string)
			out = append(out, [3]string{code, loc, msg})
		}
		return out
	}
	if msg, ok := exp["message"].(string); ok {
		if sm := createMsg.FindStringSubmatch(msg); sm != nil {
			out = append(out, [3]string{sm[1], sm[3], sm[2]})
		}
	}
	return out
}

// RunAWSValidation checks Validate against AWS's own answers in
// dir/validation/aws.
func RunAWSValidation(dir string) ([]ValidationResult, error) {
	files, err := filepath.Glob(filepath.Join(dir, "validation", "aws", "*.json"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	var out []ValidationResult
	for _, f := range files {
		if filepath.Base(f) == "index.json" {
			continue
		}
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		var rec struct {
			StateMachineType string         `json:"state_machine_type"`
			DefinitionText   string         `json:"definition_text"`
			Expected         map[string]any `json:"expected"`
		}
		if err := json.Unmarshal(b, &rec); err != nil {
			return nil, fmt.Errorf("%s: %w", f, err)
		}
		want := "reject"
		if rec.Expected["result"] == "OK" {
			want = "accept"
		}
		issues := asl.ValidateJSON([]byte(rec.DefinitionText), asl.WithType(rec.StateMachineType))
		got := verdict(issues)
		diag := ""
		for _, want := range awsDiagnostics(rec.Expected) {
			found := false
			for _, is := range issues {
				if is.Code == want[0] && is.Location == want[1] && (is.Message == want[2] || want[0] == "INVALID_JSON_DESCRIPTION") {
					found = true
					break
				}
			}
			if !found && diag == "" {
				diag = fmt.Sprintf("no issue %s at %q: %q", want[0], want[1], want[2])
			}
		}
		out = append(out, ValidationResult{
			ID:         strings.TrimSuffix(filepath.Base(f), ".json"),
			Want:       want,
			Got:        got,
			Matches:    want == got,
			Detail:     fmt.Sprintf("AWS: %s; ours: %v", short(rec.Expected), issues),
			Diagnostic: diag,
		})
	}
	return out, nil
}

func verdict(is asl.Issues) string {
	if is.Err() != nil {
		return "reject"
	}
	return "accept"
}

// RunLabelledValidation checks Validate against asl-validator's labelled
// definitions (valid-*/invalid-*).
func RunLabelledValidation(dir string) ([]ValidationResult, error) {
	files, err := filepath.Glob(filepath.Join(dir, "validation", "asl-validator", "definitions", "*.json"))
	if err != nil {
		return nil, err
	}
	sort.Strings(files)
	var out []ValidationResult
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			return nil, err
		}
		base := filepath.Base(f)
		want := "accept"
		if strings.HasPrefix(base, "invalid-") {
			want = "reject"
		}
		issues := asl.ValidateJSON(b)
		got := verdict(issues)
		out = append(out, ValidationResult{ID: base, Want: want, Got: got, Matches: want == got, Detail: fmt.Sprint(issues)})
	}
	return out, nil
}
