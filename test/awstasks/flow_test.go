package awstasks_test

import (
	"testing"

	"github.com/mailflow/mailflow/tasks/flowtest"
	"github.com/mailflow/mailflow/testkit/tasktest"
)

// TestFlow chains the four handlers over the AWS adapters and the
// emulators (dynalite, gofakes3, the SES v2 emulator).
func TestFlow(t *testing.T) {
	t.Parallel()
	svc := tasktest.Start(t, true, true, true)
	locks, _, _ := svc.Locks(t)
	st, _ := svc.Store(t)
	snd, sesProxy := svc.Sender(t)
	flowtest.Run(t, flowtest.Services{Locks: locks, Store: st, Sender: snd, SenderHits: sesProxy,
		Sent: func(t *testing.T) []tasktest.SentMail { return svc.Sent(t) }})
}
