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
// in flight, restarts it on the same data directory, and checks that every
// mail is delivered, and delivered once except for the documented crash
// window (SES accepted, the SENT mark not yet written), which the test
// counts and reports.
func TestKillDuringRun(t *testing.T) {
	t.Parallel()
	const n = 1000
	const pollers, batch = 2, 10
	data := t.TempDir()
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

	d = startDev(t, data, flags...)
	eventually(t, 5*time.Minute, "every mail delivered", func() bool { return len(deliveries(t, d)) == n })
	eventually(t, time.Minute, "the source queue to drain", func() bool { return d.queueDepth(t, "mailflow-source") == 0 })

	counts := deliveries(t, d)
	duplicates := 0
	for id, c := range counts {
		if c > 1 {
			duplicates += c - 1
			t.Logf("delivered twice (crash window): %s", id)
		}
	}
	// Only mail whose send was accepted in the instant before the kill can
	// go out twice: at most one batch per poller.
	if duplicates > pollers*batch {
		t.Fatalf("%d duplicate deliveries, more than the %d mails that can be in the crash window", duplicates, pollers*batch)
	}
	t.Logf("%d mails, killed after %d deliveries: all delivered, %d duplicate(s) from the crash window", n, before, duplicates)
}
