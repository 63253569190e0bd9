// Package notify is the port through which mailflow tells producers what
// became of their mail: it publishes [workflow.OutcomeEvent]s.
//
// Adapters: notify/eventbridge puts them on the stack's EventBridge bus;
// locally the runtime's webhook dispatcher (local/webhooks) records them
// and posts them to the configured URLs.
//
// Contract: Publish is at least once. An event may be published again
// with the same ID (a retried batch, a duplicated SES record); receivers
// drop IDs they have seen. Publish returns an error only when some event
// of the batch may not have been taken; the caller then publishes the
// whole batch again.
package notify

import (
	"context"

	"github.com/mailflow/mailflow/workflow"
)

// Publisher is the outcome publishing port.
type Publisher interface {
	Publish(ctx context.Context, events []workflow.OutcomeEvent) error
}
