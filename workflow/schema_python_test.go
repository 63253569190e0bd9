package workflow_test

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/mailflow/mailflow/workflow"
)

// checkWithPython validates each body against the schema with Python's
// jsonschema (regular expressions of Python's re rather than Go's RE2) and
// returns the verdicts, or skips when it is not installed.
const checkWithPython = `
import json, sys
import jsonschema
schema = json.load(open(sys.argv[1]))
cases = json.load(open(sys.argv[2]))
v = jsonschema.Draft202012Validator(schema)
print(json.dumps([v.is_valid(c) for c in cases]))
`

// TestSchemaAgreesWithParseInPython runs the table of TestSchemaAgreesWithParse
// through a second JSON Schema implementation, so that the schema's patterns
// mean the same outside Go.
func TestSchemaAgreesWithParseInPython(t *testing.T) {
	t.Parallel()
	if exec.Command("python3", "-c", "import jsonschema").Run() != nil {
		// The machines this runs on have it; a skip would pass unchecked.
		t.Fatal("python3 with the jsonschema module is required (pip install jsonschema, or Debian's python3-jsonschema)")
	}
	dir := t.TempDir()
	schema := filepath.Join(dir, "schema.json")
	if err := os.WriteFile(schema, workflow.MessageSchemaV1, 0o600); err != nil {
		t.Fatal(err)
	}
	cases := loadCases(t)
	bodies := make([]json.RawMessage, len(cases))
	for i, c := range cases {
		bodies[i] = c.body(t)
	}
	b, err := json.Marshal(bodies)
	if err != nil {
		t.Fatal(err)
	}
	table := filepath.Join(dir, "cases.json")
	if err := os.WriteFile(table, b, 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd := exec.Command("python3", "-c", checkWithPython, schema, table)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3: %v\n%s", err, stderr.Bytes())
	}
	var valid []bool
	if err := json.Unmarshal(out, &valid); err != nil || len(valid) != len(cases) {
		t.Fatalf("python3 said %s (%v)", out, err)
	}
	for i, c := range cases {
		switch {
		case c.Valid && !valid[i]:
			t.Errorf("%s: Python's jsonschema rejects a valid message", c.Name)
		case !c.Valid && c.GoOnly == "" && valid[i]:
			t.Errorf("%s: Python's jsonschema accepts a message Parse rejects for %s", c.Name, c.Field)
		case !c.Valid && c.GoOnly != "" && !valid[i]:
			t.Errorf("%s: Python's jsonschema rejects a Go-only case (%s)", c.Name, c.GoOnly)
		}
	}
}
