package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/jsii-runtime-go"

	"github.com/mailflow/mailflow/infra"
)

// runApp runs the app as the CDK CLI would: context and output directory
// through the environment.
func runApp(t *testing.T, context map[string]string) (string, error) {
	t.Helper()
	out := t.TempDir()
	b, err := json.Marshal(context)
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("CDK_CONTEXT_JSON", string(b))
	t.Setenv("CDK_OUTDIR", out)
	t.Setenv("MAILFLOW_CONFIG", "")
	return out, run()
}

func zips(t *testing.T, tasks ...string) string {
	t.Helper()
	dir := t.TempDir()
	for _, task := range tasks {
		if err := os.WriteFile(filepath.Join(dir, task+".zip"), []byte("PK\x05\x06"+strings.Repeat("\x00", 18)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestRunErrors(t *testing.T) {
	const example = "../mailflow.example.json"
	bad := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(bad, []byte(`{"ses": {"identities": ["example.com"], "allowedFrom": ["example.com"]}, "lock": {"leaseSeconds": 60}}`), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		context map[string]string
		want    []string
	}{
		{"no configuration", map[string]string{}, []string{"-c config="}},
		{"invalid configuration", map[string]string{"config": bad}, []string{bad, "lock.leaseSeconds"}},
		{"missing zips", map[string]string{"config": example, "lambdaDir": zips(t, infra.TaskSend)}, []string{"acquire-lock.zip", "make lambdas"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := runApp(t, tc.context)
			if err == nil {
				t.Fatal("accepted")
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q: %v", w, err)
				}
			}
		})
	}
}

func TestRunSynthesizes(t *testing.T) {
	out, err := runApp(t, map[string]string{"config": "../mailflow.example.json", "lambdaDir": zips(t, infra.Tasks()...)})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(out, "mailflow.template.json"))
	if err != nil {
		t.Fatal(err)
	}
	var tmpl struct {
		Resources map[string]struct{ Type string }
	}
	if err := json.Unmarshal(b, &tmpl); err != nil {
		t.Fatal(err)
	}
	count := map[string]int{}
	for _, r := range tmpl.Resources {
		count[r.Type]++
	}
	if count["AWS::Lambda::Function"] != 7 || count["AWS::Pipes::Pipe"] != 1 || count["AWS::StepFunctions::StateMachine"] != 1 ||
		count["AWS::Lambda::EventSourceMapping"] != 1 || count["AWS::Events::Rule"] != 1 || count["AWS::Events::EventBus"] != 1 ||
		count["AWS::IAM::ManagedPolicy"] != 1 || count["AWS::KMS::Key"] != 2 {
		t.Errorf("resources: %v", count)
	}
	// The example is complete: it configures a Slack channel.
	if count["AWS::Chatbot::SlackChannelConfiguration"] != 1 {
		t.Errorf("resources: %v", count)
	}
}

func TestMain(m *testing.M) {
	code := m.Run()
	// Stop the jsii runtime, which also removes its temporary directory.
	jsii.Close()
	os.Exit(code)
}

// Context values are read with TryGetContext: one of the wrong type is
// named, not ignored.
func TestRunRejectsAContextOfTheWrongType(t *testing.T) {
	t.Setenv("CDK_CONTEXT_JSON", `{"config": 5}`)
	t.Setenv("CDK_OUTDIR", t.TempDir())
	t.Setenv("MAILFLOW_CONFIG", "")
	err := run()
	if err == nil || !strings.Contains(err.Error(), `context "config" must be a string`) {
		t.Fatalf("run() = %v", err)
	}
}
