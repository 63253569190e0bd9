package asl_test

import (
	"context"
	"strings"
	"testing"

	"github.com/mailflow/mailflow/asl"
)

func TestExecutionArnOption(t *testing.T) {
	def, err := asl.Parse([]byte(`{"StartAt":"P","States":{"P":{"Type":"Pass","Parameters":{"id.$":"$$.Execution.Id"},"End":true}}}`))
	if err != nil {
		t.Fatal(err)
	}
	const arn = "arn:aws:states:us-east-1:000000000000:express:mail:run-1:5d3c"
	res, err := asl.Execute(context.Background(), def, []byte(`{}`), asl.Options{StateMachineType: "EXPRESS", ExecutionArn: arn})
	if err != nil {
		t.Fatal(err)
	}
	if got := res.Output.(map[string]any)["id"]; got != arn {
		t.Fatalf("$$.Execution.Id = %v, want %s", got, arn)
	}
	res, _ = asl.Execute(context.Background(), def, []byte(`{}`), asl.Options{StateMachineType: "EXPRESS", StateMachineName: "mail", ExecutionName: "run-2", Region: "eu-west-1", AccountID: "111111111111"})
	const prefix = "arn:aws:states:eu-west-1:111111111111:express:mail:run-2:"
	if got, _ := res.Output.(map[string]any)["id"].(string); !strings.HasPrefix(got, prefix) || len(got) == len(prefix) {
		t.Fatalf("default express id %q", got)
	}
}
