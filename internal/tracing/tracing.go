//go:build !notracing

// Package tracing is the one place that knows the tracing library: today
// AWS X-Ray through github.com/aws/aws-xray-sdk-go, which is in maintenance
// mode (support ends February 2027). Moving to OpenTelemetry means
// rewriting this file only: callers use [InstrumentAWS] and nothing else.
//
// In Lambda with active tracing, every AWS SDK call made with an
// instrumented configuration becomes a subsegment of the function's
// segment, which Step Functions' trace propagates into. Outside Lambda
// (tests, the local runtime) there is no segment and no daemon, so
// instrumentation is left off and the SDK runs untouched.
//
// Built with -tags notracing, the package links no tracing library at all
// (tracing_off.go): InstrumentAWS does nothing. That is how the Lambda
// figures measure what the X-Ray SDK costs in zip size and cold start.
package tracing

import (
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-xray-sdk-go/instrumentation/awsv2"
)

// InLambda reports whether the process runs as a Lambda function.
func InLambda() bool { return os.Getenv("AWS_LAMBDA_FUNCTION_NAME") != "" }

// InstrumentAWS makes every client built from cfg trace its calls, when
// running in Lambda. It returns whether it did.
func InstrumentAWS(cfg *aws.Config) bool {
	if !InLambda() {
		return false
	}
	awsv2.AWSV2Instrumentor(&cfg.APIOptions)
	return true
}
