// Package sqsstore is a durable store of SQS standard queues in one SQLite
// file (modernc.org/sqlite, no cgo), with the semantics of Amazon SQS.
//
// Who uses it: local/sqsapi serves it over HTTP in both SQS protocols, and
// the local Pipes emulation of `mailflow dev` calls it directly in-process:
// Receive (long polling), Delete/DeleteBatch and
// ChangeVisibility/ChangeVisibilityBatch, with queue names (not URLs) and
// receipt handles. Every method validates its input as SQS does and returns
// an *Error carrying SQS's error code (see Code) for a bad request.
//
// What it models: queues with the attributes VisibilityTimeout,
// MessageRetentionPeriod, DelaySeconds, MaximumMessageSize,
// ReceiveMessageWaitTimeSeconds, RedrivePolicy, RedriveAllowPolicy (plus
// stored-only Policy and KMS attributes) and the derived CreatedTimestamp,
// LastModifiedTimestamp, QueueArn and ApproximateNumberOfMessages(NotVisible,
// Delayed); messages with body, message attributes and the system attributes
// SentTimestamp, ApproximateReceiveCount, ApproximateFirstReceiveTimestamp,
// SenderId, AWSTraceHeader and DeadLetterQueueSourceArn; visibility timeouts,
// per-message and per-queue delay, retention, redrive to a dead-letter queue,
// long polling and message move tasks (dead-letter queue redrive).
//
// Decisions, following the AWS documentation:
//   - Receipt handles: every receive gives a new handle. Deleting with a
//     handle that is not the newest one (the message was received again
//     since), or deleting twice, succeeds and does nothing ("the request
//     succeeds, but the message might not be deleted"); only a malformed
//     handle is ReceiptHandleIsInvalid. ChangeVisibility with such a handle
//     is InvalidParameterValue, and on a message whose visibility already
//     ended it is MessageNotInflight.
//   - Redrive: "when the ReceiveCount for a message exceeds the
//     maxReceiveCount", i.e. a message received maxReceiveCount times is
//     moved to the dead-letter queue by the next receive attempt that finds
//     it visible, and is never delivered a maxReceiveCount+1-th time. It keeps
//     its message id, body, attributes, SentTimestamp and receive count;
//     retention in the dead-letter queue counts from the original send.
//   - Move tasks: redriven messages are new messages (new message id, sent
//     time, zero receive count), as AWS documents; one running task per
//     source queue; a task moves the messages present when it started.
//   - Long polling wakes on send, on a change of visibility to 0 and at the
//     next time a delayed or in-flight message becomes visible; it never
//     polls the database in a loop. All waiting uses the injected Clock.
//   - PurgeQueue is allowed once per 60 seconds per queue
//     (PurgeQueueInProgress), and deletes in-flight messages too.
//   - Approximate counts are exact.
//   - Beyond SQS, for operators: Peek reads a queue's messages in send
//     order, paged by message id, without receiving them (no receive count,
//     visibility or handle changes), and DeleteByID deletes one by its
//     message id. A store opened Passive (a second process on a file a
//     running store owns) leaves running move tasks to that owner.
//
// Limits: FIFO queues are out of scope: names ending in ".fifo" and
// FifoQueue=true are rejected with InvalidParameterValue. No permissions
// (AddPermission), no KMS encryption, no QueueDeletedRecently 60-second rule
// after DeleteQueue. One Store per database file: it holds a single SQLite
// connection (WAL, synchronous=NORMAL: nothing committed is lost when the
// process dies; a power cut may lose the last transactions) and long-poll
// wake-ups are in-process only. Other packages may keep their own tables in
// the same file through their own connection: this store's tables are
// prefixed sqs_, its migrations are recorded in sqsstore_migrations, and its
// transactions take the write lock up front (BEGIN IMMEDIATE) and wait up to
// 10 s for it.
//
// Durability: state lives only in the file. After a restart, messages that
// were in flight stay invisible until their visibility timeout ends, then are
// delivered again; running move tasks resume.
package sqsstore
