package sqsstore

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"time"
)

// Peek reads up to limit (1..1000) messages of the queue, oldest stored
// first, after the message whose id is after ("" for the first), without
// receiving them: receive counts, visibility and receipt handles stay as
// they are, so the returned messages carry no ReceiptHandle. It reads
// in-flight and delayed messages too, and leaves out those past retention.
// more reports whether messages follow the last one returned. SQS has no
// such call; it serves operators who look at a queue, a dead-letter queue
// above all, without disturbing it.
func (s *Store) Peek(ctx context.Context, queue, after string, limit int) (msgs []Message, more bool, err error) {
	if limit < 1 || limit > 1000 {
		return nil, false, invalidValue("Limit", limit, "Must be between 1 and 1000.")
	}
	err = s.inTx(ctx, func(tx *txn) error {
		msgs = msgs[:0]
		q, err := loadQueue(ctx, tx, queue)
		if err != nil {
			return err
		}
		var from int64
		if after != "" {
			err := tx.QueryRowContext(ctx, `SELECT id FROM sqs_messages WHERE queue_id = ? AND message_id = ?`, q.id, after).Scan(&from)
			if errors.Is(err, sql.ErrNoRows) {
				return invalidValue("After", after, "No message of queue "+queue+" has this id.")
			}
			if err != nil {
				return err
			}
		}
		cutoff := s.now() - int64(q.retentionPeriod)*1000
		rows, err := tx.QueryContext(ctx, `SELECT message_id, body, attributes, md5_of_body, sender_id, trace_header, sent_at,
				receive_count, first_received_at, dead_letter_source
			FROM sqs_messages WHERE queue_id = ? AND id > ? AND sent_at > ? ORDER BY id LIMIT ?`, q.id, from, cutoff, limit+1)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var m Message
			var sent, first int64
			var attrs string
			if err := rows.Scan(&m.MessageID, &m.Body, &attrs, &m.MD5OfBody, &m.SenderID, &m.TraceHeader, &sent,
				&m.ApproximateReceiveCount, &first, &m.DeadLetterQueueSourceArn); err != nil {
				return err
			}
			if attrs != "" {
				if err := json.Unmarshal([]byte(attrs), &m.Attributes); err != nil {
					return err
				}
			}
			m.SentTimestamp = time.UnixMilli(sent)
			if first > 0 {
				m.ApproximateFirstReceiveTimestamp = time.UnixMilli(first)
			}
			msgs = append(msgs, m)
		}
		return rows.Err()
	})
	if err != nil {
		return nil, false, err
	}
	if len(msgs) > limit {
		return msgs[:limit], true, nil
	}
	return msgs, false, nil
}

// DeleteByID deletes the queue's message with the given message id, whether
// it is visible or in flight, and reports whether there was one. SQS deletes
// only by receipt handle; this serves the same operators as Peek, who name a
// message they have peeked at.
func (s *Store) DeleteByID(ctx context.Context, queue, messageID string) (bool, error) {
	if messageID == "" {
		return false, invalidValue("MessageId", messageID, "Must not be empty.")
	}
	var n int64
	err := s.inTx(ctx, func(tx *txn) error {
		q, err := loadQueue(ctx, tx, queue)
		if err != nil {
			return err
		}
		res, err := tx.ExecContext(ctx, `DELETE FROM sqs_messages WHERE queue_id = ? AND message_id = ?`, q.id, messageID)
		if err != nil {
			return err
		}
		n, err = res.RowsAffected()
		return err
	})
	return n > 0, err
}
