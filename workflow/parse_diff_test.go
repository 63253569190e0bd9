package workflow

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"reflect"
	"slices"
	"strings"
	"testing"
)

// TableBodies are the bodies of the shared message table
// (testdata/messages.json), the seeds of both fuzz targets.
func TableBodies(tb testing.TB) [][]byte {
	b, err := os.ReadFile("testdata/messages.json")
	if err != nil {
		tb.Fatal(err)
	}
	var cases []struct {
		Body json.RawMessage `json:"body"`
	}
	if err := json.Unmarshal(b, &cases); err != nil {
		tb.Fatal(err)
	}
	bodies := make([][]byte, len(cases))
	for i, c := range cases {
		bodies[i] = c.Body
	}
	return bodies
}

// diffLimits are the limits the differential fuzz target checks every input
// against: the ones the tests use, and tight ones that reach the size limit
// and the missing-sender rule.
var diffLimits = []Limits{
	{AttachmentPrefix: "attachments/", AllowedSenders: []string{"example.com", "billing@shop.example.com"}, DefaultSender: "noreply@example.com"},
	{AttachmentPrefix: "a/", MaxBodyBytes: 160},
}

// FuzzParseMatchesReference shows that Parse returns the same Message and the
// same error as the decoder it replaced (parse_reference_test.go).
func FuzzParseMatchesReference(f *testing.F) {
	for _, body := range TableBodies(f) {
		f.Add(body)
	}
	for _, s := range diffSeeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		for _, l := range diffLimits {
			checkSameAsReference(t, body, l)
		}
	})
}

// diffSeeds are hostile and odd encodings that the table does not hold.
var diffSeeds = []string{
	`{"version":1,"mailId":"m","to":["a@example.org"],"to":["b@example.org"],"subject":"s","text":"t"}`,
	"{\"version\":1,\"mailId\":\"m\",\"to\":[\"a@example.org\"],\"subject\":\"\xff\",\"text\":\"t\"}",
	`{"version":1,"mailId":"m","to":["a@example.org"],"subject":"s","text":"t"} {}`,
	`{"version":1,"mailId":"m","to":["a@example.org"],"subject":"s","text":"t"} ]}`,
	``,
	`null`,
	`{"version":1,"mailId":"m","to":["a@example.org"],"subject":"s","text":"t","attachments":[{"key":null}]}`,
	`{"version":1,"mailId":"m","to":["a@example.org"],"subject":"s\u0000","text":"t"}`,
	`{"version":1e400,"mailId":"m","to":["a@example.org"],"to":[1],"subject":"s","text":"t","headers":{"X-A":"1","X-A":2}}`,
	`{"version":-0,"mailId":"\ud800\u0041","to":[null,"a@example.org",3],"subject":"s","text":"t","headers":{"X-A":1,"X-B":true,"x":{}}}`,
	`{"a":{"b":[{"c":1,"c":2}]}}`,
	`[{"":{"a":1,"a":2}}]`,
	`{"version":1,"mailId":"m","to":["a@example.org"],"subject":"s","text":"t","attachments":[null,{},{"key":"attachments/x","inline":"yes","contentId":"","extra":1}],"tags":[{"name":1},[]]}`,
	`{"version":"1","mailId":"m","from":"x@evil.example","to":["a@example.org"],"subject":"s","html":"h","htmlKey":"attachments/../x","tags":[{"name":"a b","value":"c"}],"configurationSet":"a.b"}`,
	`{"attachments":[{"inline":t0`,
	`{"a/b~c":{"x":[1,{"c":1,"c":2}]}}`,
	`{"\ud800":1,"\ufffd":2}`,
	`{"version":1,"mailId":"m","to":["a@example.org"],"subject":"\ud800\udc00\ud800x\udbff\udfff\udc00","text":"t"}`,
	`{"tags":[{"value":1,"name":[],"zz":1}],"headers":{"X-B":1,"X-A":[],"x y":null},"attachments":[{"inline":1,"key":2},{"inline":true}],"to":{}}`,
}

// checkSameAsReference fails t when Parse and refParse disagree on body.
func checkSameAsReference(t *testing.T, body []byte, l Limits) {
	t.Helper()
	m, err := Parse(body, l)
	rm, rerr := refParse(body, l)
	if !reflect.DeepEqual(m, rm) {
		t.Fatalf("Parse(%q) message\n got %#v\nwant %#v", body, m, rm)
	}
	if (err == nil) != (rerr == nil) {
		t.Fatalf("Parse(%q) error\n got %v\nwant %v", body, err, rerr)
	}
	if err == nil {
		return
	}
	var inv, rinv *InvalidMessageError
	if !errors.As(err, &inv) || !errors.As(rerr, &rinv) {
		t.Fatalf("Parse(%q) error types differ: %T, %T", body, err, rerr)
	}
	if got, want := problemTexts(inv), problemTexts(rinv); !slices.Equal(got, want) {
		t.Fatalf("Parse(%q) problems\n got %q\nwant %q", body, got, want)
	}
}

// problemTexts lists the problems of e. The old decoder reported header
// values of the wrong type in map order, that is at random, so a run of
// them is compared sorted.
func problemTexts(e *InvalidMessageError) []string {
	texts := make([]string, len(e.Problems))
	for i, p := range e.Problems {
		texts[i] = p.Error()
	}
	isHeaderType := func(s string) bool {
		return strings.HasPrefix(s, "headers.") && strings.HasSuffix(s, ": must be a string")
	}
	for i := 0; i < len(texts); {
		j := i
		for j < len(texts) && isHeaderType(texts[j]) {
			j++
		}
		if j > i {
			slices.Sort(texts[i:j])
			i = j
		} else {
			i++
		}
	}
	return texts
}

// benchBody is a typical message: a few recipients, text and HTML, one
// attachment, a tag.
var benchBody = []byte(`{"version":1,"mailId":"order:1042/receipt","from":"\"Shop\" <billing@shop.example.com>",` +
	`"to":["Ann Example <ann@example.org>"],"cc":["bob@example.org"],"subject":"Your receipt for order 1042",` +
	`"text":"Thank you for your order. Your receipt is attached.","html":"<p>Thank you for your order.</p>",` +
	`"headers":{"X-Campaign":"receipts"},` +
	`"attachments":[{"key":"attachments/1042/receipt.pdf","filename":"receipt.pdf","contentType":"application/pdf"}],` +
	`"tags":[{"name":"kind","value":"receipt"}]}`)

func BenchmarkParse(b *testing.B) {
	l := diffLimits[0]
	if _, err := Parse(benchBody, l); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(len(benchBody)))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := Parse(benchBody, l); err != nil {
			b.Fatal(err)
		}
	}
}

// TestParseMatchesReferenceEdges covers what random inputs rarely reach:
// encoding/json's nesting limit, large objects, escaped duplicate names.
func TestParseMatchesReferenceEdges(t *testing.T) {
	t.Parallel()
	nest := func(n int, inner string) string {
		return strings.Repeat("[", n) + inner + strings.Repeat("]", n)
	}
	many := func(n int, last string) string {
		var b strings.Builder
		b.WriteString(`{"headers":{`)
		for i := range n {
			fmt.Fprintf(&b, `"X-H%d":"v",`, i)
		}
		b.WriteString(last + `}}`)
		return b.String()
	}
	bodies := []string{
		`{"a":` + nest(9999, "1") + `}`,
		`{"a":` + nest(10000, "1") + `}`,
		`{"a":` + nest(10000, "1") + `,"b":1,"b":2}`,
		`{"b":1,"b":2,"a":` + nest(10000, "1"),
		many(40, `"X-H3":"w"`),
		many(40, `"X-H40":1`),
		many(40, `"X-H40":1,"X-H41":{}`),
		`{"version":1e999,"headers":` + many(40, `"X-H3":2`)[len(`{"headers":`):],
		`{"version":1,"mailId":"m","subject":"s","text":"t","to":["a@example.org"],"\u0073ubject":"t"}`,
		`{"version":1,"mailId":"m","subject":"s\ud83d\ude00\udc00\u00e9\/\b","text":"t","to":["a@example.org"]} ]x`,
		`{"version":1,"mailId":"m","subject":"s","text":"t","to":["a@example.org"]} ,`,
		`{"":1,"":2,"a":1,"a":2}`,
		`{"x":{"":{"a":1,"a":2}}}`,
		`{"a":` + strings.Repeat(`{"":`, 10000) + "1" + strings.Repeat("}", 10000) + `,"a":2}`,
		`{"a":` + nest(10000, `{"b":1,"b":2}`) + `}`,
		`{"a":` + nest(10000, "1") + `,"b":1,"b":2`,
		`{"x":1e400,"a":` + nest(10000, "1e999") + `,"b":1,"b":2}`,
		`{"a":` + nest(10000, "1") + `} {"b":1,"b":2}`,
	}
	for _, body := range bodies {
		for _, l := range diffLimits {
			l.MaxBodyBytes = 1 << 20
			checkSameAsReference(t, []byte(body), l)
		}
	}
}

// The faults of the old decoder that Parse no longer has.
func TestParseRefusesWhatTheOldDecoderLetThrough(t *testing.T) {
	t.Parallel()
	l := diffLimits[0]
	valid := `{"version":1,"mailId":"m","to":["a@example.org"],"subject":"s","text":"t"`
	for body, want := range map[string]string{
		valid + `} ]x`:                               "message: not a JSON object",
		valid + `} }`:                                "message: not a JSON object",
		valid + `,"x":1e400,"subject":"t"}`:          "subject: duplicate key",
		valid + `,"headers":{"":1e999,"":"a"}}`:      "headers.: duplicate key",
		`{"":1,"":2,` + valid[1:] + `}`:              `"": duplicate key`,
		valid + `,"tags":[{"name":"a","name":"b"}]}`: "tags[0].name: duplicate key",
	} {
		_, err := Parse([]byte(body), l)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Parse(%s) = %v, want an error naming %q", body, err, want)
		}
	}
}
