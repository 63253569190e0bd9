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
	cases := loadCases(t)
	bodies := make([]json.RawMessage, len(cases))
	for i, c := range cases {
		bodies[i] = c.body(t)
	}
	valid := pythonValid(t, workflow.MessageSchemaV1, bodies)
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

// pythonValid asks Python's jsonschema whether each body is valid under
// schema. The bodies are written as they are, not re-encoded, so duplicate
// keys reach Python.
func pythonValid(t *testing.T, schema []byte, bodies []json.RawMessage) []bool {
	t.Helper()
	if exec.Command("python3", "-c", "import jsonschema").Run() != nil {
		// The machines this runs on have it; a skip would pass unchecked.
		t.Fatal("python3 with the jsonschema module is required (pip install jsonschema, or Debian's python3-jsonschema)")
	}
	dir := t.TempDir()
	schemaFile, table := filepath.Join(dir, "schema.json"), filepath.Join(dir, "cases.json")
	var b bytes.Buffer
	b.WriteString("[")
	for i, body := range bodies {
		if i > 0 {
			b.WriteString(",")
		}
		b.Write(body)
	}
	b.WriteString("]")
	if err := os.WriteFile(schemaFile, schema, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(table, b.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	var stderr bytes.Buffer
	cmd := exec.Command("python3", "-c", checkWithPython, schemaFile, table)
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python3: %v\n%s", err, stderr.Bytes())
	}
	var valid []bool
	if err := json.Unmarshal(out, &valid); err != nil || len(valid) != len(bodies) {
		t.Fatalf("python3 said %s (%v)", out, err)
	}
	return valid
}
