package asl_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"sync"
	"testing"

	"github.com/mailflow/mailflow/asl"
)

// The anchor benchmark (../shared/bench/anchor-als) runs a mail-shaped
// definition on aws-local-stepfunctions. BenchmarkAnchor runs the same
// definition on the same generated inputs with the same stub contract and
// the same counting, so the two can be compared side by side (see
// asl/BENCHMARKS.md and asl/cmd/anchorcmp).

func anchorDir(tb testing.TB) string {
	tb.Helper()
	dir := os.Getenv("ASL_ANCHOR_DIR")
	if dir == "" {
		dir = filepath.Join("..", "..", "shared", "bench", "anchor-als")
	}
	if _, err := os.Stat(filepath.Join(dir, "mail-batch.asl.json")); err != nil {
		tb.Fatalf("anchor benchmark not found at %s (set ASL_ANCHOR_DIR): %v", dir, err)
	}
	return dir
}

type anchorFile struct {
	Input    any `json:"input"`
	Scenario map[string]struct {
		LockHeld     bool `json:"lockHeld"`
		Throttles    int  `json:"throttles"`
		LambdaFlakes int  `json:"lambdaFlakes"`
		Reject       bool `json:"reject"`
	} `json:"scenario"`
	Expected struct {
		Output      any   `json:"output"`
		Transitions int64 `json:"transitions"`
		Retries     int   `json:"retries"`
	} `json:"expected"`
}

var (
	anchorInputsOnce sync.Once
	anchorInputsDir  string
	anchorInputsErr  error
)

// anchorInputs generates the inputs once per process with the anchor's own
// generator (seed 42), so both harnesses read byte-identical files.
func anchorInputs(tb testing.TB) string {
	tb.Helper()
	anchorInputsOnce.Do(func() {
		dir, err := os.MkdirTemp("", "anchor-inputs-")
		if err != nil {
			anchorInputsErr = err
			return
		}
		cmd := exec.Command("node", filepath.Join(anchorDir(tb), "gen-inputs.mjs"), "--out", dir, "--seed", "42",
			"--sizes", "1,10,100", "--variants", "ok,throttle,mixed")
		if out, err := cmd.CombinedOutput(); err != nil {
			anchorInputsErr = fmt.Errorf("gen-inputs.mjs: %v\n%s", err, out)
			return
		}
		anchorInputsDir = dir
	})
	if anchorInputsErr != nil {
		tb.Fatal(anchorInputsErr)
	}
	return anchorInputsDir
}

func taskError(name, msg string) error { return asl.NewError(name, msg) }

// anchorRegistry binds the anchor's stub contract: AcquireLock answers
// acquired unless the mail's lock is held; FetchAttachments counts; Send
// fails with Mail.Throttled for the first `throttles` attempts, then
// Lambda.ServiceException for `lambdaFlakes`, then Mail.Rejected when
// `reject`, else succeeds; ReleaseLock releases. reset clears the per
// execution attempt counters.
func anchorRegistry(f *anchorFile) (reg *asl.Registry, reset func()) {
	attempts := map[string]int{}
	reg = asl.NewRegistry()
	mailID := func(req *asl.TaskRequest) string {
		m, _ := req.Input.(map[string]any)
		s, _ := m["mailId"].(string)
		return s
	}
	bind := func(fn string, h func(req *asl.TaskRequest) (any, error)) {
		reg.Register("arn:aws:lambda:eu-west-1:123456789012:function:"+fn,
			asl.TaskHandlerFunc(func(_ context.Context, req *asl.TaskRequest) (any, error) { return h(req) }))
	}
	bind("mail-acquire-lock", func(req *asl.TaskRequest) (any, error) {
		id := mailID(req)
		if f.Scenario[id].LockHeld {
			return map[string]any{"acquired": false}, nil
		}
		return map[string]any{"acquired": true, "token": "lock-" + id}, nil
	})
	bind("mail-fetch-attachments", func(req *asl.TaskRequest) (any, error) {
		m, _ := req.Input.(map[string]any)
		n := len(m["attachments"].([]any))
		return map[string]any{"count": json.Number(fmt.Sprint(n)), "bytes": json.Number(fmt.Sprint(1024 * n))}, nil
	})
	bind("mail-send", func(req *asl.TaskRequest) (any, error) {
		id := mailID(req)
		sc, ok := f.Scenario[id]
		if ok {
			attempts[id]++
			a := attempts[id]
			switch {
			case a <= sc.Throttles:
				return nil, taskError("Mail.Throttled", fmt.Sprintf("429 from provider (attempt %d)", a))
			case a <= sc.Throttles+sc.LambdaFlakes:
				return nil, taskError("Lambda.ServiceException", "Lambda service error")
			case sc.Reject:
				return nil, taskError("Mail.Rejected", "recipient rejected")
			}
		}
		return map[string]any{"messageId": "prov-" + id}, nil
	})
	bind("mail-release-lock", func(*asl.TaskRequest) (any, error) { return map[string]any{"released": true}, nil })
	return reg, func() { clear(attempts) }
}

func BenchmarkAnchor(b *testing.B) {
	dir := anchorDir(b)
	src, err := os.ReadFile(filepath.Join(dir, "mail-batch.asl.json"))
	if err != nil {
		b.Fatal(err)
	}
	def, err := asl.Parse(src)
	if err != nil {
		b.Fatal(err)
	}
	inputs := anchorInputs(b)
	for _, variant := range []string{"ok", "throttle", "mixed"} {
		for _, n := range []int{1, 10, 100} {
			b.Run(fmt.Sprintf("variant=%s/n=%d", variant, n), func(b *testing.B) {
				raw, err := os.ReadFile(filepath.Join(inputs, fmt.Sprintf("%s-n%d.json", variant, n)))
				if err != nil {
					b.Fatal(err)
				}
				var f anchorFile
				if err := json.Unmarshal(raw, &f); err != nil {
					b.Fatal(err)
				}
				input, err := asl.DecodeJSON(mustMarshal(b, f.Input))
				if err != nil {
					b.Fatal(err)
				}
				reg, reset := anchorRegistry(&f)
				// retry pauses neutralised, as in the anchor
				opts := asl.Options{Registry: reg, Clock: noPauseClock{}, ExecutionName: "bench", UUID: func() string { return "u" }}

				// Verification run, untimed: output, transitions and retries
				// must match what the generator expects.
				reset()
				scheduled, entered := 0, 0
				vopts := opts
				vopts.Observer = asl.ObserverFunc(func(e *asl.Event) {
					switch e.Type {
					case asl.TaskScheduled, asl.LambdaFunctionScheduled:
						scheduled++
					case "TaskStateEntered":
						entered++
					}
				})
				res, err := asl.Execute(context.Background(), def, input, vopts)
				if err != nil || res.Status != asl.StatusSucceeded {
					b.Fatalf("verification run: %v %+v", err, res)
				}
				if err := sameJSON(res.Output, f.Expected.Output); err != nil {
					b.Fatalf("output: %v", err)
				}
				if res.Transitions != f.Expected.Transitions || scheduled-entered != f.Expected.Retries {
					b.Fatalf("transitions %d retries %d, want %d and %d", res.Transitions, scheduled-entered, f.Expected.Transitions, f.Expected.Retries)
				}

				var ms0, ms1 runtime.MemStats
				runtime.ReadMemStats(&ms0)
				var transitions int64
				b.ReportAllocs()
				b.ResetTimer()
				for b.Loop() {
					reset()
					res, err := asl.Execute(context.Background(), def, input, opts)
					if err != nil || res.Status != asl.StatusSucceeded {
						b.Fatalf("%v %+v", err, res)
					}
					transitions += res.Transitions
				}
				b.StopTimer()
				runtime.ReadMemStats(&ms1)
				b.ReportMetric(float64(transitions)/b.Elapsed().Seconds(), "transitions/s")
				b.ReportMetric(float64(ms1.Mallocs-ms0.Mallocs)/float64(transitions), "allocs/transition")
				b.ReportMetric(float64(f.Expected.Retries), "retries/exec")
			})
		}
	}
}

func mustMarshal(tb testing.TB, v any) []byte {
	tb.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		tb.Fatal(err)
	}
	return b
}

// sameJSON compares two value trees as JSON values.
func sameJSON(got, want any) error {
	g, err := asl.EncodeJSON(got)
	if err != nil {
		return err
	}
	var a, b any
	if err := json.Unmarshal(g, &a); err != nil {
		return err
	}
	w, _ := json.Marshal(want)
	if err := json.Unmarshal(w, &b); err != nil {
		return err
	}
	if !reflect.DeepEqual(a, b) {
		return errors.New("got " + string(g) + ", want " + string(w))
	}
	return nil
}
