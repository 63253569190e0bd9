package inspect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
)

// DeadLetterStore reads the dead-letter queue's messages in the queue store
// itself, without receiving them, and deletes one by message id. SQS has
// neither call, so only the local runtime provides one; on AWS a [Queues]
// has none and the operations that need it say so ([ErrNoDeadLetterStore]).
type DeadLetterStore interface {
	// PeekDeadLetters returns up to limit (1..1000) messages after the one
	// whose id is after ("" for the first), oldest first, with their
	// message attributes and system attributes; more reports whether
	// messages follow.
	PeekDeadLetters(ctx context.Context, after string, limit int) (msgs []types.Message, more bool, err error)
	// DeleteDeadLetter deletes the message with that id and reports
	// whether there was one.
	DeleteDeadLetter(ctx context.Context, messageID string) (bool, error)
}

// ErrNoDeadLetterStore is what the operations that need a [DeadLetterStore]
// return without one: on AWS, where SQS can neither read a queue from a
// position, nor delete a message by id, nor move only some messages.
var ErrNoDeadLetterStore = errors.New("needs the local queue store: SQS cannot read a queue without receiving it, delete a message by id or move only some messages")

// peekPage is how many messages one read of the store returns.
const peekPage = 500

// DeadLetterFilter selects dead letters; its zero value selects all.
// Every field set must match.
type DeadLetterFilter struct {
	// Error is the error name, compared without case.
	Error string
	// Reason is a piece of the cause, compared without case.
	Reason string
	// OlderThan keeps messages sent more than this long before Now.
	OlderThan time.Duration
	Now       time.Time
	MailID    string
	// RecipientDomain keeps mails with a to, cc or bcc address at this
	// domain (without case).
	RecipientDomain string
}

// Empty reports whether the filter selects every message.
func (f DeadLetterFilter) Empty() bool {
	return f.Error == "" && f.Reason == "" && f.OlderThan == 0 && f.MailID == "" && f.RecipientDomain == ""
}

// Validate checks the filter's values.
func (f DeadLetterFilter) Validate() error {
	if f.OlderThan < 0 {
		return fmt.Errorf("older than %s: must not be negative", f.OlderThan)
	}
	if f.OlderThan > 0 && f.Now.IsZero() {
		return errors.New("older than needs the time now")
	}
	if d := f.RecipientDomain; d != "" && (strings.Contains(d, "@") || strings.ContainsAny(d, " \t\r\n")) {
		return fmt.Errorf("recipient domain %q: give the domain alone, like example.com", d)
	}
	return nil
}

// Match reports whether the dead letter is selected.
func (f DeadLetterFilter) Match(d DeadLetter) bool {
	switch {
	case f.Error != "" && !strings.EqualFold(d.Error, f.Error):
		return false
	case f.Reason != "" && !strings.Contains(strings.ToLower(d.Cause), strings.ToLower(f.Reason)):
		return false
	case f.OlderThan > 0 && !d.SentAt.Before(f.Now.Add(-f.OlderThan)):
		return false
	case f.MailID != "" && d.MailID != f.MailID:
		return false
	case f.RecipientDomain != "" && !hasRecipientAt(d.Recipients, f.RecipientDomain):
		return false
	}
	return true
}

// bodyRecipients reads the addresses of a queue body leniently: a dead
// letter is often a message that failed validation, so it is not parsed as
// a mail.
func bodyRecipients(body string) []string {
	var m struct{ To, Cc, Bcc []string }
	if json.Unmarshal([]byte(body), &m) != nil {
		return nil
	}
	var out []string
	for _, list := range [][]string{m.To, m.Cc, m.Bcc} {
		out = append(out, list...)
	}
	return out
}

func hasRecipientAt(addrs []string, domain string) bool {
	for _, addr := range addrs {
		addr = strings.TrimSuffix(strings.TrimSpace(addr), ">")
		if at := strings.LastIndexByte(addr, '@'); at >= 0 && strings.EqualFold(addr[at+1:], domain) {
			return true
		}
	}
	return false
}

// DeadLetterQuery selects a page of dead letters.
type DeadLetterQuery struct {
	Filter DeadLetterFilter
	// After is the message id the previous page ended with ("" from the
	// start); it needs a [DeadLetterStore].
	After string
	// Limit is the most matching messages to return; 0 returns all (on
	// AWS, all that up to 10000 receives find).
	Limit int
	// Explain, when set, gives a reason to messages that carry none before
	// the filter sees them (see [ExplainDeadLetters]).
	Explain Source
}

// DeadLetterPage is what FindDeadLetters found.
type DeadLetterPage struct {
	Messages []DeadLetter `json:"messages"`
	// Scanned is how many messages were read to find them.
	Scanned int `json:"scanned"`
	// Next is the After of the next page; "" when the queue was read to
	// its end.
	Next string `json:"next,omitempty"`
	// QueueMessages is the queue's ApproximateNumberOfMessages, when the
	// page was read from the dead-letter index (AWS).
	QueueMessages *int `json:"queueMessages,omitempty"`
	// NotIndexed is how many of those the index does not list (moved by
	// the source queue's redrive policy, which records no dead-lettered
	// event), when the index was read whole.
	NotIndexed int `json:"notIndexed,omitempty"`
}

// awsListCap bounds a listing by receiving, which cannot page.
const awsListCap = 10000

// FindDeadLetters returns the dead letters the query selects. With a
// [DeadLetterStore] it reads the queue page by page without receiving
// anything, so receive counts stay as they are; without one (AWS) it lists
// by receiving ([Queues.DeadLetters]) and cannot start after a message.
func (q *Queues) FindDeadLetters(ctx context.Context, query DeadLetterQuery) (DeadLetterPage, error) {
	if query.Limit < 0 {
		return DeadLetterPage{}, fmt.Errorf("limit %d: must not be negative", query.Limit)
	}
	if err := query.Filter.Validate(); err != nil {
		return DeadLetterPage{}, err
	}
	page := DeadLetterPage{Messages: []DeadLetter{}}
	full := func() bool { return query.Limit > 0 && len(page.Messages) >= query.Limit }
	if q.Store == nil && q.Index != nil {
		return q.findIndexed(ctx, query)
	}
	if q.Store == nil {
		if query.After != "" {
			return page, fmt.Errorf("listing after message %s %w", query.After, ErrNoDeadLetterStore)
		}
		dls, err := q.DeadLetters(ctx, awsListCap)
		if err != nil {
			return page, err
		}
		ExplainDeadLetters(ctx, query.Explain, dls)
		for _, d := range dls {
			if full() {
				break
			}
			page.Scanned++
			if query.Filter.Match(d) {
				page.Messages = append(page.Messages, d)
			}
		}
		return page, nil
	}
	err := q.scanStore(ctx, query.After, query.Explain, func(m types.Message, d DeadLetter, last bool) bool {
		page.Scanned++
		if query.Filter.Match(d) {
			page.Messages = append(page.Messages, d)
		}
		if full() && !last {
			page.Next = d.MessageID
			return false
		}
		return true
	})
	return page, err
}

// scanStore calls fn on each message of the store from after on, in order,
// until fn returns false; last says no message follows.
func (q *Queues) scanStore(ctx context.Context, after string, explain Source, fn func(m types.Message, d DeadLetter, last bool) bool) error {
	for {
		msgs, more, err := q.Store.PeekDeadLetters(ctx, after, peekPage)
		if err != nil {
			return fmt.Errorf("read %s: %w", q.DLQURL, err)
		}
		dls := make([]DeadLetter, len(msgs))
		for i, m := range msgs {
			dls[i] = deadLetterOf(m)
		}
		ExplainDeadLetters(ctx, explain, dls)
		for i := range msgs {
			if !fn(msgs[i], dls[i], !more && i == len(msgs)-1) {
				return nil
			}
		}
		if !more || len(msgs) == 0 {
			return nil
		}
		after = aws.ToString(msgs[len(msgs)-1].MessageId)
	}
}

// matching reads the whole store and returns the messages the filter
// selects, and how many it does not.
func (q *Queues) matching(ctx context.Context, f DeadLetterFilter, explain Source) (msgs []types.Message, dls []DeadLetter, kept int, err error) {
	if q.Store == nil {
		return nil, nil, 0, ErrNoDeadLetterStore
	}
	if err := f.Validate(); err != nil {
		return nil, nil, 0, err
	}
	err = q.scanStore(ctx, "", explain, func(m types.Message, d DeadLetter, _ bool) bool {
		if f.Match(d) {
			msgs, dls = append(msgs, m), append(dls, d)
		} else {
			kept++
		}
		return true
	})
	return msgs, dls, kept, err
}

// SelectiveResult is what a redrive or purge of the selected dead letters
// did (or, dry, would do).
type SelectiveResult struct {
	// Done are the messages moved (redrive) or deleted (purge).
	Done []DeadLetter `json:"done"`
	// Kept is how many messages the filter left in the queue.
	Kept   int  `json:"kept"`
	DryRun bool `json:"dryRun,omitempty"`
	// Purged is how many messages a purge of the whole queue (PurgeQueue,
	// AWS) deleted, as ApproximateNumberOfMessages counted them before.
	Purged int `json:"purged,omitempty"`
	// FromIndex says a dry run read the dead-letter index (AWS); then
	// NotIndexed messages of the queue are not in it.
	FromIndex  bool `json:"fromIndex,omitempty"`
	NotIndexed int  `json:"notIndexed,omitempty"`
}

// done tells q.Progress of a message moved or deleted.
func (q *Queues) done(d DeadLetter) {
	if q.Progress != nil {
		q.Progress(d)
	}
}

// RedriveSelected moves the dead letters the filter selects back to the
// source queue, leaving the others, which a move task cannot do: each is
// sent to the source queue with its body and message attributes (as a move
// task keeps them) and then deleted from the dead-letter queue. The queue
// is read whole before anything moves, so a message moved cannot be met
// again. A failure between the send and the delete leaves the message in
// both queues; the dedup lock makes the second delivery harmless. dryRun
// moves nothing and reports what would move.
//
// Without a store (AWS) a dry run reads the dead-letter index; the real run
// receives through the queue, moves what the filter selects and makes the
// rest visible again at once (their receive counts grow by one).
func (q *Queues) RedriveSelected(ctx context.Context, f DeadLetterFilter, explain Source, dryRun bool) (SelectiveResult, error) {
	if q.Store == nil {
		if err := f.Validate(); err != nil {
			return SelectiveResult{Done: []DeadLetter{}}, err
		}
		if dryRun {
			return q.dryRunIndexed(ctx, f)
		}
		return q.redriveReceiving(ctx, f, explain)
	}
	msgs, dls, kept, err := q.matching(ctx, f, explain)
	res := SelectiveResult{Done: []DeadLetter{}, Kept: kept, DryRun: dryRun}
	if err != nil || dryRun {
		if err == nil {
			res.Done = append(res.Done, dls...)
		}
		return res, err
	}
	for i, m := range msgs {
		if _, err := q.API.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(q.SourceURL), MessageBody: m.Body,
			MessageAttributes: m.MessageAttributes}); err != nil {
			res.Kept += len(msgs) - i
			return res, fmt.Errorf("send message %s to %s: %w", aws.ToString(m.MessageId), q.SourceURL, err)
		}
		if _, err := q.Store.DeleteDeadLetter(ctx, aws.ToString(m.MessageId)); err != nil {
			return res, fmt.Errorf("message %s was sent to %s but stays in %s: %w", aws.ToString(m.MessageId), q.SourceURL, q.DLQURL, err)
		}
		q.forget(ctx, dls[i].MailID)
		q.done(dls[i])
		res.Done = append(res.Done, dls[i])
	}
	return res, nil
}

// PurgeSelected deletes the dead letters the filter selects (all with an
// empty filter); dryRun deletes nothing and reports what would go. Without
// a store (AWS) an empty filter purges the queue (PurgeQueue), a filter
// receives through it and deletes what it selects, and a dry run reads the
// dead-letter index and counts the queue.
func (q *Queues) PurgeSelected(ctx context.Context, f DeadLetterFilter, explain Source, dryRun bool) (SelectiveResult, error) {
	if q.Store == nil {
		if err := f.Validate(); err != nil {
			return SelectiveResult{Done: []DeadLetter{}}, err
		}
		if dryRun {
			if f.Empty() {
				n, err := q.queueMessages(ctx)
				return SelectiveResult{Done: []DeadLetter{}, DryRun: true, Purged: n}, err
			}
			return q.dryRunIndexed(ctx, f)
		}
		return q.purgeReceiving(ctx, f, explain)
	}
	msgs, dls, kept, err := q.matching(ctx, f, explain)
	res := SelectiveResult{Done: []DeadLetter{}, Kept: kept, DryRun: dryRun}
	if err != nil || dryRun {
		if err == nil {
			res.Done = append(res.Done, dls...)
		}
		return res, err
	}
	for i, m := range msgs {
		ok, err := q.Store.DeleteDeadLetter(ctx, aws.ToString(m.MessageId))
		if err != nil {
			res.Kept += len(msgs) - i
			return res, fmt.Errorf("delete message %s from %s: %w", aws.ToString(m.MessageId), q.DLQURL, err)
		}
		if ok { // else gone meanwhile (a redrive running, say): not ours to count
			q.forget(ctx, dls[i].MailID)
			q.done(dls[i])
			res.Done = append(res.Done, dls[i])
		}
	}
	return res, nil
}

// DeleteDeadLetter deletes one message of the dead-letter queue by its
// message id, as a listing shows it. Without a store (AWS) it receives
// through the queue and deletes every copy the id names (a message id, the
// source message id the copies carry, or a mail id), forgets the mail's
// index entry and gives the other messages back at once.
func (q *Queues) DeleteDeadLetter(ctx context.Context, messageID string) error {
	if strings.TrimSpace(messageID) == "" {
		return errors.New("message id: must not be empty")
	}
	if q.Store == nil {
		_, err := q.deleteReceiving(ctx, messageID)
		return err
	}
	ok, err := q.Store.DeleteDeadLetter(ctx, messageID)
	if err != nil {
		return fmt.Errorf("delete message %s from %s: %w", messageID, q.DLQURL, err)
	}
	if !ok {
		return fmt.Errorf("no message %s in %s (a listing names each message's id)", messageID, q.DLQURL)
	}
	return nil
}
