//go:build notracing

package tracing

import (
	"os"

	"github.com/aws/aws-sdk-go-v2/aws"
)

// InLambda reports whether the process runs as a Lambda function.
func InLambda() bool { return os.Getenv("AWS_LAMBDA_FUNCTION_NAME") != "" }

// InstrumentAWS does nothing in a build without tracing.
func InstrumentAWS(*aws.Config) bool { return false }
