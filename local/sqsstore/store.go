package sqsstore

import (
	"context"
	"database/sql"
	"embed"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"

	"github.com/mailflow/mailflow/clock"
	"github.com/mailflow/mailflow/internal/sqlitedb"
)

//go:embed migrations/*.sql
var migrations embed.FS

// Options configure a Store. The zero value is usable.
type Options struct {
	// Clock defaults to the wall clock.
	Clock clock.Clock
	// Region and AccountID appear in queue ARNs; they default to
	// "us-east-1" and "000000000000".
	Region    string
	AccountID string
	// Passive leaves running move tasks to the store that owns the file:
	// a second process opening it while that store runs (to Peek or
	// DeleteByID) would otherwise run the same tasks a second time.
	Passive bool
}

// Store is a durable set of SQS queues in one SQLite file. It is safe for
// concurrent use; all database work goes through a single connection.
type Store struct {
	db      *sql.DB
	conn    *sql.Conn // the one connection, held for the store's life
	txMu    sync.Mutex
	stmts   map[string]*sql.Stmt
	clock   clock.Clock
	region  string
	account string

	mu      sync.Mutex
	waiters map[int64]chan struct{}  // queue id -> closed on change
	tasks   map[string]chan struct{} // running move task -> cancel signal
	closed  chan struct{}
	wg      sync.WaitGroup
	once    sync.Once
}

// Open opens (creating if needed) the queue database at path, applies the
// embedded migrations and resumes running message move tasks.
func Open(path string, opts Options) (*Store, error) {
	if opts.Clock == nil {
		opts.Clock = clock.Wall
	}
	if opts.Region == "" {
		opts.Region = "us-east-1"
	}
	if opts.AccountID == "" {
		opts.AccountID = "000000000000"
	}
	db, err := sqlitedb.Open(path, sqlitedb.Options{ForeignKeys: true})
	if err != nil {
		return nil, fmt.Errorf("sqsstore: open %s: %w", path, err)
	}
	s := &Store{
		db: db, clock: opts.Clock, region: opts.Region, account: opts.AccountID,
		waiters: map[int64]chan struct{}{}, tasks: map[string]chan struct{}{},
		closed: make(chan struct{}),
	}
	if err := s.migrate(); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqsstore: migrate %s: %w", path, err)
	}
	var handles []string
	if !opts.Passive {
		handles, err = s.runningTasks()
	}
	if err != nil {
		db.Close()
		return nil, err
	}
	if s.conn, err = db.Conn(context.Background()); err != nil {
		db.Close()
		return nil, err
	}
	s.stmts = map[string]*sql.Stmt{}
	for _, h := range handles {
		s.startRunner(h)
	}
	return s, nil
}

// Close stops move tasks and long polls and closes the database. Messages in
// flight stay in flight in the file and become visible when their visibility
// timeout ends, whether or not the store is open then.
func (s *Store) Close() error {
	s.once.Do(func() { close(s.closed) })
	s.wg.Wait()
	s.txMu.Lock()
	defer s.txMu.Unlock()
	for _, st := range s.stmts {
		st.Close()
	}
	s.conn.Close()
	return s.db.Close()
}

func (s *Store) migrate() error {
	if _, err := s.db.Exec(`CREATE TABLE IF NOT EXISTS sqsstore_migrations (version TEXT PRIMARY KEY)`); err != nil {
		return err
	}
	names, err := fs.Glob(migrations, "migrations/*.sql")
	if err != nil {
		return err
	}
	sort.Strings(names)
	for _, name := range names {
		var n int
		if err := s.db.QueryRow(`SELECT count(*) FROM sqsstore_migrations WHERE version = ?`, name).Scan(&n); err != nil {
			return err
		}
		if n > 0 {
			continue
		}
		body, err := migrations.ReadFile(name)
		if err != nil {
			return err
		}
		tx, err := s.db.Begin()
		if err != nil {
			return err
		}
		if _, err := tx.Exec(string(body)); err != nil {
			tx.Rollback()
			return fmt.Errorf("%s: %w", name, err)
		}
		if _, err := tx.Exec(`INSERT INTO sqsstore_migrations (version) VALUES (?)`, name); err != nil {
			tx.Rollback()
			return err
		}
		if err := tx.Commit(); err != nil {
			return err
		}
	}
	return nil
}

// Region is the region in queue ARNs.
func (s *Store) Region() string { return s.region }

// AccountID is the account in queue ARNs and URLs.
func (s *Store) AccountID() string { return s.account }

// QueueARN returns the ARN of the named queue (whether or not it exists).
func (s *Store) QueueARN(name string) string {
	return "arn:aws:sqs:" + s.region + ":" + s.account + ":" + name
}

// QueueNameFromARN returns the queue name of an ARN of this region and account.
func (s *Store) QueueNameFromARN(arn string) (string, bool) {
	prefix := "arn:aws:sqs:" + s.region + ":" + s.account + ":"
	if !strings.HasPrefix(arn, prefix) {
		return "", false
	}
	name := strings.TrimPrefix(arn, prefix)
	return name, queueNameRE.MatchString(name)
}

func (s *Store) now() int64 { return s.clock.Now().UnixMilli() }

// inTx runs fn in one transaction on the store's connection. Transactions
// are serialised by txMu; statements are prepared once and reused.
func (s *Store) inTx(ctx context.Context, fn func(tx *txn) error) error {
	s.txMu.Lock()
	defer s.txMu.Unlock()
	if _, err := s.conn.ExecContext(ctx, "BEGIN IMMEDIATE"); err != nil {
		// A cancelled ctx can fail the call after BEGIN took effect; a
		// transaction left open would fail every later one on the
		// connection.
		_, _ = s.conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		return err
	}
	if err := fn(&txn{s: s}); err != nil {
		_, _ = s.conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		return err
	}
	if _, err := s.conn.ExecContext(context.WithoutCancel(ctx), "COMMIT"); err != nil {
		_, _ = s.conn.ExecContext(context.WithoutCancel(ctx), "ROLLBACK")
		return err
	}
	return nil
}

// txn runs statements inside inTx through the statement cache.
type txn struct{ s *Store }

func (t *txn) stmt(ctx context.Context, query string) (*sql.Stmt, error) {
	if st, ok := t.s.stmts[query]; ok {
		return st, nil
	}
	st, err := t.s.conn.PrepareContext(ctx, query)
	if err != nil {
		return nil, err
	}
	t.s.stmts[query] = st
	return st, nil
}

func (t *txn) ExecContext(ctx context.Context, query string, args ...any) (sql.Result, error) {
	st, err := t.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.ExecContext(ctx, args...)
}

func (t *txn) QueryContext(ctx context.Context, query string, args ...any) (*sql.Rows, error) {
	st, err := t.stmt(ctx, query)
	if err != nil {
		return nil, err
	}
	return st.QueryContext(ctx, args...)
}

func (t *txn) QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row {
	st, err := t.stmt(ctx, query)
	if err != nil {
		return t.s.conn.QueryRowContext(ctx, query, args...) // reports the same error
	}
	return st.QueryRowContext(ctx, args...)
}

// loadQueueNow loads a queue in a transaction of its own.
func (s *Store) loadQueueNow(ctx context.Context, name string) (*queueRow, error) {
	var q *queueRow
	err := s.inTx(ctx, func(tx *txn) error {
		var err error
		q, err = loadQueue(ctx, tx, name)
		return err
	})
	return q, err
}

// signal wakes long polls waiting on the queue.
func (s *Store) signal(queueID int64) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if ch, ok := s.waiters[queueID]; ok {
		close(ch)
		delete(s.waiters, queueID)
	}
}

func (s *Store) waitChan(queueID int64) <-chan struct{} {
	s.mu.Lock()
	defer s.mu.Unlock()
	ch, ok := s.waiters[queueID]
	if !ok {
		ch = make(chan struct{})
		s.waiters[queueID] = ch
	}
	return ch
}

// ---- queues ----

var queueNameRE = regexp.MustCompile(`^[A-Za-z0-9_-]{1,80}$`)

// ValidateQueueName checks a queue name as CreateQueue does. FIFO queues
// (names ending in ".fifo") are rejected: this store serves standard queues
// only.
func ValidateQueueName(name string) error {
	if name == "" {
		return errorf(CodeMissingParameter, "The request must contain the parameter QueueName.")
	}
	if base, ok := strings.CutSuffix(name, ".fifo"); ok && queueNameRE.MatchString(base) {
		return errorf(CodeInvalidParameterValue, "FIFO queues are not supported by this endpoint (queue %q); use a standard queue.", name)
	}
	if !queueNameRE.MatchString(name) {
		return errorf(CodeInvalidParameterValue, "Can only include alphanumeric characters, hyphens, or underscores. 1 to 80 in length")
	}
	return nil
}

type queueRow struct {
	id                 int64
	name               string
	createdAt          int64
	modifiedAt         int64
	visibilityTimeout  int
	retentionPeriod    int
	delaySeconds       int
	maximumMessageSize int
	receiveWaitTime    int
	redrivePolicy      string
	dlqName            string
	maxReceiveCount    int
	redriveAllowPolicy string
	extra              map[string]string
	tags               map[string]string
	lastPurgeAt        int64
}

const queueColumns = `id, name, created_at, modified_at, visibility_timeout, retention_period, delay_seconds,
	maximum_message_size, receive_wait_time, redrive_policy, dlq_name, max_receive_count,
	redrive_allow_policy, extra_attributes, tags, last_purge_at`

type rowScanner interface{ Scan(...any) error }

func scanQueue(r rowScanner) (*queueRow, error) {
	q := &queueRow{}
	var extra, tags string
	err := r.Scan(&q.id, &q.name, &q.createdAt, &q.modifiedAt, &q.visibilityTimeout, &q.retentionPeriod,
		&q.delaySeconds, &q.maximumMessageSize, &q.receiveWaitTime, &q.redrivePolicy, &q.dlqName,
		&q.maxReceiveCount, &q.redriveAllowPolicy, &extra, &tags, &q.lastPurgeAt)
	if err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(extra), &q.extra); err != nil {
		return nil, err
	}
	if err := json.Unmarshal([]byte(tags), &q.tags); err != nil {
		return nil, err
	}
	return q, nil
}

type querier interface {
	QueryRowContext(ctx context.Context, query string, args ...any) *sql.Row
}

func loadQueue(ctx context.Context, db querier, name string) (*queueRow, error) {
	q, err := scanQueue(db.QueryRowContext(ctx, `SELECT `+queueColumns+` FROM sqs_queues WHERE name = ?`, name))
	if errors.Is(err, sql.ErrNoRows) {
		return nil, errNoQueue()
	}
	return q, err
}

func defaultQueue(name string, now int64) *queueRow {
	return &queueRow{
		name: name, createdAt: now, modifiedAt: now,
		visibilityTimeout: 30, retentionPeriod: 345600, delaySeconds: 0,
		maximumMessageSize: 262144, receiveWaitTime: 0,
		extra: map[string]string{}, tags: map[string]string{},
	}
}

// CreateQueue creates a standard queue with the given attributes and tags, or
// returns the existing queue when every given attribute matches it (AWS's
// idempotent create); a mismatch is QueueNameExists.
func (s *Store) CreateQueue(ctx context.Context, name string, attrs, tags map[string]string) error {
	if err := ValidateQueueName(name); err != nil {
		return err
	}
	if v, ok := attrs["FifoQueue"]; ok && strings.EqualFold(v, "true") {
		return errorf(CodeInvalidParameterValue, "FIFO queues are not supported by this endpoint; use a standard queue.")
	}
	if err := validateTags(tags); err != nil {
		return err
	}
	return s.inTx(ctx, func(tx *txn) error {
		now := s.now()
		existing, err := loadQueue(ctx, tx, name)
		switch {
		case err == nil:
			probe := *existing
			probe.extra = copyMap(existing.extra)
			if err := s.applyAttributes(ctx, tx, &probe, attrs); err != nil {
				return err
			}
			for k := range attrs {
				if s.attributeValue(&probe, k) != s.attributeValue(existing, k) {
					return errorf(CodeQueueNameExists, "A queue already exists with the same name and a different value for attribute %s", k)
				}
			}
			return nil
		case ErrorCode(err) != CodeQueueDoesNotExist:
			return err
		}
		q := defaultQueue(name, now)
		if err := s.applyAttributes(ctx, tx, q, attrs); err != nil {
			return err
		}
		for k, v := range tags {
			q.tags[k] = v
		}
		extra, _ := json.Marshal(q.extra)
		tagJSON, _ := json.Marshal(q.tags)
		_, err = tx.ExecContext(ctx, `INSERT INTO sqs_queues (name, created_at, modified_at, visibility_timeout,
			retention_period, delay_seconds, maximum_message_size, receive_wait_time, redrive_policy, dlq_name,
			max_receive_count, redrive_allow_policy, extra_attributes, tags)
			VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?)`,
			q.name, q.createdAt, q.modifiedAt, q.visibilityTimeout, q.retentionPeriod, q.delaySeconds,
			q.maximumMessageSize, q.receiveWaitTime, q.redrivePolicy, q.dlqName, q.maxReceiveCount,
			q.redriveAllowPolicy, string(extra), string(tagJSON))
		return err
	})
}

// QueueExists returns nil if the named queue exists, else a
// QueueDoesNotExist error.
func (s *Store) QueueExists(ctx context.Context, name string) error {
	_, err := s.loadQueueNow(ctx, name)
	return err
}

// ListQueues returns queue names with the prefix in name order, at most max
// (1..1000, 0 meaning 1000) after the name given as after.
func (s *Store) ListQueues(ctx context.Context, prefix, after string, max int) (names []string, more bool, err error) {
	if max < 0 || max > 1000 {
		return nil, false, invalidValue("MaxResults", max, "MaxResults must be an integer between 1 and 1000.")
	}
	if max == 0 {
		max = 1000
	}
	err = s.inTx(ctx, func(tx *txn) error {
		names = names[:0]
		rows, err := tx.QueryContext(ctx, `SELECT name FROM sqs_queues WHERE substr(name, 1, ?) = ? AND name > ? ORDER BY name LIMIT ?`,
			len(prefix), prefix, after, max+1)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				return err
			}
			names = append(names, n)
		}
		return rows.Err()
	})
	if len(names) > max {
		return names[:max], true, err
	}
	return names, false, err
}

// DeleteQueue deletes the queue and its messages and fails its running move
// tasks.
func (s *Store) DeleteQueue(ctx context.Context, name string) error {
	var qid int64
	err := s.inTx(ctx, func(tx *txn) error {
		q, err := loadQueue(ctx, tx, name)
		if err != nil {
			return err
		}
		qid = q.id
		if _, err := tx.ExecContext(ctx, `DELETE FROM sqs_messages WHERE queue_id = ?`, q.id); err != nil {
			return err
		}
		if _, err := tx.ExecContext(ctx, `UPDATE sqs_move_tasks SET status = 'FAILED', failure_reason = 'Source queue was deleted.'
			WHERE source_name = ? AND status = 'RUNNING'`, name); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `DELETE FROM sqs_queues WHERE id = ?`, q.id)
		return err
	})
	if err == nil {
		s.signal(qid)
	}
	return err
}

// PurgeQueue deletes every message of the queue. AWS allows one purge per
// queue every 60 seconds; a second one within that time is
// PurgeQueueInProgress.
func (s *Store) PurgeQueue(ctx context.Context, name string) error {
	return s.inTx(ctx, func(tx *txn) error {
		q, err := loadQueue(ctx, tx, name)
		if err != nil {
			return err
		}
		now := s.now()
		if q.lastPurgeAt != 0 && now-q.lastPurgeAt < 60_000 {
			return errorf(CodePurgeQueueInProgress, "Only one PurgeQueue operation on %s is allowed every 60 seconds.", name)
		}
		if _, err := tx.ExecContext(ctx, `DELETE FROM sqs_messages WHERE queue_id = ?`, q.id); err != nil {
			return err
		}
		_, err = tx.ExecContext(ctx, `UPDATE sqs_queues SET last_purge_at = ? WHERE id = ?`, now, q.id)
		return err
	})
}

// SetQueueAttributes validates and applies attributes to the queue.
func (s *Store) SetQueueAttributes(ctx context.Context, name string, attrs map[string]string) error {
	if len(attrs) == 0 {
		return errorf(CodeMissingParameter, "The request must contain the parameter Attribute.Name.")
	}
	return s.inTx(ctx, func(tx *txn) error {
		q, err := loadQueue(ctx, tx, name)
		if err != nil {
			return err
		}
		if err := s.applyAttributes(ctx, tx, q, attrs); err != nil {
			return err
		}
		q.modifiedAt = s.now()
		extra, _ := json.Marshal(q.extra)
		_, err = tx.ExecContext(ctx, `UPDATE sqs_queues SET modified_at=?, visibility_timeout=?, retention_period=?,
			delay_seconds=?, maximum_message_size=?, receive_wait_time=?, redrive_policy=?, dlq_name=?,
			max_receive_count=?, redrive_allow_policy=?, extra_attributes=? WHERE id=?`,
			q.modifiedAt, q.visibilityTimeout, q.retentionPeriod, q.delaySeconds, q.maximumMessageSize,
			q.receiveWaitTime, q.redrivePolicy, q.dlqName, q.maxReceiveCount, q.redriveAllowPolicy,
			string(extra), q.id)
		return err
	})
}

// Queue attribute names.
var (
	settableAttributes = []string{"DelaySeconds", "MaximumMessageSize", "MessageRetentionPeriod",
		"ReceiveMessageWaitTimeSeconds", "VisibilityTimeout", "RedrivePolicy", "RedriveAllowPolicy",
		"Policy", "KmsMasterKeyId", "KmsDataKeyReusePeriodSeconds", "SqsManagedSseEnabled"}
	readOnlyAttributes = []string{"ApproximateNumberOfMessages", "ApproximateNumberOfMessagesNotVisible",
		"ApproximateNumberOfMessagesDelayed", "CreatedTimestamp", "LastModifiedTimestamp", "QueueArn"}
	fifoAttributes = []string{"FifoQueue", "ContentBasedDeduplication", "DeduplicationScope", "FifoThroughputLimit"}
)

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func intAttr(name, value string, min, max int) (int, error) {
	n, err := strconv.Atoi(strings.TrimSpace(value))
	if err != nil || n < min || n > max {
		return 0, errorf(CodeInvalidAttributeValue, "Invalid value for the parameter %s.", name)
	}
	return n, nil
}

type redrivePolicy struct {
	DeadLetterTargetArn string `json:"deadLetterTargetArn"`
	MaxReceiveCount     int    `json:"maxReceiveCount"`
}

type redriveAllowPolicy struct {
	RedrivePermission string   `json:"redrivePermission"`
	SourceQueueArns   []string `json:"sourceQueueArns,omitempty"`
}

// applyAttributes validates attrs and sets them on q (not in the database).
func (s *Store) applyAttributes(ctx context.Context, tx *txn, q *queueRow, attrs map[string]string) error {
	names := make([]string, 0, len(attrs))
	for k := range attrs {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		v := attrs[k]
		var err error
		switch k {
		case "DelaySeconds":
			q.delaySeconds, err = intAttr(k, v, 0, 900)
		case "MaximumMessageSize":
			q.maximumMessageSize, err = intAttr(k, v, 1024, 1048576)
		case "MessageRetentionPeriod":
			q.retentionPeriod, err = intAttr(k, v, 60, 1209600)
		case "ReceiveMessageWaitTimeSeconds":
			q.receiveWaitTime, err = intAttr(k, v, 0, 20)
		case "VisibilityTimeout":
			q.visibilityTimeout, err = intAttr(k, v, 0, 43200)
		case "RedrivePolicy":
			err = s.applyRedrivePolicy(ctx, tx, q, v)
		case "RedriveAllowPolicy":
			err = applyRedriveAllowPolicy(q, v)
		case "KmsDataKeyReusePeriodSeconds":
			_, err = intAttr(k, v, 60, 86400)
			q.extra[k] = v
		case "SqsManagedSseEnabled":
			if v != "true" && v != "false" {
				err = errorf(CodeInvalidAttributeValue, "Invalid value for the parameter %s.", k)
			}
			q.extra[k] = v
		case "Policy", "KmsMasterKeyId":
			q.extra[k] = v
		default:
			if contains(fifoAttributes, k) {
				if k == "FifoQueue" && v == "false" {
					continue
				}
				return errorf(CodeInvalidAttributeName, "Unknown Attribute %s. FIFO queues are not supported by this endpoint.", k)
			}
			return errorf(CodeInvalidAttributeName, "Unknown Attribute %s.", k)
		}
		if err != nil {
			return err
		}
	}
	return nil
}

func (s *Store) applyRedrivePolicy(ctx context.Context, tx *txn, q *queueRow, v string) error {
	if strings.TrimSpace(v) == "" {
		q.redrivePolicy, q.dlqName, q.maxReceiveCount = "", "", 0
		return nil
	}
	invalid := func(reason string) error { return invalidValue("RedrivePolicy", v, reason) }
	var raw map[string]json.RawMessage
	if err := json.Unmarshal([]byte(v), &raw); err != nil {
		return invalid("Invalid value for the parameter RedrivePolicy.")
	}
	var p redrivePolicy
	for key, val := range raw {
		switch key {
		case "deadLetterTargetArn":
			if err := json.Unmarshal(val, &p.DeadLetterTargetArn); err != nil {
				return invalid("Invalid value for deadLetterTargetArn.")
			}
		case "maxReceiveCount":
			var n json.Number
			if err := json.Unmarshal(val, &n); err != nil {
				var str string
				if json.Unmarshal(val, &str) != nil {
					return invalid("Invalid value for maxReceiveCount.")
				}
				n = json.Number(str)
			}
			i, err := strconv.Atoi(n.String())
			if err != nil {
				return invalid("Invalid value for maxReceiveCount.")
			}
			p.MaxReceiveCount = i
		default:
			return invalid("Only following attributes are supported: [deadLetterTargetArn, maxReceiveCount].")
		}
	}
	if p.DeadLetterTargetArn == "" {
		return invalid("Redrive policy does not contain mandatory attribute: deadLetterTargetArn.")
	}
	if p.MaxReceiveCount < 1 || p.MaxReceiveCount > 1000 {
		return invalid("Invalid value for maxReceiveCount: must be an integer from 1 to 1000.")
	}
	dlq, ok := s.QueueNameFromARN(p.DeadLetterTargetArn)
	if !ok {
		return invalid("Dead letter target does not exist.")
	}
	if dlq == q.name {
		return invalid("Dead letter target must not be the queue itself.")
	}
	target, err := loadQueue(ctx, tx, dlq)
	if ErrorCode(err) == CodeQueueDoesNotExist {
		return invalid("Dead letter target does not exist.")
	} else if err != nil {
		return err
	}
	if target.redriveAllowPolicy != "" {
		var allow redriveAllowPolicy
		_ = json.Unmarshal([]byte(target.redriveAllowPolicy), &allow)
		switch allow.RedrivePermission {
		case "denyAll":
			return invalid("Dead letter target does not allow this queue as a source (RedriveAllowPolicy denyAll).")
		case "byQueue":
			if !contains(allow.SourceQueueArns, s.QueueARN(q.name)) {
				return invalid("Dead letter target does not allow this queue as a source (RedriveAllowPolicy byQueue).")
			}
		}
	}
	norm, _ := json.Marshal(p)
	q.redrivePolicy, q.dlqName, q.maxReceiveCount = string(norm), dlq, p.MaxReceiveCount
	return nil
}

func applyRedriveAllowPolicy(q *queueRow, v string) error {
	if strings.TrimSpace(v) == "" {
		q.redriveAllowPolicy = ""
		return nil
	}
	invalid := func(reason string) error { return invalidValue("RedriveAllowPolicy", v, reason) }
	var p redriveAllowPolicy
	dec := json.NewDecoder(strings.NewReader(v))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		return invalid("Invalid value for the parameter RedriveAllowPolicy.")
	}
	switch p.RedrivePermission {
	case "allowAll", "denyAll":
		if len(p.SourceQueueArns) > 0 {
			return invalid("sourceQueueArns is allowed only when redrivePermission is byQueue.")
		}
	case "byQueue":
		if len(p.SourceQueueArns) < 1 || len(p.SourceQueueArns) > 10 {
			return invalid("sourceQueueArns must list 1 to 10 queue ARNs when redrivePermission is byQueue.")
		}
	default:
		return invalid("redrivePermission must be one of allowAll, denyAll, byQueue.")
	}
	norm, _ := json.Marshal(p)
	q.redriveAllowPolicy = string(norm)
	return nil
}

func (s *Store) attributeValue(q *queueRow, name string) string {
	switch name {
	case "DelaySeconds":
		return strconv.Itoa(q.delaySeconds)
	case "MaximumMessageSize":
		return strconv.Itoa(q.maximumMessageSize)
	case "MessageRetentionPeriod":
		return strconv.Itoa(q.retentionPeriod)
	case "ReceiveMessageWaitTimeSeconds":
		return strconv.Itoa(q.receiveWaitTime)
	case "VisibilityTimeout":
		return strconv.Itoa(q.visibilityTimeout)
	case "RedrivePolicy":
		return q.redrivePolicy
	case "RedriveAllowPolicy":
		return q.redriveAllowPolicy
	case "CreatedTimestamp":
		return strconv.FormatInt(q.createdAt/1000, 10)
	case "LastModifiedTimestamp":
		return strconv.FormatInt(q.modifiedAt/1000, 10)
	case "QueueArn":
		return s.QueueARN(q.name)
	}
	return q.extra[name]
}

// GetQueueAttributes returns the named attributes ("All" for every one). An
// unknown name is InvalidAttributeName. Unset optional attributes
// (RedrivePolicy, RedriveAllowPolicy, Policy, ...) are left out.
func (s *Store) GetQueueAttributes(ctx context.Context, name string, names []string) (map[string]string, error) {
	want := map[string]bool{}
	for _, n := range names {
		switch {
		case n == "All":
			for _, a := range settableAttributes {
				want[a] = true
			}
			for _, a := range readOnlyAttributes {
				want[a] = true
			}
		case contains(settableAttributes, n) || contains(readOnlyAttributes, n):
			want[n] = true
		case contains(fifoAttributes, n):
			// Standard queues have no FIFO attributes; AWS leaves them out.
		default:
			return nil, errorf(CodeInvalidAttributeName, "Unknown Attribute %s.", n)
		}
	}
	out := map[string]string{}
	err := s.inTx(ctx, func(tx *txn) error {
		q, err := loadQueue(ctx, tx, name)
		if err != nil {
			return err
		}
		for a := range want {
			if v := s.attributeValue(q, a); v != "" {
				out[a] = v
			}
		}
		if want["ApproximateNumberOfMessages"] || want["ApproximateNumberOfMessagesNotVisible"] || want["ApproximateNumberOfMessagesDelayed"] {
			c, err := s.counts(ctx, tx, q)
			if err != nil {
				return err
			}
			if want["ApproximateNumberOfMessages"] {
				out["ApproximateNumberOfMessages"] = strconv.Itoa(c.Visible)
			}
			if want["ApproximateNumberOfMessagesNotVisible"] {
				out["ApproximateNumberOfMessagesNotVisible"] = strconv.Itoa(c.InFlight)
			}
			if want["ApproximateNumberOfMessagesDelayed"] {
				out["ApproximateNumberOfMessagesDelayed"] = strconv.Itoa(c.Delayed)
			}
		}
		return nil
	})
	return out, err
}

// Counts are a queue's message counts at one instant (exact here; AWS calls
// them approximate).
type Counts struct {
	Visible  int // ApproximateNumberOfMessages
	InFlight int // ApproximateNumberOfMessagesNotVisible
	Delayed  int // ApproximateNumberOfMessagesDelayed
}

// QueueCounts returns the message counts of the queue.
func (s *Store) QueueCounts(ctx context.Context, name string) (Counts, error) {
	var c Counts
	err := s.inTx(ctx, func(tx *txn) error {
		q, err := loadQueue(ctx, tx, name)
		if err != nil {
			return err
		}
		c, err = s.counts(ctx, tx, q)
		return err
	})
	return c, err
}

func (s *Store) counts(ctx context.Context, tx *txn, q *queueRow) (Counts, error) {
	now := s.now()
	cutoff := now - int64(q.retentionPeriod)*1000
	var c Counts
	err := tx.QueryRowContext(ctx, `SELECT
		coalesce(sum(visible_at <= ?1), 0),
		coalesce(sum(visible_at > ?1 AND receipt IS NOT NULL), 0),
		coalesce(sum(visible_at > ?1 AND receipt IS NULL), 0)
		FROM sqs_messages WHERE queue_id = ?2 AND sent_at > ?3`, now, q.id, cutoff).Scan(&c.Visible, &c.InFlight, &c.Delayed)
	return c, err
}

// TagQueue adds or replaces tags; ListQueueTags returns them; UntagQueue
// removes keys.
func (s *Store) TagQueue(ctx context.Context, name string, tags map[string]string) error {
	if err := validateTags(tags); err != nil {
		return err
	}
	return s.updateTags(ctx, name, func(t map[string]string) {
		for k, v := range tags {
			t[k] = v
		}
	})
}

// UntagQueue removes the tag keys from the queue.
func (s *Store) UntagQueue(ctx context.Context, name string, keys []string) error {
	return s.updateTags(ctx, name, func(t map[string]string) {
		for _, k := range keys {
			delete(t, k)
		}
	})
}

// ListQueueTags returns the queue's tags.
func (s *Store) ListQueueTags(ctx context.Context, name string) (map[string]string, error) {
	q, err := s.loadQueueNow(ctx, name)
	if err != nil {
		return nil, err
	}
	return q.tags, nil
}

func (s *Store) updateTags(ctx context.Context, name string, fn func(map[string]string)) error {
	return s.inTx(ctx, func(tx *txn) error {
		q, err := loadQueue(ctx, tx, name)
		if err != nil {
			return err
		}
		fn(q.tags)
		if len(q.tags) > 50 {
			return errorf(CodeInvalidParameterValue, "Too many tags added for queue %s.", name)
		}
		b, _ := json.Marshal(q.tags)
		_, err = tx.ExecContext(ctx, `UPDATE sqs_queues SET tags = ? WHERE id = ?`, string(b), q.id)
		return err
	})
}

func validateTags(tags map[string]string) error {
	if len(tags) > 50 {
		return errorf(CodeInvalidParameterValue, "Too many tags: at most 50 are allowed.")
	}
	for k, v := range tags {
		if k == "" || len(k) > 128 || len(v) > 256 {
			return errorf(CodeInvalidParameterValue, "Tag keys must be 1 to 128 characters and values at most 256.")
		}
	}
	return nil
}

func copyMap(m map[string]string) map[string]string {
	out := make(map[string]string, len(m))
	for k, v := range m {
		out[k] = v
	}
	return out
}

// ListDeadLetterSourceQueues returns the names of the queues whose redrive
// policy targets the named queue.
func (s *Store) ListDeadLetterSourceQueues(ctx context.Context, name string) ([]string, error) {
	if err := s.QueueExists(ctx, name); err != nil {
		return nil, err
	}
	var out []string
	err := s.inTx(ctx, func(tx *txn) error {
		out = out[:0]
		rows, err := tx.QueryContext(ctx, `SELECT name FROM sqs_queues WHERE dlq_name = ? ORDER BY name`, name)
		if err != nil {
			return err
		}
		defer rows.Close()
		for rows.Next() {
			var n string
			if err := rows.Scan(&n); err != nil {
				return err
			}
			out = append(out, n)
		}
		return rows.Err()
	})
	return out, err
}
