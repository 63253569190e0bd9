package workflow

// Outcome is what became of one record of a batch, as the state machine's
// item processor reports it in its [ItemResult].
type Outcome string

// Outcomes of a record. The first four are the end states of the item
// processor (mail.asl.json spells them in its Pass states); OutcomeUnfinished
// is given by readers to a record whose iteration reported none.
const (
	// OutcomeSent: the mail was sent by this execution.
	OutcomeSent Outcome = "sent"
	// OutcomeAlreadySent: the dedup lock shows the mail was sent before.
	OutcomeAlreadySent Outcome = "already-sent"
	// OutcomeDeadLettered: a permanent error; the record went to the DLQ.
	OutcomeDeadLettered Outcome = "dead-lettered"
	// OutcomeRetryLater: a transient error; the record returns to the queue.
	OutcomeRetryLater Outcome = "retry-later"
	// OutcomeUnfinished: the iteration reported no outcome (it did not
	// finish, or its result was not recorded).
	OutcomeUnfinished Outcome = "unfinished"
)

// Outcomes lists every outcome, in the order above.
func Outcomes() []Outcome {
	return []Outcome{OutcomeSent, OutcomeAlreadySent, OutcomeDeadLettered, OutcomeRetryLater, OutcomeUnfinished}
}

// Delivered reports whether the record's mail is sent: by this execution or
// by an earlier one. Every other outcome leaves the mail unsent.
func (o Outcome) Delivered() bool { return o == OutcomeSent || o == OutcomeAlreadySent }

// ItemResult is the result of one iteration of the item processor, the
// value its end states (Sent, AlreadySent, DeadLettered, RetryLater) output
// for one record. The batch result is derived from these.
type ItemResult struct {
	MessageID string  `json:"messageId"`
	MailID    string  `json:"mailId,omitempty"`
	Outcome   Outcome `json:"outcome"`
	// Error is the error name that dead-lettered the record or sent it back
	// to the queue: one of ours, or a States.* or Lambda.* name.
	Error        string `json:"error,omitempty"`
	SESMessageID string `json:"sesMessageId,omitempty"`
	RetryLater   bool   `json:"retryLater"`
	// Failure is the record's entry in the batch result when RetryLater.
	Failure *BatchItemFailure `json:"failure,omitempty"`
}
