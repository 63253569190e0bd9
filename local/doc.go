// Package local is the local runtime behind `mailflow dev`: the whole
// pipeline on one machine, with no AWS account.
//
// It wires the parts together: the SQS-compatible queue store and the S3
// endpoint behind one loopback address, a pipe that drains the source queue
// into the mail state machine (workflow/mail.asl.json) run by the asl
// interpreter with Express semantics, the four task handlers in-process with
// local adapters, the SQS sendMessage integration that writes the local
// dead-letter queue, and the execution store.
//
// Everything lives under one data directory, whose layout package
// local/datadir owns.
package local
