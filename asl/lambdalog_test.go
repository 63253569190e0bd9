package asl_test

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"strings"
	"testing"

	"github.com/mailflow/mailflow/asl"
)

func logTailDefinition(t *testing.T, logType string) *asl.Definition {
	t.Helper()
	return mustParse(t, `{"StartAt":"T","States":{"T":{"Type":"Task","Resource":"arn:aws:states:::lambda:invoke",
		"Parameters":{"FunctionName":"logger","Payload.$":"$",`+logType+`},"End":true}}}`)
}

func loggingRegistry(lines int) *asl.Registry {
	reg := asl.NewRegistry()
	reg.RegisterLambda("logger", asl.LambdaHandlerFunc(func(ctx context.Context, payload []byte) ([]byte, error) {
		for i := range lines {
			fmt.Fprintf(asl.LambdaLog(ctx), "line %04d of the function's log\n", i)
		}
		return payload, nil
	}))
	return reg
}

func TestLambdaInvokeLogTypeTail(t *testing.T) {
	opts := newHarness().options(loggingRegistry(2))
	opts.UUID = func() string { return "req-1" }
	res := run(t, logTailDefinition(t, `"LogType":"Tail"`), `{"a":1}`, opts)
	if res.Status != asl.StatusSucceeded {
		t.Fatalf("%+v", res)
	}
	out := res.Output.(map[string]any)
	lr, _ := out["LogResult"].(string)
	text, err := base64.StdEncoding.DecodeString(lr)
	if err != nil {
		t.Fatalf("LogResult %q: %v", lr, err)
	}
	want := "START RequestId: req-1 Version: $LATEST\nline 0000 of the function's log\nline 0001 of the function's log\nEND RequestId: req-1\nREPORT RequestId: req-1\tDuration: 0.00 ms\tBilled Duration: 1 ms\t\n"
	if string(text) != want {
		t.Errorf("log tail %q, want %q", text, want)
	}
	md := out["SdkHttpMetadata"].(map[string]any)
	if h := md["HttpHeaders"].(map[string]any)["X-Amz-Log-Result"]; h != lr {
		t.Errorf("X-Amz-Log-Result header %v, want the LogResult", h)
	}
	if h := md["AllHttpHeaders"].(map[string]any)["X-Amz-Log-Result"]; fmt.Sprint(h) != "["+lr+"]" {
		t.Errorf("X-Amz-Log-Result in AllHttpHeaders %v", h)
	}
	if got := jsonText(out["Payload"]); got != `{"a":1}` {
		t.Errorf("payload %s", got)
	}
}

func TestLambdaInvokeLogTailIsTheLast4KB(t *testing.T) {
	res := run(t, logTailDefinition(t, `"LogType":"Tail"`), `{}`, newHarness().options(loggingRegistry(500)))
	text, _ := base64.StdEncoding.DecodeString(res.Output.(map[string]any)["LogResult"].(string))
	if len(text) != 4096 || !strings.Contains(string(text), "line 0499 of") || strings.Contains(string(text), "line 0000 of") ||
		!strings.HasPrefix(string(text[strings.LastIndex(string(text), "\nREPORT")+1:]), "REPORT RequestId: ") {
		t.Errorf("tail of %d bytes: %.80q ... %q", len(text), text, text[len(text)-80:])
	}
}

func TestLambdaInvokeWithoutLogTail(t *testing.T) {
	for _, lt := range []string{`"LogType":"None"`, `"Qualifier":"$LATEST"`} {
		res := run(t, logTailDefinition(t, lt), `{}`, newHarness().options(loggingRegistry(1)))
		md := res.Output.(map[string]any)["SdkHttpMetadata"].(map[string]any)
		if _, has := res.Output.(map[string]any)["LogResult"]; has || md["HttpHeaders"].(map[string]any)["X-Amz-Log-Result"] != nil {
			t.Errorf("%s: a log tail nobody asked for: %v", lt, res.Output)
		}
	}
	// outside an invocation that asks for the tail the log is discarded
	if w := asl.LambdaLog(context.Background()); w != io.Discard {
		t.Errorf("LambdaLog without an invocation = %T", w)
	}
}

func TestLambdaInvokeRejectsAnUnknownLogType(t *testing.T) {
	for in, shown := range map[string]string{`"LogType":"Full"`: "Full", `"LogType":1`: "1"} {
		res := run(t, logTailDefinition(t, in), `{}`, newHarness().options(loggingRegistry(1)))
		if res.Error != "Lambda.ValidationException" || !strings.Contains(res.Cause, "Value '"+shown+"' at 'logType' failed to satisfy constraint: Member must satisfy enum value set: [Tail, None]") {
			t.Errorf("%s: %s %s", in, res.Error, res.Cause)
		}
	}
}
