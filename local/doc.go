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
// Everything lives under one data directory, whose layout and identity
// package local/datadir owns. Start claims the directory before it opens a
// store: a store file that is missing or belongs to another directory is
// refused (an empty lock table would send again a mail already sent), a
// new directory is initialised, and one an older version made is adopted
// once (see local/datadir).
//
// [Config.Validate] checks the order of the three durations the retries
// rest on: the source queue's visibility timeout is longer than the lock
// lease ([LockLease]), which is longer than the longest execution (the
// definition's TimeoutSeconds, else the Express limit). A record that
// reappeared while its lease was held would meet Mail.LockBusy and could be
// dead-lettered without being sent; AllowShortVisibility accepts that, for
// fast retries in development, and Start then logs a warning.
//
// This package is the wiring root of the local side: it alone decides which
// local adapters back what. [Start] builds the runtime in named steps (claim
// the data directory and open its stores, recover, bound the execution
// history, create the queues,
// serve, open SES, build the executor, start the pipe); [OpenInspection] and [Runtime.Inspection] hand
// the read model (package inspect) its backend over a data directory or
// over the running runtime, so neither the CLI nor the console opens a
// store. The AWS side of the inspection commands is wired in cli/wiring.go.
// Fault injection for tests goes through [StartWith] and [Hooks], not
// through Config.
package local
