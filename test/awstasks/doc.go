// Package awstasks runs the task handlers' scenarios over the AWS adapters
// and the emulators they are deployed against: dynamolock on dynalite,
// s3store on gofakes3, sessender on aws-ses-v2-local, each behind a
// fault-injecting proxy, so that every call crosses the real wire protocol
// and a 5xx answer or a dropped connection is mapped by the real adapter.
//
// Decision: each scenario is written once, beside its handler
// (acquirelocktest, fetchattachmentstest, sendtest, releaselocktest, and
// tasks/flowtest for the chain), and takes its adapters as arguments. The
// handler packages run them on in-memory adapters (testkit/tasktest's
// MemLocks, MemStore, MemSender), so
// `go test ./tasks/...` needs neither Node nor an emulator; what needs the
// emulators lives here, and in test/lambda for the Lambda mains, where the
// point is the emulator.
package awstasks
