package workflow_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/santhosh-tekuri/jsonschema/v6"

	"github.com/mailflow/mailflow/feedback/sesevent"
	"github.com/mailflow/mailflow/workflow"
)

var testLimits = workflow.Limits{
	AttachmentPrefix: "attachments/",
	AllowedSenders:   []string{"example.com", "billing@shop.example.com"},
	DefaultSender:    "noreply@example.com",
}

// messageCase is one row of testdata/messages.json, shared by the Go
// validation and the JSON Schema.
type messageCase struct {
	Name   string          `json:"name"`
	Valid  bool            `json:"valid"`
	Field  string          `json:"field"`  // the field an invalid body is rejected for
	GoOnly string          `json:"goOnly"` // why only the Go validation can see this rule
	Body   json.RawMessage `json:"body"`

	// Generated parts, to keep the table readable.
	Recipients   int    `json:"recipients"`
	SubjectBytes int    `json:"subjectBytes"`
	SubjectRune  string `json:"subjectRune"`
	SubjectRunes int    `json:"subjectRunes"`
	MailIDLength int    `json:"mailIdLength"`
	Tags         int    `json:"tags"`
}

func (c messageCase) body(t *testing.T) []byte {
	t.Helper()
	if c.Recipients == 0 && c.SubjectBytes == 0 && c.SubjectRunes == 0 && c.MailIDLength == 0 && c.Tags == 0 {
		return c.Body
	}
	var m map[string]any
	dec := json.NewDecoder(bytes.NewReader(c.Body))
	dec.UseNumber()
	if err := dec.Decode(&m); err != nil {
		t.Fatal(err)
	}
	if c.Recipients > 0 {
		to := make([]string, c.Recipients)
		for i := range to {
			to[i] = fmt.Sprintf("r%d@example.org", i)
		}
		m["to"] = to
	}
	if c.SubjectBytes > 0 {
		m["subject"] = strings.Repeat("a", c.SubjectBytes)
	}
	if c.SubjectRunes > 0 {
		m["subject"] = strings.Repeat(c.SubjectRune, c.SubjectRunes)
	}
	if c.MailIDLength > 0 {
		m["mailId"] = strings.Repeat("x", c.MailIDLength)
	}
	if c.Tags > 0 {
		tags := make([]map[string]string, c.Tags)
		for i := range tags {
			tags[i] = map[string]string{"name": fmt.Sprintf("t%d", i), "value": "v"}
		}
		m["tags"] = tags
	}
	b, err := json.Marshal(m)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func loadCases(t *testing.T) []messageCase {
	t.Helper()
	b, err := os.ReadFile("testdata/messages.json")
	if err != nil {
		t.Fatal(err)
	}
	var cases []messageCase
	if err := json.Unmarshal(b, &cases); err != nil {
		t.Fatal(err)
	}
	return cases
}

func compileSchema(t *testing.T) *jsonschema.Schema {
	t.Helper()
	doc, err := jsonschema.UnmarshalJSON(bytes.NewReader(workflow.MessageSchemaV1))
	if err != nil {
		t.Fatal(err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource("message.v1.json", doc); err != nil {
		t.Fatal(err)
	}
	s, err := c.Compile("message.v1.json")
	if err != nil {
		t.Fatalf("schema does not compile: %v", err)
	}
	return s
}

func TestParseTable(t *testing.T) {
	t.Parallel()
	for _, c := range loadCases(t) {
		t.Run(c.Name, func(t *testing.T) {
			_, err := workflow.Parse(c.body(t), testLimits)
			if c.Valid {
				if err != nil {
					t.Fatalf("Parse rejected a valid message: %v", err)
				}
				return
			}
			var inv *workflow.InvalidMessageError
			if !errors.As(err, &inv) {
				t.Fatalf("Parse = %v, want *InvalidMessageError", err)
			}
			if !inv.Has(c.Field) {
				t.Fatalf("Parse error %q does not name field %q", err, c.Field)
			}
		})
	}
}

// TestSchemaAgreesWithParse proves that the JSON Schema published for other
// languages accepts and rejects the same messages as Parse, except for the
// rules only the deployment knows or JSON Schema cannot express, which the
// table names.
func TestSchemaAgreesWithParse(t *testing.T) {
	t.Parallel()
	schema := compileSchema(t)
	for _, c := range loadCases(t) {
		t.Run(c.Name, func(t *testing.T) {
			inst, err := jsonschema.UnmarshalJSON(bytes.NewReader(c.body(t)))
			if err != nil {
				t.Fatal(err)
			}
			serr := schema.Validate(inst)
			switch {
			case c.Valid && serr != nil:
				t.Fatalf("schema rejects a valid message: %v", serr)
			case !c.Valid && c.GoOnly == "" && serr == nil:
				t.Fatalf("schema accepts a message Parse rejects for %s", c.Field)
			case !c.Valid && c.GoOnly != "" && serr != nil:
				t.Fatalf("schema now rejects a Go-only case (%s): update the table: %v", c.GoOnly, serr)
			}
		})
	}
}

// The mailId tag's name is mailflow's: a producer using it is told so, and
// the name is the one the SES event records are read with.
func TestMailIDTagIsReserved(t *testing.T) {
	t.Parallel()
	if workflow.MailIDTag != sesevent.MailIDTag {
		t.Fatalf("workflow reserves tag %q, SES events are read with %q", workflow.MailIDTag, sesevent.MailIDTag)
	}
	body := `{"version":1,"mailId":"m","from":"a@example.com","to":["a@example.org"],"subject":"s","text":"t",` +
		`"tags":[{"name":"kind","value":"receipt"},{"name":"mailflow-mail-id","value":"other"}]}`
	_, err := workflow.Parse([]byte(body), testLimits)
	if err == nil || !strings.Contains(err.Error(), `tags[1].name: "mailflow-mail-id" is reserved`) {
		t.Fatalf("a producer's mailflow-mail-id tag: %v, want it refused as reserved at tags[1].name", err)
	}
}

func TestParseErrorNamesFieldAndRule(t *testing.T) {
	t.Parallel()
	body := `{"version":1,"mailId":"m","from":"a@example.com","to":["a@example.org","b@example.org","c@example.org","oops"],"subject":"s","text":"t"}`
	_, err := workflow.Parse([]byte(body), testLimits)
	var fe *workflow.FieldError
	if !errors.As(err, &fe) {
		t.Fatalf("got %v, want a *FieldError", err)
	}
	if got, want := fe.Error(), "to[3]: not an e-mail address"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

func TestParseReportsEveryProblem(t *testing.T) {
	t.Parallel()
	body := `{"version":3,"mailId":"","to":["x"],"subject":"a\nb","extra":1}`
	_, err := workflow.Parse([]byte(body), workflow.Limits{AttachmentPrefix: "a/"})
	var inv *workflow.InvalidMessageError
	if !errors.As(err, &inv) {
		t.Fatalf("got %v", err)
	}
	for _, f := range []string{"extra", "mailId"} {
		if !inv.Has(f) {
			t.Errorf("error %q does not name %s", err, f)
		}
	}
	// Decoding problems stop before the rules, so fix them and look again.
	body = `{"version":3,"mailId":"a b","to":["x"],"subject":"a\nb"}`
	_, err = workflow.Parse([]byte(body), workflow.Limits{AttachmentPrefix: "a/"})
	if !errors.As(err, &inv) {
		t.Fatalf("got %v", err)
	}
	for _, f := range []string{"version", "mailId", "from", "to[0]", "subject", "text"} {
		if !inv.Has(f) {
			t.Errorf("error %q does not name %s", err, f)
		}
	}
}

func TestParseRejectsHostileEncodings(t *testing.T) {
	t.Parallel()
	for name, body := range map[string]string{
		"duplicate key":   `{"version":1,"mailId":"m","to":["a@example.org"],"to":["b@evil.example.net"],"subject":"s","text":"t"}`,
		"invalid UTF-8":   "{\"version\":1,\"mailId\":\"m\",\"to\":[\"a@example.org\"],\"subject\":\"\xff\",\"text\":\"t\"}",
		"trailing data":   `{"version":1,"mailId":"m","to":["a@example.org"],"subject":"s","text":"t"} {}`,
		"empty":           ``,
		"too large":       `{"version":1,"mailId":"m","to":["a@example.org"],"subject":"s","text":"` + strings.Repeat("x", workflow.DefaultMaxBodyBytes) + `"}`,
		"nested null":     `{"version":1,"mailId":"m","to":["a@example.org"],"subject":"s","text":"t","attachments":[{"key":null}]}`,
		"string of nulls": `{"version":1,"mailId":"m","to":["a@example.org"],"subject":"s\u0000","text":"t"}`,
	} {
		t.Run(name, func(t *testing.T) {
			if _, err := workflow.Parse([]byte(body), testLimits); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestDefaultSender(t *testing.T) {
	t.Parallel()
	body := []byte(`{"version":1,"mailId":"m","to":["a@example.org"],"subject":"s","text":"t"}`)
	m, err := workflow.Parse(body, testLimits)
	if err != nil {
		t.Fatal(err)
	}
	if got := m.Sender(testLimits); got != testLimits.DefaultSender {
		t.Fatalf("Sender = %q", got)
	}
	noDefault := testLimits
	noDefault.DefaultSender = ""
	_, err = workflow.Parse(body, noDefault)
	var inv *workflow.InvalidMessageError
	if !errors.As(err, &inv) || !inv.Has("from") {
		t.Fatalf("without a default sender: %v", err)
	}
}

func TestLimitsValidate(t *testing.T) {
	t.Parallel()
	if err := testLimits.Validate(); err != nil {
		t.Fatal(err)
	}
	bad := workflow.Limits{AttachmentPrefix: "attachments", AllowedSenders: []string{"not a domain"}, DefaultSender: "x@other.example", MaxBodyBytes: -1}
	err := bad.Validate()
	if err == nil {
		t.Fatal("accepted")
	}
	for _, want := range []string{"AttachmentPrefix", "AllowedSenders[0]", "DefaultSender", "MaxBodyBytes"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q does not mention %s", err, want)
		}
	}
}

// TestReadmeExample keeps the README's message example a valid message.
func TestReadmeExample(t *testing.T) {
	t.Parallel()
	b, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	const start = "<!-- message-example -->\n```json\n"
	i := bytes.Index(b, []byte(start))
	if i < 0 {
		t.Fatal("README.md has no message example marked <!-- message-example -->")
	}
	rest := b[i+len(start):]
	j := bytes.Index(rest, []byte("```"))
	if j < 0 {
		t.Fatal("unterminated example")
	}
	limits := workflow.Limits{AttachmentPrefix: "attachments/", AllowedSenders: []string{"example.com"}}
	m, err := workflow.Parse(rest[:j], limits)
	if err != nil {
		t.Fatalf("README example does not parse: %v", err)
	}
	if len(m.Attachments) == 0 || m.HTML == "" || m.Text == "" {
		t.Fatal("README example should show attachments, text and html")
	}
}
