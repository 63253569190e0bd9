package asl

import "testing"

func TestClassifyResource(t *testing.T) {
	for arn, want := range map[string]resourceInfo{
		"arn:aws:states:::lambda:invoke":                           {kind: resService, service: "lambda", action: "invoke"},
		"arn:aws:states:::sqs:sendMessage.waitForTaskToken":        {kind: resService, service: "sqs", action: "sendMessage.waitForTaskToken"},
		"arn:aws:states:::states:startExecution.sync:2":            {kind: resService, service: "states", action: "startExecution.sync:2"},
		"arn:aws:states:::aws-sdk:s3:getObject":                    {kind: resService, service: "aws-sdk:s3", action: "getObject"},
		"arn:aws:lambda:eu-west-1:123456789012:function:send:live": {kind: resLambdaARN, function: "send"},
		"arn:aws:states:eu-west-1:123456789012:activity:a":         {kind: resActivity},
		"not-an-arn": {kind: resUnknown},
	} {
		if got := classifyResource(arn); got != want {
			t.Errorf("%s: %+v, want %+v", arn, got, want)
		}
	}
	for in, want := range map[string][2]string{
		"send":                       {"send", ""},
		"send:live":                  {"send", "live"},
		"123456789012:function:send": {"send", ""},
		"arn:aws:lambda:us-east-1:123456789012:function:send:7": {"send", "7"},
	} {
		if n, q := functionName(in); n != want[0] || q != want[1] {
			t.Errorf("%s: %s %s", in, n, q)
		}
	}
}

func TestBackoff(t *testing.T) {
	r := &retrier{intervalSeconds: 1, backoffRate: 2, maxDelaySeconds: 8, hasMaxDelay: true}
	var got []float64
	for n := int64(1); n <= 5; n++ {
		got = append(got, backoff(r, n, nil).Seconds())
	}
	want := []float64{1, 2, 4, 8, 8}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("delays %v, want %v", got, want)
		}
	}
}
