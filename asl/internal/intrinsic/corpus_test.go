package intrinsic

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math/big"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The AWS-recorded conformance corpus, when present beside the repository.
func corpusDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("ASL_CONFORMANCE_DIR")
	if dir == "" {
		dir = filepath.Join("..", "..", "..", "..", "shared", "asl-conformance")
	}
	if _, err := os.Stat(filepath.Join(dir, "cases")); err != nil {
		t.Fatalf("conformance corpus not found at %s (set ASL_CONFORMANCE_DIR): %v", dir, err)
	}
	return dir
}

func readJSON(t *testing.T, path string) any {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return v
}

type corpusCase struct {
	id       string
	features []string
	def      map[string]any
	input    any
	expected map[string]any
}

func loadCases(t *testing.T) []corpusCase {
	dir := corpusDir(t)
	entries, err := os.ReadDir(filepath.Join(dir, "cases"))
	if err != nil {
		t.Fatal(err)
	}
	var out []corpusCase
	for _, e := range entries {
		base := filepath.Join(dir, "cases", e.Name())
		meta := readJSON(t, filepath.Join(base, "meta.json")).(map[string]any)
		var feats []string
		for _, f := range meta["features"].([]any) {
			feats = append(feats, f.(string))
		}
		if slices.Contains(feats, "query:jsonata") {
			continue
		}
		def, _ := readJSON(t, filepath.Join(base, "definition.json")).(map[string]any)
		out = append(out, corpusCase{
			id:       e.Name(),
			features: feats,
			def:      def,
			input:    readJSON(t, filepath.Join(base, "input.json")),
			expected: readJSON(t, filepath.Join(base, "expected.json")).(map[string]any),
		})
	}
	return out
}

// intrinsicStrings collects every "key.$", ErrorPath or CausePath value that
// starts like an intrinsic call. A Pass state's Result is literal data.
func intrinsicStrings(v any, out *[]string) {
	switch x := v.(type) {
	case map[string]any:
		for k, val := range x {
			if k == "Result" {
				continue
			}
			if s, ok := val.(string); ok && (strings.HasSuffix(k, ".$") || k == "ErrorPath" || k == "CausePath") && IsIntrinsic(s) {
				*out = append(*out, s)
			}
			intrinsicStrings(val, out)
		}
	case []any:
		for _, e := range x {
			intrinsicStrings(e, out)
		}
	}
}

// Every intrinsic call in a definition AWS ran must parse.
func TestCorpusDefinitionsParse(t *testing.T) {
	t.Parallel()
	n := 0
	for _, c := range loadCases(t) {
		var exprs []string
		intrinsicStrings(c.def, &exprs)
		for _, s := range exprs {
			n++
			if _, err := Parse(s); err != nil {
				t.Errorf("%s: Parse(%q): %v", c.id, s, err)
			}
		}
	}
	t.Logf("%d intrinsic expressions parsed", n)
}

// Definitions AWS rejected for an invalid intrinsic call must contain one
// that fails to parse; accepted ones must parse.
func TestCorpusValidation(t *testing.T) {
	t.Parallel()
	dir := filepath.Join(corpusDir(t), "validation", "aws")
	files, _ := filepath.Glob(filepath.Join(dir, "*.json"))
	for _, f := range files {
		doc, ok := readJSON(t, f).(map[string]any)
		if !ok || doc["definition"] == nil {
			continue
		}
		var exprs []string
		intrinsicStrings(doc["definition"], &exprs)
		if len(exprs) == 0 {
			continue
		}
		exp, _ := doc["expected"].(map[string]any)
		msg, _ := exp["message"].(string)
		rejected := strings.Contains(msg, "valid intrinsic function call")
		failed := 0
		for _, s := range exprs {
			if _, err := Parse(s); err != nil {
				failed++
			}
		}
		if rejected && failed == 0 {
			t.Errorf("%s: AWS rejected %q but all parse", filepath.Base(f), exprs)
		}
		if !rejected && failed > 0 {
			t.Errorf("%s: AWS accepted %q but parsing failed", filepath.Base(f), exprs)
		}
	}
}

// Single Pass states with Parameters are evaluated here directly and their
// output compared with AWS's.
func TestCorpusPassParameters(t *testing.T) {
	t.Parallel()
	ran := 0
	for _, c := range loadCases(t) {
		if !hasIntrinsicFeature(c.features) {
			continue
		}
		params, ok := singlePassParameters(c.def)
		if !ok || c.expected["status"] != "SUCCEEDED" {
			continue
		}
		ctx := map[string]any{
			"Execution": map[string]any{
				"Id":    "arn:aws:states:us-east-1:111111111111:execution:sm:exec",
				"Input": c.input,
				"Name":  "exec",
			},
			"StateMachine": map[string]any{
				"Id":   "arn:aws:states:us-east-1:111111111111:stateMachine:sm",
				"Name": "sm",
			},
		}
		resolve := func(p string) (any, error) {
			if strings.HasPrefix(p, "$$") {
				return testPath(ctx, p[1:])
			}
			return testPath(c.input, p)
		}
		out := map[string]any{}
		for k, v := range params {
			s, isStr := v.(string)
			if !strings.HasSuffix(k, ".$") || !isStr {
				out[k] = v
				continue
			}
			key := strings.TrimSuffix(k, ".$")
			if !IsIntrinsic(s) {
				r, err := resolve(s)
				if err != nil {
					t.Fatalf("%s: %v", c.id, err)
				}
				out[key] = r
				continue
			}
			e, err := Parse(s)
			if err != nil {
				t.Errorf("%s: Parse(%q): %v", c.id, s, err)
				continue
			}
			r, err := e.Eval(resolve, Env{Random: func() float64 { return 0.5 }, UUID: func() string { return "u" }})
			if err != nil {
				t.Errorf("%s: Eval(%q): %v", c.id, s, err)
				continue
			}
			out[key] = r
		}
		ran++
		if why := matches(c.expected["output"], any(out)); why != "" {
			got, _ := json.Marshal(out)
			t.Errorf("%s: output %s differs from AWS: %s", c.id, got, why)
		}
	}
	if ran == 0 {
		t.Fatal("no corpus case evaluated")
	}
	t.Logf("%d Pass-state cases evaluated", ran)
}

func hasIntrinsicFeature(f []string) bool {
	for _, x := range f {
		if strings.HasPrefix(x, "intrinsic:") {
			return true
		}
	}
	return false
}

func singlePassParameters(def map[string]any) (map[string]any, bool) {
	states, _ := def["States"].(map[string]any)
	if len(states) != 1 {
		return nil, false
	}
	for _, s := range states {
		st, _ := s.(map[string]any)
		if st["Type"] != "Pass" {
			return nil, false
		}
		for k := range st {
			if k != "Type" && k != "Parameters" && k != "End" {
				return nil, false
			}
		}
		p, ok := st["Parameters"].(map[string]any)
		return p, ok
	}
	return nil, false
}

var (
	bareWildcards = map[string]bool{"RandomNumberGenerated": true, "timestamp": true, "date": true}
	tokenRe       = regexp.MustCompile(`<[A-Za-z0-9_-]+(?::\d+)?>`)
)

// matches compares like the corpus README: semantic JSON, numbers by value,
// wildcards in expected strings.
func matches(want, got any) string {
	switch w := want.(type) {
	case map[string]any:
		g, ok := got.(map[string]any)
		if !ok || len(g) != len(w) {
			return fmt.Sprintf("want object %v, got %v", w, got)
		}
		for k, wv := range w {
			gv, ok := g[k]
			if !ok {
				return "missing key " + k
			}
			if why := matches(wv, gv); why != "" {
				return k + ": " + why
			}
		}
		return ""
	case []any:
		g, ok := got.([]any)
		if !ok || len(g) != len(w) {
			return fmt.Sprintf("want array %v, got %v", w, got)
		}
		for i := range w {
			if why := matches(w[i], g[i]); why != "" {
				return fmt.Sprintf("[%d]: %s", i, why)
			}
		}
		return ""
	case string:
		if bareWildcards[w] {
			return ""
		}
		g, ok := got.(string)
		if !ok {
			return fmt.Sprintf("want string %q, got %v", w, got)
		}
		if tokenRe.MatchString(w) {
			parts := tokenRe.Split(w, -1)
			for i := range parts {
				parts[i] = regexp.QuoteMeta(parts[i])
			}
			if regexp.MustCompile("^" + strings.Join(parts, ".+") + "$").MatchString(g) {
				return ""
			}
		}
		if w != g {
			return fmt.Sprintf("want %q, got %q", w, g)
		}
		return ""
	case json.Number:
		gn, ok := got.(json.Number)
		if !ok {
			return fmt.Sprintf("want number %s, got %v", w, got)
		}
		a, _, _ := big.ParseFloat(string(w), 10, 200, big.ToNearestEven)
		b, _, _ := big.ParseFloat(string(gn), 10, 200, big.ToNearestEven)
		if a == nil || b == nil || a.Cmp(b) != 0 {
			return fmt.Sprintf("want %s, got %s", w, gn)
		}
		return ""
	}
	if want != got {
		return fmt.Sprintf("want %v, got %v", want, got)
	}
	return ""
}

// asl-validator's accepted definitions must parse; it also rejects literal
// arguments of the wrong type, as Parse does.
func TestASLValidatorDefinitions(t *testing.T) {
	t.Parallel()
	files, _ := filepath.Glob(filepath.Join(corpusDir(t), "validation", "asl-validator", "definitions", "*.json"))
	rejected := 0
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		var def any
		if json.Unmarshal(b, &def) != nil {
			continue
		}
		var exprs []string
		intrinsicStrings(def, &exprs)
		name := filepath.Base(f)
		for _, s := range exprs {
			_, err := Parse(s)
			switch {
			case err != nil && strings.HasPrefix(name, "valid-"):
				t.Errorf("%s: Parse(%q): %v", name, s, err)
			case err != nil:
				rejected++
			}
		}
	}
	if rejected == 0 {
		t.Error("no invalid intrinsic call among the labelled-invalid definitions was rejected")
	}
}
