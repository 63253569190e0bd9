// Package inspect is the one execution model behind `mailflow executions`,
// `replay`, `dlq`, `mail status` and the web console, fed by two sources:
//
//   - the local runtime's execution store (execstore, read through
//     local/execsource), and
//   - on AWS, the state machine's CloudWatch Logs log group: Express
//     executions have no GetExecutionHistory or DescribeExecution, so their
//     history is read back with FilterLogEvents and parsed from Step
//     Functions' log event format.
//
// Decisions:
//   - inspect opens nothing: it defines the ports it reads ([Source], the
//     queues' [SQSAPI], the lock table's [LockReader]) and receives a
//     [Backend] built by the wiring root. Package local is the root of the
//     local side (local.OpenInspection for a data directory,
//     Runtime.Inspection for the console in the runtime's process); the
//     CLI's cli/wiring.go chooses between it and AWS (CloudWatch Logs,
//     SQS, the DynamoDB lock table), which it opens itself. So inspect
//     imports no adapter of local/ and no AWS store adapter.
//   - The model's types ([Execution], [Item], [Event], [MailExecution]) are
//     defined in the leaf package inspect/model and named here by alias.
//     The local store (execstore) writes and returns the same types, so the
//     local source (local/execsource) hands on what it reads with no conversion, and the
//     dependencies point one way: local/execsource → inspect, local/execstore → model. The store
//     keeps an event's Details byte for byte; [Event.ReadDetails] reads the
//     named fields from them. Statuses and States.* error names are asl's
//     constants, outcomes and Mail.* error names workflow's.
//   - An execution of the mail state machine nearly always SUCCEEDS: the Map
//     catches every error. What a user calls a failed execution is one with
//     a failed item: dead-lettered, retry-later or unfinished, or an
//     execution that did not succeed. [Execution.Failed] says which.
//   - History events are normalised into one shape ([Event]) whatever the
//     source: log events carry input and output as JSON text that may be
//     truncated (over 248 KB) or absent (includeExecutionData off); both
//     cases are kept visible (InputTruncated, InputMissing) and never guessed.
//   - Log events are read field by field: a field that does not decode is
//     left zero and reported in [Execution.Warnings] with the event's id
//     and type, and the event is kept; only a message with no readable
//     execution_arn and type is skipped, since it names no execution. An
//     unreadable event_timestamp falls back to the time CloudWatch Logs
//     recorded, with a warning.
//   - The logging level is not read from the state machine but inferred
//     from the event types read ([Execution.LogLevel]): ERROR when every
//     one is a type that level logs, FATAL when every one is an
//     execution's failed end. A missing ExecutionStarted leaves the start
//     and the duration unknown (StartedAt zero, [Execution.StartMissing]);
//     a listing orders and selects such an execution by its first logged
//     event. The input counts as not logged (InputMissing) when the start
//     event carries none, or when the start is missing at ERROR or FATAL
//     or no event carries execution data; otherwise only the start event is
//     missing. A listing reads the failure event types too, so that at
//     ERROR an execution whose only events are caught failures is listed.
//   - Nothing runs on after the execution: a state or Map iteration still
//     open at the execution's end takes that end (a Fail state fails with
//     the execution's error, a Succeed state succeeds, anything else is
//     aborted unless the execution succeeded). A failure logged without
//     its state (level ERROR) is kept as a run whose name and entry are
//     unknown, in the Map iteration whose end follows it.
//   - The local store keeps an execution's history once the execution stops.
//     The console of `mailflow dev` runs in the runtime's process and shows
//     the history of a running execution as it grows (execsource.Source.Running);
//     the CLI, in another process, shows a running execution's status and
//     input, and its events once it has stopped.
//   - The timeline ([BuildTimeline]) is derived from the events alone, so
//     both sources give the same view: events are grouped into Map
//     iterations by following previousEventId chains, a state's attempts
//     are its TaskScheduled events, retries are attempts after the first.
//   - At the default level ERROR the state machine's log holds only
//     failure events, without inputs, and a successful execution logs
//     nothing. [TaskLogSource] wraps the [LogSource] and adds the result
//     line each task invocation writes to its Lambda log group
//     (internal/taskkit.LogResult; LogFormat JSON keeps a line that is
//     already a JSON object as is, and writes "platform.*" lines into the
//     same group, which are skipped without a word). The four groups
//     (AcquireLock, FetchAttachments, Send, ReleaseLock) are read whole
//     over the search's time range with FilterLogEvents, grouped by the
//     line's execution and, within it, by messageId. A line names its
//     execution by the whole ARN ("executionId", older lines) or by what
//     follows the state machine's ARN ("exec", completed with
//     [TaskLogSource.StateMachineARN]); its time is its "time", else the
//     log event's timestamp. Each item gets its
//     steps (task, time, result or error and cause), its mail id and SES
//     message id, and an outcome derived as workflow/mail.asl.json routes
//     it: AcquireLock's already-sent is already-sent; Send done is sent;
//     an error a task's Catch sends to DeadLetter is dead-lettered; an
//     error routed to LastReceive? (LockBusy, a transient error whose
//     retries ran out) is [OutcomeUnknown], since retry-later or
//     dead-lettered at the fifth receive depends on a receive count no line
//     carries; an item whose lines stop short is unknown too. Merged with an
//     execution the state machine's log names, the log's status, level and
//     items stay, and an item it leaves without outcome or does not name
//     takes the task lines'. An execution only the task lines name is
//     listed as SUCCEEDED (at ERROR or FATAL a failed end would be logged;
//     at ALL every execution is in the log), with its start unknown,
//     InputMissing set (the lines carry no bodies) and LogLevel empty
//     (nothing was read from the state machine's log). A line that is not
//     a result line and names no execution is skipped and reported to
//     [TaskLogSource.Warn]; a result line with an unreadable field is kept
//     and the field named in the execution's warnings. The CLI uses it
//     with --aws when the stack names the four task log groups.
//   - Replay works from the Items of an [Execution], whatever source built
//     them, and re-enqueues the source records (bodies from the execution
//     input, or from an iteration's first state input when the batch input
//     was truncated) onto the source queue, after classifying each one:
//     already-sent and outcome-unknown mails and permanent failures are
//     skipped (the last two unless forced), so a replay neither sends a
//     mail twice nor dead-letters a record again for the same reason. The
//     class follows workflow.KindOf of the recorded error; an error that
//     is not a mail error (a Lambda or States error) counts as transient,
//     since nothing says it will recur. A replayed dead-lettered record has
//     its dead-letter copies deleted after the enqueue, found by the
//     source message id the state machine tags them with, or by their own
//     message id for a copy the source queue's redrive policy moved (it
//     keeps the id); any replayed record that was not sent is looked for,
//     since a moved record's outcome is retry-later or unfinished.
//     When the input is not logged (execution data off, log level ERROR:
//     the failure events name no record, only an iteration index at
//     most) or a failed item has no body, the dead-letter queue is read
//     once, the store peeked or SQS received and given back: an item's
//     body is its copy's (found as above, or by mail id among the copies
//     the execution tagged for an item without a message id), and a copy
//     tagged with the execution (workflow.DLQAttrExecutionID) that no item
//     names is replayed as one more item; so is, reported body-unknown, a
//     mail the dead-letter index lists as dead-lettered by the execution
//     whose copy is gone (the index says which records, the queue alone
//     has their bodies). A record with no body and no
//     copy is reported, never silently skipped: on-source-queue when its
//     execution left it on the source queue (retry-later, unfinished),
//     which delivers it again; body-unknown otherwise, which [NotReplayed]
//     counts and the CLI exits 1 for. A masked body is refused whatever
//     its source.
//   - Queues are reached through the SQS API (aws-sdk-go-v2) for both AWS
//     and the local runtime; locally the client talks either to the running
//     `mailflow dev` endpoint or, when none runs, to the queue database
//     opened in-process (see local/sqsapi.Client).
//   - Mail status carries the mail's delivery record ([Delivery]) from the
//     delivery port, and each recipient's suppression entry from the
//     suppression port, both handed in on the [Backend]. A backend without a
//     delivery store is not an error: the status says "delivery feedback not
//     configured" ([NoDeliveryFeedback]), so the commands work on a
//     deployment or a data directory that has none. A mail is summed up in
//     one state by [MailState] (a whole-mail end, else its worst recipient,
//     else sent or accepted), which the console's dashboard counts by.
//   - A DLQ listing peeks. Locally it reads the queue store through the
//     [DeadLetterStore] port (sqsstore's Peek): nothing is received, receive
//     counts stay, and it pages by message id, so a queue of any size is
//     listed whole. On AWS, where SQS has no such read, messages are
//     received (hidden) until no new one comes, then made visible again at
//     once, so a listing never delays a redrive; each listed message's
//     receive count grows by one, and a listing cannot start after a given
//     message. That is only the fallback without a delivery table: given
//     one ([Backend.UseDeadLetterIndex]), a listing on AWS reads its
//     dead-letter index (delivery.DeadLetterIndex) and receives nothing.
//     An entry shows the mail id, error, cause, the time it was
//     dead-lettered, the recipients, the source message id and the
//     execution; not the body or the queue's message id, which are only in
//     the queue. A record the source queue's redrive policy moved has no
//     dead-lettered event and so no entry: the listing reports the queue's
//     ApproximateNumberOfMessages and how many of those are not indexed.
//   - Without a store, what changes the queue sweeps it ([Queues.sweep]):
//     receive until no new message comes, act on the selected ones (move:
//     SendMessage then DeleteMessage; delete), make the others visible
//     again at once, and forget the acted-on mails' index entries. Dry
//     runs read the index. An unfiltered purge is PurgeQueue and clears
//     the index; an unfiltered redrive stays a move task.
//   - Dead letters are selected by [DeadLetterFilter] (error name without
//     case, a piece of the cause, age, mail id, recipient domain), applied
//     after [ExplainDeadLetters] so that a message moved by the redrive
//     policy is matched by its last execution's reason. With the store, a
//     redrive or purge of selected messages ([Queues.RedriveSelected],
//     [Queues.PurgeSelected]) and a delete read the queue without receiving
//     and delete by message id; without it they sweep (below). A selective
//     redrive sends each message to the source queue, then deletes it:
//     at least once, never lost.
package inspect
