package sqsapi_test

import (
	"context"
	"crypto/md5"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/xml"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/smithy-go"

	"github.com/mailflow/mailflow/local/sqsapi"
	"github.com/mailflow/mailflow/local/sqsstore"
	"github.com/mailflow/mailflow/testkit"
)

func newServer(t *testing.T) *httptest.Server {
	t.Helper()
	s, err := sqsstore.Open(filepath.Join(t.TempDir(), "q.db"), sqsstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(sqsapi.New(s, sqsapi.Options{}))
	t.Cleanup(func() { srv.Close(); s.Close() })
	return srv
}

// postForm sends a query-protocol request as the AWS CLI v1 and older SDKs
// do: a form-encoded POST, answered in XML.
func postForm(t *testing.T, endpoint string, form url.Values) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded; charset=utf-8")
	if err := testkit.SignV4(req, aws.Credentials{AccessKeyID: "AKIDQUERY", SecretAccessKey: "secret"}, "sqs"); err != nil {
		t.Fatal(err)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	if ct := resp.Header.Get("Content-Type"); !strings.Contains(ct, "xml") {
		t.Fatalf("Content-Type %q for a query request", ct)
	}
	return resp.StatusCode, body
}

func decodeXML(t *testing.T, body []byte, v any) {
	t.Helper()
	if err := xml.Unmarshal(body, v); err != nil {
		t.Fatalf("XML %s: %v", body, err)
	}
}

type xmlAttr struct {
	Name  string `xml:"Name"`
	Value string `xml:"Value"`
}

type xmlMsgAttr struct {
	Name  string `xml:"Name"`
	Value struct {
		StringValue string `xml:"StringValue"`
		BinaryValue string `xml:"BinaryValue"`
		DataType    string `xml:"DataType"`
	} `xml:"Value"`
}

func TestQueryProtocol(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	const ns = "http://queue.amazonaws.com/doc/2012-11-05/"

	code, body := postForm(t, srv.URL, url.Values{"Action": {"CreateQueue"}, "QueueName": {"legacy"},
		"Attribute.1.Name": {"VisibilityTimeout"}, "Attribute.1.Value": {"45"}, "Version": {"2012-11-05"}})
	var created struct {
		XMLName  xml.Name `xml:"CreateQueueResponse"`
		QueueURL string   `xml:"CreateQueueResult>QueueUrl"`
		ReqID    string   `xml:"ResponseMetadata>RequestId"`
	}
	decodeXML(t, body, &created)
	if code != 200 || created.XMLName.Space != ns || created.ReqID == "" {
		t.Fatalf("CreateQueue %d %s", code, body)
	}
	if want := srv.URL + "/000000000000/legacy"; created.QueueURL != want {
		t.Fatalf("QueueUrl %q, want %q", created.QueueURL, want)
	}

	msgBody := "<mail>&amp; \"quotes\" ünïcødé\r\n</mail>"
	code, body = postForm(t, srv.URL, url.Values{"Action": {"SendMessage"}, "QueueUrl": {created.QueueURL},
		"MessageBody":             {msgBody},
		"MessageAttribute.1.Name": {"timestamp"}, "MessageAttribute.1.Value.DataType": {"Number"},
		"MessageAttribute.1.Value.StringValue": {"1493147359900"}})
	var sent struct {
		MessageID    string `xml:"SendMessageResult>MessageId"`
		MD5OfBody    string `xml:"SendMessageResult>MD5OfMessageBody"`
		MD5OfMsgAttr string `xml:"SendMessageResult>MD5OfMessageAttributes"`
	}
	decodeXML(t, body, &sent)
	sum := md5.Sum([]byte(msgBody))
	if code != 200 || sent.MD5OfBody != hex.EncodeToString(sum[:]) {
		t.Fatalf("SendMessage %d %s, want MD5 %x", code, body, sum)
	}
	// The published digest of this attribute (name "timestamp", Number 1493147359900).
	if sent.MD5OfMsgAttr != "235c5c510d26fb653d073faed50ae77c" {
		t.Fatalf("MD5OfMessageAttributes %s", sent.MD5OfMsgAttr)
	}

	code, body = postForm(t, srv.URL, url.Values{"Action": {"SendMessageBatch"}, "QueueUrl": {created.QueueURL},
		"SendMessageBatchRequestEntry.1.Id": {"a"}, "SendMessageBatchRequestEntry.1.MessageBody": {"batch a"},
		"SendMessageBatchRequestEntry.2.Id": {"b"}, "SendMessageBatchRequestEntry.2.MessageBody": {"batch b"},
		"SendMessageBatchRequestEntry.2.MessageAttribute.1.Name":              {"bin"},
		"SendMessageBatchRequestEntry.2.MessageAttribute.1.Value.DataType":    {"Binary"},
		"SendMessageBatchRequestEntry.2.MessageAttribute.1.Value.BinaryValue": {base64.StdEncoding.EncodeToString([]byte{1, 2, 3})},
		"SendMessageBatchRequestEntry.3.Id":                                   {"c"}, "SendMessageBatchRequestEntry.3.MessageBody": {"bad \x01 char"}})
	var batch struct {
		OK []struct {
			ID  string `xml:"Id"`
			MD5 string `xml:"MD5OfMessageBody"`
		} `xml:"SendMessageBatchResult>SendMessageBatchResultEntry"`
		Failed []struct {
			ID          string `xml:"Id"`
			Code        string `xml:"Code"`
			SenderFault bool   `xml:"SenderFault"`
		} `xml:"SendMessageBatchResult>BatchResultErrorEntry"`
	}
	decodeXML(t, body, &batch)
	if code != 200 || len(batch.OK) != 2 || len(batch.Failed) != 1 || batch.Failed[0].ID != "c" ||
		batch.Failed[0].Code != "InvalidMessageContents" || !batch.Failed[0].SenderFault {
		t.Fatalf("SendMessageBatch %d %s", code, body)
	}

	code, body = postForm(t, srv.URL, url.Values{"Action": {"ReceiveMessage"}, "QueueUrl": {created.QueueURL},
		"MaxNumberOfMessages": {"10"}, "AttributeName.1": {"All"}, "MessageAttributeName.1": {"All"}})
	var recv struct {
		Messages []struct {
			MessageID     string       `xml:"MessageId"`
			ReceiptHandle string       `xml:"ReceiptHandle"`
			MD5OfBody     string       `xml:"MD5OfBody"`
			Body          string       `xml:"Body"`
			Attributes    []xmlAttr    `xml:"Attribute"`
			MD5OfAttrs    string       `xml:"MD5OfMessageAttributes"`
			MsgAttrs      []xmlMsgAttr `xml:"MessageAttribute"`
		} `xml:"ReceiveMessageResult>Message"`
	}
	decodeXML(t, body, &recv)
	if code != 200 || len(recv.Messages) != 3 {
		t.Fatalf("ReceiveMessage %d %s", code, body)
	}
	var handle string
	for _, m := range recv.Messages {
		s := md5.Sum([]byte(m.Body))
		if m.MD5OfBody != hex.EncodeToString(s[:]) {
			t.Fatalf("MD5OfBody %s of %q", m.MD5OfBody, m.Body)
		}
		attrs := map[string]string{}
		for _, a := range m.Attributes {
			attrs[a.Name] = a.Value
		}
		if attrs["ApproximateReceiveCount"] != "1" || attrs["SenderId"] != "AKIDQUERY" || attrs["SentTimestamp"] == "" {
			t.Fatalf("system attributes %v", attrs)
		}
		switch m.Body {
		case msgBody:
			handle = m.ReceiptHandle
			if m.MessageID != sent.MessageID || m.MD5OfAttrs != sent.MD5OfMsgAttr || len(m.MsgAttrs) != 1 ||
				m.MsgAttrs[0].Value.StringValue != "1493147359900" || m.MsgAttrs[0].Value.DataType != "Number" {
				t.Fatalf("message %+v", m)
			}
		case "batch b":
			if len(m.MsgAttrs) != 1 || m.MsgAttrs[0].Value.BinaryValue != "AQID" || m.MD5OfAttrs == "" {
				t.Fatalf("binary attribute %+v", m.MsgAttrs)
			}
		}
	}

	// Older clients post to the queue URL itself, without QueueUrl.
	code, body = postForm(t, created.QueueURL, url.Values{"Action": {"DeleteMessage"}, "ReceiptHandle": {handle}})
	if code != 200 || !strings.Contains(string(body), "<DeleteMessageResponse") {
		t.Fatalf("DeleteMessage %d %s", code, body)
	}
	code, body = postForm(t, srv.URL, url.Values{"Action": {"GetQueueAttributes"}, "QueueUrl": {created.QueueURL},
		"AttributeName.1": {"VisibilityTimeout"}, "AttributeName.2": {"ApproximateNumberOfMessagesNotVisible"}})
	var ga struct {
		Attrs []xmlAttr `xml:"GetQueueAttributesResult>Attribute"`
	}
	decodeXML(t, body, &ga)
	got := map[string]string{}
	for _, a := range ga.Attrs {
		got[a.Name] = a.Value
	}
	if code != 200 || len(got) != 2 || got["VisibilityTimeout"] != "45" || got["ApproximateNumberOfMessagesNotVisible"] != "2" {
		t.Fatalf("GetQueueAttributes %d %s", code, body)
	}

	code, body = postForm(t, srv.URL, url.Values{"Action": {"ListQueues"}, "QueueNamePrefix": {"leg"}})
	var lq struct {
		URLs []string `xml:"ListQueuesResult>QueueUrl"`
	}
	decodeXML(t, body, &lq)
	if code != 200 || len(lq.URLs) != 1 || lq.URLs[0] != created.QueueURL {
		t.Fatalf("ListQueues %d %s", code, body)
	}
}

func TestQueryErrors(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	type errResp struct {
		XMLName xml.Name `xml:"ErrorResponse"`
		Type    string   `xml:"Error>Type"`
		Code    string   `xml:"Error>Code"`
		Message string   `xml:"Error>Message"`
		ReqID   string   `xml:"RequestId"`
	}
	for _, c := range []struct {
		form url.Values
		code string
	}{
		{url.Values{"Action": {"GetQueueUrl"}, "QueueName": {"nope"}}, "AWS.SimpleQueueService.NonExistentQueue"},
		{url.Values{"Action": {"CreateQueue"}, "QueueName": {"jobs.fifo"}, "Attribute.1.Name": {"FifoQueue"}, "Attribute.1.Value": {"true"}}, "InvalidParameterValue"},
		{url.Values{"Action": {"CreateQueue"}}, "MissingParameter"},
		{url.Values{"Action": {"CreateQueue"}, "QueueName": {"q"}, "Attribute.1.Name": {"Bogus"}, "Attribute.1.Value": {"1"}}, "InvalidAttributeName"},
		{url.Values{"Action": {"SendMessageBatch"}, "QueueUrl": {"http://x/000000000000/q"}}, "AWS.SimpleQueueService.EmptyBatchRequest"},
		{url.Values{"Action": {"ReceiveMessage"}, "QueueUrl": {"http://x/000000000000/q"}, "MaxNumberOfMessages": {"ten"}}, "InvalidParameterValue"},
		{url.Values{"Action": {"Frobnicate"}}, "InvalidAction"},
	} {
		code, body := postForm(t, srv.URL, c.form)
		var e errResp
		decodeXML(t, body, &e)
		if code != 400 || e.Code != c.code || e.Type != "Sender" || e.XMLName.Space != sqsapi.XMLNamespace || e.ReqID == "" || e.Message == "" {
			t.Errorf("%v: %d %s, want code %s", c.form, code, body, c.code)
		}
	}
}

// TestJSONErrorShape checks the JSON protocol's error body and the
// query-compatible header, as the SDK reads them.
func TestJSONErrorShape(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	req, _ := http.NewRequest(http.MethodPost, srv.URL, strings.NewReader(`{"QueueName":"missing"}`))
	req.Header.Set("X-Amz-Target", "AmazonSQS.GetQueueUrl")
	req.Header.Set("Content-Type", "application/x-amz-json-1.0")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var body map[string]string
	if err := json.NewDecoder(resp.Body).Decode(&body); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 400 || body["__type"] != "com.amazonaws.sqs#QueueDoesNotExist" || body["message"] == "" ||
		resp.Header.Get("x-amzn-query-error") != "AWS.SimpleQueueService.NonExistentQueue;Sender" ||
		resp.Header.Get("Content-Type") != "application/x-amz-json-1.0" {
		t.Fatalf("%d %v %v", resp.StatusCode, resp.Header, body)
	}

	// Through the SDK: FIFO names are rejected clearly, unknown operations too.
	c := newClient(srv.URL, nil)
	_, err = c.CreateQueue(context.Background(), &sqs.CreateQueueInput{QueueName: aws.String("jobs.fifo")})
	var ae smithy.APIError
	if !errors.As(err, &ae) || ae.ErrorCode() != "InvalidParameterValue" || !strings.Contains(ae.ErrorMessage(), "FIFO") {
		t.Fatalf("FIFO queue: %v", err)
	}
	_, err = c.AddPermission(context.Background(), &sqs.AddPermissionInput{QueueUrl: aws.String(srv.URL + "/000000000000/q"),
		Label: aws.String("l"), AWSAccountIds: []string{"1"}, Actions: []string{"SendMessage"}})
	if !errors.As(err, &ae) || ae.ErrorCode() != "UnknownOperationException" {
		t.Fatalf("unsupported operation: %v", err)
	}
}
