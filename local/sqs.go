package local

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"strings"
	"time"

	"github.com/mailflow/mailflow/asl"
	"github.com/mailflow/mailflow/eventqueue"
	"github.com/mailflow/mailflow/local/pipes"
	"github.com/mailflow/mailflow/local/sqsstore"
	"github.com/mailflow/mailflow/workflow"
)

// queueSource lets a pipe drain one queue of the local SQS store in-process.
type queueSource struct {
	store *sqsstore.Store
	queue string
}

var _ pipes.Source = queueSource{}

func (q queueSource) Receive(ctx context.Context, limit int, wait time.Duration) ([]pipes.Message, error) {
	secs := int((wait + time.Second - 1) / time.Second)
	secs = min(max(secs, 0), 20)
	msgs, err := q.store.Receive(ctx, q.queue, sqsstore.ReceiveParams{MaxMessages: limit, WaitTimeSeconds: &secs})
	if err != nil {
		return nil, err
	}
	out := make([]pipes.Message, len(msgs))
	for i, m := range msgs {
		attrs := make(map[string]workflow.MessageAttribute, len(m.Attributes))
		for name, v := range m.Attributes {
			a := workflow.MessageAttribute{DataType: v.DataType, StringListValues: []string{}, BinaryListValues: [][]byte{}}
			if v.BinaryValue != nil {
				a.BinaryValue = v.BinaryValue
			} else {
				s := v.StringValue
				a.StringValue = &s
			}
			attrs[name] = a
		}
		out[i] = pipes.Message{
			MessageID: m.MessageID, ReceiptHandle: m.ReceiptHandle, Body: m.Body, MD5OfBody: m.MD5OfBody,
			Attributes: m.SystemAttributes(), MessageAttributes: attrs,
		}
	}
	return out, nil
}

func (q queueSource) Delete(ctx context.Context, handles []string) error {
	for start := 0; start < len(handles); start += 10 {
		chunk := handles[start:min(start+10, len(handles))]
		entries := make([]sqsstore.BatchEntry, len(chunk))
		for i, h := range chunk {
			entries[i] = sqsstore.BatchEntry{ID: fmt.Sprint(i), ReceiptHandle: h}
		}
		res, err := q.store.DeleteBatch(ctx, q.queue, entries)
		if err != nil {
			return err
		}
		for _, r := range res {
			if r.Err != nil {
				return r.Err
			}
		}
	}
	return nil
}

// queueDeadLetters lets the pipe dead-letter a record itself, into a queue
// of the local SQS store.
type queueDeadLetters struct {
	store *sqsstore.Store
	queue string
	log   *slog.Logger // each record dead-lettered, with its mailId
}

var _ pipes.DeadLetterQueue = queueDeadLetters{}

func (q queueDeadLetters) Send(ctx context.Context, body string, attributes map[string]string) error {
	attrs := make(map[string]sqsstore.MessageAttributeValue, len(attributes))
	for k, v := range attributes {
		attrs[k] = sqsstore.MessageAttributeValue{DataType: "String", StringValue: v}
	}
	_, err := q.store.Send(ctx, q.queue, sqsstore.SendParams{Body: body, Attributes: attrs})
	if err == nil && q.log != nil {
		q.log.Warn("the pipe dead-lettered a record", "mailId", bodyMailID(body), "messageId", attributes[workflow.DLQAttrMessageID],
			"executionId", attributes[workflow.DLQAttrExecutionID], "error", attributes[workflow.DLQAttrError], "reason", attributes[workflow.DLQAttrReason])
	}
	return err
}

// bodyMailID is the mailId a record's body names, "" when it names none
// (a record that is not a message at all is dead-lettered too).
func bodyMailID(body string) string {
	var m struct {
		MailID any `json:"mailId"`
	}
	if json.Unmarshal([]byte(body), &m) != nil {
		return ""
	}
	id, _ := m.MailID.(string)
	return id
}

// eventsQueue lets AcquireLock tell the local events queue of an accepted
// mail, as sqsqueue does on AWS.
type eventsQueue struct {
	store *sqsstore.Store
	queue string
}

var _ eventqueue.Queue = eventsQueue{}

func (q eventsQueue) Send(ctx context.Context, e workflow.PipelineEvent) error {
	body, err := json.Marshal(e)
	if err != nil {
		return err
	}
	_, err = q.store.Send(ctx, q.queue, sqsstore.SendParams{Body: string(body)})
	return err
}

// sendMessageResource is the Step Functions SQS integration the definition
// uses to dead-letter a record.
const sendMessageResource = "arn:aws:states:::sqs:sendMessage"

// sqsSendMessage implements arn:aws:states:::sqs:sendMessage against the
// local store, answering as the AWS integration does.
type sqsSendMessage struct {
	store *sqsstore.Store
}

func (h sqsSendMessage) Invoke(ctx context.Context, req *asl.TaskRequest) (any, error) {
	params, ok := req.Input.(map[string]any)
	if !ok {
		return nil, asl.NewError(asl.ErrRuntime, "sqs:sendMessage parameters must be an object")
	}
	queueURL, _ := params["QueueUrl"].(string)
	name := queueURL[strings.LastIndexByte(queueURL, '/')+1:]
	var body string
	switch b := params["MessageBody"].(type) {
	case string:
		body = b
	case nil:
		return nil, asl.NewError("SQS.SqsException", "The request must contain the parameter MessageBody.")
	default:
		text, err := asl.EncodeJSON(b)
		if err != nil {
			return nil, asl.NewError(asl.ErrRuntime, err.Error())
		}
		body = string(text)
	}
	sp := sqsstore.SendParams{Body: body}
	if raw, ok := params["MessageAttributes"].(map[string]any); ok {
		sp.Attributes = make(map[string]sqsstore.MessageAttributeValue, len(raw))
		for k, v := range raw {
			m, _ := v.(map[string]any)
			dt, _ := m["DataType"].(string)
			sv, _ := m["StringValue"].(string)
			sp.Attributes[k] = sqsstore.MessageAttributeValue{DataType: dt, StringValue: sv}
		}
	}
	res, err := h.store.Send(ctx, name, sp)
	if err != nil {
		code := sqsstore.ErrorCode(err)
		if code == "" {
			return nil, err
		}
		return nil, asl.NewError("SQS."+string(code)+"Exception", err.Error())
	}
	out := map[string]any{"MessageId": res.MessageID, "MD5OfMessageBody": res.MD5OfBody}
	if res.MD5OfAttributes != "" {
		out["MD5OfMessageAttributes"] = res.MD5OfAttributes
	}
	return out, nil
}
