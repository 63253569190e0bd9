package sqsstore

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// MessageAttributeValue is one message attribute. DataType is "String",
// "Number" or "Binary", optionally followed by ".customLabel"; Binary types
// carry BinaryValue, the others StringValue.
type MessageAttributeValue struct {
	DataType    string `json:"t"`
	StringValue string `json:"s,omitempty"`
	BinaryValue []byte `json:"b,omitempty"`
}

// SendParams describe one message to send.
type SendParams struct {
	Body string
	// DelaySeconds overrides the queue's DelaySeconds (0..900) when not nil.
	DelaySeconds *int
	Attributes   map[string]MessageAttributeValue
	// TraceHeader is the AWSTraceHeader system attribute ("" for none).
	TraceHeader string
	// SenderID is reported as the SenderId system attribute; it defaults to
	// the account ID.
	SenderID string
}

// SendResult is what SendMessage answers.
type SendResult struct {
	MessageID             string
	MD5OfBody             string
	MD5OfAttributes       string
	MD5OfSystemAttributes string
}

// Message is one delivery of a message to a receiver.
type Message struct {
	MessageID     string
	ReceiptHandle string
	Body          string
	MD5OfBody     string
	// Attributes are all the message attributes the sender set; use
	// FilterAttributes to select as MessageAttributeNames does.
	Attributes map[string]MessageAttributeValue

	SentTimestamp                    time.Time
	ApproximateReceiveCount          int
	ApproximateFirstReceiveTimestamp time.Time
	SenderID                         string
	TraceHeader                      string
	// DeadLetterQueueSourceArn is set on messages moved to a dead-letter
	// queue: the ARN of the queue they were moved from.
	DeadLetterQueueSourceArn string
}

// SystemAttributes returns the message's system attributes as SQS names
// them, as strings (timestamps in epoch milliseconds).
func (m *Message) SystemAttributes() map[string]string {
	a := map[string]string{
		"SenderId":                         m.SenderID,
		"SentTimestamp":                    strconv.FormatInt(m.SentTimestamp.UnixMilli(), 10),
		"ApproximateReceiveCount":          strconv.Itoa(m.ApproximateReceiveCount),
		"ApproximateFirstReceiveTimestamp": strconv.FormatInt(m.ApproximateFirstReceiveTimestamp.UnixMilli(), 10),
	}
	if m.TraceHeader != "" {
		a["AWSTraceHeader"] = m.TraceHeader
	}
	if m.DeadLetterQueueSourceArn != "" {
		a["DeadLetterQueueSourceArn"] = m.DeadLetterQueueSourceArn
	}
	return a
}

// FilterAttributes selects attributes as ReceiveMessage's
// MessageAttributeNames does: "All" or ".*" selects every one, "prefix.*"
// those whose name starts with "prefix.", any other entry that exact name.
func FilterAttributes(attrs map[string]MessageAttributeValue, names []string) map[string]MessageAttributeValue {
	out := map[string]MessageAttributeValue{}
	for k, v := range attrs {
		for _, n := range names {
			if n == "All" || n == ".*" || n == k ||
				(strings.HasSuffix(n, ".*") && strings.HasPrefix(k, strings.TrimSuffix(n, "*"))) {
				out[k] = v
				break
			}
		}
	}
	return out
}

// ---- validation ----

var (
	attrNameRE = regexp.MustCompile(`^[A-Za-z0-9_.-]{1,256}$`)
	numberRE   = regexp.MustCompile(`^[+-]?(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$`)
	batchIDRE  = regexp.MustCompile(`^[A-Za-z0-9_-]{1,80}$`)
)

// ValidateBody checks that a body is non-empty and uses only the characters
// SQS allows (#x9, #xA, #xD, #x20-#xD7FF, #xE000-#xFFFD, #x10000-#x10FFFF).
func ValidateBody(body string) error {
	if body == "" {
		return errorf(CodeMissingParameter, "The request must contain the parameter MessageBody.")
	}
	if i, bad := firstInvalidChar(body); bad {
		return errorf(CodeInvalidMessageContents, "Invalid characters found. The message body contains a character outside the allowed set (#x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF) or invalid UTF-8 at byte %d.", i)
	}
	return nil
}

// firstInvalidChar returns the byte offset of the first byte sequence of s
// that is not valid UTF-8 or encodes a character outside SQS's set.
// U+FFFD itself is allowed: only a RuneError of width 1 is a decoding
// failure (an encoded surrogate, U+D800 to U+DFFF, is one too).
func firstInvalidChar(s string) (int, bool) {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			return i, true
		}
		if !(r == 0x9 || r == 0xA || r == 0xD || (r >= 0x20 && r <= 0xD7FF) ||
			(r >= 0xE000 && r <= 0xFFFD) || (r >= 0x10000 && r <= 0x10FFFF)) {
			return i, true
		}
		i += size
	}
	return 0, false
}

// ValidateAttributes checks message attributes and returns the bytes they
// count towards the message size (names, data types and values).
func ValidateAttributes(attrs map[string]MessageAttributeValue) (int, error) {
	if len(attrs) > 10 {
		return 0, errorf(CodeInvalidParameterValue, "Number of message attributes [%d] exceeds the allowed maximum [10].", len(attrs))
	}
	size := 0
	for name, v := range attrs {
		lower := strings.ToLower(name)
		if !attrNameRE.MatchString(name) || strings.HasPrefix(name, ".") || strings.HasSuffix(name, ".") ||
			strings.Contains(name, "..") || strings.HasPrefix(lower, "aws.") || strings.HasPrefix(lower, "amazon.") {
			return 0, errorf(CodeInvalidParameterValue, "Message (user) attribute '%s' is invalid. Names may use alphanumerics, hyphens, underscores and periods, must not start or end with a period, contain two periods in a row, or start with AWS. or Amazon.", name)
		}
		base, _, _ := strings.Cut(v.DataType, ".")
		if v.DataType == "" {
			return 0, errorf(CodeInvalidParameterValue, "The message attribute '%s' must contain non-empty message attribute type.", name)
		}
		if len(v.DataType) > 256 || (base != "String" && base != "Number" && base != "Binary") {
			return 0, errorf(CodeInvalidParameterValue, "The message attribute '%s' has an invalid message attribute type, the set of supported type prefixes is Binary, Number, and String.", name)
		}
		switch base {
		case "Binary":
			if len(v.BinaryValue) == 0 {
				return 0, errorf(CodeInvalidParameterValue, "The message attribute '%s' with type 'Binary' must use field 'Binary'.", name)
			}
			size += len(v.BinaryValue)
		case "Number":
			if !numberRE.MatchString(v.StringValue) {
				return 0, errorf(CodeInvalidParameterValue, "Can't cast the value of message (user) attribute '%s' to a number.", name)
			}
			if !numberInRange(v.StringValue) {
				return 0, errorf(CodeInvalidParameterValue, "The value of message (user) attribute '%s' is out of range: a Number has at most 38 significant digits and a magnitude from 10^-128 to 10^+126.", name)
			}
			size += len(v.StringValue)
		default:
			if v.StringValue == "" {
				return 0, errorf(CodeInvalidParameterValue, "The message attribute '%s' must contain non-empty message attribute value for message attribute type '%s'.", name, v.DataType)
			}
			if i, bad := firstInvalidChar(v.StringValue); bad {
				return 0, errorf(CodeInvalidParameterValue, "Message (user) attribute '%s' value contains invalid characters at byte %d: only #x9 | #xA | #xD | #x20 to #xD7FF | #xE000 to #xFFFD | #x10000 to #x10FFFF are allowed.", name, i)
			}
			size += len(v.StringValue)
		}
		size += len(name) + len(v.DataType)
	}
	return size, nil
}

// numberInRange reports whether a numeric string (one numberRE matches) fits
// SQS's Number: at most 38 significant digits, zero or a magnitude from
// 10^-128 to 10^+126. Leading and trailing zeros do not count, as SQS trims
// them.
func numberInRange(n string) bool {
	n = strings.TrimLeft(n, "+-")
	mant, expPart, _ := strings.Cut(strings.ToLower(n), "e")
	exp := 0
	if expPart != "" {
		e, err := strconv.Atoi(expPart)
		if err != nil {
			return false // an exponent beyond int is beyond any range
		}
		exp = e
	}
	intPart, frac, _ := strings.Cut(mant, ".")
	digits := strings.TrimLeft(intPart+frac, "0")
	if digits == "" {
		return true // zero
	}
	// The value is 0.<digits> * 10^magnitude; its leading digit is at
	// 10^(magnitude-1).
	magnitude := len(intPart) - (len(intPart+frac) - len(digits)) + exp
	digits = strings.TrimRight(digits, "0")
	lead := magnitude - 1
	return len(digits) <= 38 && lead >= -128 && lead <= 126
}

// ValidateBatchIDs checks the entry ids of a batch request: 1..10 entries,
// each id 1..80 of [A-Za-z0-9_-], all distinct.
func ValidateBatchIDs(ids []string) error {
	if len(ids) == 0 {
		return errorf(CodeEmptyBatchRequest, "There should be at least one entry in the batch request.")
	}
	if len(ids) > 10 {
		return errorf(CodeTooManyEntriesInBatchRequest, "Maximum number of entries per request are 10. You have sent %d.", len(ids))
	}
	seen := map[string]bool{}
	for _, id := range ids {
		if !batchIDRE.MatchString(id) {
			return errorf(CodeInvalidBatchEntryID, "A batch entry id can only contain alphanumeric characters, hyphens and underscores. It can be at most 80 letters long.")
		}
		if seen[id] {
			return errorf(CodeBatchEntryIdsNotDistinct, "Id %s repeated.", id)
		}
		seen[id] = true
	}
	return nil
}

func (s *Store) validateSend(q *queueRow, p *SendParams) (int, error) {
	if err := ValidateBody(p.Body); err != nil {
		return 0, err
	}
	if p.DelaySeconds != nil && (*p.DelaySeconds < 0 || *p.DelaySeconds > 900) {
		return 0, invalidValue("DelaySeconds", *p.DelaySeconds, "DelaySeconds must be >= 0 and <= 900.")
	}
	asize, err := ValidateAttributes(p.Attributes)
	if err != nil {
		return 0, err
	}
	size := len(p.Body) + asize
	if size > q.maximumMessageSize {
		return 0, errorf(CodeInvalidParameterValue, "One or more parameters are invalid. Reason: Message must be shorter than %d bytes.", q.maximumMessageSize)
	}
	return size, nil
}

// ---- send ----

func newMessageID() string {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	b[6] = b[6]&0x0f | 0x40
	b[8] = b[8]&0x3f | 0x80
	h := hex.EncodeToString(b[:])
	return h[0:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:]
}

func (s *Store) insert(ctx context.Context, tx *txn, q *queueRow, p *SendParams, now int64) (SendResult, error) {
	delay := q.delaySeconds
	if p.DelaySeconds != nil {
		delay = *p.DelaySeconds
	}
	attrs := ""
	if len(p.Attributes) > 0 {
		b, err := json.Marshal(p.Attributes)
		if err != nil {
			return SendResult{}, err
		}
		attrs = string(b)
	}
	sender := p.SenderID
	if sender == "" {
		sender = s.account
	}
	res := SendResult{MessageID: newMessageID(), MD5OfBody: BodyMD5(p.Body), MD5OfAttributes: AttributesMD5(p.Attributes)}
	if p.TraceHeader != "" {
		res.MD5OfSystemAttributes = AttributesMD5(map[string]MessageAttributeValue{
			"AWSTraceHeader": {DataType: "String", StringValue: p.TraceHeader}})
	}
	_, err := tx.ExecContext(ctx, `INSERT INTO sqs_messages (queue_id, message_id, body, attributes, md5_of_body,
		sender_id, trace_header, sent_at, visible_at) VALUES (?,?,?,?,?,?,?,?,?)`,
		q.id, res.MessageID, p.Body, attrs, res.MD5OfBody, sender, p.TraceHeader, now, now+int64(delay)*1000)
	return res, err
}

// Send enqueues one message.
func (s *Store) Send(ctx context.Context, queue string, p SendParams) (SendResult, error) {
	var res SendResult
	var qid int64
	err := s.inTx(ctx, func(tx *txn) error {
		q, err := loadQueue(ctx, tx, queue)
		if err != nil {
			return err
		}
		qid = q.id
		if _, err := s.validateSend(q, &p); err != nil {
			return err
		}
		res, err = s.insert(ctx, tx, q, &p, s.now())
		return err
	})
	if err == nil {
		s.signal(qid)
	}
	return res, err
}

// SendBatchEntry is one entry of SendBatch.
type SendBatchEntry struct {
	ID string
	SendParams
}

// SendBatchResult is the outcome of one entry: Err is nil on success.
type SendBatchResult struct {
	ID  string
	Err *Error
	SendResult
}

// SendBatch enqueues up to 10 messages in one transaction. A request-level
// problem (entry count, ids, total size, missing queue) is returned as the
// error; an invalid entry fails alone, in its result.
func (s *Store) SendBatch(ctx context.Context, queue string, entries []SendBatchEntry) ([]SendBatchResult, error) {
	ids := make([]string, len(entries))
	for i, e := range entries {
		ids[i] = e.ID
	}
	if err := ValidateBatchIDs(ids); err != nil {
		return nil, err
	}
	var out []SendBatchResult
	var qid int64
	err := s.inTx(ctx, func(tx *txn) error {
		out = out[:0]
		q, err := loadQueue(ctx, tx, queue)
		if err != nil {
			return err
		}
		qid = q.id
		total := 0
		for _, e := range entries {
			total += len(e.Body)
			for n, v := range e.Attributes {
				total += len(n) + len(v.DataType) + len(v.StringValue) + len(v.BinaryValue)
			}
		}
		if total > maxBatchBytes {
			return errorf(CodeBatchRequestTooLong, "Batch requests cannot be longer than %d bytes. You have sent %d bytes.", maxBatchBytes, total)
		}
		now := s.now()
		for _, e := range entries {
			r := SendBatchResult{ID: e.ID}
			if _, verr := s.validateSend(q, &e.SendParams); verr != nil {
				r.Err = asError(verr)
			} else if r.SendResult, err = s.insert(ctx, tx, q, &e.SendParams, now); err != nil {
				return err
			}
			out = append(out, r)
		}
		return nil
	})
	if err == nil {
		s.signal(qid)
	}
	return out, err
}

// maxBatchBytes bounds the sum of a SendMessageBatch's messages: SQS's
// payload limit, whatever the queue's MaximumMessageSize (which bounds each
// message).
const maxBatchBytes = 1 << 20

// ---- receipt handles ----

// A receipt handle names one delivery: queue id, message row and a random
// nonce replaced on every receive. Only the newest handle of a message acts
// on it.
func encodeHandle(queueID, rowID int64, nonce string) string {
	return base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "v1:%d:%d:%s", queueID, rowID, nonce))
}

func decodeHandle(h string) (queueID, rowID int64, nonce string, err error) {
	invalid := errorf(CodeReceiptHandleIsInvalid, "The input receipt handle \"%s\" is not a valid receipt handle.", h)
	raw, derr := base64.RawURLEncoding.DecodeString(h)
	if derr != nil {
		return 0, 0, "", invalid
	}
	parts := strings.Split(string(raw), ":")
	if len(parts) != 4 || parts[0] != "v1" || parts[3] == "" {
		return 0, 0, "", invalid
	}
	queueID, e1 := strconv.ParseInt(parts[1], 10, 64)
	rowID, e2 := strconv.ParseInt(parts[2], 10, 64)
	if e1 != nil || e2 != nil {
		return 0, 0, "", invalid
	}
	return queueID, rowID, parts[3], nil
}

func (s *Store) handleFor(q *queueRow, h string) (int64, string, error) {
	if h == "" {
		return 0, "", errorf(CodeMissingParameter, "The request must contain the parameter ReceiptHandle.")
	}
	qid, row, nonce, err := decodeHandle(h)
	if err != nil {
		return 0, "", err
	}
	if qid != q.id {
		return 0, "", errorf(CodeReceiptHandleIsInvalid, "The input receipt handle \"%s\" is not a valid receipt handle for this queue.", h)
	}
	return row, nonce, nil
}

// ---- receive ----

// ReceiveParams describe one ReceiveMessage call.
type ReceiveParams struct {
	// MaxMessages is 1..10; 0 means 1.
	MaxMessages int
	// VisibilityTimeout (0..43200 s) overrides the queue's when not nil.
	VisibilityTimeout *int
	// WaitTimeSeconds (0..20) overrides the queue's
	// ReceiveMessageWaitTimeSeconds when not nil. A long poll returns as
	// soon as at least one message is available.
	WaitTimeSeconds *int
}

// Receive claims up to MaxMessages visible messages, making each invisible
// for the visibility timeout and giving it a new receipt handle. Messages
// already received maxReceiveCount times under the queue's redrive policy
// are moved to the dead-letter queue instead of being returned. With a wait
// time it long-polls: it sleeps until a message is sent, becomes visible or
// the wait ends, without polling the database meanwhile. An empty result is
// not an error.
func (s *Store) Receive(ctx context.Context, queue string, p ReceiveParams) ([]Message, error) {
	if p.MaxMessages == 0 {
		p.MaxMessages = 1
	}
	if p.MaxMessages < 1 || p.MaxMessages > 10 {
		return nil, invalidValue("MaxNumberOfMessages", p.MaxMessages, "Must be between 1 and 10, if provided.")
	}
	if p.VisibilityTimeout != nil && (*p.VisibilityTimeout < 0 || *p.VisibilityTimeout > 43200) {
		return nil, invalidValue("VisibilityTimeout", *p.VisibilityTimeout, "Must be between 0 and 43200, if provided.")
	}
	if p.WaitTimeSeconds != nil && (*p.WaitTimeSeconds < 0 || *p.WaitTimeSeconds > 20) {
		return nil, invalidValue("WaitTimeSeconds", *p.WaitTimeSeconds, "Must be >= 0 and <= 20, if provided.")
	}
	var deadline time.Time
	for first := true; ; first = false {
		q, err := s.loadQueueNow(ctx, queue)
		if err != nil {
			return nil, err
		}
		if first {
			wait := q.receiveWaitTime
			if p.WaitTimeSeconds != nil {
				wait = *p.WaitTimeSeconds
			}
			deadline = s.clock.Now().Add(time.Duration(wait) * time.Second)
		}
		wake := s.waitChan(q.id)
		msgs, next, err := s.claim(ctx, q, p)
		if err != nil || len(msgs) > 0 {
			return msgs, err
		}
		now := s.clock.Now()
		if !now.Before(deadline) {
			return nil, nil
		}
		d := deadline.Sub(now)
		if next > 0 {
			if untilNext := time.UnixMilli(next).Sub(now); untilNext < d {
				d = untilNext
			}
		}
		timer, stop := s.clock.Timer(d)
		select {
		case <-wake:
		case <-timer:
		case <-ctx.Done():
			stop()
			return nil, ctx.Err()
		case <-s.closed:
			stop()
			return nil, nil
		}
		stop()
	}
}

// claim runs one receive attempt. It returns the claimed messages, or none
// and the time (Unix ms) the next message of the queue becomes visible (0 if
// none is pending).
func (s *Store) claim(ctx context.Context, q *queueRow, p ReceiveParams) ([]Message, int64, error) {
	vt := q.visibilityTimeout
	if p.VisibilityTimeout != nil {
		vt = *p.VisibilityTimeout
	}
	var msgs []Message
	var next int64
	var dlqID int64
	err := s.inTx(ctx, func(tx *txn) error {
		msgs, next, dlqID = msgs[:0], 0, 0
		now := s.now()
		cutoff := now - int64(q.retentionPeriod)*1000
		if _, err := tx.ExecContext(ctx, `DELETE FROM sqs_messages WHERE queue_id = ? AND sent_at <= ?`, q.id, cutoff); err != nil {
			return err
		}
		if q.dlqName != "" {
			dlq, err := loadQueue(ctx, tx, q.dlqName)
			if err != nil && ErrorCode(err) != CodeQueueDoesNotExist {
				return err
			}
			if dlq != nil {
				// The receive attempt after the maxReceiveCount-th receive
				// moves the message: its receive count would exceed the
				// maximum. It keeps its id, body, attributes, sent time and
				// receive count; the old receipt handle stops working.
				// (receive_count > 0 always holds here, since
				// maxReceiveCount >= 1; it lets SQLite use the partial
				// index of received messages.)
				res, err := tx.ExecContext(ctx, `UPDATE sqs_messages SET queue_id = ?, receipt = NULL, visible_at = ?,
					dead_letter_source = ? WHERE id IN (SELECT id FROM sqs_messages WHERE queue_id = ? AND visible_at <= ?
					AND sent_at > ? AND receive_count >= ? AND receive_count > 0 LIMIT 1000)`,
					dlq.id, now, s.QueueARN(q.name), q.id, now, cutoff, q.maxReceiveCount)
				if err != nil {
					return err
				}
				if n, _ := res.RowsAffected(); n > 0 {
					dlqID = dlq.id
				}
			}
		}
		rows, err := tx.QueryContext(ctx, `UPDATE sqs_messages SET receive_count = receive_count + 1,
			visible_at = ?1 + ?2, received_at = ?1,
			first_received_at = CASE WHEN first_received_at = 0 THEN ?1 ELSE first_received_at END,
			receipt = lower(hex(randomblob(12)))
			WHERE id IN (SELECT id FROM sqs_messages WHERE queue_id = ?3 AND visible_at <= ?1 AND sent_at > ?4
				ORDER BY visible_at LIMIT ?5)
			RETURNING id, message_id, body, attributes, md5_of_body, sender_id, trace_header, sent_at,
				receive_count, first_received_at, receipt, dead_letter_source`,
			now, int64(vt)*1000, q.id, cutoff, p.MaxMessages)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var m Message
			var row, sent, first int64
			var attrs, nonce string
			if err := rows.Scan(&row, &m.MessageID, &m.Body, &attrs, &m.MD5OfBody, &m.SenderID, &m.TraceHeader,
				&sent, &m.ApproximateReceiveCount, &first, &nonce, &m.DeadLetterQueueSourceArn); err != nil {
				return err
			}
			if attrs != "" {
				if err := json.Unmarshal([]byte(attrs), &m.Attributes); err != nil {
					return err
				}
			}
			m.SentTimestamp = time.UnixMilli(sent)
			m.ApproximateFirstReceiveTimestamp = time.UnixMilli(first)
			m.ReceiptHandle = encodeHandle(q.id, row, nonce)
			msgs = append(msgs, m)
		}
		if err := rows.Err(); err != nil {
			return err
		}
		if len(msgs) == 0 {
			var n sql.NullInt64
			if err := tx.QueryRowContext(ctx, `SELECT min(visible_at) FROM sqs_messages WHERE queue_id = ? AND visible_at > ?`,
				q.id, now).Scan(&n); err != nil {
				return err
			}
			next = n.Int64
		}
		return nil
	})
	if err == nil && dlqID != 0 {
		s.signal(dlqID)
	}
	return msgs, next, err
}

// ---- delete and visibility ----

// Delete deletes the message delivered with the receipt handle. As on AWS, a
// handle from an earlier delivery (the message was received again since) or
// of an already deleted message is accepted and does nothing; a malformed
// handle is ReceiptHandleIsInvalid.
func (s *Store) Delete(ctx context.Context, queue, receiptHandle string) error {
	return s.inTx(ctx, func(tx *txn) error {
		q, err := loadQueue(ctx, tx, queue)
		if err != nil {
			return err
		}
		return s.deleteOne(ctx, tx, q, receiptHandle)
	})
}

func (s *Store) deleteOne(ctx context.Context, tx *txn, q *queueRow, h string) error {
	row, nonce, err := s.handleFor(q, h)
	if err != nil {
		return err
	}
	_, err = tx.ExecContext(ctx, `DELETE FROM sqs_messages WHERE id = ? AND queue_id = ? AND receipt = ?`, row, q.id, nonce)
	return err
}

// BatchEntry is one entry of DeleteBatch or ChangeVisibilityBatch.
type BatchEntry struct {
	ID                string
	ReceiptHandle     string
	VisibilityTimeout int // ChangeVisibilityBatch only
}

// BatchResult is the outcome of one batch entry: Err is nil on success.
type BatchResult struct {
	ID  string
	Err *Error
}

// DeleteBatch deletes up to 10 messages in one transaction.
func (s *Store) DeleteBatch(ctx context.Context, queue string, entries []BatchEntry) ([]BatchResult, error) {
	return s.batch(ctx, queue, entries, func(tx *txn, q *queueRow, e BatchEntry) error {
		return s.deleteOne(ctx, tx, q, e.ReceiptHandle)
	})
}

// ChangeVisibility makes the message delivered with the receipt handle
// visible again after timeout seconds (0..43200) from now. The total time in
// flight since the receive may not exceed 12 hours. A handle that is not the
// newest delivery, or whose message is gone, is InvalidParameterValue; a
// message whose visibility already ended is MessageNotInflight.
func (s *Store) ChangeVisibility(ctx context.Context, queue, receiptHandle string, timeout int) error {
	var qid int64
	err := s.inTx(ctx, func(tx *txn) error {
		q, err := loadQueue(ctx, tx, queue)
		if err != nil {
			return err
		}
		qid = q.id
		return s.changeOne(ctx, tx, q, receiptHandle, timeout)
	})
	if err == nil {
		s.signal(qid) // long polls recompute when the next message becomes visible
	}
	return err
}

// ChangeVisibilityBatch changes the visibility of up to 10 messages.
func (s *Store) ChangeVisibilityBatch(ctx context.Context, queue string, entries []BatchEntry) ([]BatchResult, error) {
	res, err := s.batch(ctx, queue, entries, func(tx *txn, q *queueRow, e BatchEntry) error {
		return s.changeOne(ctx, tx, q, e.ReceiptHandle, e.VisibilityTimeout)
	})
	if err == nil {
		if q, lerr := s.loadQueueNow(ctx, queue); lerr == nil {
			s.signal(q.id)
		}
	}
	return res, err
}

func (s *Store) changeOne(ctx context.Context, tx *txn, q *queueRow, h string, timeout int) error {
	if timeout < 0 || timeout > 43200 {
		return invalidValue("VisibilityTimeout", timeout, "VisibilityTimeout must be an integer between 0 and 43200.")
	}
	row, nonce, err := s.handleFor(q, h)
	if err != nil {
		return err
	}
	var visibleAt, receivedAt int64
	err = tx.QueryRowContext(ctx, `SELECT visible_at, received_at FROM sqs_messages WHERE id = ? AND queue_id = ? AND receipt = ?`,
		row, q.id, nonce).Scan(&visibleAt, &receivedAt)
	if errors.Is(err, sql.ErrNoRows) {
		return invalidValue("ReceiptHandle", h, "Message does not exist or is not available for visibility timeout change.")
	} else if err != nil {
		return err
	}
	now := s.now()
	if visibleAt <= now {
		return errorf(CodeMessageNotInflight, "Message %s is not in flight: its visibility timeout has expired.", h)
	}
	if now+int64(timeout)*1000 > receivedAt+43200*1000 {
		return invalidValue("VisibilityTimeout", timeout, "Total VisibilityTimeout for the message is beyond the limit [43200 seconds]")
	}
	_, err = tx.ExecContext(ctx, `UPDATE sqs_messages SET visible_at = ? WHERE id = ?`, now+int64(timeout)*1000, row)
	return err
}

func (s *Store) batch(ctx context.Context, queue string, entries []BatchEntry, fn func(*txn, *queueRow, BatchEntry) error) ([]BatchResult, error) {
	ids := make([]string, len(entries))
	for i, e := range entries {
		ids[i] = e.ID
	}
	if err := ValidateBatchIDs(ids); err != nil {
		return nil, err
	}
	var out []BatchResult
	err := s.inTx(ctx, func(tx *txn) error {
		out = out[:0]
		q, err := loadQueue(ctx, tx, queue)
		if err != nil {
			return err
		}
		for _, e := range entries {
			r := BatchResult{ID: e.ID}
			if err := fn(tx, q, e); err != nil {
				if ErrorCode(err) == "" {
					return err
				}
				r.Err = asError(err)
			}
			out = append(out, r)
		}
		return nil
	})
	return out, err
}
