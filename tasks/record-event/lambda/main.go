// Command lambda is the record-event task as a Lambda function
// (provided.al2023, arm64, built with -tags lambda.norpc), triggered by
// the events queue; wire.go connects it to AWS.
package main

import "github.com/mailflow/mailflow/internal/awsrun"

func main() { awsrun.Start(build) }
