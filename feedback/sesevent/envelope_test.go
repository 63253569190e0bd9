package sesevent_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/mailflow/mailflow/feedback/sesevent"
)

// eventbridge-delivery.json is delivery.json as EventBridge delivers it to
// a rule's target: the envelope of "Amazon Simple Email Service events" in
// the EventBridge event reference, source aws.ses, the configuration set's
// ARN as its resource.
func TestParseEnvelopeDocumentedShape(t *testing.T) {
	t.Parallel()
	env, err := sesevent.ParseEnvelope(sample(t, "eventbridge-delivery.json"))
	if err != nil {
		t.Fatal(err)
	}
	if env.Version != "0" || env.Source != "aws.ses" || env.DetailType != "Email Delivered" || env.Account != "111122223333" ||
		env.Region != "eu-west-1" || len(env.Resources) != 1 || env.Resources[0] != "arn:aws:ses:eu-west-1:111122223333:configuration-set/mailflow" {
		t.Fatalf("envelope %+v", env)
	}
	want, err := sesevent.Parse(sample(t, "delivery.json"))
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(env.Detail, want) {
		t.Fatalf("detail\n got %+v\nwant %+v", env.Detail, want)
	}
	if id, ok := sesevent.MailID(env.Detail); !ok || id != "order-1234:confirmation" {
		t.Fatalf("MailID = %q, %v", id, ok)
	}
	// Round trip: what is parsed marshals and parses back to the same value.
	b, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	again, err := sesevent.ParseEnvelope(b)
	if err != nil {
		t.Fatalf("re-parse: %v\n%s", err, b)
	}
	if !reflect.DeepEqual(again, env) {
		t.Fatalf("round trip\n got %+v\nwant %+v", again, env)
	}
}

// Every record type wraps with its documented detail-type and parses back.
func TestNewEnvelopeEveryType(t *testing.T) {
	t.Parallel()
	files := map[string]string{
		"send.json": "Email Sent", "delivery.json": "Email Delivered", "bounce.json": "Email Bounced",
		"complaint.json": "Email Complaint Received", "reject.json": "Email Rejected",
		"deliverydelay.json": "Email Delivery Delayed", "renderingfailure.json": "Email Rendering Failed",
	}
	at := time.Date(2026, 3, 2, 10, 0, 0, 450e6, time.UTC)
	for file, detailType := range files {
		e, err := sesevent.Parse(sample(t, file))
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		env, err := sesevent.NewEnvelope(e, "id-"+file, "000000000000", "us-east-1", "arn:aws:ses:us-east-1:000000000000:configuration-set/mailflow", at)
		if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		if env.DetailType != detailType || env.Time != "2026-03-02T10:00:00Z" {
			t.Errorf("%s: detail-type %q time %q", file, env.DetailType, env.Time)
		}
		b, _ := json.Marshal(env)
		got, err := sesevent.ParseEnvelope(b)
		if err != nil {
			t.Fatalf("%s: %v\n%s", file, err, b)
		}
		if !reflect.DeepEqual(got, env) {
			t.Errorf("%s: round trip\n got %+v\nwant %+v", file, got, env)
		}
	}
}

func TestNewEnvelopeRefusesInvalidRecord(t *testing.T) {
	t.Parallel()
	_, err := sesevent.NewEnvelope(sesevent.Event{EventType: "Open"}, "x", "000000000000", "us-east-1", "", time.Now())
	if err == nil || !strings.Contains(err.Error(), "detail: ") || !strings.Contains(err.Error(), `"Open"`) {
		t.Fatalf("err = %v", err)
	}
}

func TestParseEnvelopeRefuses(t *testing.T) {
	t.Parallel()
	base := func() map[string]any {
		var m map[string]any
		if err := json.Unmarshal(sample(t, "eventbridge-delivery.json"), &m); err != nil {
			t.Fatal(err)
		}
		return m
	}
	cases := map[string]struct {
		change func(m map[string]any)
		want   []string
	}{
		"version":        {func(m map[string]any) { m["version"] = "1" }, []string{`version: want "0", got "1"`}},
		"id":             {func(m map[string]any) { delete(m, "id") }, []string{"id: required"}},
		"source":         {func(m map[string]any) { m["source"] = "mailflow" }, []string{`source: want "aws.ses", got "mailflow"`}},
		"account":        {func(m map[string]any) { m["account"] = "12" }, []string{`account: not a 12-digit AWS account id: "12"`}},
		"time":           {func(m map[string]any) { m["time"] = "yesterday" }, []string{`time: not an RFC 3339 timestamp: "yesterday"`}},
		"region":         {func(m map[string]any) { m["region"] = "" }, []string{`region: not an AWS region: ""`}},
		"resource":       {func(m map[string]any) { m["resources"] = []any{"mailflow"} }, []string{`resources[0]: not an ARN: "mailflow"`}},
		"detail missing": {func(m map[string]any) { delete(m, "detail") }, []string{"detail: required"}},
		"detail invalid": {func(m map[string]any) { delete(m["detail"].(map[string]any)["mail"].(map[string]any), "messageId") },
			[]string{"detail: ", "mail.messageId: required"}},
		"detail-type mismatch": {func(m map[string]any) { m["detail-type"] = "Email Bounced" },
			[]string{`detail-type: want "Email Delivered" for eventType "Delivery", got "Email Bounced"`}},
		"several at once": {func(m map[string]any) { m["version"] = "2"; m["source"] = "x" }, []string{"version: ", "source: "}},
		"wrong type":      {func(m map[string]any) { m["resources"] = "arn:x" }, []string{"envelope resources: want a JSON []string"}},
	}
	for name, c := range cases {
		m := base()
		c.change(m)
		b, _ := json.Marshal(m)
		_, err := sesevent.ParseEnvelope(b)
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		for _, w := range c.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%s: error %q does not contain %q", name, err, w)
			}
		}
	}
	for _, bad := range []string{"", "{", `{"version":"0"} {}`, "[]"} {
		if _, err := sesevent.ParseEnvelope([]byte(bad)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}
