// Package test holds the end-to-end tests of mailflow, driven only through
// its public faces: the mailflow binary (built once per test run), SDK
// clients against its SQS and S3 endpoints, the Go enqueue client, the
// outbox directory, a real SMTP server (mailpit) and the data directory's
// execution store.
package test
