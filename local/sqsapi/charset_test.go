package sqsapi_test

import (
	"crypto/md5"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
)

// postJSON sends a raw JSON-protocol request, so that the body can carry
// bytes and escapes no SDK would produce.
func postJSON(t *testing.T, endpoint, op, body string) (int, map[string]any) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("X-Amz-Target", "AmazonSQS."+op)
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var out map[string]any
	if err := json.Unmarshal(raw, &out); err != nil {
		t.Fatalf("%s answer %q: %v", op, raw, err)
	}
	return resp.StatusCode, out
}

// bodyCase is one message body at an edge of SQS's character set. json is
// the body as a JSON string literal's content, query the raw bytes a form
// carries (percent-encoded by url.Values).
type bodyCase struct {
	name  string
	json  string
	query string
	ok    bool
}

var bodyCases = []bodyCase{
	{"U+FFFD raw", "a\uFFFDb", "a\uFFFDb", true},
	{"U+FFFD escaped", `a\ufffdb`, "a\uFFFDb", true},
	{"U+FFFE", `a\ufffeb`, "a\uFFFEb", false},
	{"U+D7FF", `\ud7ff`, "\uD7FF", true},
	{"U+E000", `\ue000`, "\uE000", true},
	{"lone high surrogate", `a\ud800b`, "a\xed\xa0\x80b", false},
	{"lone low surrogate", `a\udc00b`, "a\xed\xb0\x80b", false},
	{"surrogate pair U+1F600", `\ud83d\ude00`, "\U0001F600", true},
	{"U+10FFFF", `\udbff\udfff`, "\U0010FFFF", true},
	{"U+10000", "\U00010000", "\U00010000", true},
	{"#x1F", `a\u001fb`, "a\x1fb", false},
	{"#x0", `a\u0000b`, "a\x00b", false},
	{"tab, LF, CR", `\t\n\r`, "\t\n\r", true},
	{"#x20", ` `, " ", true},
	{"invalid UTF-8 byte", "a\xffb", "a\xffb", false},
	{"truncated UTF-8", "a\xe2\x82", "a\xe2\x82", false},
}

// decodedBody is what a case's body is once decoded, for the MD5 and the
// received body.
func (c bodyCase) decodedBody(t *testing.T) string {
	var s string
	if err := json.Unmarshal([]byte(`"`+c.json+`"`), &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// TestBodyCharset: a body is refused with InvalidMessageContents exactly
// when it holds invalid UTF-8 or a character outside #x9 | #xA | #xD |
// #x20-#xD7FF | #xE000-#xFFFD | #x10000-#x10FFFF, in both protocols; an
// accepted body comes back byte for byte with the MD5 of its UTF-8 bytes.
func TestBodyCharset(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	queue := srv.URL + "/000000000000/charset"
	if code, out := postJSON(t, srv.URL, "CreateQueue", `{"QueueName":"charset"}`); code != 200 {
		t.Fatalf("CreateQueue: %d %v", code, out)
	}
	receiveJSON := func(t *testing.T) (string, string) {
		code, out := postJSON(t, srv.URL, "ReceiveMessage", `{"QueueUrl":"`+queue+`","MaxNumberOfMessages":1}`)
		msgs, _ := out["Messages"].([]any)
		if code != 200 || len(msgs) != 1 {
			t.Fatalf("ReceiveMessage: %d %v", code, out)
		}
		m := msgs[0].(map[string]any)
		postJSON(t, srv.URL, "DeleteMessage", `{"QueueUrl":"`+queue+`","ReceiptHandle":"`+m["ReceiptHandle"].(string)+`"}`)
		return m["Body"].(string), m["MD5OfBody"].(string)
	}
	for _, c := range bodyCases {
		t.Run("JSON/"+c.name, func(t *testing.T) {
			code, out := postJSON(t, srv.URL, "SendMessage", `{"QueueUrl":"`+queue+`","MessageBody":"`+c.json+`"}`)
			if !c.ok {
				if code != 400 || out["__type"] != "com.amazonaws.sqs#InvalidMessageContents" {
					t.Fatalf("%d %v, want InvalidMessageContents", code, out)
				}
				return
			}
			want := c.decodedBody(t)
			sum := md5.Sum([]byte(want))
			if code != 200 || out["MD5OfMessageBody"] != hex.EncodeToString(sum[:]) {
				t.Fatalf("%d %v, want accepted with MD5 %x", code, out, sum)
			}
			if body, md := receiveJSON(t); body != want || md != hex.EncodeToString(sum[:]) {
				t.Fatalf("received %q (MD5 %s), want %q", body, md, want)
			}
		})
		t.Run("Query/"+c.name, func(t *testing.T) {
			code, raw := postForm(t, srv.URL, url.Values{"Action": {"SendMessage"}, "QueueUrl": {queue}, "MessageBody": {c.query}})
			if !c.ok {
				var e struct {
					Code string `xml:"Error>Code"`
				}
				decodeXML(t, raw, &e)
				if code != 400 || e.Code != "InvalidMessageContents" {
					t.Fatalf("%d %s, want InvalidMessageContents", code, raw)
				}
				return
			}
			sum := md5.Sum([]byte(c.query))
			var sent struct {
				MD5 string `xml:"SendMessageResult>MD5OfMessageBody"`
			}
			decodeXML(t, raw, &sent)
			if code != 200 || sent.MD5 != hex.EncodeToString(sum[:]) {
				t.Fatalf("%d %s, want accepted with MD5 %x", code, raw, sum)
			}
			code, raw = postForm(t, srv.URL, url.Values{"Action": {"ReceiveMessage"}, "QueueUrl": {queue}})
			var got struct {
				Body    string `xml:"ReceiveMessageResult>Message>Body"`
				Receipt string `xml:"ReceiveMessageResult>Message>ReceiptHandle"`
			}
			if err := xml.Unmarshal(raw, &got); err != nil || code != 200 || got.Body != c.query {
				t.Fatalf("received %d %s (%v), want body %q", code, raw, err, c.query)
			}
			postForm(t, srv.URL, url.Values{"Action": {"DeleteMessage"}, "QueueUrl": {queue}, "ReceiptHandle": {got.Receipt}})
		})
	}
}

// TestAttributeValues: String attribute values follow the body's character
// set, Number values SQS's range, Binary values must be present, in both
// protocols, each refused with InvalidParameterValue.
func TestAttributeValues(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	queue := srv.URL + "/000000000000/attrs"
	postJSON(t, srv.URL, "CreateQueue", `{"QueueName":"attrs"}`)
	for _, c := range []struct {
		name, dataType, json, query string
		ok                          bool
	}{
		{"String U+FFFD", "String", `\ufffd`, "\uFFFD", true},
		{"String lone surrogate", "String", `\udfff`, "\xed\xbf\xbf", false},
		{"String #x1F", "String", `\u001f`, "\x1f", false},
		{"String U+FFFE", "String", `\ufffe`, "\uFFFE", false},
		{"String empty", "String", ``, "", false},
		{"Number 38 digits", "Number", strings.Repeat("9", 38), strings.Repeat("9", 38), true},
		{"Number 39 digits", "Number", strings.Repeat("9", 39), strings.Repeat("9", 39), false},
		{"Number trailing zeros trimmed", "Number", "1" + strings.Repeat("0", 40), "1" + strings.Repeat("0", 40), true},
		{"Number 1e126", "Number", "1e126", "1e126", true},
		{"Number 1e127", "Number", "1e127", "1e127", false},
		{"Number 1e-128", "Number", "1E-128", "1E-128", true},
		{"Number 1e-129", "Number", "0.1e-128", "0.1e-128", false},
		{"Number zero", "Number", "-0.000", "-0.000", true},
		{"Number not a number", "Number", "12a", "12a", false},
		{"custom type", "Number.int", "42", "42", true},
		{"unknown type", "Decimal", "42", "42", false},
	} {
		t.Run("JSON/"+c.name, func(t *testing.T) {
			code, out := postJSON(t, srv.URL, "SendMessage", `{"QueueUrl":"`+queue+`","MessageBody":"b","MessageAttributes":{"a":{"DataType":"`+c.dataType+`","StringValue":"`+c.json+`"}}}`)
			if c.ok != (code == 200) || (!c.ok && out["__type"] != "com.amazonaws.sqs#InvalidParameterValue") {
				t.Fatalf("%d %v, want ok=%v", code, out, c.ok)
			}
		})
		t.Run("Query/"+c.name, func(t *testing.T) {
			code, raw := postForm(t, srv.URL, url.Values{"Action": {"SendMessage"}, "QueueUrl": {queue}, "MessageBody": {"b"},
				"MessageAttribute.1.Name": {"a"}, "MessageAttribute.1.Value.DataType": {c.dataType}, "MessageAttribute.1.Value.StringValue": {c.query}})
			var e struct {
				Code string `xml:"Error>Code"`
			}
			if code != 200 {
				decodeXML(t, raw, &e)
			}
			if c.ok != (code == 200) || (!c.ok && e.Code != "InvalidParameterValue") {
				t.Fatalf("%d %s, want ok=%v", code, raw, c.ok)
			}
		})
	}
	code, out := postJSON(t, srv.URL, "SendMessage", `{"QueueUrl":"`+queue+`","MessageBody":"b","MessageAttributes":{"a":{"DataType":"Binary"}}}`)
	if code != 400 || out["__type"] != "com.amazonaws.sqs#InvalidParameterValue" {
		t.Fatalf("Binary without a value: %d %v", code, out)
	}
	code, raw := postForm(t, srv.URL, url.Values{"Action": {"SendMessage"}, "QueueUrl": {queue}, "MessageBody": {"b"},
		"MessageAttribute.1.Name": {"a"}, "MessageAttribute.1.Value.DataType": {"Binary"}, "MessageAttribute.1.Value.BinaryValue": {"not base64!"}})
	if code != 400 || !strings.Contains(string(raw), "InvalidParameterValue") {
		t.Fatalf("Binary not base64: %d %s", code, raw)
	}
}

// TestBatchLimits: entry ids of 80 characters pass and of 81 fail, and a
// batch whose messages total more than 1 MiB (SQS's payload limit since it
// took messages of up to 1 MiB) is BatchRequestTooLong while one of exactly
// 1 MiB is taken, in both protocols.
func TestBatchLimits(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	queue := srv.URL + "/000000000000/limits"
	postJSON(t, srv.URL, "CreateQueue", `{"QueueName":"limits"}`)
	const total = 1 << 20
	for _, c := range []struct {
		name   string
		ids    []string
		bodies []int
		code   string // "" for accepted
	}{
		{"id of 80", []string{strings.Repeat("a", 80)}, []int{1}, ""},
		{"id of 81", []string{strings.Repeat("a", 81)}, []int{1}, "InvalidBatchEntryId"},
		{"empty id", []string{""}, []int{1}, "InvalidBatchEntryId"},
		{"id with a dot", []string{"a.b"}, []int{1}, "InvalidBatchEntryId"},
		{"1 MiB in total", []string{"a", "b", "c", "d"}, []int{total / 4, total / 4, total / 4, total / 4}, ""},
		{"one byte over", []string{"a", "b", "c", "d"}, []int{total / 4, total / 4, total / 4, total/4 + 1}, "BatchRequestTooLong"},
	} {
		queryCode := c.code
		if c.code != "" {
			queryCode = "AWS.SimpleQueueService." + c.code
		}
		t.Run("JSON/"+c.name, func(t *testing.T) {
			var entries []map[string]string
			for i, id := range c.ids {
				entries = append(entries, map[string]string{"Id": id, "MessageBody": strings.Repeat("x", c.bodies[i])})
			}
			body, _ := json.Marshal(map[string]any{"QueueUrl": queue, "Entries": entries})
			code, out := postJSON(t, srv.URL, "SendMessageBatch", string(body))
			if c.code == "" {
				if ok, _ := out["Successful"].([]any); code != 200 || len(ok) != len(c.ids) {
					t.Fatalf("%d %v, want every entry sent", code, out)
				}
				return
			}
			if code != 400 || out["__type"] != "com.amazonaws.sqs#"+c.code {
				t.Fatalf("%d %v, want %s", code, out, c.code)
			}
		})
		t.Run("Query/"+c.name, func(t *testing.T) {
			form := url.Values{"Action": {"SendMessageBatch"}, "QueueUrl": {queue}}
			for i, id := range c.ids {
				p := "SendMessageBatchRequestEntry." + strconv.Itoa(i+1) + "."
				form.Set(p+"Id", id)
				form.Set(p+"MessageBody", strings.Repeat("x", c.bodies[i]))
			}
			code, raw := postForm(t, srv.URL, form)
			var res struct {
				Code string   `xml:"Error>Code"`
				OK   []string `xml:"SendMessageBatchResult>SendMessageBatchResultEntry>Id"`
			}
			decodeXML(t, raw, &res)
			if c.code == "" && (code != 200 || len(res.OK) != len(c.ids)) || c.code != "" && (code != 400 || res.Code != queryCode) {
				t.Fatalf("%d %.300s, want %q", code, raw, queryCode)
			}
		})
	}
}
