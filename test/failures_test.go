package test

import (
	"context"
	"encoding/json"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/mailflow/mailflow/testkit"
	"github.com/mailflow/mailflow/workflow"
)

// TestPermanentFailuresAreDeadLettered sends three mails that can never go
// out and finds each in the dead-letter queue with its reason, and nothing
// delivered.
func TestPermanentFailuresAreDeadLettered(t *testing.T) {
	t.Parallel()
	d := startDev(t, t.TempDir(), "--ses-verified", "billing@example.com")
	cases := map[string]struct {
		body  string
		error workflow.ErrorName
		cause string
	}{
		"e2e-fail-invalid": {`{"version":1,"mailId":"e2e-fail-invalid","to":["not an address"],"subject":"s","text":"t"}`,
			workflow.InvalidMessage, "to[0]: not an e-mail address"},
		"e2e-fail-missing": {`{"version":1,"mailId":"e2e-fail-missing","to":["a@example.org"],"subject":"s","text":"t","attachments":[{"key":"attachments/never-uploaded.pdf"}]}`,
			workflow.AttachmentMissing, "attachments/never-uploaded.pdf"},
		"e2e-fail-unverified": {`{"version":1,"mailId":"e2e-fail-unverified","from":"someone@example.com","to":["a@example.org"],"subject":"s","text":"t"}`,
			workflow.Rejected, "not verified"},
	}
	for _, c := range cases {
		d.sendRaw(t, c.body)
	}
	eventually(t, 60*time.Second, "the source queue to drain", func() bool { return d.queueDepth(t, "mailflow-source") == 0 })
	eventually(t, 10*time.Second, "three dead letters", func() bool { return d.queueDepth(t, "mailflow-dlq") == 3 })

	sqsc, _ := d.clients()
	out, err := sqsc.ReceiveMessage(context.Background(), &sqs.ReceiveMessageInput{
		QueueUrl: aws.String(d.queueURL("mailflow-dlq")), MaxNumberOfMessages: 10, MessageAttributeNames: []string{"All"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(out.Messages) != 3 {
		t.Fatalf("%d dead letters", len(out.Messages))
	}
	for _, m := range out.Messages {
		var body struct {
			MailID string `json:"mailId"`
		}
		json.Unmarshal([]byte(aws.ToString(m.Body)), &body)
		want, ok := cases[body.MailID]
		if !ok {
			t.Fatalf("unexpected dead letter %s", aws.ToString(m.Body))
		}
		if got := workflow.ErrorName(aws.ToString(m.MessageAttributes[workflow.DLQAttrError].StringValue)); got != want.error {
			t.Errorf("%s: error attribute %q, want %q", body.MailID, got, want.error)
		}
		var failure struct{ Error, Cause string }
		if err := json.Unmarshal([]byte(aws.ToString(m.MessageAttributes[workflow.DLQAttrFailure].StringValue)), &failure); err != nil {
			t.Errorf("%s: failure attribute: %v", body.MailID, err)
		}
		if !strings.Contains(failure.Cause, want.cause) {
			t.Errorf("%s: cause %q does not say %q", body.MailID, failure.Cause, want.cause)
		}
		if aws.ToString(m.MessageAttributes[workflow.DLQAttrExecutionID].StringValue) == "" {
			t.Errorf("%s: no execution id", body.MailID)
		}
	}
	if n := len(d.outbox(t)); n != 0 {
		t.Fatalf("%d mails delivered", n)
	}
}

// TestSMTPOutageDelaysDelivery relays to an SMTP server that is down. SES
// (the simulator) takes the mail all the same, as SES does when a
// recipient's server is unreachable; the relay retries it, a
// DeliveryDelay is recorded, and once the server is up the retry
// delivers it and the delivery is recorded.
func TestSMTPOutageDelaysDelivery(t *testing.T) {
	t.Parallel()
	smtpAddr := testkit.FreeAddr(t)
	d := startDev(t, t.TempDir(), "--smtp", smtpAddr)
	d.sendRaw(t, `{"version":1,"mailId":"e2e-delayed-1","to":["a@example.org"],"subject":"later","text":"t"}`)
	eventually(t, 60*time.Second, "SES to take the mail", func() bool { return strings.Contains(d.output(), "sent 1") })
	events := func() string {
		out, _ := exec.Command(binary, "events", "--data", d.data).CombinedOutput()
		return string(out)
	}
	eventually(t, 30*time.Second, "the delay to be recorded", func() bool { return strings.Contains(events(), "delayed") })
	mp := testkit.StartMailpitAt(t, smtpAddr)
	// The relay's first retry comes 30 s after the first try.
	eventually(t, 90*time.Second, "the retried mail to arrive", func() bool { return len(mp.Messages(t)) == 1 })
	eventually(t, 30*time.Second, "the delivery to be recorded", func() bool { return strings.Contains(events(), "delivered") })
	if n := len(mp.Messages(t)); n != 1 {
		t.Fatalf("%d deliveries", n)
	}
}
