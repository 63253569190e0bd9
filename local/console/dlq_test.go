package console_test

import (
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mailflow/mailflow/local/console"
)

// call sends a request to the console as its page does (the console header,
// a same-origin Origin) unless header says otherwise.
func call(t *testing.T, base, method, path, body string, header map[string]string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(method, base+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if header == nil {
		header = map[string]string{console.CSRFHeader: "1", "Origin": base}
	}
	for k, v := range header {
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

type dlqListing struct {
	Messages []struct {
		MessageID string `json:"messageId"`
		MailID    string `json:"mailId"`
	} `json:"messages"`
	Scanned int `json:"scanned"`
}

func listDLQ(t *testing.T, base, query string) dlqListing {
	t.Helper()
	code, body := call(t, base, "GET", "/api/dlq"+query, "", map[string]string{})
	var l dlqListing
	if code != http.StatusOK || json.Unmarshal([]byte(body), &l) != nil {
		t.Fatalf("GET /api/dlq%s: %d %s", query, code, body)
	}
	return l
}

// The dead-letter endpoints over the local runtime's queues: filters are
// validated, the state changes refuse cross-site requests, and purge,
// delete and redrive do what they report.
func TestDeadLetterAPI(t *testing.T) {
	t.Parallel()
	p := startPipeline(t)
	p.sendRaw(t, `{"version":99,"mailId":"api-ann","to":["ann@example.org"],"subject":"Hi","text":"t"}`)
	p.sendRaw(t, `{"version":99,"mailId":"api-eve","to":["Eve <eve@other.test>"],"subject":"Hi","text":"t"}`)
	deadline := time.Now().Add(60 * time.Second)
	for len(listDLQ(t, p.url, "").Messages) < 2 {
		if time.Now().After(deadline) {
			t.Fatal("the two messages were not dead-lettered")
		}
		time.Sleep(50 * time.Millisecond)
	}

	for _, tc := range []struct{ query, want string }{
		{"?olderThan=yesterday", `olderThan \"yesterday\": give a duration`},
		{"?olderThan=-1h", "must not be negative"},
		{"?recipientDomain=eve@other.test", "give the domain alone"},
	} {
		if code, body := call(t, p.url, "GET", "/api/dlq"+tc.query, "", map[string]string{}); code != http.StatusBadRequest || !strings.Contains(body, tc.want) {
			t.Errorf("GET /api/dlq%s: %d %s", tc.query, code, body)
		}
	}
	if l := listDLQ(t, p.url, "?recipientDomain=OTHER.test"); len(l.Messages) != 1 || l.Messages[0].MailID != "api-eve" || l.Scanned != 2 {
		t.Errorf("by recipient domain: %+v", l)
	}
	if l := listDLQ(t, p.url, "?error=mail.invalidmessage&reason=unsupported+version&mailId=api-ann"); len(l.Messages) != 1 || l.Messages[0].MailID != "api-ann" {
		t.Errorf("by error, reason and mail: %+v", l)
	}
	if l := listDLQ(t, p.url, "?olderThan=1h"); len(l.Messages) != 0 {
		t.Errorf("older than an hour: %+v", l)
	}

	// Every new state change refuses a cross-site form and a cross-origin fetch.
	for _, path := range []string{"/api/dlq/purge", "/api/dlq/delete", "/api/dlq/redrive"} {
		if code, body := call(t, p.url, "POST", path, `{}`, map[string]string{}); code != http.StatusForbidden || !strings.Contains(body, "missing X-Mailflow-Console") {
			t.Errorf("%s without the header: %d %s", path, code, body)
		}
		if code, body := call(t, p.url, "POST", path, `{}`, map[string]string{console.CSRFHeader: "1", "Origin": "http://evil.example"}); code != http.StatusForbidden || !strings.Contains(body, "cross-origin") {
			t.Errorf("%s cross-origin: %d %s", path, code, body)
		}
	}
	if n := len(listDLQ(t, p.url, "").Messages); n != 2 {
		t.Fatalf("a refused request changed the queue: %d messages", n)
	}

	for _, tc := range []struct{ path, body, want string }{
		{"/api/dlq/purge", `{"filter":{"colour":"red"}}`, `filter \"colour\": not one of`},
		{"/api/dlq/purge", `{"filter":{"olderThan":"soon"}}`, `olderThan \"soon\"`},
		{"/api/dlq/purge", `not json`, "request body"},
		{"/api/dlq/purge", `{"messageIds":["x"]}`, "purge takes a filter"},
		{"/api/dlq/redrive", `{"filter":{"mailId":"api-ann"},"messageIds":["x"]}`, "either a filter or messageIds"},
		{"/api/dlq/redrive", `{"messageIds":[" "]}`, "an empty message id"},
		{"/api/dlq/delete", `{}`, "messageId: required"},
	} {
		if code, body := call(t, p.url, "POST", tc.path, tc.body, nil); code != http.StatusBadRequest || !strings.Contains(body, tc.want) {
			t.Errorf("%s %s: %d %s", tc.path, tc.body, code, body)
		}
	}
	if code, body := call(t, p.url, "POST", "/api/dlq/delete", `{"messageId":"no-such"}`, nil); code != http.StatusNotFound || !strings.Contains(body, "no message no-such") {
		t.Errorf("delete an unknown message: %d %s", code, body)
	}
	if code, body := call(t, p.url, "POST", "/api/dlq/redrive", `{"messageIds":["no-such"]}`, nil); code != http.StatusNotFound || !strings.Contains(body, "no-such") {
		t.Errorf("redrive an unknown message: %d %s", code, body)
	}

	// A dry purge counts and deletes nothing.
	code, body := call(t, p.url, "POST", "/api/dlq/purge", `{"dryRun":true}`, nil)
	var res struct {
		Done []struct {
			MailID string `json:"mailId"`
		} `json:"done"`
		Kept   int  `json:"kept"`
		DryRun bool `json:"dryRun"`
	}
	if code != http.StatusOK || json.Unmarshal([]byte(body), &res) != nil || len(res.Done) != 2 || !res.DryRun {
		t.Fatalf("dry purge: %d %s", code, body)
	}
	if n := len(listDLQ(t, p.url, "").Messages); n != 2 {
		t.Fatalf("a dry purge deleted: %d left", n)
	}
	// Delete one by id; purge the rest by filter.
	l := listDLQ(t, p.url, "?mailId=api-ann")
	if code, body := call(t, p.url, "POST", "/api/dlq/delete", `{"messageId":"`+l.Messages[0].MessageID+`"}`, nil); code != http.StatusOK {
		t.Fatalf("delete: %d %s", code, body)
	}
	if l := listDLQ(t, p.url, ""); len(l.Messages) != 1 || l.Messages[0].MailID != "api-eve" {
		t.Fatalf("after the delete: %+v", l)
	}
	code, body = call(t, p.url, "POST", "/api/dlq/purge", `{"filter":{"recipientDomain":"other.test"}}`, nil)
	res.DryRun = false
	if code != http.StatusOK || json.Unmarshal([]byte(body), &res) != nil || len(res.Done) != 1 || res.Kept != 0 || res.DryRun {
		t.Fatalf("purge by filter: %d %s", code, body)
	}
	if n := len(listDLQ(t, p.url, "").Messages); n != 0 {
		t.Fatalf("after the purge: %d left", n)
	}
}
