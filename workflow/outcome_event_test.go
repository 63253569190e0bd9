package workflow_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/mailflow/mailflow/workflow"
)

// eventCase is one row of testdata/outcome-events.json, shared by
// ParseOutcomeEvent and the JSON Schema.
type eventCase struct {
	Name   string          `json:"name"`
	Valid  bool            `json:"valid"`
	Field  string          `json:"field"`  // the field an invalid event is rejected for
	GoOnly string          `json:"goOnly"` // why only the Go parser can see this rule
	Body   json.RawMessage `json:"body"`
}

func loadEventCases(t *testing.T) []eventCase {
	t.Helper()
	raw, err := os.ReadFile("testdata/outcome-events.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []eventCase
	if err := json.Unmarshal(raw, &cases); err != nil {
		t.Fatal(err)
	}
	// Bodies JSON cannot hold as table values.
	cases = append(cases,
		eventCase{Name: "duplicate type", Field: "type", GoOnly: "a schema sees one value per name",
			Body: json.RawMessage(`{"version":1,"id":"e","type":"sent","type":"accepted","mailId":"m","time":"2026-12-07T10:00:00Z"}`)},
		eventCase{Name: "duplicate in bounce", Field: "bounce.type", GoOnly: "a schema sees one value per name",
			Body: json.RawMessage(`{"version":1,"id":"e","type":"bounced","mailId":"m","time":"2026-12-07T10:00:00Z","recipient":"a@example.com","sesMessageId":"s","bounce":{"type":"Permanent","type":"Transient","subType":"General"}}`)},
		eventCase{Name: "lone surrogate", Field: "event", GoOnly: "decoders read a lone surrogate as U+FFFD",
			Body: json.RawMessage(`{"version":1,"id":"e","type":"dead-lettered","mailId":"m","time":"2026-12-07T10:00:00Z","reason":{"error":"Mail.Rejected","cause":"\ud800"}}`)},
		eventCase{Name: "array", Field: "event", Body: json.RawMessage(`[]`)},
	)
	return cases
}

func compileEventSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(workflow.OutcomeEventSchemaV1))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("outcome-event.v1.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("outcome-event.v1.json")
	if err != nil {
		t.Fatalf("schema does not compile: %v", err)
	}
	return s
}

func TestParseOutcomeEventTable(t *testing.T) {
	t.Parallel()
	for _, c := range loadEventCases(t) {
		t.Run(c.Name, func(t *testing.T) {
			e, err := workflow.ParseOutcomeEvent(c.Body)
			if c.Valid {
				if err != nil {
					t.Fatalf("ParseOutcomeEvent rejected a valid event: %v", err)
				}
				if err := e.Validate(); err != nil {
					t.Fatalf("Validate rejects a parsed event: %v", err)
				}
				return
			}
			var inv *workflow.InvalidOutcomeEventError
			if !errors.As(err, &inv) {
				t.Fatalf("ParseOutcomeEvent = %v, want *InvalidOutcomeEventError", err)
			}
			if !inv.Has(c.Field) {
				t.Fatalf("ParseOutcomeEvent error %q does not name field %q", err, c.Field)
			}
		})
	}
}

func TestOutcomeEventSchemaAgreesWithParse(t *testing.T) {
	t.Parallel()
	schema := compileEventSchema(t)
	for _, c := range loadEventCases(t) {
		t.Run(c.Name, func(t *testing.T) {
			inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(c.Body))
			if err != nil {
				if c.GoOnly == "" {
					t.Fatal(err)
				}
				return
			}
			serr := schema.Validate(inst)
			switch {
			case c.Valid && serr != nil:
				t.Fatalf("schema rejects a valid event: %v", serr)
			case !c.Valid && c.GoOnly == "" && serr == nil:
				t.Fatalf("schema accepts an event ParseOutcomeEvent rejects for %s", c.Field)
			case !c.Valid && c.GoOnly != "" && serr != nil:
				t.Fatalf("a Go-only row (%s) is rejected by the schema too: %v; drop goOnly", c.GoOnly, serr)
			}
		})
	}
}

// TestOutcomeEventSchemaAgreesWithParseInPython runs the same table
// through Python's jsonschema, so the schema's patterns mean the same
// outside Go's RE2.
func TestOutcomeEventSchemaAgreesWithParseInPython(t *testing.T) {
	t.Parallel()
	cases := loadEventCases(t)
	bodies := make([]json.RawMessage, len(cases))
	for i, c := range cases {
		bodies[i] = c.Body
	}
	valid := pythonValid(t, workflow.OutcomeEventSchemaV1, bodies)
	for i, c := range cases {
		switch {
		case c.Valid && !valid[i]:
			t.Errorf("%s: Python's jsonschema rejects a valid event", c.Name)
		case !c.Valid && c.GoOnly == "" && valid[i]:
			t.Errorf("%s: Python's jsonschema accepts an event ParseOutcomeEvent rejects for %s", c.Name, c.Field)
		case !c.Valid && c.GoOnly != "" && !valid[i]:
			t.Errorf("%s: Python's jsonschema rejects a Go-only case (%s)", c.Name, c.GoOnly)
		}
	}
}

// TestOutcomeEventRoundTrip: what Marshal writes, ParseOutcomeEvent reads
// back unchanged, and the schema accepts it.
func TestOutcomeEventRoundTrip(t *testing.T) {
	t.Parallel()
	schema := compileEventSchema(t)
	at := time.Date(2026, 12, 7, 10, 0, 0, 123000000, time.FixedZone("", 3600))
	events := []workflow.OutcomeEvent{
		{Version: 1, ID: "e1", Type: workflow.EventAccepted, MailID: "m/1", Time: at},
		{Version: 1, ID: "e2", Type: workflow.EventComplained, MailID: "m/1", Time: at, Recipient: "a@example.com", SESMessageID: "s-1", Complaint: &workflow.EventComplaint{}},
		{Version: 1, ID: "e3", Type: workflow.EventBounced, MailID: "m/1", Time: at, Recipient: "a@example.com", SESMessageID: "s-1",
			Bounce: &workflow.EventBounce{Type: "Permanent", SubType: "NoEmail", DiagnosticCode: "550 5.1.1"}},
		{Version: 1, ID: "e4", Type: workflow.EventDeadLettered, MailID: "m/1", Time: at, Reason: &workflow.EventReason{Error: string(workflow.Rejected), Cause: "not verified"}},
	}
	for _, e := range events {
		body, err := json.Marshal(e)
		if err != nil {
			t.Fatalf("%s: Marshal: %v", e.ID, err)
		}
		got, err := workflow.ParseOutcomeEvent(body)
		if err != nil {
			t.Fatalf("%s: ParseOutcomeEvent(%s): %v", e.ID, body, err)
		}
		if !got.Time.Equal(e.Time) {
			t.Errorf("%s: time %v, want %v", e.ID, got.Time, e.Time)
		}
		got.Time = e.Time
		again, _ := json.Marshal(got)
		if !bytes.Equal(again, body) {
			t.Errorf("%s: round trip changed the event:\n%s\n%s", e.ID, body, again)
		}
		inst, _ := jsonschema.UnmarshalJSON(bytes.NewReader(body))
		if err := schema.Validate(inst); err != nil {
			t.Errorf("%s: schema rejects a marshalled event %s: %v", e.ID, body, err)
		}
	}
}

func TestMarshalRefusesInvalidEvent(t *testing.T) {
	t.Parallel()
	e := workflow.OutcomeEvent{Version: 1, ID: "e1", Type: workflow.EventBounced, MailID: "m", Time: time.Now()}
	_, err := json.Marshal(e)
	var inv *workflow.InvalidOutcomeEventError
	if !errors.As(err, &inv) || !inv.Has("bounce") || !inv.Has("recipient") || !inv.Has("sesMessageId") {
		t.Fatalf("Marshal = %v, want problems at bounce, recipient and sesMessageId", err)
	}
	if e := (workflow.OutcomeEvent{Version: 1, ID: "e1", Type: workflow.EventAccepted, MailID: "m"}); e.Validate() == nil {
		t.Fatal("Validate accepts an event without a time")
	}
}

// TestParseOutcomeEventReportsAll: every problem is reported at once.
func TestParseOutcomeEventReportsAll(t *testing.T) {
	t.Parallel()
	_, err := workflow.ParseOutcomeEvent([]byte(`{"version":2,"id":"","type":"bounced","mailId":"m","time":"x","bounce":{"type":"Hard","subType":""}}`))
	var inv *workflow.InvalidOutcomeEventError
	if !errors.As(err, &inv) {
		t.Fatalf("err = %v", err)
	}
	for _, f := range []string{"version", "id", "time", "recipient", "sesMessageId", "bounce.type", "bounce.subType"} {
		if !inv.Has(f) {
			t.Errorf("error %q does not name %s", err, f)
		}
	}
	if !strings.Contains(err.Error(), `"Hard"`) {
		t.Errorf("error %q does not show the bad value", err)
	}
}

// FuzzParseOutcomeEvent: no body panics the parser, and an accepted event
// marshals to a body that parses back to the same event.
func FuzzParseOutcomeEvent(f *testing.F) {
	raw, err := os.ReadFile("testdata/outcome-events.json")
	if err != nil {
		f.Fatal(err)
	}
	var cases []eventCase
	if err := json.Unmarshal(raw, &cases); err != nil {
		f.Fatal(err)
	}
	for _, c := range cases {
		f.Add([]byte(c.Body))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		e, err := workflow.ParseOutcomeEvent(body)
		if err != nil {
			return
		}
		out, err := json.Marshal(e)
		if err != nil {
			t.Fatalf("a parsed event does not marshal: %v\n%s", err, body)
		}
		again, err := workflow.ParseOutcomeEvent(out)
		if err != nil {
			t.Fatalf("marshalled event does not parse: %v\n%s", err, out)
		}
		if !again.Time.Equal(e.Time) {
			t.Fatalf("time changed: %v then %v", e.Time, again.Time)
		}
		again.Time = e.Time
		if b, _ := json.Marshal(again); !bytes.Equal(b, out) {
			t.Fatalf("round trip changed the event:\n%s\n%s", out, b)
		}
	})
}
