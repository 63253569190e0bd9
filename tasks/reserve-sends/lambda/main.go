// Command lambda is the reserve-sends task as a Lambda function
// (provided.al2023, arm64, built with -tags lambda.norpc); wire.go connects
// it to AWS.
package main

import "github.com/mailflow/mailflow/internal/awsrun"

func main() { awsrun.Start(build) }
