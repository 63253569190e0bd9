package infra_test

import (
	"archive/tar"
	"compress/gzip"
	"encoding/json"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"

	"github.com/mailflow/mailflow/infra"
)

// cdk.json rebuilds the zips before every synthesis the CLI runs, and sets
// exactly the feature flags aws-cdk-lib recommends for the version go.mod
// pins (its recommended-feature-flags.json, inside the module's jsii
// bundle), so a new project's defaults are this project's too.
func TestCdkJSON(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../cdk.json")
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		App, Build string
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Build != "make lambdas" || doc.App != "go run ./infra/app" {
		t.Errorf("cdk.json app %q, build %q", doc.App, doc.Build)
	}
	ctx, err := infra.CdkJSONContext("../cdk.json")
	if err != nil {
		t.Fatal(err)
	}
	if ctx["lambdaDir"] != "build/lambda" {
		t.Errorf("lambdaDir = %v", ctx["lambdaDir"])
	}
	recommended := recommendedFlags(t)
	for k, v := range recommended {
		if !reflect.DeepEqual(ctx[k], v) {
			t.Errorf("feature flag %s = %v, recommended %v", k, ctx[k], v)
		}
	}
	for k := range ctx {
		if _, ok := recommended[k]; !ok && k != "lambdaDir" {
			t.Errorf("context %s is neither a recommended flag nor the app's", k)
		}
	}
}

func recommendedFlags(t *testing.T) map[string]any {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/aws/aws-cdk-go/awscdk/v2").Output()
	if err != nil {
		t.Fatal(err)
	}
	bundles, _ := filepath.Glob(filepath.Join(strings.TrimSpace(string(out)), "jsii", "aws-cdk-lib-*.tgz"))
	if len(bundles) != 1 {
		t.Fatalf("aws-cdk-lib bundle: %v", bundles)
	}
	f, err := os.Open(bundles[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	gz, err := gzip.NewReader(f)
	if err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(gz)
	for {
		h, err := tr.Next()
		if err != nil {
			t.Fatalf("recommended-feature-flags.json not in %s: %v", bundles[0], err)
		}
		if h.Name == "package/recommended-feature-flags.json" {
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			flags := map[string]any{}
			if err := json.Unmarshal(b, &flags); err != nil {
				t.Fatal(err)
			}
			return flags
		}
	}
}

// The CDK CLI is pinned to one exact version, which the lockfile holds
// without naming any registry.
func TestCdkCLIPinned(t *testing.T) {
	t.Parallel()
	var pkg struct{ Dependencies map[string]string }
	b, err := os.ReadFile("cdk/package.json")
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &pkg); err != nil {
		t.Fatal(err)
	}
	version := pkg.Dependencies["aws-cdk"]
	if !regexp.MustCompile(`^[0-9]+\.[0-9]+\.[0-9]+$`).MatchString(version) {
		t.Fatalf("aws-cdk is %q in infra/cdk/package.json, not an exact version", version)
	}
	lock, err := os.ReadFile("cdk/package-lock.json")
	if err != nil {
		t.Fatal(err)
	}
	var l struct {
		Packages map[string]struct{ Version, Resolved string }
	}
	if err := json.Unmarshal(lock, &l); err != nil {
		t.Fatal(err)
	}
	if got := l.Packages["node_modules/aws-cdk"].Version; got != version {
		t.Errorf("lockfile has aws-cdk %q, package.json %q", got, version)
	}
	if strings.Contains(string(lock), "http") {
		t.Error("the lockfile names a registry: regenerate it with --omit-lockfile-registry-resolved")
	}
}
