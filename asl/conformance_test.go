package asl_test

import (
	"bufio"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/mailflow/mailflow/asl/internal/conformance"
)

// conformanceDir finds the AWS-recorded corpus: ASL_CONFORMANCE_DIR, else
// ../shared/asl-conformance from the repository root.
func conformanceDir(t *testing.T) string {
	t.Helper()
	if d := os.Getenv("ASL_CONFORMANCE_DIR"); d != "" {
		return d
	}
	d, err := filepath.Abs(filepath.Join("..", "..", "shared", "asl-conformance"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(d); err != nil {
		t.Fatalf("conformance corpus not found at %s (set ASL_CONFORMANCE_DIR): %v", d, err)
	}
	return d
}

// readList reads "id" or "id<TAB>reason" lines; # starts a comment.
func readList(t *testing.T, name string) map[string]string {
	t.Helper()
	f, err := os.Open(filepath.Join("testdata", name))
	if err != nil {
		if os.IsNotExist(err) {
			return map[string]string{}
		}
		t.Fatal(err)
	}
	defer f.Close()
	out := map[string]string{}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		id, reason, _ := strings.Cut(line, "\t")
		out[strings.TrimSpace(id)] = strings.TrimSpace(reason)
	}
	return out
}

func writeList(t *testing.T, name, header string, lines []string) {
	t.Helper()
	sort.Strings(lines)
	body := header + strings.Join(lines, "\n") + "\n"
	if err := os.WriteFile(filepath.Join("testdata", name), []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestConformance runs every corpus case. A case listed as passing must
// pass; a failing case must be listed as unsupported with a reason. With
// ASL_CONFORMANCE_UPDATE=1 the lists are rewritten from this run.
func TestConformance(t *testing.T) {
	dir := conformanceDir(t)
	cases, err := conformance.LoadCases(dir)
	if err != nil {
		t.Fatal(err)
	}
	passing := readList(t, "conformance-passing.txt")
	unsupported := readList(t, "conformance-unsupported.txt")
	passed := map[string]bool{}
	diffs := map[string]string{}
	nonJSONata, nonJSONataPass := 0, 0
	jsonata, jsonataPass := 0, 0
	for _, c := range cases {
		o := c.Run()
		if o.Pass {
			passed[c.ID] = true
		} else {
			diffs[c.ID] = o.Diff
		}
		if c.Meta.HasFeature("query:jsonata") {
			jsonata++
			if o.Pass {
				jsonataPass++
			}
		} else {
			nonJSONata++
			if o.Pass {
				nonJSONataPass++
			}
		}
	}
	t.Logf("per-feature results:\n%s", conformance.FeatureTable(cases, passed))
	t.Logf("total: %d/%d cases pass; without query:jsonata: %d/%d (%.1f%%); query:jsonata: %d/%d (%.1f%%)",
		len(passed), len(cases), nonJSONataPass, nonJSONata, 100*float64(nonJSONataPass)/float64(max(nonJSONata, 1)),
		jsonataPass, jsonata, 100*float64(jsonataPass)/float64(max(jsonata, 1)))

	if os.Getenv("ASL_CONFORMANCE_UPDATE") == "1" {
		var pl, ul []string
		for _, c := range cases {
			if passed[c.ID] {
				pl = append(pl, c.ID)
				continue
			}
			reason := unsupported[c.ID]
			if reason == "" {
				reason = "TODO: " + oneLine(diffs[c.ID])
			}
			ul = append(ul, c.ID+"\t"+reason)
		}
		writeList(t, "conformance-passing.txt", "# Corpus cases that pass; a listed case that fails fails TestConformance.\n", pl)
		writeList(t, "conformance-unsupported.txt", "# Corpus cases that do not pass yet, with the reason.\n", ul)
		return
	}
	for _, c := range cases {
		_, isPassing := passing[c.ID]
		_, isUnsupported := unsupported[c.ID]
		switch {
		case isPassing && !passed[c.ID]:
			t.Errorf("%s: listed as passing, now fails: %s", c.ID, diffs[c.ID])
		case !passed[c.ID] && !isUnsupported:
			t.Errorf("%s: fails and is not listed as unsupported: %s", c.ID, diffs[c.ID])
		case passed[c.ID] && !isPassing:
			t.Logf("%s: passes now; add it to testdata/conformance-passing.txt", c.ID)
		}
	}
	if nonJSONataPass*100 < nonJSONata*95 {
		t.Errorf("only %d of %d non-JSONata cases pass (target 95%%)", nonJSONataPass, nonJSONata)
	}
	if jsonataPass*100 < jsonata*90 {
		t.Errorf("only %d of %d query:jsonata cases pass (target 90%%)", jsonataPass, jsonata)
	}
}

func oneLine(s string) string {
	s = strings.ReplaceAll(s, "\n", " ")
	if len(s) > 200 {
		s = s[:200]
	}
	return s
}

// TestChoiceCases runs every row of the Choice operator matrices.
func TestChoiceCases(t *testing.T) {
	rows, err := conformance.RunChoiceCases(conformanceDir(t))
	if err != nil {
		t.Fatal(err)
	}
	pass := 0
	for _, r := range rows {
		if r.Outcome.Pass {
			pass++
		} else {
			t.Logf("%s: %s", r.ID, r.Outcome.Diff)
		}
	}
	t.Logf("choice rows: %d/%d pass", pass, len(rows))
	if pass*100 < len(rows)*95 {
		t.Errorf("only %d of %d choice rows pass (target 95%%)", pass, len(rows))
	}
}

// TestValidationAWS reproduces every accept/reject answer AWS gave.
func TestValidationAWS(t *testing.T) {
	res, err := conformance.RunAWSValidation(conformanceDir(t))
	if err != nil {
		t.Fatal(err)
	}
	exact := 0
	for _, r := range res {
		if !r.Matches {
			t.Errorf("%s: AWS %s, Validate %s: %s", r.ID, r.Want, r.Got, r.Detail)
		}
		if r.Diagnostic == "" {
			exact++
		} else {
			t.Errorf("%s: %s", r.ID, r.Diagnostic)
		}
	}
	t.Logf("validation/aws: %d answers reproduced; %d with AWS's code, location and message", len(res), exact)
}

// awsAccepts lists asl-validator "invalid" definitions that AWS accepts,
// with the AWS evidence; Validate follows AWS for these.
var awsAccepts = map[string]string{}

// awsRejects lists asl-validator "valid" definitions that AWS rejects,
// with the AWS evidence; Validate follows AWS for these.
var awsRejects = map[string]string{
	"valid-task-credentials.json": "validation/aws/credentials.credentials_base.invalid_credentials_field.*: " +
		"AWS rejects Credentials without RoleArn (SCHEMA_VALIDATION_FAILED: The field 'RoleArn' is required but was missing)",
}

// TestValidationLabelled classifies asl-validator's labelled definitions.
func TestValidationLabelled(t *testing.T) {
	res, err := conformance.RunLabelledValidation(conformanceDir(t))
	if err != nil {
		t.Fatal(err)
	}
	ok := 0
	for _, r := range res {
		if r.Matches {
			ok++
			continue
		}
		if ev, listed := awsRejects[r.ID]; listed && r.Got == "reject" {
			t.Logf("%s: rejected as AWS does (%s)", r.ID, ev)
			ok++
			continue
		}
		if ev, listed := awsAccepts[r.ID]; listed && r.Got == "accept" {
			t.Logf("%s: accepted as AWS does (%s)", r.ID, ev)
			ok++
			continue
		}
		t.Errorf("%s: labelled %s, Validate %s: %s", r.ID, r.Want, r.Got, r.Detail)
	}
	t.Logf("asl-validator: %d/%d classified as labelled or as AWS answers", ok, len(res))
}

// TestReadmeFeatureTable keeps README.md's per-tag table honest.
func TestReadmeFeatureTable(t *testing.T) {
	dir := conformanceDir(t)
	cases, err := conformance.LoadCases(dir)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(b), "### Conformance by feature tag")
	if !ok {
		t.Fatal("README.md has no per-tag table")
	}
	status := map[string]string{}
	for _, line := range strings.Split(table, "\n") {
		cells := strings.Split(line, "|")
		if len(cells) < 4 || strings.TrimSpace(cells[1]) == "tag" || strings.HasPrefix(strings.TrimSpace(cells[1]), "---") {
			continue
		}
		status[strings.TrimSpace(cells[1])] = strings.TrimSpace(cells[2])
	}
	unsupported := readList(t, "conformance-unsupported.txt")
	failing := map[string]int{}
	tags := map[string]bool{}
	for _, c := range cases {
		o := c.Run()
		for _, f := range c.Meta.Features {
			tags[f] = true
			if o.Pass {
				continue
			}
			failing[f]++
			if strings.HasPrefix(status[f], "supported") {
				if _, listed := unsupported[c.ID]; !listed {
					t.Errorf("README says %s is supported, but %s fails", f, c.ID)
				}
			}
		}
	}
	for tag := range tags {
		st, ok := status[tag]
		switch {
		case !ok:
			t.Errorf("README.md lacks the feature tag %s", tag)
		case strings.HasPrefix(st, "not yet") && failing[tag] == 0:
			t.Errorf("README says %s is not yet supported, but every case passes", tag)
		}
	}
}

// TestConformanceConcurrent runs the passing cases on both engines, the
// default one (Map iterations and Parallel branches on goroutines, as
// TestConformance runs them) and Options.Sequential: results and
// histories must be the same, so no recorded case depends on which runs.
func TestConformanceConcurrent(t *testing.T) {
	cases, err := conformance.LoadCases(conformanceDir(t))
	if err != nil {
		t.Fatal(err)
	}
	passing := readList(t, "conformance-passing.txt")
	for _, c := range cases {
		if _, ok := passing[c.ID]; !ok {
			continue
		}
		if o := c.RunSequential(); !o.Pass {
			t.Errorf("sequential %s: %s", c.ID, o.Diff)
		}
	}
}
