// The handler's tests run its scenarios (sendtest) on in-memory adapters
// and the SES simulator (testkit/tasktest), so they need no Node and no
// emulator; test/awstasks runs the same scenarios over the AWS adapters and
// the emulators.
package send_test

import (
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/mailflow/mailflow/tasks/send/sendtest"
	"github.com/mailflow/mailflow/testkit"

	"github.com/mailflow/mailflow/sender"
	"github.com/mailflow/mailflow/tasks/send"
	"github.com/mailflow/mailflow/testkit/tasktest"
	"github.com/mailflow/mailflow/workflow"
)

var quiet = slog.New(slog.NewJSONHandler(io.Discard, nil))

const lease = 6 * time.Minute

func TestSend(t *testing.T) {
	t.Parallel()
	// Each class as the simulator fails it, with SES's texts; which SES
	// answer maps to which class is sessender's (and test/awstasks').
	var fails []sendtest.FailCase
	for _, name := range sender.Names {
		fails = append(fails, sendtest.FailCase{Label: string(name), Arm: name, Want: name})
	}
	// The connection lost before an answer: the mail may have gone out.
	fails = append(fails, sendtest.FailCase{Label: "no answer", Arm: testkit.Fault{Drop: true}, Want: workflow.OutcomeUnknown})
	sendtest.Run(t, func(*testing.T) sendtest.Services {
		locks, lockFaults := tasktest.MemLocks()
		st, _, _ := tasktest.MemStore()
		snd := tasktest.NewMemSender()
		return sendtest.Services{
			Locks: locks, LockFaults: lockFaults, Store: st, Sender: snd, SenderHits: snd,
			Sent: func(*testing.T) []tasktest.SentMail { return snd.Sent() },
			FailNext: func(c sendtest.FailCase) {
				switch arm := c.Arm.(type) {
				case workflow.ErrorName:
					snd.Sim.Inject(arm)
				case testkit.Fault:
					snd.Arm(arm)
				}
			},
		}
	}, fails)
}

func TestConfigFromEnv(t *testing.T) {
	t.Parallel()
	_, err := send.ConfigFromEnv(tasktest.EnvMap(map[string]string{"SES_CONFIGURATION_SET": "bad set!"}))
	for _, want := range []string{"STAGING_PREFIX: required", "ATTACHMENT_PREFIX: required", `SES_CONFIGURATION_SET: "bad set!"`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not say %q", err, want)
		}
	}
}
