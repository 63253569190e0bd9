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

	"github.com/mailflow/mailflow/delivery"
	"github.com/mailflow/mailflow/workflow"
)

// DeadLetterIndex is the delivery store with its dead-letter index (every
// delivery adapter is one): the mails whose latest state is dead-lettered,
// listed without receiving from the queue.
type DeadLetterIndex interface {
	delivery.Store
	delivery.DeadLetterIndex
}

// UseDeadLetterIndex hands the backend's delivery store to its queues as
// their dead-letter index, when the store has one.
func (b *Backend) UseDeadLetterIndex() {
	if b.Queues == nil || b.Deliveries == nil {
		return
	}
	if idx, ok := b.Deliveries.(DeadLetterIndex); ok {
		b.Queues.Index = idx
	}
}

// indexed is the dead letter an index entry describes.
func indexed(m delivery.Mail) DeadLetter {
	d := m.DeadLetter
	return DeadLetter{MailID: m.MailID, Error: d.Error, Cause: d.Cause, SourceMessageID: d.MessageID, ExecutionID: d.ExecutionID,
		SentAt: d.At, Recipients: d.Recipients, Indexed: true, Key: d.Key(m.MailID)}
}

// scanIndex calls fn on each entry of the index after after, in key
// order, until fn returns false; last says no entry follows.
func (q *Queues) scanIndex(ctx context.Context, after string, fn func(d DeadLetter, last bool) bool) error {
	now := time.Now()
	for {
		mails, next, err := q.Index.DeadLettered(ctx, delivery.DeadLetterPageParams{After: after, Limit: peekPage, Now: now})
		if err != nil {
			return fmt.Errorf("dead-letter index: %w", err)
		}
		for i, m := range mails {
			if !fn(indexed(m), next == "" && i == len(mails)-1) {
				return nil
			}
		}
		if next == "" {
			return nil
		}
		after = next
	}
}

// findIndexed is FindDeadLetters from the index.
func (q *Queues) findIndexed(ctx context.Context, query DeadLetterQuery) (DeadLetterPage, error) {
	page := DeadLetterPage{Messages: []DeadLetter{}}
	if query.After != "" {
		if _, _, err := delivery.ParseDeadLetterKey(query.After); err != nil {
			return page, fmt.Errorf("--after: %w (with --aws a listing continues from the key it printed)", err)
		}
	}
	err := q.scanIndex(ctx, query.After, func(d DeadLetter, last bool) bool {
		page.Scanned++
		if query.Filter.Match(d) {
			page.Messages = append(page.Messages, d)
		}
		if query.Limit > 0 && len(page.Messages) >= query.Limit && !last {
			page.Next = d.Key
			return false
		}
		return true
	})
	if err != nil {
		return page, err
	}
	n, err := q.queueMessages(ctx)
	if err != nil {
		return page, err
	}
	page.QueueMessages = &n
	if query.After == "" && page.Next == "" {
		page.NotIndexed = max(0, n-page.Scanned)
	}
	return page, nil
}

// queueMessages is the dead-letter queue's ApproximateNumberOfMessages.
func (q *Queues) queueMessages(ctx context.Context) (int, error) {
	res, err := q.API.GetQueueAttributes(ctx, &sqs.GetQueueAttributesInput{QueueUrl: aws.String(q.DLQURL),
		AttributeNames: []types.QueueAttributeName{types.QueueAttributeNameApproximateNumberOfMessages}})
	if err != nil {
		return 0, fmt.Errorf("queue %s: %w", q.DLQURL, err)
	}
	n, _ := strconv.Atoi(res.Attributes[string(types.QueueAttributeNameApproximateNumberOfMessages)])
	return n, nil
}

// forget removes the index entries of the mails whose copies left the
// queue. It is best effort: an entry left behind only lists a mail that is
// gone, and the mail's next execution removes it anyway.
func (q *Queues) forget(ctx context.Context, mailIDs ...string) {
	if q.Index == nil {
		return
	}
	for _, id := range mailIDs {
		if id != "" {
			_, _ = q.Index.ForgetDeadLetter(context.WithoutCancel(ctx), id, time.Now())
		}
	}
}

// sweepVisibility is how long a sweep hides what it received: long enough
// to send a message on before deleting it.
const sweepVisibility = 30

// sweep receives through the dead-letter queue until no new message comes
// and calls act on each message once; the messages act does not consume
// (consumed=false) are made visible again at once, whatever happens.
// SQS has no other way to reach a message by its contents: each received
// message's receive count grows by one.
func (q *Queues) sweep(ctx context.Context, act func(m types.Message) (consumed bool, err error)) error {
	var others []string
	defer func() {
		for start := 0; start < len(others); start += 10 {
			chunk := others[start:min(start+10, len(others))]
			entries := make([]types.ChangeMessageVisibilityBatchRequestEntry, len(chunk))
			for i, h := range chunk {
				entries[i] = types.ChangeMessageVisibilityBatchRequestEntry{Id: aws.String(strconv.Itoa(i)), ReceiptHandle: aws.String(h), VisibilityTimeout: 0}
			}
			_, _ = q.API.ChangeMessageVisibilityBatch(context.WithoutCancel(ctx), &sqs.ChangeMessageVisibilityBatchInput{QueueUrl: aws.String(q.DLQURL), Entries: entries})
		}
	}()
	seen := map[string]bool{}
	for {
		res, err := q.API.ReceiveMessage(ctx, &sqs.ReceiveMessageInput{
			QueueUrl: aws.String(q.DLQURL), MaxNumberOfMessages: 10, VisibilityTimeout: sweepVisibility,
			MessageAttributeNames:       []string{"All"},
			MessageSystemAttributeNames: []types.MessageSystemAttributeName{types.MessageSystemAttributeNameAll},
		})
		if err != nil {
			return fmt.Errorf("receive from %s: %w", q.DLQURL, err)
		}
		fresh := 0
		for _, m := range res.Messages {
			id := aws.ToString(m.MessageId)
			if seen[id] {
				others = append(others, aws.ToString(m.ReceiptHandle))
				continue
			}
			seen[id] = true
			fresh++
			consumed, err := act(m)
			if !consumed {
				others = append(others, aws.ToString(m.ReceiptHandle))
			}
			if err != nil {
				return err
			}
		}
		if fresh == 0 {
			return nil
		}
	}
}

func (q *Queues) deleteReceived(ctx context.Context, m types.Message) error {
	if _, err := q.API.DeleteMessage(ctx, &sqs.DeleteMessageInput{QueueUrl: aws.String(q.DLQURL), ReceiptHandle: m.ReceiptHandle}); err != nil {
		return fmt.Errorf("delete %s from %s: %w", aws.ToString(m.MessageId), q.DLQURL, err)
	}
	return nil
}

// copyOf reports whether m is a copy of the source record sourceMessageID:
// the state machine tags its copies with the id; a record the source
// queue's redrive policy moved keeps its own id, as SQS does.
func copyOf(m types.Message, sourceMessageID string) bool {
	if a, ok := m.MessageAttributes[workflow.DLQAttrMessageID]; ok && aws.ToString(a.StringValue) == sourceMessageID {
		return true
	}
	return aws.ToString(m.MessageId) == sourceMessageID
}

// named reports whether id names m: its message id, the source message id
// it is a copy of, or its mail id.
func named(m types.Message, id string) bool {
	return copyOf(m, id) || workflow.PeekMailID(aws.ToString(m.Body)) == id
}

// redriveReceiving is RedriveSelected without a store: the queue is swept,
// each message the filter selects is sent to the source queue and deleted,
// the others are given back at once.
func (q *Queues) redriveReceiving(ctx context.Context, f DeadLetterFilter, explain Source) (SelectiveResult, error) {
	res := SelectiveResult{Done: []DeadLetter{}}
	err := q.sweep(ctx, func(m types.Message) (bool, error) {
		d := []DeadLetter{deadLetterOf(m)}
		ExplainDeadLetters(ctx, explain, d)
		if !f.Match(d[0]) {
			res.Kept++
			return false, nil
		}
		if _, err := q.API.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(q.SourceURL), MessageBody: m.Body,
			MessageAttributes: m.MessageAttributes}); err != nil {
			res.Kept++
			return false, fmt.Errorf("send message %s to %s: %w", aws.ToString(m.MessageId), q.SourceURL, err)
		}
		if err := q.deleteReceived(ctx, m); err != nil {
			return false, fmt.Errorf("message %s was sent to %s but stays in %s: %w", aws.ToString(m.MessageId), q.SourceURL, q.DLQURL, err)
		}
		q.forget(ctx, d[0].MailID)
		q.done(d[0])
		res.Done = append(res.Done, d[0])
		return true, nil
	})
	return res, err
}

// purgeReceiving deletes the messages the filter selects by sweeping the
// queue; an empty filter purges the whole queue at once (PurgeQueue).
func (q *Queues) purgeReceiving(ctx context.Context, f DeadLetterFilter, explain Source) (SelectiveResult, error) {
	res := SelectiveResult{Done: []DeadLetter{}}
	if f.Empty() {
		n, err := q.queueMessages(ctx)
		if err != nil {
			return res, err
		}
		if _, err := q.API.PurgeQueue(ctx, &sqs.PurgeQueueInput{QueueUrl: aws.String(q.DLQURL)}); err != nil {
			return res, fmt.Errorf("purge %s: %w", q.DLQURL, err)
		}
		res.Purged = n
		if q.Index != nil {
			var ids []string
			err := q.scanIndex(ctx, "", func(d DeadLetter, _ bool) bool { ids = append(ids, d.MailID); return true })
			q.forget(ctx, ids...)
			if err != nil {
				return res, fmt.Errorf("the queue was purged, its index entries stay: %w", err)
			}
		}
		return res, nil
	}
	err := q.sweep(ctx, func(m types.Message) (bool, error) {
		d := []DeadLetter{deadLetterOf(m)}
		ExplainDeadLetters(ctx, explain, d)
		if !f.Match(d[0]) {
			res.Kept++
			return false, nil
		}
		if err := q.deleteReceived(ctx, m); err != nil {
			return false, err
		}
		q.forget(ctx, d[0].MailID)
		q.done(d[0])
		res.Done = append(res.Done, d[0])
		return true, nil
	})
	return res, err
}

// dryRunIndexed is what a redrive or purge without a store would do, read
// from the index.
func (q *Queues) dryRunIndexed(ctx context.Context, f DeadLetterFilter) (SelectiveResult, error) {
	res := SelectiveResult{Done: []DeadLetter{}, DryRun: true, FromIndex: true}
	if q.Index == nil {
		return res, fmt.Errorf("a dry run %w, and there is no delivery table to read the dead-letter index from (give --delivery-table)", ErrNoDeadLetterStore)
	}
	page, err := q.findIndexed(ctx, DeadLetterQuery{Filter: f})
	if err != nil {
		return res, err
	}
	res.Done = page.Messages
	res.Kept = page.Scanned - len(page.Messages)
	res.NotIndexed = page.NotIndexed
	return res, nil
}

// deleteReceiving deletes every copy id names (message id, source message
// id or mail id) by sweeping the queue.
func (q *Queues) deleteReceiving(ctx context.Context, id string) (int, error) {
	n := 0
	mails := map[string]bool{}
	err := q.sweep(ctx, func(m types.Message) (bool, error) {
		if !named(m, id) {
			return false, nil
		}
		if err := q.deleteReceived(ctx, m); err != nil {
			return false, err
		}
		n++
		mails[workflow.PeekMailID(aws.ToString(m.Body))] = true
		return true, nil
	})
	forgotten := false
	if q.Index != nil {
		for mailID := range mails {
			q.forget(ctx, mailID)
		}
		// id may name a mail whose copy is gone but whose entry stays.
		if ok, ferr := q.Index.ForgetDeadLetter(ctx, id, time.Now()); ferr == nil && ok {
			forgotten = true
		}
	}
	if err != nil {
		return n, err
	}
	if n == 0 && !forgotten {
		return 0, fmt.Errorf("no message %s in %s: give a mail id or a message id as `dlq list` shows them", id, q.DLQURL)
	}
	return n, nil
}

// DeadLetterDetail is one dead letter in full.
type DeadLetterDetail struct {
	DeadLetter
	// Attributes are the message's attributes (the state machine's
	// mailflow.* ones), as strings; empty for an index entry.
	Attributes map[string]string `json:"attributes,omitempty"`
	// Age is how long ago it was sent (an index entry: dead-lettered).
	Age time.Duration `json:"ageNanos"`
	// Note says what is not shown, and why.
	Note string `json:"note,omitempty"`
}

// BodyUnknownInIndex is the note of a dead letter read from the index.
const BodyUnknownInIndex = "read from the dead-letter index (the delivery record): the body and the queue's message id are only in the queue, which SQS cannot read without receiving"

// ShowDeadLetter finds one dead letter by its message id or its mail id:
// in the store (read, not received), else in the index.
func (q *Queues) ShowDeadLetter(ctx context.Context, id string, now time.Time) (DeadLetterDetail, error) {
	id = strings.TrimSpace(id)
	if id == "" {
		return DeadLetterDetail{}, errors.New("the message id or mail id: must not be empty")
	}
	var found *DeadLetterDetail
	switch {
	case q.Store != nil:
		err := q.scanStore(ctx, "", nil, func(m types.Message, d DeadLetter, _ bool) bool {
			if d.MessageID != id && d.MailID != id {
				return true
			}
			attrs := map[string]string{}
			for k, v := range m.MessageAttributes {
				attrs[k] = aws.ToString(v.StringValue)
			}
			found = &DeadLetterDetail{DeadLetter: d, Attributes: attrs}
			return false
		})
		if err != nil {
			return DeadLetterDetail{}, err
		}
	case q.Index != nil:
		if m, ok, err := q.Index.Get(ctx, id, now); err != nil {
			return DeadLetterDetail{}, fmt.Errorf("delivery record of %s: %w", id, err)
		} else if ok && m.DeadLetter != nil {
			found = &DeadLetterDetail{DeadLetter: indexed(m)}
		}
		if found == nil {
			err := q.scanIndex(ctx, "", func(d DeadLetter, _ bool) bool {
				if d.SourceMessageID == id {
					found = &DeadLetterDetail{DeadLetter: d}
					return false
				}
				return true
			})
			if err != nil {
				return DeadLetterDetail{}, err
			}
		}
		if found != nil {
			found.Note = BodyUnknownInIndex
		}
	default:
		return DeadLetterDetail{}, fmt.Errorf("showing one message %w, and there is no delivery table to read the dead-letter index from (give --delivery-table)", ErrNoDeadLetterStore)
	}
	if found == nil {
		return DeadLetterDetail{}, fmt.Errorf("no dead letter %s in %s (give a message id or a mail id as `dlq list` shows them)", id, q.DLQURL)
	}
	if !found.SentAt.IsZero() {
		found.Age = now.Sub(found.SentAt)
	}
	return *found, nil
}

// IndentBody is a body as indented JSON, or as it is when it is not JSON.
func IndentBody(body string) string {
	var v any
	if json.Unmarshal([]byte(body), &v) != nil {
		return body
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return body
	}
	return string(b)
}
