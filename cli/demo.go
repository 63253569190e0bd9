package cli

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/mailflow/mailflow/client"
	"github.com/mailflow/mailflow/local"
	"github.com/mailflow/mailflow/local/console"
	"github.com/mailflow/mailflow/local/sqsstore"
	"github.com/mailflow/mailflow/workflow"
)

// demoTimeout bounds how long the demo waits for one mail.
const demoTimeout = 2 * time.Minute

// runDemo sends sample mails through the running pipeline and reports what
// happened to each: a mail with an attachment, the same mail again, a send
// that SES throttles, a message that breaks the contract, a bounce and a
// complaint from SES's mailbox simulator, and the next mail to the bounced
// address, which the suppression list stops.
func runDemo(ctx context.Context, rt *local.Runtime, watchers *watchList, w *syncWriter, next demoNext) error {
	cfg := rt.Config()
	sqsClient, s3Client := localClients(rt.Endpoint(), cfg.Region)
	if cfg.SecretAccessKey != "" {
		sqsClient, s3Client = localClientsWith(rt.Endpoint(), cfg.Region, cfg.AccessKeyID, cfg.SecretAccessKey)
	}
	c, err := client.New(client.Config{
		QueueURL: rt.QueueURL(cfg.SourceQueue), Bucket: cfg.Bucket,
		Limits: workflow.Limits{AttachmentPrefix: cfg.AttachmentPrefix, AllowedSenders: cfg.AllowedSenders, DefaultSender: cfg.DefaultSender},
		SQS:    sqsClient, S3: s3Client,
	})
	if err != nil {
		return err
	}
	results := watchers.watch()
	wait := func(messageID string) (itemResult, error) {
		timeout := time.After(demoTimeout)
		for {
			select {
			case r := <-results:
				if r.item.MessageID == messageID {
					return r, nil
				}
			case <-timeout:
				return itemResult{}, fmt.Errorf("demo: no outcome for message %s within %s", messageID, demoTimeout)
			case <-ctx.Done():
				return itemResult{}, ctx.Err()
			}
		}
	}
	stamp := time.Now().UTC().Format("20060102T150405")
	receipt := client.Mail{
		MailID: "demo-" + stamp + "/receipt", To: []string{"Ann Example <ann@example.org>"},
		Subject: "Your receipt — order 1042", Text: "Thank you for your order. The receipt is attached.",
		HTML: "<p>Thank you for your order. The receipt is attached.</p>",
		Attachments: []client.Attachment{{Filename: "receipt-1042.txt", ContentType: "text/plain; charset=utf-8",
			Content: []byte("Order 1042\n1 × Coffee beans  12.50 EUR\nTotal         12.50 EUR\n")}},
	}
	type step struct {
		label string
		send  func() (string, error)
		after func(r itemResult) string
	}
	steps := []step{
		{"a receipt with an attachment", func() (string, error) {
			res, err := c.Send(ctx, receipt)
			return res.MessageID, err
		}, nil},
		{"the same mail again (same mailId)", func() (string, error) {
			res, err := c.Send(ctx, receipt)
			return res.MessageID, err
		}, nil},
		{"a mail SES throttles twice", func() (string, error) {
			rt.SES().Inject(workflow.Throttled)
			rt.SES().Inject(workflow.Throttled)
			res, err := c.Send(ctx, client.Mail{MailID: "demo-" + stamp + "/throttled", To: []string{"bob@example.org"},
				Subject: "Password reset", Text: "Your code is 123456."})
			return res.MessageID, err
		}, func(r itemResult) string {
			return fmt.Sprintf("after %d throttled attempts retried with backoff", countRetries(ctx, rt, r.exec.ID))
		}},
		{"a message with a bad recipient", func() (string, error) {
			out, err := sqsClient.SendMessage(ctx, &sqs.SendMessageInput{
				QueueUrl:    aws.String(rt.QueueURL(cfg.SourceQueue)),
				MessageBody: aws.String(`{"version":1,"mailId":"demo-` + stamp + `/invalid","to":["not an address"],"subject":"Hi","text":"x"}`),
			})
			if err != nil {
				return "", err
			}
			return aws.ToString(out.MessageId), nil
		}, func(itemResult) string { return deadLetterReason(ctx, rt) }},
		{"a mail to SES's bounce@ simulator", func() (string, error) {
			res, err := c.Send(ctx, client.Mail{MailID: "demo-" + stamp + "/bounce", To: []string{bounceAddr},
				Subject: "Your order has shipped", Text: "It is on its way."})
			return res.MessageID, err
		}, func(itemResult) string { return deliveryOutcome(ctx, rt, "demo-"+stamp+"/bounce", bounceAddr) }},
		{"a mail to SES's complaint@ simulator", func() (string, error) {
			res, err := c.Send(ctx, client.Mail{MailID: "demo-" + stamp + "/complaint", To: []string{complaintAddr},
				Subject: "Our newsletter", Text: "News of the month."})
			return res.MessageID, err
		}, func(itemResult) string { return deliveryOutcome(ctx, rt, "demo-"+stamp+"/complaint", complaintAddr) }},
		{"the next mail to the bounced address", func() (string, error) {
			res, err := c.Send(ctx, client.Mail{MailID: "demo-" + stamp + "/bounce-again", To: []string{bounceAddr},
				Subject: "Your invoice", Text: "The invoice is attached."})
			return res.MessageID, err
		}, func(itemResult) string { return "not handed to SES" }},
	}
	// Earlier runs' mail stays in the outbox: the demo counts only what it
	// adds.
	before := outboxFiles(rt.OutboxDir())
	// An earlier run suppressed the simulator's addresses, which only the
	// demo mails: lifted, each run bounces and complains again.
	for _, addr := range []string{bounceAddr, complaintAddr} {
		if _, err := rt.Feedback().Suppressions().Delete(ctx, addr); err != nil {
			return fmt.Errorf("demo: lifting an earlier run's suppression of %s: %w", addr, err)
		}
	}
	w.printf("\ndemo: sending %d sample mails through the pipeline\n", len(steps))
	for i, st := range steps {
		id, err := st.send()
		if err != nil {
			return fmt.Errorf("demo: %s: %w", st.label, err)
		}
		r, err := wait(id)
		if err != nil {
			return err
		}
		line := fmt.Sprintf("demo %d. %-36s -> %s", i+1, st.label, r.item.Outcome)
		if r.item.Error != "" {
			line += " (" + r.item.Error + ")"
		}
		if st.after != nil {
			line += ", " + st.after(r)
		}
		w.printf("%s\n", line)
	}
	if dir := rt.OutboxDir(); dir != "" {
		after := outboxFiles(dir)
		added := 0
		for f := range after {
			if !before[f] {
				added++
			}
		}
		w.printf("demo: %d mail(s) of this run in %s (%d in all)\n", added, dir, len(after))
	}
	printNextSteps(w, next, "demo-"+stamp+"/bounce")
	return nil
}

// outboxFiles is the set of .eml files in an outbox directory ("" has none).
func outboxFiles(dir string) map[string]bool {
	set := map[string]bool{}
	if dir == "" {
		return set
	}
	files, _ := filepath.Glob(filepath.Join(dir, "*.eml"))
	for _, f := range files {
		set[filepath.Base(f)] = true
	}
	return set
}

// demoNext is what the demo's next steps name: the flags that reach the
// data the demo left, and the console, if one was served.
type demoNext struct {
	// dataFlag is " --data DIR", or "" for the default directory.
	dataFlag string
	// console is the served console's URL; "" when none was served, and
	// then consoleAddr is where `mailflow dev` would serve it.
	console, consoleAddr string
}

// printNextSteps tells a newcomer where to look once the demo is over: the
// data stays, and the inspection commands and the console read it.
func printNextSteps(w *syncWriter, n demoNext, mailID string) {
	w.printf("\nnext steps (the demo's mail and its history stay in the data directory):\n")
	steps := [][2]string{
		{"mailflow executions list" + n.dataFlag, "the executions that ran, newest first"},
		{"mailflow mail status " + mailID + n.dataFlag, "one mail's lock, executions and delivery"},
		{"mailflow events" + n.dataFlag, "every state change of the demo's mails"},
		{"mailflow dlq list" + n.dataFlag, "the dead letters and why each was refused"},
	}
	switch {
	case n.console != "":
		steps = append(steps, [2]string{"mailflow dev" + n.dataFlag, "keeps the pipeline and the console (served at " + n.console + " until the demo exits) running"})
	case n.consoleAddr != "" && n.consoleAddr != "off":
		steps = append(steps, [2]string{"mailflow dev" + n.dataFlag, "keeps the pipeline running, with the web console at http://" + n.consoleAddr +
			" (`mailflow dev --demo --console " + n.consoleAddr + "` serves it during the demo)"})
	default:
		steps = append(steps, [2]string{"mailflow dev" + n.dataFlag + " --console " + console.DefaultAddr, "keeps the pipeline running, with the web console"})
	}
	width := 0
	for _, st := range steps {
		width = max(width, len(st[0]))
	}
	for _, st := range steps {
		w.printf("  %-*s  %s\n", width, st[0], st[1])
	}
}

// The mailbox simulator's addresses the demo bounces and complains from.
const (
	bounceAddr    = "bounce@simulator.amazonses.com"
	complaintAddr = "complaint@simulator.amazonses.com"
)

// deliveryOutcome waits until SES's events for the recipient are recorded
// and says what became of the mail, and whether the address is now
// suppressed.
func deliveryOutcome(ctx context.Context, rt *local.Runtime, mailID, addr string) string {
	final := map[workflow.OutcomeEventType]bool{workflow.EventBounced: true, workflow.EventComplained: true}
	deadline := time.Now().Add(demoTimeout)
	for time.Now().Before(deadline) && ctx.Err() == nil {
		m, ok, err := rt.Feedback().Deliveries().Get(ctx, mailID, time.Now())
		if err != nil {
			return "delivery record unreadable: " + err.Error()
		}
		if r, found := m.Recipient(addr); ok && found && final[r.State] {
			line := string(r.State)
			if r.Bounce != nil {
				line += fmt.Sprintf(" (%s %s)", r.Bounce.Type, r.Bounce.SubType)
			}
			if r.Complaint != nil && r.Complaint.FeedbackType != "" {
				line += " (" + r.Complaint.FeedbackType + ")"
			}
			// The consumer records the event first, then lists the
			// address: the next step needs both.
			if listed, err := rt.Feedback().Suppressions().Lookup(ctx, []string{addr}); err == nil && len(listed) > 0 {
				return line + ", address suppressed"
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	return "no bounce or complaint recorded and suppressed within " + demoTimeout.String()
}

// countRetries counts the failed attempts of the Send task in an execution.
func countRetries(ctx context.Context, rt *local.Runtime, executionID string) int {
	events, err := rt.Executions().Events(ctx, executionID)
	if err != nil {
		return 0
	}
	n := 0
	for _, ev := range events {
		if ev.Type != "TaskFailed" {
			continue
		}
		var d struct {
			Error workflow.ErrorName `json:"error"`
		}
		if json.Unmarshal(ev.Details, &d) == nil && d.Error == workflow.Throttled {
			n++
		}
	}
	return n
}

// deadLetterReason reads the newest dead letter's reason without hiding it.
func deadLetterReason(ctx context.Context, rt *local.Runtime) string {
	zero, wait := 0, 0
	msgs, err := rt.Queues().Receive(ctx, rt.Config().DeadLetterQueue, sqsstore.ReceiveParams{MaxMessages: 10, VisibilityTimeout: &zero, WaitTimeSeconds: &wait})
	if err != nil || len(msgs) == 0 {
		return "dead-letter queue empty"
	}
	m := msgs[len(msgs)-1]
	var failure struct{ Cause string }
	_ = json.Unmarshal([]byte(m.Attributes[workflow.DLQAttrFailure].StringValue), &failure)
	var cause struct {
		ErrorMessage string `json:"errorMessage"`
	}
	reason := failure.Cause
	if json.Unmarshal([]byte(failure.Cause), &cause) == nil && cause.ErrorMessage != "" {
		reason = cause.ErrorMessage
	}
	return fmt.Sprintf("in the dead-letter queue with %s=%s: %s", workflow.DLQAttrError, m.Attributes[workflow.DLQAttrError].StringValue, reason)
}
