package infra_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"

	"github.com/mailflow/mailflow/infra"
	"github.com/mailflow/mailflow/infra/config"
)

// synthesized is one stack synthesized to a cloud assembly on disk: the
// template as CDK's assertions see it and as plain JSON, the resolver for
// tokens of the stack's constructs, and the assembly's messages.
type synthesized struct {
	cfg      *config.Config
	stack    awscdk.Stack
	pipeline infra.MailPipeline
	outdir   string
	template assertions.Template
	doc      map[string]any    // the template, decoded
	messages []message         // metadata entries of the stack (cdk-nag findings among them)
	paths    map[string]string // construct path of each logical id
}

type message struct {
	path, level, text string
}

var (
	synthMu    sync.Mutex
	synthCache = map[string]*synthesized{}
	// tempDirs outlive single tests (the syntheses are shared), so TestMain
	// removes them.
	tempDirs []string
)

func TestMain(m *testing.M) {
	code := m.Run()
	// Stop the jsii runtime, which also removes its temporary directory.
	jsii.Close()
	for _, d := range tempDirs {
		os.RemoveAll(d)
	}
	os.Exit(code)
}

// sharedTempDir is a directory that lives until the test binary ends.
func sharedTempDir(t *testing.T, pattern string) string {
	t.Helper()
	dir, err := os.MkdirTemp("", pattern)
	if err != nil {
		t.Fatal(err)
	}
	tempDirs = append(tempDirs, dir)
	return dir
}

// synth builds and synthesizes the stack for the configuration text once
// per test binary, with the AwsSolutions checks applied, and shares the
// result between tests: each jsii synthesis costs seconds.
func synth(t *testing.T, name, cfgJSON string) *synthesized {
	t.Helper()
	synthMu.Lock()
	defer synthMu.Unlock()
	if s, ok := synthCache[name]; ok {
		if s == nil {
			t.Fatalf("synthesis %s failed earlier", name)
		}
		return s
	}
	synthCache[name] = nil
	start := time.Now()
	cfg, err := config.Parse([]byte(cfgJSON))
	if err != nil {
		t.Fatal(err)
	}
	outdir := sharedTempDir(t, "mailflow-cdk-"+name+"-")
	// The feature flags of cdk.json, as the app applies them: the tested
	// template is the deployed one.
	flags, err := infra.CdkJSONContext("../cdk.json")
	if err != nil {
		t.Fatal(err)
	}
	app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(outdir), Context: &flags})
	stack, pipeline, err := infra.NewMailflowStack(app, &infra.MailflowStackProps{Config: cfg, Code: testCode(t)})
	if err != nil {
		t.Fatal(err)
	}
	awscdk.Aspects_Of(app).Add(cdknag.NewAwsSolutionsChecks(&cdknag.NagPackProps{Verbose: jsii.Bool(true)}), nil)
	assembly := app.Synth(nil)

	s := &synthesized{cfg: cfg, stack: stack, pipeline: pipeline, outdir: *assembly.Directory()}
	raw, err := os.ReadFile(filepath.Join(s.outdir, *stack.TemplateFile()))
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, &s.doc); err != nil {
		t.Fatal(err)
	}
	s.template = assertions.Template_FromJSON(&s.doc, nil)
	s.messages, s.paths = readMetadata(t, s.outdir, *stack.ArtifactId())
	synthCache[name] = s
	t.Logf("synthesized %s in %v", name, time.Since(start).Round(time.Millisecond))
	return s
}

// readMetadata returns the metadata messages (info, warning, error) the
// cloud assembly records for the stack's constructs, from the manifest and
// from the stack's additional metadata file, and the construct path of
// each logical id.
func readMetadata(t *testing.T, outdir, artifact string) ([]message, map[string]string) {
	t.Helper()
	type entries map[string][]struct {
		Type string `json:"type"`
		Data any    `json:"data"`
	}
	var manifest struct {
		Artifacts map[string]struct {
			Metadata               entries `json:"metadata"`
			AdditionalMetadataFile string  `json:"additionalMetadataFile"`
		} `json:"artifacts"`
	}
	readJSON(t, filepath.Join(outdir, "manifest.json"), &manifest)
	art := manifest.Artifacts[artifact]
	all := []entries{art.Metadata}
	if art.AdditionalMetadataFile != "" {
		var more entries
		readJSON(t, filepath.Join(outdir, art.AdditionalMetadataFile), &more)
		all = append(all, more)
	}
	var out []message
	paths := map[string]string{}
	for _, md := range all {
		for path, es := range md {
			for _, e := range es {
				if id, ok := e.Data.(string); ok && e.Type == "aws:cdk:logicalId" {
					paths[id] = strings.TrimPrefix(path, "/")
				}
				level, ok := strings.CutPrefix(e.Type, "aws:cdk:")
				if !ok || (level != "info" && level != "warning" && level != "error") {
					continue
				}
				text, _ := e.Data.(string)
				out = append(out, message{path: path, level: level, text: text})
			}
		}
	}
	return out, paths
}

func readJSON(t *testing.T, path string, v any) {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(raw, v); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
}

// testCode gives each task a small asset directory whose bootstrap names
// the task, so the tests can tell which code each function got.
func testCode(t *testing.T) map[string]awslambda.Code {
	t.Helper()
	base := sharedTempDir(t, "mailflow-code-")
	code := map[string]awslambda.Code{}
	for _, task := range infra.Tasks() {
		dir := filepath.Join(base, task)
		if err := os.MkdirAll(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "bootstrap"), []byte("#!/bin/sh\n# "+task+"\n"), 0o755); err != nil {
			t.Fatal(err)
		}
		code[task] = awslambda.Code_FromAsset(jsii.String(dir), nil)
	}
	return code
}

// resources returns the template's resources of one type, by logical id.
func (s *synthesized) resources(typ string) map[string]map[string]any {
	out := map[string]map[string]any{}
	for id, r := range s.doc["Resources"].(map[string]any) {
		rm := r.(map[string]any)
		if rm["Type"] == typ {
			out[id] = rm
		}
	}
	return out
}

// resolve turns a token of the stack (an ARN, a name) into its
// CloudFormation form, e.g. {"Fn::GetAtt": ["MailQueueC8B8B9FB", "Arn"]}.
func (s *synthesized) resolve(v any) any {
	r := s.stack.Resolve(v)
	// Round-trip through JSON so it compares equal to the decoded template.
	b, err := json.Marshal(r)
	if err != nil {
		panic(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		panic(err)
	}
	return out
}

// logicalID is the logical id a resolved Ref or Fn::GetAtt points at.
func logicalID(t *testing.T, resolved any) string {
	t.Helper()
	m, ok := resolved.(map[string]any)
	if !ok {
		t.Fatalf("not a reference: %v", resolved)
	}
	if ref, ok := m["Ref"].(string); ok {
		return ref
	}
	if ga, ok := m["Fn::GetAtt"].([]any); ok {
		return ga[0].(string)
	}
	t.Fatalf("not a reference: %v", resolved)
	return ""
}

func mustJSON(v any) string {
	b, err := json.Marshal(v)
	if err != nil {
		panic(err)
	}
	return string(b)
}
