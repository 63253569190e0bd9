package reliability

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/aws/smithy-go"

	"github.com/mailflow/mailflow/local"
	"github.com/mailflow/mailflow/testkit"
	"github.com/mailflow/mailflow/testkit/faults"
	"github.com/mailflow/mailflow/workflow"
)

// hostile is one message body an attacker or a buggy producer could put on
// the queue, and the error it must be dead-lettered with.
type hostile struct {
	name, body string
	error      workflow.ErrorName
	// reason is a text the failure must contain (the field or the rule).
	reason string
}

// base returns a valid message with fields overridden; a nil value drops
// the field.
func base(id string, over map[string]any) string {
	m := map[string]any{"version": 1, "mailId": id, "to": []string{"ann@example.org"}, "subject": "hostile", "text": "x",
		"headers": map[string]string{"X-Test-Id": id}}
	for k, v := range over {
		if v == nil {
			delete(m, k)
		} else {
			m[k] = v
		}
	}
	b, _ := json.Marshal(m)
	return string(b)
}

func hostileBodies() []hostile {
	many := make([]string, 5000)
	for i := range many {
		many[i] = fmt.Sprintf("r%d@example.org", i)
	}
	att := func(a map[string]any) []map[string]any {
		full := map[string]any{"key": "attachments/ok.txt", "filename": "ok.txt", "contentType": "text/plain"}
		for k, v := range a {
			full[k] = v
		}
		return []map[string]any{full}
	}
	// Keys outside the attachment prefix are refused by the contract check
	// in AcquireLock, before any read: Mail.InvalidMessage naming the
	// field. A key that is well-formed but names no object is missing.
	inv := workflow.InvalidMessage
	return []hostile{
		{"malformed JSON", `{"version":1,"mailId":"h-json","to":["a@example.org"],`, inv, ""},
		{"not an object", `["h-array"]`, inv, ""},
		{"duplicate key", `{"version":1,"mailId":"h-dupkey","to":["a@example.org"],"to":["b@example.org"],"subject":"s","text":"t"}`, inv, "to"},
		{"unknown field", base("h-unknown", map[string]any{"bccAll": true}), inv, "bccAll"},
		{"subject CRLF", base("h-subj", map[string]any{"subject": "Hi\r\nBcc: evil@example.net"}), inv, "subject"},
		{"subject LF", base("h-subj-lf", map[string]any{"subject": "Hi\nBcc: evil@example.net"}), inv, "subject"},
		{"to CRLF", base("h-to", map[string]any{"to": []string{"ann@example.org\r\nBcc: evil@example.net"}}), inv, "to[0]"},
		{"cc CRLF", base("h-cc", map[string]any{"cc": []string{"x@example.org>\r\nBcc: <evil@example.net"}}), inv, "cc[0]"},
		{"bcc CRLF", base("h-bcc", map[string]any{"bcc": []string{"\"Evil\r\nX: y\" <e@example.net>"}}), inv, "bcc[0]"},
		{"replyTo CRLF", base("h-reply", map[string]any{"replyTo": []string{"r@example.org\r\nBcc: evil@example.net"}}), inv, "replyTo[0]"},
		{"from CRLF", base("h-from", map[string]any{"from": "\"Shop\r\nBcc: evil@example.net\" <billing@example.com>"}), inv, "from"},
		{"from not allowed", base("h-from-other", map[string]any{"from": "ceo@other.example"}), inv, "from"},
		{"header value CRLF", base("h-hval", map[string]any{"headers": map[string]string{"X-Test-Id": "h-hval", "X-A": "1\r\nBcc: evil@example.net"}}), inv, "headers"},
		{"header name Bcc", base("h-hname", map[string]any{"headers": map[string]string{"X-Test-Id": "h-hname", "Bcc": "evil@example.net"}}), inv, "headers"},
		{"header name with colon", base("h-hcolon", map[string]any{"headers": map[string]string{"X-Test-Id": "h-hcolon", "X-A: b\r\nBcc": "evil@example.net"}}), inv, "headers"},
		{"attachment filename CRLF", base("h-afile", map[string]any{"attachments": att(map[string]any{"filename": "a.txt\r\nBcc: evil@example.net"})}), inv, "filename"},
		{"attachment type CRLF", base("h-atype", map[string]any{"attachments": att(map[string]any{"contentType": "text/plain\r\nBcc: evil@example.net"})}), inv, "contentType"},
		{"attachment content id CRLF", base("h-acid", map[string]any{"attachments": att(map[string]any{"inline": true, "contentId": "x\r\nBcc: evil@example.net"})}), inv, "contentId"},
		{"tag CRLF", base("h-tag", map[string]any{"tags": []map[string]string{{"name": "k", "value": "v\r\nBcc: evil"}}}), inv, "tags"},
		{"configuration set CRLF", base("h-cfg", map[string]any{"configurationSet": "set\r\nBcc: evil"}), inv, "configurationSet"},
		{"key outside prefix", base("h-key-out", map[string]any{"attachments": att(map[string]any{"key": "secrets/key.pem"})}), inv, "attachments[0].key"},
		{"key with ..", base("h-key-dots", map[string]any{"attachments": att(map[string]any{"key": "attachments/../secrets/key.pem"})}), inv, "attachments[0].key"},
		{"absolute key", base("h-key-abs", map[string]any{"attachments": att(map[string]any{"key": "/attachments/ok.txt"})}), inv, "attachments[0].key"},
		{"other bucket (s3 URL)", base("h-key-bucket", map[string]any{"attachments": att(map[string]any{"key": "s3://other-bucket/attachments/ok.txt"})}), inv, "attachments[0].key"},
		{"other bucket (ARN)", base("h-key-arn", map[string]any{"attachments": att(map[string]any{"key": "arn:aws:s3:::other-bucket/attachments/ok.txt"})}), inv, "attachments[0].key"},
		{"URL-encoded ..", base("h-key-enc", map[string]any{"attachments": att(map[string]any{"key": "attachments/%2e%2e/secrets/key.pem"})}), workflow.AttachmentMissing, "key"},
		{"backslash key", base("h-key-bs", map[string]any{"attachments": att(map[string]any{"key": `attachments\..\secrets\key.pem`})}), inv, "attachments[0].key"},
		{"textKey outside prefix", base("h-textkey", map[string]any{"text": nil, "textKey": "secrets/key.pem"}), inv, "textKey"},
		{"51 recipients", base("h-51", map[string]any{"to": many[:51]}), inv, "50"},
		{"5,000 recipients", base("h-5000", map[string]any{"to": many}), inv, "limit"},
		{"mailId with CRLF", base("h-id\r\nBcc: x", nil), inv, "mailId"},
		{"mailId too long", base(strings.Repeat("a", 201), nil), inv, "mailId"},
		{"X-SES configuration set header", base("h-ses-cfg", map[string]any{"headers": map[string]string{"X-Test-Id": "h-ses-cfg", "X-SES-CONFIGURATION-SET": "untracked"}}), inv, "reserved header names X-SES-CONFIGURATION-SET"},
		{"X-SES tags header", base("h-ses-tags", map[string]any{"headers": map[string]string{"X-Test-Id": "h-ses-tags", "x-ses-message-tags": "a=b"}}), inv, "reserved header names x-ses-message-tags"},
		{"X-Mailflow header", base("h-mf", map[string]any{"headers": map[string]string{"X-Test-Id": "h-mf", "X-Mailflow-Envelope-To": "evil@example.net"}}), inv, "reserved header names X-Mailflow-Envelope-To"},
		{"headers differing in case", base("h-case", map[string]any{"headers": map[string]string{"X-Test-Id": "h-case", "x-test-id": "other"}}), inv, "compare case-insensitively"},
		{"multipart attachment", base("h-multipart", map[string]any{"attachments": att(map[string]any{"contentType": "multipart/mixed; boundary=evil"})}), inv, "multipart/*"},
		{"message/rfc822 attachment", base("h-rfc822", map[string]any{"attachments": att(map[string]any{"contentType": "message/rfc822"})}), inv, "attachments[0].contentType"},
		{"quoted local part with @", base("h-quoted", map[string]any{"to": []string{`"victim@evil"@example.org`}}), inv, "quoted local parts"},
		{"local part of 1,000 characters", base("h-long-local", map[string]any{"to": []string{strings.Repeat("a", 1000) + "@example.org"}}), inv, "to[0]"},
		{"non-ASCII local part", base("h-utf8-local", map[string]any{"to": []string{"jösé@example.org"}}), inv, "SMTPUTF8"},
		{"domain failing IDNA", base("h-idna", map[string]any{"to": []string{"x@xn--a.example"}}), inv, "IDNA"},
		{"lone surrogate", strings.Replace(base("h-surrogate", nil), `"subject":"hostile"`, `"subject":"a\ud800"`, 1), inv, "lone surrogate"},
	}
}

// TestHostileInput puts hostile messages on the queue: each is
// dead-lettered with a clear reason, none is sent, nothing is read outside
// the attachment prefix, and the pipeline goes on sending good mail.
func TestHostileInput(t *testing.T) {
	w := newWorld(t, local.Config{})
	w.start(faults.New())
	_, s3c := w.sdk()
	ctx := context.Background()
	for _, k := range []string{"attachments/ok.txt", "secrets/key.pem"} {
		if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(w.rt.Config().Bucket), Key: aws.String(k), Body: strings.NewReader("secret " + k)}); err != nil {
			t.Fatal(err)
		}
	}
	cases := hostileBodies()
	var bodies []string
	for _, h := range cases {
		bodies = append(bodies, h.body)
	}
	bodies = append(bodies, base("h-good", nil))
	w.enqueue(bodies...)
	if w.settle(2 * time.Minute) {
		t.Fatal("crashed without a fault")
	}

	// mailId reuse with other content, after the first was sent.
	w.enqueue(base("h-good", map[string]any{"text": "other content"}))
	if w.settle(time.Minute) {
		t.Fatal("crashed without a fault")
	}

	byBody := map[string]deadLetter{}
	var reused *deadLetter
	for _, d := range w.deadLetters() {
		if d.MailID == "h-good" {
			reused = &d
			continue
		}
		byBody[d.Body] = d
	}
	for _, h := range cases {
		d, ok := byBody[h.body]
		if !ok {
			t.Errorf("%s: not dead-lettered", h.name)
			continue
		}
		if d.Error != string(h.error) || !strings.Contains(d.Failure, `"Cause"`) || !strings.Contains(d.Failure, h.reason) {
			t.Errorf("%s: dead-lettered as %s with %s; want %s naming %q", h.name, d.Error, d.Failure, h.error, h.reason)
		}
	}
	if reused == nil || reused.Error != string(workflow.IdempotencyConflict) {
		t.Errorf("mailId reused with other content: %+v, want %s", reused, workflow.IdempotencyConflict)
	}
	got := w.deliveries()
	for id, n := range got {
		if id != "h-good" {
			t.Errorf("%s was sent (%d times)", id, n)
		}
	}
	if got["h-good"] != 1 {
		t.Errorf("the good mail was delivered %d times, want 1", got["h-good"])
	}
	if n := w.outboxCount(); n != 1 {
		t.Errorf("%d mails in the outbox, want 1", n)
	}
}

// TestHostileRequests sends malformed and oversized requests to the SQS
// and S3 endpoints: each gets an AWS-shaped error, nothing is enqueued,
// and the runtime goes on serving.
func TestHostileRequests(t *testing.T) {
	w := newWorld(t, local.Config{})
	w.start(faults.New())
	ctx := context.Background()
	sqsc, s3c := w.sdk()
	queueURL := aws.String(w.rt.QueueURL(w.rt.Config().SourceQueue))

	apiCode := func(err error) string {
		var ae smithy.APIError
		if errors.As(err, &ae) {
			return ae.ErrorCode()
		}
		return fmt.Sprintf("not an API error: %v", err)
	}
	// Empty, oversized message (over 256 KiB) and batch (over 1 MiB).
	_, err := sqsc.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: queueURL, MessageBody: aws.String("")})
	if c := apiCode(err); c != "MissingParameter" {
		t.Errorf("empty message: %s", c)
	}
	_, err = sqsc.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: queueURL, MessageBody: aws.String(strings.Repeat("x", 256*1024+1))})
	if c := apiCode(err); c != "InvalidParameterValue" {
		t.Errorf("oversized message: %s", c)
	}
	var entries []sqstypes.SendMessageBatchRequestEntry
	for i := range 10 {
		entries = append(entries, sqstypes.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), MessageBody: aws.String(strings.Repeat("y", 110*1024))})
	}
	_, err = sqsc.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: queueURL, Entries: entries})
	if c := apiCode(err); !strings.Contains(c, "BatchRequestTooLong") {
		t.Errorf("oversized batch: %s", c)
	}
	entries = nil
	for i := range 11 {
		entries = append(entries, sqstypes.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), MessageBody: aws.String("z")})
	}
	_, err = sqsc.SendMessageBatch(ctx, &sqs.SendMessageBatchInput{QueueUrl: queueURL, Entries: entries})
	if c := apiCode(err); !strings.Contains(c, "TooManyEntriesInBatchRequest") {
		t.Errorf("11 entries: %s", c)
	}
	// Invalid characters (SQS accepts only XML characters).
	_, err = sqsc.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: queueURL, MessageBody: aws.String("bad \x00 byte \xff")})
	if c := apiCode(err); c != "InvalidMessageContents" {
		t.Errorf("invalid characters: %s", c)
	}

	raw := func(method, path, contentType, target, body string) (int, string) {
		req, err := http.NewRequest(method, w.rt.Endpoint()+path, strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		if target != "" {
			req.Header.Set("X-Amz-Target", target)
		}
		// Signed as an SDK would sign it: the endpoint refuses unsigned
		// requests before their content is looked at.
		service := "s3"
		if target != "" || strings.HasPrefix(contentType, "application/x-www-form-urlencoded") || strings.Contains(path, "Action=") {
			service = "sqs"
		}
		if err := testkit.SignV4(req, testkit.LocalCredentials, service); err != nil {
			t.Fatal(err)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(io.LimitReader(res.Body, 1<<20))
		return res.StatusCode, string(b)
	}
	const jsonType = "application/x-amz-json-1.0"
	for _, c := range []struct {
		name, method, path, ctype, target, body, want string
	}{
		{"JSON: truncated", "POST", "/", jsonType, "AmazonSQS.SendMessage", `{"QueueUrl":`, "__type"},
		{"JSON: wrong types", "POST", "/", jsonType, "AmazonSQS.SendMessage", `{"QueueUrl":5,"MessageBody":[1]}`, "__type"},
		{"JSON: unknown operation", "POST", "/", jsonType, "AmazonSQS.DropEverything", `{}`, "__type"},
		{"JSON: 17 MiB body", "POST", "/", jsonType, "AmazonSQS.SendMessage", `{"QueueUrl":"x","MessageBody":"` + strings.Repeat("a", 17<<20) + `"}`, "__type"},
		{"query: no queue", "POST", "/", "application/x-www-form-urlencoded", "", "Action=SendMessage&MessageBody=x", "<ErrorResponse"},
		{"query: bad attribute", "POST", "/000000000000/mailflow-source", "application/x-www-form-urlencoded", "", "Action=SendMessage&MessageBody=x&MessageAttribute.1.Name=a&MessageAttribute.1.Value.DataType=Bogus", "<ErrorResponse"},
		{"query: unknown action", "GET", "/?Action=Explode", "", "", "", "<ErrorResponse"},
		{"S3: forged key", "PUT", "/mailflow-attachments/..%2Fmetadata%2Fx", "", "", "x", "<Code>InvalidArgument</Code>"},
		{"S3: other bucket", "GET", "/no-such-bucket/k", "", "", "", "<Code>NoSuchBucket</Code>"},
		{"S3: bad XML", "POST", "/mailflow-attachments?delete", "application/xml", "", "<Delete><Object>", "<Error>"},
	} {
		code, body := raw(c.method, c.path, c.ctype, c.target, c.body)
		if code < 400 || code >= 500 || !strings.Contains(body, c.want) {
			if len(body) > 300 {
				body = body[:300]
			}
			t.Errorf("%s: %d %s; want a 4xx with %s", c.name, code, body, c.want)
		}
	}
	if n := w.depth(w.rt.Config().SourceQueue); n != 0 {
		t.Errorf("%d messages enqueued by hostile requests", n)
	}
	// Still serving.
	if _, err := s3c.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: aws.String(w.rt.Config().Bucket)}); err != nil {
		t.Fatalf("S3 after the hostile requests: %v", err)
	}
	w.enqueue(base("after-hostile", nil))
	if w.settle(time.Minute) {
		t.Fatal("crashed without a fault")
	}
	if got := w.deliveries()["after-hostile"]; got != 1 {
		t.Fatalf("a good mail after the hostile requests was delivered %d times", got)
	}
}
