package sqsstore

import (
	"context"
	"database/sql"
	"encoding/base64"
	"encoding/json"
	"errors"
	"time"
)

// Move task statuses, as ListMessageMoveTasks reports them.
const (
	TaskRunning   = "RUNNING" //contract:unrelated SQS move-task status, not an execution status
	TaskCompleted = "COMPLETED"
	TaskCancelled = "CANCELLED"
	TaskFailed    = "FAILED" //contract:unrelated SQS move-task status, not an execution status
)

// defaultMoveRate is used when no MaxNumberOfMessagesPerSecond is given
// (AWS then picks a "system optimized" rate; 500 is its maximum).
const defaultMoveRate = 500

// MoveTaskParams describe StartMessageMoveTask.
type MoveTaskParams struct {
	// SourceArn is the dead-letter queue to move messages out of.
	SourceArn string
	// DestinationArn, when empty, sends each message back to the queue it
	// was dead-lettered from.
	DestinationArn string
	// MaxNumberOfMessagesPerSecond is 1..500; 0 means the default rate.
	MaxNumberOfMessagesPerSecond int
}

// MoveTask is one entry of ListMessageMoveTasks.
type MoveTask struct {
	TaskHandle                        string // only while RUNNING
	Status                            string
	SourceArn                         string
	DestinationArn                    string
	MaxNumberOfMessagesPerSecond      int // 0 if not given
	ApproximateNumberOfMessagesMoved  int64
	ApproximateNumberOfMessagesToMove int64
	FailureReason                     string
	StartedTimestamp                  time.Time
}

// StartMoveTask starts moving the messages now in a dead-letter queue back
// to their source queues (or to DestinationArn). Moved messages are new
// messages, as AWS documents for redrive: new message id, sent time and
// retention period, receive count zero. At most one task per source queue
// runs at a time; a second is UnsupportedOperation. The task moves a first
// batch at once and then one batch per second of the store's clock, and it
// completes when no visible message of those present at its start is left
// (messages in flight in the dead-letter queue then stay there).
func (s *Store) StartMoveTask(ctx context.Context, p MoveTaskParams) (string, error) {
	if p.SourceArn == "" {
		return "", errorf(CodeMissingParameter, "The request must contain the parameter SourceArn.")
	}
	if p.MaxNumberOfMessagesPerSecond < 0 || p.MaxNumberOfMessagesPerSecond > 500 {
		return "", invalidValue("MaxNumberOfMessagesPerSecond", p.MaxNumberOfMessagesPerSecond, "Must be between 1 and 500.")
	}
	source, ok := s.QueueNameFromARN(p.SourceArn)
	if !ok {
		return "", errorf(CodeResourceNotFound, "The resource that you specified for the SourceArn parameter doesn't exist.")
	}
	var handle string
	err := s.inTx(ctx, func(tx *txn) error {
		src, err := loadQueue(ctx, tx, source)
		if ErrorCode(err) == CodeQueueDoesNotExist {
			return errorf(CodeResourceNotFound, "The resource that you specified for the SourceArn parameter doesn't exist.")
		} else if err != nil {
			return err
		}
		var n int
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM sqs_queues WHERE dlq_name = ?`, source).Scan(&n); err != nil {
			return err
		}
		if n == 0 {
			return invalidValue("SourceArn", p.SourceArn, "Source queue must be configured as a Dead Letter Queue.")
		}
		if p.DestinationArn != "" {
			dest, ok := s.QueueNameFromARN(p.DestinationArn)
			if ok {
				_, err = loadQueue(ctx, tx, dest)
			}
			if !ok || ErrorCode(err) == CodeQueueDoesNotExist {
				return errorf(CodeResourceNotFound, "The resource that you specified for the DestinationArn parameter doesn't exist.")
			} else if err != nil {
				return err
			}
			if dest == source {
				return invalidValue("DestinationArn", p.DestinationArn, "Source and destination queues must differ.")
			}
		}
		if err := tx.QueryRowContext(ctx, `SELECT count(*) FROM sqs_move_tasks WHERE source_name = ? AND status = 'RUNNING'`,
			source).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			return errorf(CodeUnsupportedOperation, "There is already a task running. Only one active task is allowed for a source queue arn at a given time.")
		}
		now := s.now()
		var bound, toMove int64
		if err := tx.QueryRowContext(ctx, `SELECT coalesce(max(id), 0), count(*) FROM sqs_messages WHERE queue_id = ? AND sent_at > ?`,
			src.id, now-int64(src.retentionPeriod)*1000).Scan(&bound, &toMove); err != nil {
			return err
		}
		id, _ := json.Marshal(map[string]string{"taskId": newMessageID(), "sourceArn": p.SourceArn})
		handle = base64.StdEncoding.EncodeToString(id)
		_, err = tx.ExecContext(ctx, `INSERT INTO sqs_move_tasks (handle, source_name, source_arn, destination_arn,
			max_per_second, status, to_move, bound_id, started_at) VALUES (?,?,?,?,?,?,?,?,?)`,
			handle, source, p.SourceArn, p.DestinationArn, p.MaxNumberOfMessagesPerSecond, TaskRunning, toMove, bound, now)
		return err
	})
	if err != nil {
		return "", err
	}
	s.startRunner(handle)
	return handle, nil
}

// ListMoveTasks returns the most recent tasks of a source queue, newest
// first; max is 1..10 (0 means 1).
func (s *Store) ListMoveTasks(ctx context.Context, sourceArn string, max int) ([]MoveTask, error) {
	if sourceArn == "" {
		return nil, errorf(CodeMissingParameter, "The request must contain the parameter SourceArn.")
	}
	if max == 0 {
		max = 1
	}
	if max < 1 || max > 10 {
		return nil, invalidValue("MaxResults", max, "Must be between 1 and 10.")
	}
	source, ok := s.QueueNameFromARN(sourceArn)
	if !ok || s.QueueExists(ctx, source) != nil {
		return nil, errorf(CodeResourceNotFound, "The resource that you specified for the SourceArn parameter doesn't exist.")
	}
	var out []MoveTask
	err := s.inTx(ctx, func(tx *txn) error {
		out = out[:0]
		rows, err := tx.QueryContext(ctx, `SELECT handle, status, source_arn, destination_arn, max_per_second, moved,
			to_move, failure_reason, started_at FROM sqs_move_tasks WHERE source_name = ? ORDER BY started_at DESC, rowid DESC LIMIT ?`,
			source, max)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var t MoveTask
			var started int64
			if err := rows.Scan(&t.TaskHandle, &t.Status, &t.SourceArn, &t.DestinationArn, &t.MaxNumberOfMessagesPerSecond,
				&t.ApproximateNumberOfMessagesMoved, &t.ApproximateNumberOfMessagesToMove, &t.FailureReason, &started); err != nil {
				return err
			}
			if t.Status != TaskRunning {
				t.TaskHandle = ""
			}
			t.StartedTimestamp = time.UnixMilli(started)
			out = append(out, t)
		}
		return rows.Err()
	})
	return out, err
}

// CancelMoveTask cancels a running task and returns how many messages it had
// moved. Messages already moved stay moved. An unknown handle is
// ResourceNotFoundException; a task no longer running is
// UnsupportedOperation.
func (s *Store) CancelMoveTask(ctx context.Context, handle string) (int64, error) {
	if handle == "" {
		return 0, errorf(CodeMissingParameter, "The request must contain the parameter TaskHandle.")
	}
	var moved int64
	err := s.inTx(ctx, func(tx *txn) error {
		var status string
		err := tx.QueryRowContext(ctx, `SELECT status, moved FROM sqs_move_tasks WHERE handle = ?`, handle).Scan(&status, &moved)
		if errors.Is(err, sql.ErrNoRows) {
			return errorf(CodeResourceNotFound, "Task does not exist.")
		} else if err != nil {
			return err
		}
		if status != TaskRunning {
			return errorf(CodeUnsupportedOperation, "Only a RUNNING task can be cancelled; this task is %s.", status)
		}
		_, err = tx.ExecContext(ctx, `UPDATE sqs_move_tasks SET status = ? WHERE handle = ?`, TaskCancelled, handle)
		return err
	})
	if err != nil {
		return 0, err
	}
	s.mu.Lock()
	if ch, ok := s.tasks[handle]; ok {
		close(ch)
		delete(s.tasks, handle)
	}
	s.mu.Unlock()
	return moved, nil
}

// runningTasks lists the tasks to resume at Open (before the store's
// connection is taken).
func (s *Store) runningTasks() ([]string, error) {
	rows, err := s.db.Query(`SELECT handle FROM sqs_move_tasks WHERE status = 'RUNNING'`)
	if err != nil {
		return nil, err
	}
	defer rows.Close()
	var handles []string
	for rows.Next() {
		var h string
		if err := rows.Scan(&h); err != nil {
			return nil, err
		}
		handles = append(handles, h)
	}
	return handles, rows.Err()
}

func (s *Store) startRunner(handle string) {
	cancel := make(chan struct{})
	s.mu.Lock()
	s.tasks[handle] = cancel
	s.mu.Unlock()
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		defer func() {
			s.mu.Lock()
			if s.tasks[handle] == cancel {
				delete(s.tasks, handle)
			}
			s.mu.Unlock()
		}()
		for {
			done, err := s.moveBatch(context.Background(), handle)
			if err != nil {
				_ = s.inTx(context.Background(), func(tx *txn) error {
					_, err := tx.ExecContext(context.Background(), `UPDATE sqs_move_tasks SET status = ?, failure_reason = ?
						WHERE handle = ? AND status = 'RUNNING'`, TaskFailed, err.Error(), handle)
					return err
				})
				return
			}
			if done {
				return
			}
			timer, stop := s.clock.Timer(time.Second)
			select {
			case <-timer:
			case <-cancel:
				stop()
				return
			case <-s.closed:
				stop()
				return
			}
		}
	}()
}

// moveBatch moves one second's worth of messages. It reports done when the
// task is no longer running or has nothing left to move.
func (s *Store) moveBatch(ctx context.Context, handle string) (bool, error) {
	signals := map[int64]bool{}
	done := false
	err := s.inTx(ctx, func(tx *txn) error {
		clear(signals)
		var source, destArn, status string
		var rate int
		var bound int64
		if err := tx.QueryRowContext(ctx, `SELECT source_name, destination_arn, max_per_second, status, bound_id
			FROM sqs_move_tasks WHERE handle = ?`, handle).Scan(&source, &destArn, &rate, &status, &bound); err != nil {
			return err
		}
		if status != TaskRunning {
			done = true
			return nil
		}
		if rate == 0 {
			rate = defaultMoveRate
		}
		src, err := loadQueue(ctx, tx, source)
		if err != nil {
			return taskFailure("Source queue does not exist.")
		}
		now := s.now()
		rows, err := tx.QueryContext(ctx, `SELECT id, body, attributes, sender_id, trace_header, dead_letter_source
			FROM sqs_messages WHERE queue_id = ? AND id <= ? AND visible_at <= ? AND sent_at > ? ORDER BY id LIMIT ?`,
			src.id, bound, now, now-int64(src.retentionPeriod)*1000, rate)
		if err != nil {
			return err
		}
		type moving struct {
			id                                 int64
			body, attrs, sender, trace, srcArn string
		}
		var batch []moving
		for rows.Next() {
			var m moving
			if err := rows.Scan(&m.id, &m.body, &m.attrs, &m.sender, &m.trace, &m.srcArn); err != nil {
				rows.Close()
				return err
			}
			batch = append(batch, m)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return err
		}
		queues := map[string]*queueRow{}
		for _, m := range batch {
			target := destArn
			if target == "" {
				target = m.srcArn
			}
			if target == "" {
				return taskFailure("A message has no source queue to return to (it was not dead-lettered by this service); give a DestinationArn.")
			}
			dq, ok := queues[target]
			if !ok {
				name, valid := s.QueueNameFromARN(target)
				if !valid {
					return taskFailure("Destination queue " + target + " does not exist.")
				}
				if dq, err = loadQueue(ctx, tx, name); err != nil {
					return taskFailure("Destination queue " + target + " does not exist.")
				}
				queues[target] = dq
			}
			if _, err := tx.ExecContext(ctx, `INSERT INTO sqs_messages (queue_id, message_id, body, attributes, md5_of_body,
				sender_id, trace_header, sent_at, visible_at) VALUES (?,?,?,?,?,?,?,?,?)`,
				dq.id, newMessageID(), m.body, m.attrs, BodyMD5(m.body), m.sender, m.trace, now, now); err != nil {
				return err
			}
			if _, err := tx.ExecContext(ctx, `DELETE FROM sqs_messages WHERE id = ?`, m.id); err != nil {
				return err
			}
			signals[dq.id] = true
		}
		if len(batch) < rate {
			done = true
		}
		status = TaskRunning
		if done {
			status = TaskCompleted
		}
		_, err = tx.ExecContext(ctx, `UPDATE sqs_move_tasks SET moved = moved + ?, status = ? WHERE handle = ?`,
			len(batch), status, handle)
		return err
	})
	for id := range signals {
		s.signal(id)
	}
	return done, err
}

// taskFailure is an error that ends a move task; its text becomes the
// task's FailureReason, worded as AWS words those reasons.
type taskFailure string

func (f taskFailure) Error() string { return string(f) }
