// Package lambda runs the task functions' real mains, built as Lambda
// builds them (-tags lambda.norpc), through aws-lambda-go's runtime loop
// against the emulators (dynalite, gofakes3, aws-ses-v2-local) with real SDK
// clients from the environment: what Step Functions would see, the JSON
// log lines, X-Ray subsegments.
//
// Decision: these runs need Node (the emulators), so they live here, not in
// tasks/<task>/lambda, whose own tests (start-up validation, the
// fetch-attachments function against gofakes3) run without it; `go test
// ./tasks/...` thus needs no Node, and `go test ./...` still runs
// everything.
package lambda
