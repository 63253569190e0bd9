package sessender_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/mailflow/mailflow/sender"
	"github.com/mailflow/mailflow/sender/sendertest"
	"github.com/mailflow/mailflow/sender/sessender"
	"github.com/mailflow/mailflow/testkit"
	"github.com/mailflow/mailflow/workflow"
)

// sesFaults is how SES answers for each failure class the suite asks for.
var sesFaults = map[workflow.ErrorName]testkit.Fault{
	workflow.Throttled:      testkit.SESError(429, "TooManyRequestsException", "Maximum sending rate exceeded."),
	workflow.QuotaExhausted: testkit.SESError(400, "LimitExceededException", "Daily message quota exceeded."),
	workflow.SendingPaused:  testkit.SESError(400, "SendingPausedException", "Sending is paused for this account."),
	workflow.Rejected:       testkit.SESError(400, "MessageRejected", "Email address is not verified."),
	workflow.Transient:      testkit.SESError(500, "InternalFailure", "We encountered an internal error."),
}

type harness struct {
	emulator string
	mu       sync.Mutex
	proxies  map[sender.Sender]*testkit.FaultProxy
}

func (h *harness) newSender(t *testing.T) (*sessender.Sender, *testkit.FaultProxy) {
	proxy := testkit.NewFaultProxy(t, h.emulator)
	s, err := sessender.New(sesv2.NewFromConfig(testkit.AWSConfig(proxy.URL)))
	if err != nil {
		t.Fatal(err)
	}
	h.mu.Lock()
	h.proxies[s] = proxy
	h.mu.Unlock()
	return s, proxy
}

// subject reads the emulator's store of sent mail.
func (h *harness) subject(t *testing.T, id string) (string, bool) {
	resp, err := http.Get(h.emulator + "/store")
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var store struct {
		Emails []struct {
			MessageID string `json:"messageId"`
			Subject   string `json:"subject"`
		} `json:"emails"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&store); err != nil {
		t.Fatal(err)
	}
	for _, e := range store.Emails {
		if e.MessageID == id {
			return e.Subject, true
		}
	}
	return "", false
}

// TestConformance runs the sender suite against aws-ses-v2-local, with a
// fault-injecting proxy in front of it for the error classes.
func TestConformance(t *testing.T) {
	t.Parallel()
	h := &harness{emulator: testkit.SESv2(t), proxies: map[sender.Sender]*testkit.FaultProxy{}}
	sendertest.Run(t, sendertest.Harness{
		NewSender: func(t *testing.T) sender.Sender { s, _ := h.newSender(t); return s },
		Subject: func(t *testing.T, _ sender.Sender, id string) (string, bool) {
			return h.subject(t, id)
		},
		Fail: func(t *testing.T, s sender.Sender, name workflow.ErrorName) {
			f, ok := sesFaults[name]
			if !ok {
				t.Fatalf("no SES fault for %s", name)
			}
			h.mu.Lock()
			defer h.mu.Unlock()
			h.proxies[s].Arm(f)
		},
		Fails: sender.Names,
	})
}

// TestEveryErrorClass maps every SES v2 SendEmail exception, the daily-quota
// message under each type SES might use for it, 5xx answers and a dropped
// connection.
func TestEveryErrorClass(t *testing.T) {
	t.Parallel()
	h := &harness{emulator: testkit.SESv2(t), proxies: map[sender.Sender]*testkit.FaultProxy{}}
	cases := []struct {
		fault testkit.Fault
		want  workflow.ErrorName
	}{
		{testkit.SESError(429, "TooManyRequestsException", "Maximum sending rate exceeded."), workflow.Throttled},
		{testkit.SESError(400, "Throttling", "Rate exceeded"), workflow.Throttled},
		{testkit.SESError(429, "TooManyRequestsException", "Daily message quota exceeded."), workflow.QuotaExhausted},
		{testkit.SESError(400, "Throttling", "Daily message quota exceeded."), workflow.QuotaExhausted},
		{testkit.SESError(400, "LimitExceededException", "Daily message quota exceeded."), workflow.QuotaExhausted},
		{testkit.SESError(400, "LimitExceededException", "There are too many instances of the specified resource type."), workflow.QuotaExhausted},
		{testkit.SESError(400, "SendingPausedException", "Sending is paused."), workflow.SendingPaused},
		{testkit.SESError(400, "AccountSuspendedException", "The account is suspended."), workflow.SendingPaused},
		{testkit.SESError(400, "MessageRejected", "Email address is not verified."), workflow.Rejected},
		{testkit.SESError(400, "MailFromDomainNotVerifiedException", "MAIL FROM domain not verified."), workflow.Rejected},
		{testkit.SESError(400, "BadRequestException", "Illegal header."), workflow.Rejected},
		{testkit.SESError(404, "NotFoundException", "Configuration set does not exist."), workflow.Rejected},
		{testkit.SESError(403, "AccessDeniedException", "User is not authorized to perform ses:SendEmail"), workflow.Rejected},
		{testkit.SESError(500, "InternalFailure", "internal error"), workflow.Transient},
		{testkit.SESError(503, "ServiceUnavailable", "unavailable"), workflow.Transient},
		{testkit.SESError(400, "SomeFutureException", "new"), workflow.Transient},
		{testkit.Fault{Status: 502, Body: "<html>bad gateway</html>"}, workflow.Transient},
		{testkit.Fault{Drop: true}, workflow.Transient},
	}
	s, proxy := h.newSender(t)
	for _, c := range cases {
		proxy.Arm(c.fault)
		_, err := s.Send(context.Background(), &sender.Message{
			From: "sender@example.com", To: []string{"a@example.org"}, Raw: sendertest.Raw("x"),
		})
		if got := workflow.NameOf(err); got != c.want {
			t.Errorf("%+v: error %v named %q, want %q", c.fault, err, got, c.want)
		}
	}
}

func TestNewValidates(t *testing.T) {
	t.Parallel()
	if _, err := sessender.New(nil); err == nil {
		t.Error("nil client accepted")
	}
}

// TestRequestOnTheWire checks what the adapter puts in the SendEmail
// request: envelope with Bcc, sender identity, raw bytes, configuration set
// and tags (the emulator ignores the last two for raw mail).
func TestRequestOnTheWire(t *testing.T) {
	t.Parallel()
	var got struct {
		FromEmailAddress     string
		Destination          struct{ ToAddresses, CcAddresses, BccAddresses []string }
		Content              struct{ Raw struct{ Data []byte } }
		ConfigurationSetName string
		EmailTags            []struct{ Name, Value string }
	}
	var path string
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path = r.URL.Path
		if err := json.NewDecoder(r.Body).Decode(&got); err != nil {
			t.Errorf("request body: %v", err)
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"MessageId":"0100-abc"}`))
	}))
	defer srv.Close()
	s, err := sessender.New(sesv2.NewFromConfig(testkit.AWSConfig(srv.URL)))
	if err != nil {
		t.Fatal(err)
	}
	raw := sendertest.Raw("wire")
	id, err := s.Send(context.Background(), &sender.Message{
		From: "billing@example.com", To: []string{"Ann <ann@example.org>"}, Cc: []string{"c@example.org"},
		Bcc: []string{"archive@example.com"}, Raw: raw, ConfigurationSet: "transactional",
		Tags: []workflow.Tag{{Name: "kind", Value: "receipt"}},
	})
	if err != nil || id != "0100-abc" {
		t.Fatalf("Send = %q, %v", id, err)
	}
	if path != "/v2/email/outbound-emails" || got.FromEmailAddress != "billing@example.com" ||
		strings.Join(got.Destination.ToAddresses, ",") != "Ann <ann@example.org>" ||
		strings.Join(got.Destination.CcAddresses, ",") != "c@example.org" ||
		strings.Join(got.Destination.BccAddresses, ",") != "archive@example.com" ||
		!bytes.Equal(got.Content.Raw.Data, raw) || got.ConfigurationSetName != "transactional" ||
		len(got.EmailTags) != 1 || got.EmailTags[0].Name != "kind" || got.EmailTags[0].Value != "receipt" {
		t.Fatalf("request to %s: %+v", path, got)
	}
}
