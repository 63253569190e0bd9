package test

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/mailflow/mailflow/workflow"
)

// deliveries counts delivered mails per X-Test-Id header.
func deliveries(t *testing.T, d *dev) map[string]int {
	t.Helper()
	counts := map[string]int{}
	for _, f := range d.outbox(t) {
		fh, err := os.Open(f)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(fh)
		for sc.Scan() {
			line := sc.Text()
			if line == "" {
				break
			}
			if id, ok := strings.CutPrefix(line, "X-Test-Id: "); ok {
				counts[id]++
				break
			}
		}
		fh.Close()
	}
	return counts
}

// TestKillDuringRun kills `mailflow dev` with SIGKILL while 1,000 mails are
// in flight, restarts it on the same data directory, and checks that no
// mail is lost and none is sent twice: every mail is delivered exactly
// once, except those whose send attempt was recorded and not answered when
// the process died; those are in the dead-letter queue as
// Mail.OutcomeUnknown (delivered once or not at all), never sent again.
func TestKillDuringRun(t *testing.T) {
	t.Parallel()
	const n = 1000
	const pollers, batch = 2, 10
	data := t.TempDir()
	// A short visibility timeout brings the killed process's in-flight
	// messages back in seconds; the restart has released their leases.
	flags := []string{"--visibility-timeout", "3s", "--allow-short-visibility", "--concurrency", fmt.Sprint(pollers), "--batch-size", fmt.Sprint(batch)}
	d := startDev(t, data, flags...)
	sqsc, _ := d.clients()
	ctx := context.Background()
	for start := 0; start < n; start += 10 {
		var entries []sqstypes.SendMessageBatchRequestEntry
		for i := start; i < start+10; i++ {
			id := fmt.Sprintf("e2e-crash-%04d", i)
			entries = append(entries, sqstypes.SendMessageBatchRequestEntry{
				Id:          aws.String(fmt.Sprint(i)),
				MessageBody: aws.String(`{"version":1,"mailId":"` + id + `","to":["a@example.org"],"subject":"crash test","text":"x","headers":{"X-Test-Id":"` + id + `"}}`),
			})
		}
		out, err := sqsc.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: aws.String(d.queueURL("mailflow-source")), Entries: entries})
		if err != nil || len(out.Failed) > 0 {
			t.Fatalf("enqueue: %v %+v", err, out)
		}
	}
	eventually(t, 2*time.Minute, "a third of the mail delivered", func() bool { return len(d.outbox(t)) >= n/3 })
	d.kill()
	before := len(d.outbox(t))
	t.Logf("killed with %d of %d mails delivered", before, n)

	// The restart ends the dead process's leases at once, so nothing waits
	// for a lease to run out.
	d = startDev(t, data, flags...)
	eventually(t, 5*time.Minute, "every mail delivered or dead-lettered", func() bool {
		return len(deliveries(t, d))+d.queueDepth(t, "mailflow-dlq") >= n
	})
	eventually(t, time.Minute, "the source queue to drain", func() bool { return d.queueDepth(t, "mailflow-source") == 0 })

	sqsc, _ = d.clients()
	unknown := map[string]bool{}
	for {
		out, err := sqsc.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(d.queueURL("mailflow-dlq")), MaxNumberOfMessages: 10, MessageAttributeNames: []string{"All"}, VisibilityTimeout: 600,
		})
		if err != nil {
			t.Fatal(err)
		}
		if len(out.Messages) == 0 {
			break
		}
		for _, m := range out.Messages {
			id := workflow.PeekMailID(aws.ToString(m.Body))
			name := aws.ToString(m.MessageAttributes[workflow.DLQAttrError].StringValue)
			if name != string(workflow.OutcomeUnknown) {
				t.Errorf("%s dead-lettered as %q: %s", id, name, aws.ToString(m.MessageAttributes[workflow.DLQAttrFailure].StringValue))
			}
			unknown[id] = true
		}
	}
	counts := deliveries(t, d)
	unsent := 0
	for i := range n {
		id := fmt.Sprintf("e2e-crash-%04d", i)
		switch c := counts[id]; {
		case c > 1:
			t.Errorf("%s delivered %d times", id, c)
		case c == 0 && unknown[id]:
			unsent++ // killed between recording the attempt and SES's answer
		case c == 0:
			t.Errorf("%s lost: neither delivered nor dead-lettered", id)
		}
	}
	// Only mails whose send had started when the process died can be
	// outcome-unknown: at most one batch per poller.
	if len(unknown) > pollers*batch {
		t.Errorf("%d outcome-unknown mails, more than the %d that can be in flight", len(unknown), pollers*batch)
	}
	t.Logf("%d mails, killed after %d deliveries: 0 sent twice, %d outcome-unknown in the DLQ (%d of them not delivered)", n, before, len(unknown), unsent)
}
