package sqsapi

import (
	"encoding/base64"
	"strconv"

	"github.com/mailflow/mailflow/local/sqsstore"
)

func (c *call) dispatch(req *request) {
	ops := map[string]func(*request) (any, error){
		"CreateQueue":                  c.createQueue,
		"GetQueueUrl":                  c.getQueueURL,
		"ListQueues":                   c.listQueues,
		"GetQueueAttributes":           c.getQueueAttributes,
		"SetQueueAttributes":           c.setQueueAttributes,
		"DeleteQueue":                  c.deleteQueue,
		"PurgeQueue":                   c.purgeQueue,
		"SendMessage":                  c.sendMessage,
		"SendMessageBatch":             c.sendMessageBatch,
		"ReceiveMessage":               c.receiveMessage,
		"DeleteMessage":                c.deleteMessage,
		"DeleteMessageBatch":           c.deleteMessageBatch,
		"ChangeMessageVisibility":      c.changeMessageVisibility,
		"ChangeMessageVisibilityBatch": c.changeMessageVisibilityBatch,
		"StartMessageMoveTask":         c.startMessageMoveTask,
		"ListMessageMoveTasks":         c.listMessageMoveTasks,
		"CancelMessageMoveTask":        c.cancelMessageMoveTask,
		"ListDeadLetterSourceQueues":   c.listDeadLetterSourceQueues,
		"TagQueue":                     c.tagQueue,
		"UntagQueue":                   c.untagQueue,
		"ListQueueTags":                c.listQueueTags,
	}
	fn, ok := ops[c.op]
	if !ok {
		if c.proto == protoJSON {
			c.fail(&apiError{typ: "com.amazon.coral.service#UnknownOperationException", code: "UnknownOperationException",
				status: 400, msg: "The operation " + c.op + " is not supported by this endpoint."})
		} else {
			c.fail(&apiError{code: "InvalidAction", status: 400, msg: "The action " + c.op + " is not valid for this endpoint."})
		}
		return
	}
	res, err := fn(req)
	if err != nil {
		c.fail(err)
		return
	}
	c.reply(res)
}

func (c *call) createQueue(req *request) (any, error) {
	if req.QueueName == "" {
		return nil, missing("QueueName")
	}
	if err := c.h.store.CreateQueue(c.r.Context(), req.QueueName, req.Attributes, req.Tags); err != nil {
		return nil, err
	}
	return queueURLResult{QueueUrl: c.queueURL(req.QueueName)}, nil
}

func (c *call) getQueueURL(req *request) (any, error) {
	if req.QueueName == "" {
		return nil, missing("QueueName")
	}
	if req.QueueOwnerAWSAccountId != "" && req.QueueOwnerAWSAccountId != c.h.store.AccountID() {
		return nil, &sqsstore.Error{Code: sqsstore.CodeQueueDoesNotExist, Message: "The specified queue does not exist."}
	}
	if err := c.h.store.QueueExists(c.r.Context(), req.QueueName); err != nil {
		return nil, err
	}
	return queueURLResult{QueueUrl: c.queueURL(req.QueueName)}, nil
}

func (c *call) listQueues(req *request) (any, error) {
	max := 0
	if req.MaxResults != nil {
		if *req.MaxResults < 1 || *req.MaxResults > 1000 {
			return nil, invalidParam("MaxResults", itoa(*req.MaxResults), "MaxResults must be an integer between 1 and 1000.")
		}
		max = *req.MaxResults
	}
	after := ""
	if req.NextToken != "" {
		b, err := base64.RawURLEncoding.DecodeString(req.NextToken)
		if err != nil {
			return nil, invalidParam("NextToken", req.NextToken, "Invalid NextToken value.")
		}
		after = string(b)
	}
	names, more, err := c.h.store.ListQueues(c.r.Context(), req.QueueNamePrefix, after, max)
	if err != nil {
		return nil, err
	}
	out := listQueuesResult{}
	for _, n := range names {
		out.QueueUrls = append(out.QueueUrls, c.queueURL(n))
	}
	if more && req.MaxResults != nil {
		out.NextToken = base64.RawURLEncoding.EncodeToString([]byte(names[len(names)-1]))
	}
	return out, nil
}

func (c *call) getQueueAttributes(req *request) (any, error) {
	name, err := c.queueName(req.QueueUrl)
	if err != nil {
		return nil, err
	}
	attrs, err := c.h.store.GetQueueAttributes(c.r.Context(), name, req.AttributeNames)
	if err != nil {
		return nil, err
	}
	return attributesResult{Attributes: attrs}, nil
}

func (c *call) setQueueAttributes(req *request) (any, error) {
	name, err := c.queueName(req.QueueUrl)
	if err != nil {
		return nil, err
	}
	return nil, c.h.store.SetQueueAttributes(c.r.Context(), name, req.Attributes)
}

func (c *call) deleteQueue(req *request) (any, error) {
	name, err := c.queueName(req.QueueUrl)
	if err != nil {
		return nil, err
	}
	return nil, c.h.store.DeleteQueue(c.r.Context(), name)
}

func (c *call) purgeQueue(req *request) (any, error) {
	name, err := c.queueName(req.QueueUrl)
	if err != nil {
		return nil, err
	}
	return nil, c.h.store.PurgeQueue(c.r.Context(), name)
}

// sendParams converts one message of SendMessage or SendMessageBatch.
func (c *call) sendParams(body *text, delay *int, attrs, sys map[string]attrIn, dedup *string) (sqsstore.SendParams, error) {
	if body == nil {
		return sqsstore.SendParams{}, missing("MessageBody")
	}
	if dedup != nil {
		return sqsstore.SendParams{}, invalidParam("MessageDeduplicationId", *dedup, "The request includes a parameter that is not valid for this queue type (MessageDeduplicationId is for FIFO queues).")
	}
	p := sqsstore.SendParams{Body: string(*body), DelaySeconds: delay, SenderID: senderID(c.r)}
	if len(attrs) > 0 {
		p.Attributes = map[string]sqsstore.MessageAttributeValue{}
		for name, a := range attrs {
			v, err := convertAttr(name, a)
			if err != nil {
				return p, err
			}
			p.Attributes[name] = v
		}
	}
	for name, a := range sys {
		if name != "AWSTraceHeader" {
			return p, invalidParam("MessageSystemAttributes", name, "Only AWSTraceHeader is supported as a message system attribute.")
		}
		if a.DataType != "String" || a.StringValue == nil || *a.StringValue == "" {
			return p, invalidParam("MessageSystemAttributes", name, "AWSTraceHeader must be a non-empty String.")
		}
		p.TraceHeader = string(*a.StringValue)
	}
	return p, nil
}

func convertAttr(name string, a attrIn) (sqsstore.MessageAttributeValue, error) {
	if len(a.StringListValues) > 0 || len(a.BinaryListValues) > 0 {
		return sqsstore.MessageAttributeValue{}, invalidParam("MessageAttributes", name, "StringListValues and BinaryListValues are not implemented.")
	}
	v := sqsstore.MessageAttributeValue{DataType: a.DataType, BinaryValue: a.BinaryValue}
	if a.StringValue != nil {
		v.StringValue = string(*a.StringValue)
	}
	return v, nil
}

func (c *call) sendMessage(req *request) (any, error) {
	name, err := c.queueName(req.QueueUrl)
	if err != nil {
		return nil, err
	}
	p, err := c.sendParams(req.MessageBody, req.DelaySeconds, req.MessageAttributes, req.MessageSystemAttributes, req.MessageDeduplicationId)
	if err != nil {
		return nil, err
	}
	res, err := c.h.store.Send(c.r.Context(), name, p)
	if err != nil {
		return nil, err
	}
	return sendResult{MessageId: res.MessageID, MD5OfMessageBody: res.MD5OfBody,
		MD5OfMessageAttributes: res.MD5OfAttributes, MD5OfMessageSystemAttributes: res.MD5OfSystemAttributes}, nil
}

func failure(id string, err error) batchFailure {
	code, msg := "InternalError", err.Error()
	fault := false
	if se := sqsstoreError(err); se != nil {
		code, msg, fault = string(se.Code), se.Message, se.Code.SenderFault()
	}
	return batchFailure{Id: id, SenderFault: fault, Code: code, Message: msg}
}

func entryIDs(entries []entryIn) error {
	ids := make([]string, len(entries))
	for i, e := range entries {
		ids[i] = e.Id
	}
	return sqsstore.ValidateBatchIDs(ids)
}

func (c *call) sendMessageBatch(req *request) (any, error) {
	name, err := c.queueName(req.QueueUrl)
	if err != nil {
		return nil, err
	}
	if err := entryIDs(req.Entries); err != nil {
		return nil, err
	}
	out := sendBatchResult{Successful: []sendBatchEntryOut{}, Failed: []batchFailure{}}
	var entries []sqsstore.SendBatchEntry
	for _, e := range req.Entries {
		p, err := c.sendParams(e.MessageBody, e.DelaySeconds, e.MessageAttributes, e.MessageSystemAttributes, e.MessageDeduplicationId)
		if err != nil {
			out.Failed = append(out.Failed, failure(e.Id, err))
			continue
		}
		entries = append(entries, sqsstore.SendBatchEntry{ID: e.Id, SendParams: p})
	}
	if len(entries) == 0 {
		return out, nil
	}
	results, err := c.h.store.SendBatch(c.r.Context(), name, entries)
	if err != nil {
		return nil, err
	}
	for _, r := range results {
		if r.Err != nil {
			out.Failed = append(out.Failed, failure(r.ID, r.Err))
			continue
		}
		out.Successful = append(out.Successful, sendBatchEntryOut{Id: r.ID, sendResult: sendResult{
			MessageId: r.MessageID, MD5OfMessageBody: r.MD5OfBody, MD5OfMessageAttributes: r.MD5OfAttributes,
			MD5OfMessageSystemAttributes: r.MD5OfSystemAttributes}})
	}
	return out, nil
}

var systemAttributeNames = []string{"All", "SenderId", "SentTimestamp", "ApproximateReceiveCount",
	"ApproximateFirstReceiveTimestamp", "AWSTraceHeader", "DeadLetterQueueSourceArn",
	"SequenceNumber", "MessageDeduplicationId", "MessageGroupId", "SqsManagedSseEnabled"}

func (c *call) receiveMessage(req *request) (any, error) {
	name, err := c.queueName(req.QueueUrl)
	if err != nil {
		return nil, err
	}
	want := map[string]bool{}
	for _, n := range append(append([]string{}, req.AttributeNames...), req.MessageSystemAttributeNames...) {
		found := false
		for _, a := range systemAttributeNames {
			found = found || a == n
		}
		if !found {
			return nil, &sqsstore.Error{Code: sqsstore.CodeInvalidAttributeName, Message: "Unknown Attribute " + n + "."}
		}
		want[n] = true
	}
	p := sqsstore.ReceiveParams{VisibilityTimeout: req.VisibilityTimeout, WaitTimeSeconds: req.WaitTimeSeconds}
	if req.MaxNumberOfMessages != nil {
		p.MaxMessages = *req.MaxNumberOfMessages
		if p.MaxMessages == 0 {
			return nil, invalidParam("MaxNumberOfMessages", "0", "Must be between 1 and 10, if provided.")
		}
	}
	msgs, err := c.h.store.Receive(c.r.Context(), name, p)
	if err != nil {
		return nil, err
	}
	out := receiveResult{}
	for _, m := range msgs {
		mo := messageOut{MessageId: m.MessageID, ReceiptHandle: m.ReceiptHandle, MD5OfBody: m.MD5OfBody, Body: m.Body}
		for k, v := range m.SystemAttributes() {
			if want["All"] || want[k] {
				if mo.Attributes == nil {
					mo.Attributes = attrMap{}
				}
				mo.Attributes[k] = v
			}
		}
		if sel := sqsstore.FilterAttributes(m.Attributes, req.MessageAttributeNames); len(sel) > 0 {
			mo.MD5OfMessageAttributes = sqsstore.AttributesMD5(sel)
			mo.MessageAttributes = msgAttrMap{}
			for k, v := range sel {
				a := attrOut{DataType: v.DataType}
				if v.BinaryValue != nil {
					a.BinaryValue = v.BinaryValue
				} else {
					s := v.StringValue
					a.StringValue = &s
				}
				mo.MessageAttributes[k] = a
			}
		}
		out.Messages = append(out.Messages, mo)
	}
	return out, nil
}

func (c *call) deleteMessage(req *request) (any, error) {
	name, err := c.queueName(req.QueueUrl)
	if err != nil {
		return nil, err
	}
	if req.ReceiptHandle == nil {
		return nil, missing("ReceiptHandle")
	}
	return nil, c.h.store.Delete(c.r.Context(), name, *req.ReceiptHandle)
}

func (c *call) batchEntries(req *request, needTimeout bool) ([]sqsstore.BatchEntry, []batchFailure, error) {
	if err := entryIDs(req.Entries); err != nil {
		return nil, nil, err
	}
	var entries []sqsstore.BatchEntry
	failed := []batchFailure{}
	for _, e := range req.Entries {
		switch {
		case e.ReceiptHandle == nil:
			failed = append(failed, failure(e.Id, missing("ReceiptHandle")))
		case needTimeout && e.VisibilityTimeout == nil:
			failed = append(failed, failure(e.Id, missing("VisibilityTimeout")))
		default:
			be := sqsstore.BatchEntry{ID: e.Id, ReceiptHandle: *e.ReceiptHandle}
			if e.VisibilityTimeout != nil {
				be.VisibilityTimeout = *e.VisibilityTimeout
			}
			entries = append(entries, be)
		}
	}
	return entries, failed, nil
}

func collect(results []sqsstore.BatchResult, failed []batchFailure) ([]idEntry, []batchFailure) {
	ok := []idEntry{}
	for _, r := range results {
		if r.Err != nil {
			failed = append(failed, failure(r.ID, r.Err))
		} else {
			ok = append(ok, idEntry{Id: r.ID})
		}
	}
	return ok, failed
}

func (c *call) deleteMessageBatch(req *request) (any, error) {
	name, err := c.queueName(req.QueueUrl)
	if err != nil {
		return nil, err
	}
	entries, failed, err := c.batchEntries(req, false)
	if err != nil {
		return nil, err
	}
	var results []sqsstore.BatchResult
	if len(entries) > 0 {
		if results, err = c.h.store.DeleteBatch(c.r.Context(), name, entries); err != nil {
			return nil, err
		}
	} else if err := c.h.store.QueueExists(c.r.Context(), name); err != nil {
		return nil, err
	}
	out := deleteBatchResult{}
	out.Successful, out.Failed = collect(results, failed)
	return out, nil
}

func (c *call) changeMessageVisibility(req *request) (any, error) {
	name, err := c.queueName(req.QueueUrl)
	if err != nil {
		return nil, err
	}
	if req.ReceiptHandle == nil {
		return nil, missing("ReceiptHandle")
	}
	if req.VisibilityTimeout == nil {
		return nil, missing("VisibilityTimeout")
	}
	return nil, c.h.store.ChangeVisibility(c.r.Context(), name, *req.ReceiptHandle, *req.VisibilityTimeout)
}

func (c *call) changeMessageVisibilityBatch(req *request) (any, error) {
	name, err := c.queueName(req.QueueUrl)
	if err != nil {
		return nil, err
	}
	entries, failed, err := c.batchEntries(req, true)
	if err != nil {
		return nil, err
	}
	var results []sqsstore.BatchResult
	if len(entries) > 0 {
		if results, err = c.h.store.ChangeVisibilityBatch(c.r.Context(), name, entries); err != nil {
			return nil, err
		}
	} else if err := c.h.store.QueueExists(c.r.Context(), name); err != nil {
		return nil, err
	}
	out := changeBatchResult{}
	out.Successful, out.Failed = collect(results, failed)
	return out, nil
}

func (c *call) startMessageMoveTask(req *request) (any, error) {
	p := sqsstore.MoveTaskParams{SourceArn: req.SourceArn, DestinationArn: req.DestinationArn}
	if req.MaxNumberOfMessagesPerSecond != nil {
		if *req.MaxNumberOfMessagesPerSecond < 1 {
			return nil, invalidParam("MaxNumberOfMessagesPerSecond", itoa(*req.MaxNumberOfMessagesPerSecond), "Must be between 1 and 500.")
		}
		p.MaxNumberOfMessagesPerSecond = *req.MaxNumberOfMessagesPerSecond
	}
	h, err := c.h.store.StartMoveTask(c.r.Context(), p)
	if err != nil {
		return nil, err
	}
	return startMoveResult{TaskHandle: h}, nil
}

func (c *call) listMessageMoveTasks(req *request) (any, error) {
	max := 0
	if req.MaxResults != nil {
		if *req.MaxResults < 1 {
			return nil, invalidParam("MaxResults", itoa(*req.MaxResults), "Must be between 1 and 10.")
		}
		max = *req.MaxResults
	}
	tasks, err := c.h.store.ListMoveTasks(c.r.Context(), req.SourceArn, max)
	if err != nil {
		return nil, err
	}
	out := listMoveResult{Results: []moveTaskOut{}}
	for _, t := range tasks {
		o := moveTaskOut{TaskHandle: t.TaskHandle, Status: t.Status, SourceArn: t.SourceArn, DestinationArn: t.DestinationArn,
			ApproximateNumberOfMessagesMoved: t.ApproximateNumberOfMessagesMoved, ApproximateNumberOfMessagesToMove: t.ApproximateNumberOfMessagesToMove,
			FailureReason: t.FailureReason, StartedTimestamp: t.StartedTimestamp.UnixMilli()}
		if t.MaxNumberOfMessagesPerSecond > 0 {
			n := t.MaxNumberOfMessagesPerSecond
			o.MaxNumberOfMessagesPerSecond = &n
		}
		out.Results = append(out.Results, o)
	}
	return out, nil
}

func (c *call) cancelMessageMoveTask(req *request) (any, error) {
	moved, err := c.h.store.CancelMoveTask(c.r.Context(), req.TaskHandle)
	if err != nil {
		return nil, err
	}
	return cancelMoveResult{ApproximateNumberOfMessagesMoved: moved}, nil
}

func (c *call) listDeadLetterSourceQueues(req *request) (any, error) {
	name, err := c.queueName(req.QueueUrl)
	if err != nil {
		return nil, err
	}
	names, err := c.h.store.ListDeadLetterSourceQueues(c.r.Context(), name)
	if err != nil {
		return nil, err
	}
	out := deadLetterSourcesResult{QueueUrls: []string{}}
	for _, n := range names {
		out.QueueUrls = append(out.QueueUrls, c.queueURL(n))
	}
	return out, nil
}

func (c *call) tagQueue(req *request) (any, error) {
	name, err := c.queueName(req.QueueUrl)
	if err != nil {
		return nil, err
	}
	return nil, c.h.store.TagQueue(c.r.Context(), name, req.Tags)
}

func (c *call) untagQueue(req *request) (any, error) {
	name, err := c.queueName(req.QueueUrl)
	if err != nil {
		return nil, err
	}
	return nil, c.h.store.UntagQueue(c.r.Context(), name, req.TagKeys)
}

func (c *call) listQueueTags(req *request) (any, error) {
	name, err := c.queueName(req.QueueUrl)
	if err != nil {
		return nil, err
	}
	tags, err := c.h.store.ListQueueTags(c.r.Context(), name)
	if err != nil {
		return nil, err
	}
	return tagsResult{Tags: tags}, nil
}

func itoa(n int) string { return strconv.Itoa(n) }
