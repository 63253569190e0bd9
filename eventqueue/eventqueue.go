// Package eventqueue is the port through which a task tells the
// delivery-feedback consumer what the pipeline did to a mail: it sends a
// workflow.PipelineEvent to the events queue. AcquireLock sends the
// accepted record this way; the state machine sends the dead-lettered one
// itself (RecordDeadLettered), since no task runs after DeadLetter.
//
// Adapters: eventqueue/sqsqueue (SQS SendMessage) and, locally, the
// runtime's own queue store.
//
// Contract: Send returns once the queue took the record, or with the
// error that says it may not have. Callers treat a failure as a lost
// notification, never as a failure of the mail.
package eventqueue

import (
	"context"

	"github.com/mailflow/mailflow/workflow"
)

// Queue is the events queue port.
type Queue interface {
	Send(ctx context.Context, e workflow.PipelineEvent) error
}
