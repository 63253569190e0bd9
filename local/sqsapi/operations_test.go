package sqsapi_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/mailflow/mailflow/local/sqsapi"
	"github.com/mailflow/mailflow/local/sqsstore"
	"github.com/mailflow/mailflow/testkit/sqstest"
)

// TestSDKOperations exercises the operations the conformance suite does not,
// so that every answer shape is read back by the SDK, through both
// protocols.
func TestSDKOperations(t *testing.T) {
	t.Parallel()
	for name, transport := range map[string]http.RoundTripper{"JSON": nil, "Query": sqstest.QueryProtocol(nil, testCreds)} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t)
			sdkOperations(t, newClient(srv.URL, transport))
		})
	}
}

func sdkOperations(t *testing.T, c *sqs.Client) {
	ctx := context.Background()

	var urls []string
	for i := range 5 {
		out, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String(fmt.Sprintf("page-%d", i)),
			Tags: map[string]string{"team": "mail"}})
		if err != nil {
			t.Fatal(err)
		}
		urls = append(urls, *out.QueueUrl)
	}
	if _, err := c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("other")}); err != nil {
		t.Fatal(err)
	}
	var listed []string
	var token *string
	for pages := 0; ; pages++ {
		out, err := c.ListQueues(ctx, &sqs.ListQueuesInput{QueueNamePrefix: aws.String("page-"), MaxResults: aws.Int32(2), NextToken: token})
		if err != nil {
			t.Fatal(err)
		}
		listed = append(listed, out.QueueUrls...)
		if out.NextToken == nil {
			break
		}
		if pages > 5 {
			t.Fatal("ListQueues never ends")
		}
		token = out.NextToken
	}
	sort.Strings(listed)
	if strings.Join(listed, ",") != strings.Join(urls, ",") {
		t.Fatalf("ListQueues pages %v, want %v", listed, urls)
	}

	got, err := c.GetQueueUrl(ctx, &sqs.GetQueueUrlInput{QueueName: aws.String("page-1")})
	if err != nil || *got.QueueUrl != urls[1] {
		t.Fatalf("GetQueueUrl %v %v", got, err)
	}

	tags, err := c.ListQueueTags(ctx, &sqs.ListQueueTagsInput{QueueUrl: &urls[0]})
	if err != nil || tags.Tags["team"] != "mail" {
		t.Fatalf("ListQueueTags %v %v", tags, err)
	}
	if _, err := c.TagQueue(ctx, &sqs.TagQueueInput{QueueUrl: &urls[0], Tags: map[string]string{"env": "dev"}}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.UntagQueue(ctx, &sqs.UntagQueueInput{QueueUrl: &urls[0], TagKeys: []string{"team"}}); err != nil {
		t.Fatal(err)
	}
	tags, _ = c.ListQueueTags(ctx, &sqs.ListQueueTagsInput{QueueUrl: &urls[0]})
	if len(tags.Tags) != 1 || tags.Tags["env"] != "dev" {
		t.Fatalf("tags after tag/untag %v", tags.Tags)
	}

	arn := "arn:aws:sqs:us-east-1:000000000000:page-0"
	if _, err := c.SetQueueAttributes(ctx, &sqs.SetQueueAttributesInput{QueueUrl: &urls[1],
		Attributes: map[string]string{"RedrivePolicy": `{"deadLetterTargetArn":"` + arn + `","maxReceiveCount":"5"}`}}); err != nil {
		t.Fatal(err)
	}
	src, err := c.ListDeadLetterSourceQueues(ctx, &sqs.ListDeadLetterSourceQueuesInput{QueueUrl: &urls[0]})
	if err != nil || len(src.QueueUrls) != 1 || src.QueueUrls[0] != urls[1] {
		t.Fatalf("ListDeadLetterSourceQueues %v %v", src, err)
	}

	for range 3 {
		if _, err := c.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: &urls[2], MessageBody: aws.String("x")}); err != nil {
			t.Fatal(err)
		}
	}
	recv, err := c.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{QueueUrl: &urls[2], MaxNumberOfMessages: 10})
	if err != nil || len(recv.Messages) != 3 {
		t.Fatalf("receive %v %v", recv, err)
	}
	entries := []types.ChangeMessageVisibilityBatchRequestEntry{
		{Id: aws.String("ok"), ReceiptHandle: recv.Messages[0].ReceiptHandle, VisibilityTimeout: 0},
		{Id: aws.String("bad"), ReceiptHandle: aws.String("bogus"), VisibilityTimeout: 10},
	}
	cv, err := c.ChangeMessageVisibilityBatch(ctx, &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: &urls[2], Entries: entries})
	if err != nil || len(cv.Successful) != 1 || len(cv.Failed) != 1 || *cv.Failed[0].Code != "ReceiptHandleIsInvalid" || !cv.Failed[0].SenderFault {
		t.Fatalf("ChangeMessageVisibilityBatch %+v %v", cv, err)
	}
	attrs, err := c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: &urls[2],
		AttributeNames: []types.QueueAttributeName{"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible", "QueueArn"}})
	if err != nil || attrs.Attributes["ApproximateNumberOfMessages"] != "1" || attrs.Attributes["ApproximateNumberOfMessagesNotVisible"] != "2" ||
		attrs.Attributes["QueueArn"] != "arn:aws:sqs:us-east-1:000000000000:page-2" || len(attrs.Attributes) != 3 {
		t.Fatalf("GetQueueAttributes %v %v", attrs, err)
	}
	if _, err := c.PurgeQueue(ctx, &sqs.PurgeQueueInput{QueueUrl: &urls[2]}); err != nil {
		t.Fatal(err)
	}
	_, err = c.PurgeQueue(ctx, &sqs.PurgeQueueInput{QueueUrl: &urls[2]})
	var inProgress *types.PurgeQueueInProgress
	if !errors.As(err, &inProgress) {
		t.Fatalf("second purge within 60 s: %v", err)
	}
	attrs, _ = c.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: &urls[2], AttributeNames: []types.QueueAttributeName{"All"}})
	if attrs.Attributes["ApproximateNumberOfMessages"] != "0" || attrs.Attributes["ApproximateNumberOfMessagesNotVisible"] != "0" {
		t.Fatalf("after purge %v", attrs.Attributes)
	}
	_, err = c.CreateQueue(ctx, &sqs.CreateQueueInput{QueueName: aws.String("page-0"), Attributes: map[string]string{"DelaySeconds": "9"}})
	var exists *types.QueueNameExists
	if !errors.As(err, &exists) || exists.ErrorCode() != "QueueAlreadyExists" {
		t.Fatalf("create with different attributes: %v", err)
	}
}

func fuzzHandler(t testing.TB) http.Handler {
	s, err := sqsstore.Open(filepath.Join(t.TempDir(), "fuzz.db"), sqsstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	h := sqsapi.New(s, sqsapi.Options{})
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(`{"QueueName":"q"}`))
	req.Header.Set("X-Amz-Target", "AmazonSQS.CreateQueue")
	h.ServeHTTP(httptest.NewRecorder(), req)
	return h
}

// FuzzQueryRequest feeds arbitrary forms to the query protocol: every answer
// is a well-formed 200 or 4xx, never a panic or a 500.
func FuzzQueryRequest(f *testing.F) {
	for _, seed := range []string{
		"Action=SendMessage&QueueUrl=http://h/000000000000/q&MessageBody=hi&MessageAttribute.1.Name=a&MessageAttribute.1.Value.DataType=Number&MessageAttribute.1.Value.StringValue=1",
		"Action=ReceiveMessage&QueueUrl=http://h/000000000000/q&MaxNumberOfMessages=10&AttributeName.1=All",
		"Action=SendMessageBatch&QueueUrl=http://h/000000000000/q&SendMessageBatchRequestEntry.1.Id=a&SendMessageBatchRequestEntry.1.MessageBody=b",
		"Action=DeleteMessageBatch&QueueUrl=http://h/000000000000/q&DeleteMessageBatchRequestEntry.99999999999999999999.Id=a",
		"Action=CreateQueue&QueueName=x&Attribute.1.Name=RedrivePolicy&Attribute.1.Value={}",
		"Action=%zz",
	} {
		f.Add(seed)
	}
	h := fuzzHandler(f)
	f.Fuzz(func(t *testing.T, body string) {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 && rec.Code != 400 {
			t.Fatalf("status %d for %q: %s", rec.Code, body, rec.Body)
		}
	})
}

// FuzzJSONRequest does the same for the JSON protocol.
func FuzzJSONRequest(f *testing.F) {
	for _, seed := range []struct{ op, body string }{
		{"SendMessage", `{"QueueUrl":"http://h/000000000000/q","MessageBody":"hi","MessageAttributes":{"a":{"DataType":"Binary","BinaryValue":"AQI="}}}`},
		{"ReceiveMessage", `{"QueueUrl":"http://h/000000000000/q","MaxNumberOfMessages":10,"VisibilityTimeout":0}`},
		{"ChangeMessageVisibilityBatch", `{"QueueUrl":"http://h/000000000000/q","Entries":[{"Id":"a","ReceiptHandle":"x","VisibilityTimeout":1}]}`},
		{"StartMessageMoveTask", `{"SourceArn":"arn:aws:sqs:us-east-1:000000000000:q"}`},
		{"SetQueueAttributes", `{"QueueUrl":"http://h/000000000000/q","Attributes":{"RedrivePolicy":"{\"maxReceiveCount\":\"x\"}"}}`},
	} {
		f.Add(seed.op, seed.body)
	}
	h := fuzzHandler(f)
	f.Fuzz(func(t *testing.T, op, body string) {
		req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
		req.Header.Set("X-Amz-Target", "AmazonSQS."+op)
		req.Header.Set("Content-Type", "application/x-amz-json-1.0")
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != 200 && rec.Code != 400 {
			t.Fatalf("status %d for %s %q: %s", rec.Code, op, body, rec.Body)
		}
	})
}
