package awstasks_test

import (
	"fmt"
	"testing"

	"github.com/mailflow/mailflow/tasks/send/sendtest"
	"github.com/mailflow/mailflow/testkit"
	"github.com/mailflow/mailflow/testkit/tasktest"
	"github.com/mailflow/mailflow/workflow"
)

// TestSend runs the send scenarios over the DynamoDB lock table, the S3
// store and the SES v2 emulator, each behind a fault proxy; the SES answers
// are the ones SES gives for each error class.
func TestSend(t *testing.T) {
	t.Parallel()
	svc := tasktest.Start(t, true, true, true)
	var fails []sendtest.FailCase
	for _, c := range []struct {
		fault testkit.Fault
		want  workflow.ErrorName
	}{
		{testkit.SESError(429, "TooManyRequestsException", "Maximum sending rate exceeded."), workflow.Throttled},
		{testkit.SESError(400, "LimitExceededException", "Daily message quota exceeded."), workflow.QuotaExhausted},
		{testkit.SESError(400, "SendingPausedException", "paused"), workflow.SendingPaused},
		{testkit.SESError(400, "AccountSuspendedException", "suspended"), workflow.SendingPaused},
		{testkit.SESError(400, "MessageRejected", "Email address is not verified."), workflow.Rejected},
		{testkit.SESError(400, "MailFromDomainNotVerifiedException", "not verified"), workflow.Rejected},
		{testkit.SESError(500, "InternalFailure", "oops"), workflow.Transient},
		// No answer: the mail may have gone out.
		{testkit.Fault{Drop: true}, workflow.OutcomeUnknown},
	} {
		fails = append(fails, sendtest.FailCase{Label: fmt.Sprintf("%+v", c.fault), Arm: c.fault, Want: c.want})
	}
	sendtest.Run(t, func(t *testing.T) sendtest.Services {
		locks, lockFaults, _ := svc.Locks(t)
		st, _ := svc.Store(t)
		snd, sesFaults := svc.Sender(t)
		return sendtest.Services{
			Locks: locks, LockFaults: lockFaults, Store: st, Sender: snd, SenderHits: sesFaults,
			Sent:     func(t *testing.T) []tasktest.SentMail { return svc.Sent(t) },
			FailNext: func(c sendtest.FailCase) { sesFaults.Arm(c.Arm.(testkit.Fault)) },
		}
	}, fails)
}
