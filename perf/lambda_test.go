package perf

import (
	"archive/zip"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
	"time"
)

// LambdaFigure is one task function built one way.
type LambdaFigure struct {
	Task          string
	XRay          bool    // the X-Ray SDK linked (default build) or not (-tags notracing)
	ZipBytes      int64   // linux/arm64 deployment zip, as make lambdas builds it
	BinaryBytes   int64   // the arm64 binary inside
	ColdStartMs   float64 // median process start → first Runtime API poll, native build
	ColdStartRuns int
}

var lambdaTasks = []string{"acquire-lock", "fetch-attachments", "send", "release-lock"}

// moduleRoot is the repository root (benchmarks run in perf/).
func moduleRoot(b *testing.B) string {
	b.Helper()
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err != nil {
		b.Fatal(err)
	}
	return filepath.Dir(strings.TrimSpace(string(out)))
}

func goBuild(b *testing.B, root, out, pkg, goos, goarch, tags string) {
	b.Helper()
	cmd := exec.Command("go", "build", "-tags", tags, "-trimpath", "-ldflags=-s -w", "-o", out, pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS="+goos, "GOARCH="+goarch, "CGO_ENABLED=0")
	if msg, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("go build %s: %v\n%s", pkg, err, msg)
	}
}

// zipSize packs the binary as tools/lambdazip does (one deflated entry
// named bootstrap) and returns the zip's size.
func zipSize(b *testing.B, root, bin, out string) int64 {
	b.Helper()
	cmd := exec.Command("go", "run", "./tools/lambdazip", out, bin)
	cmd.Dir = root
	if msg, err := cmd.CombinedOutput(); err != nil {
		b.Fatalf("lambdazip: %v\n%s", err, msg)
	}
	if _, err := zip.OpenReader(out); err != nil {
		b.Fatal(err)
	}
	st, err := os.Stat(out)
	if err != nil {
		b.Fatal(err)
	}
	return st.Size()
}

// coldStart runs the binary as Lambda runs a custom runtime and measures
// from process start to its first poll of the Runtime API (the function is
// then initialised: configuration read, clients built, handler ready).
func coldStart(b *testing.B, bin string, runs int) float64 {
	b.Helper()
	polled := make(chan time.Time, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasSuffix(r.URL.Path, "/runtime/invocation/next") {
			select {
			case polled <- time.Now():
			default:
			}
			<-r.Context().Done()
			return
		}
		w.WriteHeader(http.StatusAccepted)
	}))
	defer srv.Close()
	env := append(os.Environ(),
		"AWS_LAMBDA_RUNTIME_API="+strings.TrimPrefix(srv.URL, "http://"),
		"AWS_LAMBDA_FUNCTION_NAME=mailflow-bench", "AWS_LAMBDA_FUNCTION_MEMORY_SIZE=512", "AWS_REGION=us-east-1",
		"AWS_ACCESS_KEY_ID=bench", "AWS_SECRET_ACCESS_KEY=bench", "AWS_SESSION_TOKEN=bench",
		"_X_AMZN_TRACE_ID=Root=1-00000000-000000000000000000000000;Parent=0000000000000000;Sampled=0",
		"LOCK_TABLE=locks", "ATTACHMENT_BUCKET=bucket", "ATTACHMENT_PREFIX=attachments/", "STAGING_PREFIX=staging/",
		"ALLOWED_SENDERS=example.com", "SES_MAX_SEND_RATE=14",
	)
	var ms []float64
	for range runs {
		cmd := exec.Command(bin)
		cmd.Env = env
		var out strings.Builder
		cmd.Stdout, cmd.Stderr = &out, &out
		start := time.Now()
		if err := cmd.Start(); err != nil {
			b.Fatal(err)
		}
		select {
		case at := <-polled:
			ms = append(ms, float64(at.Sub(start).Microseconds())/1000)
		case <-time.After(30 * time.Second):
			cmd.Process.Kill()
			b.Fatalf("%s never polled the Runtime API:\n%s", bin, out.String())
		}
		cmd.Process.Kill()
		cmd.Wait()
	}
	slices.Sort(ms)
	return ms[len(ms)/2]
}

func BenchmarkLambda(b *testing.B) {
	root := moduleRoot(b)
	dir := b.TempDir()
	var figs []LambdaFigure
	for _, xray := range []bool{true, false} {
		tags := "lambda.norpc"
		if !xray {
			tags += ",notracing"
		}
		for _, task := range lambdaTasks {
			b.Run(fmt.Sprintf("%s/xray=%v", task, xray), func(b *testing.B) {
				pkg := "./tasks/" + task + "/lambda"
				arm := filepath.Join(dir, fmt.Sprintf("%s-%v-arm64", task, xray))
				native := filepath.Join(dir, fmt.Sprintf("%s-%v-native", task, xray))
				goBuild(b, root, arm, pkg, "linux", "arm64", tags)
				goBuild(b, root, native, pkg, runtime.GOOS, runtime.GOARCH, tags)
				f := LambdaFigure{Task: task, XRay: xray, ColdStartRuns: 9}
				f.ZipBytes = zipSize(b, root, arm, arm+".zip")
				st, _ := os.Stat(arm)
				f.BinaryBytes = st.Size()
				for range b.N {
					f.ColdStartMs = coldStart(b, native, f.ColdStartRuns)
				}
				b.ReportMetric(float64(f.ZipBytes)/1e6, "zip-MB")
				b.ReportMetric(f.ColdStartMs, "cold-start-ms")
				figs = append(figs, f)
			})
		}
	}
	if len(figs) == 2*len(lambdaTasks) {
		if err := WriteResult("lambda.json", figs); err != nil {
			b.Fatal(err)
		}
	}
}
