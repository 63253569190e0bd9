// Package contract holds tests that tie the four task handlers to the state
// machine that calls them: the payload each Task state builds and the
// fields its ResultSelector reads must match the handlers' JSON, and the
// handlers chained as the definition chains them deliver one mail once.
// The chain runs on in-memory adapters, so it needs no Node; test/awstasks
// chains the handlers the same way over the AWS adapters and emulators.
package contract
