package conformance

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func ev(id, prev any, typ string) map[string]any {
	return map[string]any{"id": id, "previousEventId": prev, "type": typ}
}

// Rule 8 of the corpus README, including its quirks.
func TestNormaliseParallel(t *testing.T) {
	t.Parallel()
	in := []any{
		ev(1, 0, "ExecutionStarted"), ev(2, 0, "ParallelStateEntered"), ev(3, 2, "ParallelStateStarted"),
		ev(4, 3, "PassStateEntered"), ev(5, 4, "PassStateExited"),
		ev(6, 5, "ParallelStateSucceeded"), ev(7, 5, "ParallelStateExited"), ev(8, 7, "ExecutionSucceeded"),
	}
	out := normaliseParallel(in)
	var types []string
	for _, e := range out {
		m := e.(map[string]any)
		types = append(types, m["type"].(string))
		if m["type"] == "PassStateEntered" && m["id"] != nil {
			t.Error("event inside the region keeps its id")
		}
	}
	want := "ExecutionStarted ParallelStateEntered ParallelStateStarted PassStateEntered PassStateExited ParallelStateExited ExecutionSucceeded"
	if strings.Join(types, " ") != want {
		t.Errorf("got %v", types)
	}
}

func TestWildcards(t *testing.T) {
	t.Parallel()
	w := newWildcards([]string{"<uuid:1>", "start-time"})
	for _, tc := range []struct {
		exp, got string
		want     bool
	}{
		{"start-time", "2024-01-01T00:00:00Z", true},
		{"arn:aws:states:us-east-1:111111111111:execution:<ArnPart_0idx>:<ExecArnPart_0idx>", "arn:aws:states:us-east-1:111111111111:execution:sm:exec", true},
		{"arn:aws:states:us-east-1:111111111111:execution:<ArnPart_0idx>:<ExecArnPart_0idx>", "arn:aws:states:eu-west-1:111111111111:execution:sm:exec", false},
		{"id <uuid:1>", "id ", false},
		{"plain", "plain", true},
	} {
		if got := w.matchString(tc.exp, tc.got); got != tc.want {
			t.Errorf("%q vs %q = %v", tc.exp, tc.got, got)
		}
	}
	if d := w.diff("", map[string]any{"n": json.Number("1.0")}, map[string]any{"n": json.Number("1")}); d != "" {
		t.Errorf("numbers by value: %s", d)
	}
	if d := w.diffCause(map[string]any{"a": json.Number("1")}, `{"a": 1}`); d != "" {
		t.Errorf("parsed cause: %s", d)
	}
}

// The command runs any directory in the corpus format.
func TestMainOnADirectory(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	c := filepath.Join(dir, "cases", "pass.one")
	if err := os.MkdirAll(c, 0o755); err != nil {
		t.Fatal(err)
	}
	files := map[string]string{
		"definition.json": `{"StartAt":"P","States":{"P":{"Type":"Pass","Result":{"ok":true},"End":true}}}`,
		"input.json":      `{}`,
		"expected.json": `{"status":"SUCCEEDED","output":{"ok":true},"events":[
			{"id":1,"previousEventId":0,"type":"ExecutionStarted","input":{}},
			{"id":2,"previousEventId":0,"type":"PassStateEntered","name":"P","input":{}},
			{"id":3,"previousEventId":2,"type":"PassStateExited","name":"P","output":{"ok":true}},
			{"id":4,"previousEventId":3,"type":"ExecutionSucceeded","output":{"ok":true}}]}`,
		"stubs.json": `{"functions":{},"notes":[]}`,
		"meta.json":  `{"id":"pass.one","state_machine_type":"STANDARD","features":["state:Pass"],"wildcards":[]}`,
	}
	for name, body := range files {
		if err := os.WriteFile(filepath.Join(c, name), []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var out, errOut bytes.Buffer
	if code := Main([]string{dir}, &out, &errOut); code != 0 {
		t.Fatalf("exit %d: %s %s", code, out.String(), errOut.String())
	}
	if !strings.HasSuffix(out.String(), "1 passed, 0 failed\n") || !strings.HasPrefix(out.String(), "pass.one\tpass") {
		t.Errorf("output %q", out.String())
	}
}
