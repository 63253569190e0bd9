// Package lambda runs the task functions' real mains, built as Lambda
// builds them (-tags lambda.norpc), through aws-lambda-go's runtime loop
// against the emulators (dynalite, gofakes3, aws-ses-v2-local) with real SDK
// clients from the environment: what Step Functions would see, the JSON
// log lines, X-Ray subsegments.
//
// The zip tests (zip_test.go) go one step further: they build the zips
// exactly as `make lambdas` ships them (arm64, build/lambda/<task>.zip),
// unpack each as Lambda does and run its bootstrap in the Lambda runtime
// interface emulator (github.com/aws/aws-lambda-runtime-interface-emulator
// at a pinned version, built once into $MAILFLOW_TOOLS_CACHE), under
// qemu-aarch64 on a host that is not arm64 (Debian's qemu-user, which
// .ci/run installs), and invoke it through the emulator's Invoke endpoint:
// every task answers a bad payload with a well-formed Lambda error, and
// acquire-lock, release-lock and reserve-sends do real work against
// dynalite. A zip that does not boot fails CI.
//
// Decision: these runs need Node (the emulators), so they live here, not in
// tasks/<task>/lambda, whose own tests (start-up validation, the
// fetch-attachments function against gofakes3) run without it; `go test
// ./tasks/...` thus needs no Node, and `go test ./...` still runs
// everything.
package lambda
