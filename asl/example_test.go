package asl_test

import (
	"context"
	"fmt"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/mailflow/mailflow/asl"
)

// A Lambda handler written for aws-lambda-go is bound by function name and
// serves the plain function ARN; history events arrive as they happen.
func Example() {
	def, err := asl.Parse([]byte(`{
	  "StartAt": "Greet",
	  "States": {
	    "Greet": {
	      "Type": "Task",
	      "Resource": "arn:aws:lambda:eu-west-1:123456789012:function:greet",
	      "ResultPath": "$.greeting",
	      "End": true
	    }
	  }
	}`))
	if err != nil {
		panic(err)
	}
	reg := asl.NewRegistry()
	reg.RegisterLambda("greet", lambda.NewHandler(func(_ context.Context, in struct{ Name string }) (string, error) {
		return "hello " + in.Name, nil
	}))
	if err := asl.Validate(def, asl.WithBoundResources(reg)).Err(); err != nil {
		panic(err)
	}
	res, err := asl.Execute(context.Background(), def, []byte(`{"Name":"Ada"}`), asl.Options{
		Registry: reg,
		Observer: asl.ObserverFunc(func(e *asl.Event) { fmt.Println(e.ID, e.PreviousEventID, e.Type) }),
	})
	if err != nil {
		panic(err)
	}
	out, _ := asl.EncodeJSON(res.Output)
	fmt.Println(res.Status, string(out))
	// Output:
	// 1 0 ExecutionStarted
	// 2 0 TaskStateEntered
	// 3 2 LambdaFunctionScheduled
	// 4 3 LambdaFunctionStarted
	// 5 4 LambdaFunctionSucceeded
	// 6 5 TaskStateExited
	// 7 6 ExecutionSucceeded
	// SUCCEEDED {"Name":"Ada","greeting":"hello Ada"}
}

// Other service integrations plug in by resource ARN; the handler returns
// an *asl.Error to fail with a name that Retry and Catch match.
func ExampleRegistry_Register() {
	def, _ := asl.Parse([]byte(`{
	  "StartAt": "Enqueue",
	  "States": {
	    "Enqueue": {
	      "Type": "Task",
	      "Resource": "arn:aws:states:::sqs:sendMessage",
	      "Parameters": {"QueueUrl": "q", "MessageBody.$": "$"},
	      "Catch": [{"ErrorEquals": ["SQS.QueueDoesNotExistException"], "ResultPath": "$.error", "Next": "Done"}],
	      "End": true
	    },
	    "Done": {"Type": "Succeed"}
	  }
	}`))
	reg := asl.NewRegistry()
	reg.Register("arn:aws:states:::sqs:sendMessage", asl.TaskHandlerFunc(func(_ context.Context, req *asl.TaskRequest) (any, error) {
		return nil, asl.NewError("SQS.QueueDoesNotExistException", "no queue q")
	}))
	res, _ := asl.Execute(context.Background(), def, []byte(`{"id":1}`), asl.Options{Registry: reg})
	out, _ := asl.EncodeJSON(res.Output)
	fmt.Println(res.Status, string(out))
	// Output:
	// SUCCEEDED {"error":{"Cause":"no queue q","Error":"SQS.QueueDoesNotExistException"},"id":1}
}
