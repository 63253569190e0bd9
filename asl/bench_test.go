package asl_test

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailflow/mailflow/asl"
)

// mailRecords builds n SQS-like records shaped like the anchor benchmark's.
func mailRecords(n int) []any {
	recs := make([]any, n)
	for i := range recs {
		mailID := fmt.Sprintf("mail-%06d", i)
		body, _ := json.Marshal(map[string]any{
			"mailId": mailID, "from": "noreply@example.com", "to": []string{fmt.Sprintf("user%d@example.com", i)},
			"subject": "Your invoice", "text": strings.Repeat("lorem ipsum ", 20),
			"attachments": []any{map[string]any{"bucket": "att", "key": mailID + "/a.pdf"}},
		})
		recs[i] = map[string]any{
			"messageId": fmt.Sprintf("msg-%d", i), "receiptHandle": "rh", "body": string(body),
			"attributes":        map[string]any{"ApproximateReceiveCount": "1", "SentTimestamp": "1700000000000"},
			"messageAttributes": map[string]any{}, "md5OfBody": "x", "eventSource": "aws:sqs",
			"eventSourceARN": "arn:aws:sqs:eu-west-1:123456789012:mail", "awsRegion": "eu-west-1",
		}
	}
	return recs
}

func benchRegistry() *asl.Registry {
	reg := asl.NewRegistry()
	field := func(req *asl.TaskRequest, k string) any {
		m, _ := req.Input.(map[string]any)
		return m[k]
	}
	bind := func(name string, f func(*asl.TaskRequest) (any, error)) {
		reg.Register("arn:aws:lambda:eu-west-1:123456789012:function:"+name,
			asl.TaskHandlerFunc(func(_ context.Context, req *asl.TaskRequest) (any, error) { return f(req) }))
	}
	bind("mail-acquire-lock", func(req *asl.TaskRequest) (any, error) {
		return map[string]any{"acquired": true, "token": fmt.Sprint("lock-", field(req, "mailId"))}, nil
	})
	bind("mail-fetch-attachments", func(req *asl.TaskRequest) (any, error) {
		return map[string]any{"count": json.Number("1"), "bytes": json.Number("1024")}, nil
	})
	bind("mail-send", func(req *asl.TaskRequest) (any, error) {
		return map[string]any{"messageId": fmt.Sprint("prov-", field(req, "mailId"))}, nil
	})
	bind("mail-release-lock", func(req *asl.TaskRequest) (any, error) {
		return map[string]any{"released": true}, nil
	})
	return reg
}

// lambdaRegistry binds the same stubs as Lambda functions (JSON bytes in
// and out), the path a lambda.NewHandler-style handler takes.
func lambdaRegistry() *asl.Registry {
	reg := asl.NewRegistry()
	bind := func(name string, f func(in map[string]any) any) {
		reg.RegisterLambda(name, asl.LambdaHandlerFunc(func(_ context.Context, p []byte) ([]byte, error) {
			v, err := asl.DecodeJSON(p)
			if err != nil {
				return nil, err
			}
			m, _ := v.(map[string]any)
			return asl.EncodeJSON(f(m))
		}))
	}
	bind("mail-acquire-lock", func(in map[string]any) any {
		return map[string]any{"acquired": true, "token": fmt.Sprint("lock-", in["mailId"])}
	})
	bind("mail-fetch-attachments", func(map[string]any) any {
		return map[string]any{"count": json.Number("1"), "bytes": json.Number("1024")}
	})
	bind("mail-send", func(in map[string]any) any { return map[string]any{"messageId": fmt.Sprint("prov-", in["mailId"])} })
	bind("mail-release-lock", func(map[string]any) any { return map[string]any{"released": true} })
	return reg
}

// mailBatchDefinitions are the mail-shaped benchmark definition in both
// query languages: the anchor's JSONPath definition and its JSONata
// translation (testdata/bench).
func mailBatchDefinitions(tb testing.TB) map[string]*asl.Definition {
	tb.Helper()
	src, err := os.ReadFile(filepath.Join("..", "..", "shared", "bench", "anchor-als", "mail-batch.asl.json"))
	if err != nil {
		tb.Skip("anchor definition not found:", err)
	}
	jsrc, err := os.ReadFile(filepath.Join("testdata", "bench", "mail-batch.jsonata.asl.json"))
	if err != nil {
		tb.Fatal(err)
	}
	out := map[string]*asl.Definition{}
	for lang, b := range map[string][]byte{"jsonpath": src, "jsonata": jsrc} {
		d, err := asl.Parse(b)
		if err != nil {
			tb.Fatal(err)
		}
		if err := asl.Validate(d).Err(); err != nil {
			tb.Fatalf("%s: %v", lang, err)
		}
		out[lang] = d
	}
	return out
}

// TestMailBatchJSONataMatchesJSONPath checks that the JSONata translation
// of the benchmark definition computes what the JSONPath one does.
func TestMailBatchJSONataMatchesJSONPath(t *testing.T) {
	defs := mailBatchDefinitions(t)
	for _, n := range []int{1, 3} {
		var outs [2]string
		for i, lang := range []string{"jsonpath", "jsonata"} {
			opts := asl.Options{Registry: benchRegistry(), Clock: noPauseClock{},
				UUID: func() string { return "u" }, ExecutionName: "bench"}
			res, err := asl.Execute(context.Background(), defs[lang], mailRecords(n), opts)
			if err != nil || res.Status != asl.StatusSucceeded {
				t.Fatalf("%s: %v %+v", lang, err, res)
			}
			b, _ := asl.EncodeJSON(res.Output)
			outs[i] = string(b)
		}
		if outs[0] != outs[1] {
			t.Errorf("n=%d: JSONPath output %s, JSONata output %s", n, outs[0], outs[1])
		}
	}
}

// BenchmarkMailBatch runs the mail-shaped definition in both query
// languages; the two languages of a configuration run one after the
// other, so a machine's changing load affects both alike.
func BenchmarkMailBatch(b *testing.B) {
	defs := mailBatchDefinitions(b)
	for _, n := range []int{1, 10, 100} {
		for _, via := range []string{"handler", "lambda"} {
			for _, hist := range []bool{false, true} {
				for _, lang := range []string{"jsonpath", "jsonata"} {
					d := defs[lang]
					name := fmt.Sprintf("n=%d/via=%s/history=%v/lang=%s", n, via, hist, lang)
					b.Run(name, func(b *testing.B) {
						input := mailRecords(n)
						reg := benchRegistry()
						if via == "lambda" {
							reg = lambdaRegistry()
						}
						opts := asl.Options{Registry: reg, Clock: noPauseClock{},
							UUID: func() string { return "u" }, ExecutionName: "bench"}
						var events int
						if hist {
							opts.Observer = asl.ObserverFunc(func(*asl.Event) { events++ })
						}
						var transitions int64
						b.ReportAllocs()
						b.ResetTimer()
						for b.Loop() {
							res, err := asl.Execute(context.Background(), d, input, opts)
							if err != nil || res.Status != asl.StatusSucceeded {
								b.Fatalf("%v %+v", err, res)
							}
							transitions += res.Transitions
						}
						b.StopTimer()
						secs := b.Elapsed().Seconds()
						b.ReportMetric(float64(transitions)/secs, "transitions/s")
						b.ReportMetric(float64(transitions)/float64(b.N), "transitions/op")
					})
				}
			}
		}
	}
}

// BenchmarkPassChain measures the interpreter's own cost per transition:
// ten Pass states with Parameters and ResultPath, no task, no intrinsic.
func BenchmarkPassChain(b *testing.B) {
	var sb strings.Builder
	sb.WriteString(`{"StartAt":"S0","States":{`)
	for i := 0; i < 10; i++ {
		next := fmt.Sprintf(`"Next":"S%d"`, i+1)
		if i == 9 {
			next = `"End":true`
		}
		fmt.Fprintf(&sb, `"S%d":{"Type":"Pass","Parameters":{"id.$":"$.id","n":%d},"ResultPath":"$.s%d",%s}`, i, i, i%3, next)
		if i < 9 {
			sb.WriteByte(',')
		}
	}
	sb.WriteString(`}}`)
	d, err := asl.Parse([]byte(sb.String()))
	if err != nil {
		b.Fatal(err)
	}
	input := map[string]any{"id": "x", "payload": map[string]any{"a": json.Number("1")}}
	b.ReportAllocs()
	for b.Loop() {
		res, err := asl.Execute(context.Background(), d, input, asl.Options{UUID: func() string { return "u" }})
		if err != nil || res.Status != asl.StatusSucceeded {
			b.Fatal(err, res)
		}
	}
	b.ReportMetric(float64(10*b.N)/b.Elapsed().Seconds(), "transitions/s")
}

// TestMailBatchJSONataAllocations bounds the JSONata definition's cost
// against the JSONPath one's with a measure the machine's load does not
// disturb: allocations per execution.
func TestMailBatchJSONataAllocations(t *testing.T) {
	defs := mailBatchDefinitions(t)
	input := mailRecords(10)
	var allocs [2]float64
	for i, lang := range []string{"jsonpath", "jsonata"} {
		opts := asl.Options{Registry: benchRegistry(), Clock: noPauseClock{},
			UUID: func() string { return "u" }, ExecutionName: "bench"}
		allocs[i] = testing.AllocsPerRun(20, func() {
			res, err := asl.Execute(context.Background(), defs[lang], input, opts)
			if err != nil || res.Status != asl.StatusSucceeded {
				t.Fatalf("%s: %v %+v", lang, err, res)
			}
		})
	}
	t.Logf("allocations per execution (10 records): JSONPath %.0f, JSONata %.0f", allocs[0], allocs[1])
	if allocs[1] > 2*allocs[0] {
		t.Errorf("JSONata allocates %.0f times per execution, more than twice JSONPath's %.0f", allocs[1], allocs[0])
	}
}

// noPauseClock is the wall clock with Wait and Retry pauses skipped.
type noPauseClock struct{}

func (noPauseClock) Now() time.Time { return time.Now() }

func (noPauseClock) Timer(d time.Duration) (<-chan time.Time, func()) {
	t := time.NewTimer(d)
	return t.C, func() { t.Stop() }
}

func (noPauseClock) Sleep(ctx context.Context, _ time.Duration) error { return ctx.Err() }
