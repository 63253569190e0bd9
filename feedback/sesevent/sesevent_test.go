package sesevent_test

import (
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/mailflow/mailflow/feedback/sesevent"
	"github.com/mailflow/mailflow/workflow"
)

// The records in testdata follow the shapes of "Examples of event data that
// Amazon SES publishes to Amazon SNS"
// (https://docs.aws.amazon.com/ses/latest/dg/event-publishing-retrieving-sns-examples.html),
// sent through a configuration set so that mail.tags is present.
func sample(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestParseDocumentedRecords(t *testing.T) {
	t.Parallel()
	cases := map[string]func(t *testing.T, e sesevent.Event){
		"bounce.json": func(t *testing.T, e sesevent.Event) {
			b := e.Bounce
			if e.EventType != sesevent.TypeBounce || b == nil || b.BounceType != sesevent.BouncePermanent || b.BounceSubType != "General" ||
				len(b.BouncedRecipients) != 1 || b.BouncedRecipients[0].Status != "5.1.1" || b.BouncedRecipients[0].DiagnosticCode != "smtp; 550 5.1.1 user unknown" {
				t.Fatalf("bounce %+v", b)
			}
		},
		"complaint.json": func(t *testing.T, e sesevent.Event) {
			c := e.Complaint
			if c == nil || c.ComplaintFeedbackType != "abuse" || c.ComplainedRecipients[0].EmailAddress != "ada@example.org" {
				t.Fatalf("complaint %+v", c)
			}
		},
		"delivery.json": func(t *testing.T, e sesevent.Event) {
			d := e.Delivery
			if d == nil || d.ProcessingTimeMillis != 588 || d.SMTPResponse != "250 2.6.0 Message received" || d.Recipients[0] != "ada@example.org" {
				t.Fatalf("delivery %+v", d)
			}
		},
		"send.json": func(t *testing.T, e sesevent.Event) {
			if e.Send == nil {
				t.Fatal("send object missing")
			}
		},
		"reject.json": func(t *testing.T, e sesevent.Event) {
			if e.Reject == nil || e.Reject.Reason != "Bad content" {
				t.Fatalf("reject %+v", e.Reject)
			}
		},
		"deliverydelay.json": func(t *testing.T, e sesevent.Event) {
			d := e.DeliveryDelay
			if d == nil || d.DelayType != "TransientCommunicationFailure" || d.DelayedRecipients[0].Status != "4.4.1" {
				t.Fatalf("deliveryDelay %+v", d)
			}
		},
		"renderingfailure.json": func(t *testing.T, e sesevent.Event) {
			if e.Failure == nil || e.Failure.TemplateName != "OrderTemplate" {
				t.Fatalf("failure %+v", e.Failure)
			}
		},
	}
	for name, check := range cases {
		t.Run(name, func(t *testing.T) {
			e, err := sesevent.Parse(sample(t, name))
			if err != nil {
				t.Fatal(err)
			}
			if e.Mail.MessageID != "0102018e0000aaaa-11112222-3333-4444-5555-666677778888-000000" || e.Mail.Destination[0] != "ada@example.org" ||
				e.Mail.Tags["ses:configuration-set"][0] != "mailflow" || e.Mail.HeadersTruncated {
				t.Fatalf("mail %+v", e.Mail)
			}
			if id, ok := sesevent.MailID(e); !ok || id != "order-1234:confirmation" {
				t.Fatalf("MailID = %q, %v", id, ok)
			}
			check(t, e)
		})
	}
}

// mutate decodes a sample into generic JSON, lets f change it and encodes it.
func mutate(t *testing.T, name string, f func(m map[string]any)) []byte {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(sample(t, name), &m); err != nil {
		t.Fatal(err)
	}
	f(m)
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func obj(m map[string]any, key string) map[string]any { return m[key].(map[string]any) }

func TestParseRejectsNamingTheField(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name, file string
		f          func(m map[string]any)
		want       string
	}{
		{"unknown type", "send.json", func(m map[string]any) { m["eventType"] = "Open" }, `eventType: "Open" is not one of`},
		{"no type", "send.json", func(m map[string]any) { delete(m, "eventType") }, "eventType: required"},
		{"no message id", "delivery.json", func(m map[string]any) { delete(obj(m, "mail"), "messageId") }, "mail.messageId: required"},
		{"bad mail timestamp", "delivery.json", func(m map[string]any) { obj(m, "mail")["timestamp"] = "2026-03-02 10:00" }, `mail.timestamp: not an RFC 3339 timestamp: "2026-03-02 10:00"`},
		{"no destination", "send.json", func(m map[string]any) { obj(m, "mail")["destination"] = []any{} }, "mail.destination: at least one address required"},
		{"missing object", "bounce.json", func(m map[string]any) { delete(m, "bounce") }, `bounce: required when eventType is "Bounce"`},
		{"foreign object", "delivery.json", func(m map[string]any) { m["bounce"] = obj(mutateMap(t, "bounce.json"), "bounce") }, `bounce: present but eventType is "Delivery"`},
		{"bad bounce type", "bounce.json", func(m map[string]any) { obj(m, "bounce")["bounceType"] = "Hard" }, `bounce.bounceType: "Hard" is not one of`},
		{"no bounce recipient address", "bounce.json", func(m map[string]any) {
			obj(m, "bounce")["bouncedRecipients"] = []any{map[string]any{"status": "5.1.1"}}
		}, "bounce.bouncedRecipients[0].emailAddress: required"},
		{"no feedback id", "complaint.json", func(m map[string]any) { delete(obj(m, "complaint"), "feedbackId") }, "complaint.feedbackId: required"},
		{"bad delivery timestamp", "delivery.json", func(m map[string]any) { obj(m, "delivery")["timestamp"] = "yesterday" }, "delivery.timestamp: not an RFC 3339"},
		{"negative processing time", "delivery.json", func(m map[string]any) { obj(m, "delivery")["processingTimeMillis"] = -1 }, "delivery.processingTimeMillis: negative: -1"},
		{"wrong JSON type", "delivery.json", func(m map[string]any) { obj(m, "delivery")["processingTimeMillis"] = "588" }, "delivery.processingTimeMillis: want a JSON int64"},
		{"no reject reason", "reject.json", func(m map[string]any) { obj(m, "reject")["reason"] = "" }, "reject.reason: required"},
		{"no delay type", "deliverydelay.json", func(m map[string]any) { delete(obj(m, "deliveryDelay"), "delayType") }, "deliveryDelay.delayType: required"},
		{"no template", "renderingfailure.json", func(m map[string]any) { delete(obj(m, "failure"), "templateName") }, "failure.templateName: required"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, err := sesevent.Parse(mutate(t, c.file, c.f))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error = %v, want it to contain %q", err, c.want)
			}
		})
	}
	if _, err := sesevent.Parse(append(sample(t, "send.json"), []byte(`{}`)...)); err == nil || !strings.Contains(err.Error(), "trailing data") {
		t.Fatalf("trailing record: %v", err)
	}
}

func mutateMap(t *testing.T, name string) map[string]any {
	var m map[string]any
	if err := json.Unmarshal(sample(t, name), &m); err != nil {
		t.Fatal(err)
	}
	return m
}

func TestMailID(t *testing.T) {
	t.Parallel()
	e, err := sesevent.Parse(sample(t, "send.json"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		values []string
		want   bool
	}{
		{nil, false},
		{[]string{"a", "b"}, false},
		{[]string{"has space"}, false},
		{[]string{strings.Repeat("x", 201)}, false},
		{[]string{strings.Repeat("x", 200)}, true},
		{[]string{"A-z0_d9_u_c_a_s-"}, true}, // "A-z0.9_:@/-", encoded as SES takes it
		{[]string{"A-z0.9"}, false},          // a "." SES would have refused
	} {
		e.Mail.Tags = map[string][]string{sesevent.MailIDTag: c.values}
		if c.values == nil {
			e.Mail.Tags = nil
		}
		if id, ok := sesevent.MailID(e); ok != c.want || (ok && sesevent.MailIDTagValue(id) != c.values[0]) {
			t.Errorf("MailID with tag %q = %q, %v; want ok %v", c.values, id, ok, c.want)
		}
	}
}

// FuzzParse checks that Parse never panics and that whatever it accepts
// survives a marshal and a second Parse unchanged.
func FuzzParse(f *testing.F) {
	entries, err := os.ReadDir("testdata")
	if err != nil {
		f.Fatal(err)
	}
	for _, e := range entries {
		if !e.IsDir() {
			f.Add(sample(f, e.Name()))
		}
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		e, err := sesevent.Parse(data)
		if err != nil {
			return
		}
		out, err := json.Marshal(e)
		if err != nil {
			t.Fatal(err)
		}
		again, err := sesevent.Parse(out)
		if err != nil {
			t.Fatalf("re-parse of %s: %v", out, err)
		}
		if !reflect.DeepEqual(e, again) {
			t.Fatalf("round trip changed the event:\n%+v\n%+v", e, again)
		}
	})
}

// TestMailIDAgreesWithWorkflow holds MailID to the queue message's own
// mailId rule, which workflow does not export.
func TestMailIDAgreesWithWorkflow(t *testing.T) {
	t.Parallel()
	for _, id := range []string{"m-1", "order:42/receipt@shop", "a.b_c", "", "has space", "ü", "x+y", strings.Repeat("x", 200), strings.Repeat("x", 201)} {
		body, _ := json.Marshal(map[string]any{"version": 1, "mailId": id, "from": "noreply@example.com", "to": []string{"a@example.org"}, "subject": "Hi", "text": "Hello"})
		_, werr := workflow.Parse(body, workflow.Limits{AttachmentPrefix: "attachments/", AllowedSenders: []string{"example.com"}})
		_, ok := sesevent.MailID(sesevent.Event{Mail: sesevent.Mail{Tags: map[string][]string{sesevent.MailIDTag: {sesevent.MailIDTagValue(id)}}}})
		if ok != (werr == nil) {
			t.Errorf("mailId %q: MailID ok %v, workflow.Parse error %v", id, ok, werr)
		}
	}
}
