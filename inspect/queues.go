package inspect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/mailflow/mailflow/asl"
	"github.com/mailflow/mailflow/workflow"
)

// SQSAPI is the part of the SQS client the queue operations use.
type SQSAPI interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, opts ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
	ReceiveMessage(ctx context.Context, in *sqs.ReceiveMessageInput, opts ...func(*sqs.Options)) (*sqs.ReceiveMessageOutput, error)
	ChangeMessageVisibilityBatch(ctx context.Context, in *sqs.ChangeMessageVisibilityBatchInput, opts ...func(*sqs.Options)) (*sqs.ChangeMessageVisibilityBatchOutput, error)
	GetQueueAttributes(ctx context.Context, in *sqs.GetQueueAttributesInput, opts ...func(*sqs.Options)) (*sqs.GetQueueAttributesOutput, error)
	DeleteMessage(ctx context.Context, in *sqs.DeleteMessageInput, opts ...func(*sqs.Options)) (*sqs.DeleteMessageOutput, error)
	PurgeQueue(ctx context.Context, in *sqs.PurgeQueueInput, opts ...func(*sqs.Options)) (*sqs.PurgeQueueOutput, error)
	StartMessageMoveTask(ctx context.Context, in *sqs.StartMessageMoveTaskInput, opts ...func(*sqs.Options)) (*sqs.StartMessageMoveTaskOutput, error)
	ListMessageMoveTasks(ctx context.Context, in *sqs.ListMessageMoveTasksInput, opts ...func(*sqs.Options)) (*sqs.ListMessageMoveTasksOutput, error)
}

// Queues are the pipeline's source queue and dead-letter queue.
type Queues struct {
	API       SQSAPI
	SourceURL string
	DLQURL    string
	// Store reads and deletes the dead-letter queue's messages without
	// receiving them; nil on AWS.
	Store DeadLetterStore
	// Index lists the mails dead-lettered, from their delivery records,
	// where there is no Store (AWS); nil without delivery feedback. With a
	// Store it is only kept in step (entries forgotten when their copy is
	// deleted or redriven).
	Index DeadLetterIndex
	// Progress, when set, is told of each message a selective redrive or
	// purge moved or deleted, as it is done.
	Progress func(DeadLetter)
	// PollInterval is how often Redrive checks its move task (default 500ms).
	PollInterval time.Duration
}

// Depth is how many messages a queue holds.
type Depth struct {
	Queue      string `json:"queue"`
	URL        string `json:"url"`
	Visible    int    `json:"visible"`
	InFlight   int    `json:"inFlight"`
	Delayed    int    `json:"delayed"`
	DeadLetter bool   `json:"deadLetter"`
}

// Depths reports both queues.
func (q *Queues) Depths(ctx context.Context) ([]Depth, error) {
	var out []Depth
	for i, url := range []string{q.SourceURL, q.DLQURL} {
		res, err := q.API.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(url), AttributeNames: []types.QueueAttributeName{
			types.QueueAttributeNameApproximateNumberOfMessages, types.QueueAttributeNameApproximateNumberOfMessagesNotVisible,
			types.QueueAttributeNameApproximateNumberOfMessagesDelayed,
		}})
		if err != nil {
			return nil, fmt.Errorf("queue %s: %w", url, err)
		}
		n := func(k types.QueueAttributeName) int { v, _ := strconv.Atoi(res.Attributes[string(k)]); return v }
		out = append(out, Depth{
			Queue: url[strings.LastIndexByte(url, '/')+1:], URL: url, DeadLetter: i == 1,
			Visible:  n(types.QueueAttributeNameApproximateNumberOfMessages),
			InFlight: n(types.QueueAttributeNameApproximateNumberOfMessagesNotVisible),
			Delayed:  n(types.QueueAttributeNameApproximateNumberOfMessagesDelayed),
		})
	}
	return out, nil
}

// Enqueue sends a body to the source queue and returns the new message id.
func (q *Queues) Enqueue(ctx context.Context, body string) (string, error) {
	res, err := q.API.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(q.SourceURL), MessageBody: aws.String(body)})
	if err != nil {
		return "", fmt.Errorf("send to %s: %w", q.SourceURL, err)
	}
	return aws.ToString(res.MessageId), nil
}

// DeadLetter is a message of the dead-letter queue with the reason the
// state machine recorded.
type DeadLetter struct {
	MessageID       string    `json:"messageId"`
	MailID          string    `json:"mailId,omitempty"`
	Error           string    `json:"error,omitempty"`
	Cause           string    `json:"cause,omitempty"`
	SourceMessageID string    `json:"sourceMessageId,omitempty"`
	ExecutionID     string    `json:"executionId,omitempty"`
	SentAt          time.Time `json:"sentAt,omitzero"`
	// Recipients are the to, cc and bcc addresses of the body.
	Recipients []string `json:"recipients,omitempty"`
	// Indexed says the entry was read from the dead-letter index, not the
	// queue: MessageID and Body are unknown (the copy is only in the
	// queue), SentAt is when the mail was dead-lettered and Key is its
	// place in the index (a listing's --after).
	Indexed      bool   `json:"indexed,omitempty"`
	Key          string `json:"key,omitempty"`
	ReceiveCount int    `json:"receiveCount"`
	Body         string `json:"body"`
	// ReasonFrom says where Error and Cause come from when the message
	// itself carries no reason (see ExplainDeadLetters); empty when the
	// message's own attributes give them.
	ReasonFrom string `json:"reasonFrom,omitempty"`
}

// DeadLetters lists up to max messages of the dead-letter queue without
// consuming them. With a Store it reads them there, changing nothing.
// Without one (AWS) it receives until no new message comes, then makes
// every received message visible again: each listed message's receive
// count grows by one, and while a listing runs the messages it holds are
// invisible to a move task, so a redrive started meanwhile may leave them
// (run it again).
func (q *Queues) DeadLetters(ctx context.Context, max int) ([]DeadLetter, error) {
	if max <= 0 {
		max = 100
	}
	if q.Store != nil {
		page, err := q.FindDeadLetters(ctx, DeadLetterQuery{Limit: max})
		return page.Messages, err
	}
	var out []DeadLetter
	var handles []string
	seen := map[string]bool{}
	defer func() {
		// Give the messages back at once, whatever happened.
		for start := 0; start < len(handles); start += 10 {
			chunk := handles[start:min(start+10, len(handles))]
			entries := make([]types.ChangeMessageVisibilityBatchRequestEntry, len(chunk))
			for i, h := range chunk {
				entries[i] = types.ChangeMessageVisibilityBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(h), VisibilityTimeout: 0}
			}
			_, _ = q.API.ChangeMessageVisibilityBatch(context.WithoutCancel(ctx), &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: aws.String(q.DLQURL), Entries: entries})
		}
	}()
	for len(out) < max {
		res, err := q.API.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(q.DLQURL), MaxNumberOfMessages: int32(min(10, max-len(out))),
			VisibilityTimeout: 5, MessageAttributeNames: []string{"All"},
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
		})
		if err != nil {
			return nil, fmt.Errorf("receive from %s: %w", q.DLQURL, err)
		}
		fresh := 0
		for _, m := range res.Messages {
			handles = append(handles, aws.ToString(m.ReceiptHandle))
			id := aws.ToString(m.MessageId)
			if seen[id] {
				continue
			}
			seen[id] = true
			fresh++
			out = append(out, deadLetterOf(m))
		}
		if fresh == 0 {
			break
		}
	}
	if out == nil {
		out = []DeadLetter{}
	}
	return out, nil
}

func deadLetterOf(m types.Message) DeadLetter {
	attr := func(k string) string {
		if v, ok := m.MessageAttributes[k]; ok {
			return aws.ToString(v.StringValue)
		}
		return ""
	}
	d := DeadLetter{
		MessageID: aws.ToString(m.MessageId), Body: aws.ToString(m.Body),
		Error: attr(workflow.DLQAttrError), SourceMessageID: attr(workflow.DLQAttrMessageID), ExecutionID: attr(workflow.DLQAttrExecutionID),
	}
	d.MailID = workflow.PeekMailID(d.Body)
	d.Recipients = bodyRecipients(d.Body)
	var failure struct{ Error, Cause string }
	if json.Unmarshal([]byte(attr(workflow.DLQAttrFailure)), &failure) == nil {
		if d.Error == "" {
			d.Error = failure.Error
		}
		d.Cause = CauseMessage(failure.Cause)
	}
	if ms, err := strconv.ParseInt(m.Attributes[string(types.MessageSystemAttributeNameSentTimestamp)], 10, 64); err == nil {
		d.SentAt = time.UnixMilli(ms).UTC()
	}
	d.ReceiveCount, _ = strconv.Atoi(m.Attributes[string(types.MessageSystemAttributeNameApproximateReceiveCount)])
	if d.Error == "" {
		if src := m.Attributes[string(types.MessageSystemAttributeNameDeadLetterQueueSourceArn)]; src != "" {
			// Moved by the source queue's redrive policy, not by the state
			// machine: every attempt failed as a whole batch.
			d.Cause = "received the maximum number of times without being deleted; moved here by the redrive policy of " + src
		}
	}
	return d
}

// MoveStatus is the progress of a DLQ redrive.
type MoveStatus struct {
	Status        string `json:"status"`
	Moved         int64  `json:"moved"`
	ToMove        int64  `json:"toMove"`
	FailureReason string `json:"failureReason,omitempty"`
}

// Statuses of an SQS message move task (ListMessageMoveTasks).
const (
	moveTaskRunning = "RUNNING" //contract:unrelated SQS move-task status, not an execution status
	moveTaskFailed  = "FAILED"  //contract:unrelated SQS move-task status, not an execution status
)

// Done reports whether the move task has ended.
func (m MoveStatus) Done() bool { return m.Status != "" && m.Status != moveTaskRunning }

// Redrive moves the dead-letter queue's messages back to the source queue
// with a message move task (StartMessageMoveTask) and waits until it ends, reporting progress.
// When a task is already running, it follows that one.
func (q *Queues) Redrive(ctx context.Context, progress func(MoveStatus)) (MoveStatus, error) {
	attrs, err := q.API.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(q.DLQURL),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn}})
	if err != nil {
		return MoveStatus{}, fmt.Errorf("queue %s: %w", q.DLQURL, err)
	}
	arn := attrs.Attributes[string(types.QueueAttributeNameQueueArn)]
	// The destination is named: the state machine dead-letters with
	// SendMessage, so its messages carry no source queue of their own.
	src, err := q.API.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(q.SourceURL),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameQueueArn}})
	if err != nil {
		return MoveStatus{}, fmt.Errorf("queue %s: %w", q.SourceURL, err)
	}
	started, err := q.API.StartMessageMoveTask(ctx, &sqs.StartMessageMoveTaskInput{SourceArn: aws.String(arn),
		DestinationArn: aws.String(src.Attributes[string(types.QueueAttributeNameQueueArn)])})
	var handle string
	if err != nil {
		var unsupported *types.UnsupportedOperation
		if !errors.As(err, &unsupported) && !strings.Contains(err.Error(), "already a task running") {
			return MoveStatus{}, fmt.Errorf("start redrive of %s: %w", q.DLQURL, err)
		}
	} else {
		handle = aws.ToString(started.TaskHandle)
	}
	interval := q.PollInterval
	if interval <= 0 {
		interval = 500 * time.Millisecond
	}
	var last MoveStatus
	for {
		res, err := q.API.ListMessageMoveTasks(ctx, &sqs.ListMessageMoveTasksInput{SourceArn: aws.String(arn), MaxResults: aws.Int32(10)})
		if err != nil {
			return last, fmt.Errorf("redrive of %s: %w", q.DLQURL, err)
		}
		var task *types.ListMessageMoveTasksResultEntry
		for i := range res.Results {
			r := &res.Results[i]
			if handle == "" || aws.ToString(r.TaskHandle) == handle || task == nil {
				task = r
				if handle == "" || aws.ToString(r.TaskHandle) == handle {
					break
				}
			}
		}
		if task == nil {
			return last, fmt.Errorf("redrive of %s: the move task is not listed", q.DLQURL)
		}
		st := MoveStatus{Status: aws.ToString(task.Status), Moved: task.ApproximateNumberOfMessagesMoved,
			ToMove: aws.ToInt64(task.ApproximateNumberOfMessagesToMove), FailureReason: aws.ToString(task.FailureReason)}
		if st != last && progress != nil {
			progress(st)
		}
		last = st
		if st.Done() {
			if st.Status == moveTaskFailed {
				return st, fmt.Errorf("redrive of %s failed: %s", q.DLQURL, st.FailureReason)
			}
			return st, nil
		}
		t := time.NewTimer(interval) // polls a service: wall time
		select {
		case <-ctx.Done():
			t.Stop()
			return last, ctx.Err()
		case <-t.C:
		}
	}
}

// ExplainDeadLetters gives a reason to each dead letter that carries none:
// one the source queue's redrive policy moved after its receives ran out,
// which happens when every execution of its batch failed as a whole (on
// AWS, Pipes cannot run a record alone). The reason is that of the newest
// execution in src that touched the mail and did not deliver it: the
// execution's own error and cause when it failed as a whole, else the
// item's. The dead letter then names that execution and says where its
// reason comes from (ReasonFrom). Lookups that fail leave the entry as it
// is; nil src changes nothing.
func ExplainDeadLetters(ctx context.Context, src Source, dls []DeadLetter) {
	if src == nil {
		return
	}
	for i := range dls {
		d := &dls[i]
		if d.Error != "" || d.MailID == "" {
			continue
		}
		execs, err := src.MailExecutions(ctx, d.MailID)
		if err != nil {
			continue
		}
		for _, me := range execs {
			if me.Item.Outcome.Delivered() {
				break // delivered after all: the copy is stale
			}
			x, err := src.Get(ctx, me.ExecutionID)
			if err != nil {
				continue
			}
			switch {
			case x.Status != asl.StatusSucceeded && x.Status != asl.StatusRunning && x.Error != "":
				d.Error, d.Cause = x.Error, CauseMessage(x.Cause)
			case me.Item.Error != "":
				d.Error, d.Cause = me.Item.Error, CauseMessage(me.Item.Cause)
			default:
				continue
			}
			d.ExecutionID = x.ID
			d.ReasonFrom = "the last execution of this mail (" + x.Name + ", " + string(x.Status) + "); the queue's redrive policy moved the message"
			break
		}
	}
}
