// Package webhooks is the local runtime's [notify.Publisher]: it records
// every outcome event in an SQLite log under the data directory and posts
// it, signed, to the configured URLs in the background.
//
// Publish commits the events (insert-or-ignore on the event ID, so an
// event published again is stored and delivered once) together with one
// pending delivery per configured URL, then returns: the send path never
// waits on a receiver. A dispatcher goroutine per URL starts the due
// deliveries, at most Config.Concurrency at once per URL, so a receiver
// that hangs holds only its own slots, never another URL's deliveries or
// new events.
//
// Each attempt is a POST of the event's JSON (exactly the bytes of
// workflow.OutcomeEvent's MarshalJSON, kept in the log) with the headers
// Content-Type: application/json, Mailflow-Signature (client.SignWebhook
// over those bytes at the attempt's time) and Mailflow-Event-Id. A 2xx
// answer delivers it. Anything else (another status, a redirect, which is
// not followed, a connection error, no answer within AttemptTimeout) is a
// failed attempt, retried after an exponential backoff with jitter
// (MinBackoff doubling to MaxBackoff, a random half of it) until RetryFor
// after the event was recorded; the last attempt is made at that deadline
// and, failing, marks the delivery failed and is logged. Every attempt is
// recorded: when, how long, the status code or the error.
//
// Decisions where the contract is silent:
//
//   - Delivery is at least once and unordered: deliveries to one URL run
//     concurrently and a retried event arrives after newer ones.
//     Receivers drop IDs they have seen (Mailflow-Event-Id) and order by
//     the event's time.
//   - The URLs an event is delivered to are those configured when it was
//     published. A URL removed from the configuration keeps its pending
//     deliveries in the log, untried; a URL added later gets the events
//     published from then on.
//   - Restart: deliveries left pending are resumed at the next Start. An
//     attempt cut short by Close is not recorded and is made again, so a
//     receiver may see an event twice.
//   - Times in the log are Unix nanoseconds of the dispatcher's clock
//     (clock.Clock, which also times the backoff and the attempt timeout).
//   - The secret is never logged, stored or shown (Config.String gives its
//     length); a URL's password is redacted wherever a URL is shown.
package webhooks

import "github.com/mailflow/mailflow/notify"

var _ notify.Publisher = (*Dispatcher)(nil)
