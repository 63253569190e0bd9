package workflow

import (
	"errors"
	"fmt"

	"github.com/aws/aws-lambda-go/lambda/messages"
)

// ErrorName is the name of an error raised by the mail tasks: the errorType
// a Lambda function reports and what Retry and Catch in the state machine
// match on.
type ErrorName string

// Error names raised by the mail tasks. Retry and Catch in the state machine
// match on these exact strings.
const (
	// InvalidMessage: the queue body breaks the message contract. Permanent.
	InvalidMessage ErrorName = "Mail.InvalidMessage"
	// IdempotencyConflict: the same mailId was seen with different content. Permanent.
	IdempotencyConflict ErrorName = "Mail.IdempotencyConflict"
	// AttachmentMissing: an attachment or offloaded body is not in the store. Permanent.
	AttachmentMissing ErrorName = "Mail.AttachmentMissing"
	// AttachmentForbidden: a key outside the configured bucket and prefix. Permanent.
	AttachmentForbidden ErrorName = "Mail.AttachmentForbidden"
	// TooLarge: the built MIME message exceeds the SES limit, or the queue
	// record does not fit the execution input once encoded. Permanent.
	TooLarge ErrorName = "Mail.TooLarge"
	// OutcomeUnknown: a send attempt started and its answer was never
	// recorded, so the mail may have gone out. Permanent: it is
	// dead-lettered with the attempt's time and sent again only on an
	// operator's explicit choice (mailflow replay --force).
	OutcomeUnknown ErrorName = "Mail.OutcomeUnknown"
	// Suppressed: a recipient is on the suppression list (an earlier
	// permanent bounce or a complaint, or an operator's entry); the mail is
	// not handed to SES. Permanent; the cause names the address and the
	// event that suppressed it.
	Suppressed ErrorName = "Mail.Suppressed"
	// Rejected: SES refused the content or the sender. Permanent.
	Rejected ErrorName = "Mail.Rejected"
	// Throttled: the send rate was exceeded; retried inside the execution.
	Throttled ErrorName = "Mail.Throttled"
	// QuotaExhausted: the daily quota is used up; the record is retried later by SQS.
	QuotaExhausted ErrorName = "Mail.QuotaExhausted"
	// SendingPaused: sending is paused or the account suspended; retried later by SQS.
	SendingPaused ErrorName = "Mail.SendingPaused"
	// LockBusy: another execution holds a live lease on the mailId; retried later by SQS.
	LockBusy ErrorName = "Mail.LockBusy"
	// Transient: network trouble or a 5xx answer; a few retries, then SQS redelivery.
	Transient ErrorName = "Mail.Transient"
)

// Kind says how the state machine treats an error name.
type Kind int

const (
	// KindUnknown is a name that is not one of ours.
	KindUnknown Kind = iota
	// KindPermanent errors are dead-lettered with their reason.
	KindPermanent
	// KindTransient errors are retried: in the execution, or by SQS redelivery.
	KindTransient
)

func (k Kind) String() string {
	switch k {
	case KindPermanent:
		return "permanent"
	case KindTransient:
		return "transient"
	}
	return "unknown"
}

var kinds = map[ErrorName]Kind{
	InvalidMessage:      KindPermanent,
	IdempotencyConflict: KindPermanent,
	AttachmentMissing:   KindPermanent,
	AttachmentForbidden: KindPermanent,
	TooLarge:            KindPermanent,
	OutcomeUnknown:      KindPermanent,
	Suppressed:          KindPermanent,
	Rejected:            KindPermanent,
	Throttled:           KindTransient,
	QuotaExhausted:      KindTransient,
	SendingPaused:       KindTransient,
	LockBusy:            KindTransient,
	Transient:           KindTransient,
}

// ErrorNames lists every error name a mail task may raise, permanent ones first.
func ErrorNames() []ErrorName {
	return []ErrorName{
		InvalidMessage, IdempotencyConflict, AttachmentMissing, AttachmentForbidden,
		TooLarge, OutcomeUnknown, Suppressed, Rejected, Throttled, QuotaExhausted, SendingPaused, LockBusy, Transient,
	}
}

// KindOf tells whether name is a permanent or transient mail error.
func KindOf(name ErrorName) Kind { return kinds[name] }

// Error is a task failure with a state-machine error name. It wraps the
// underlying cause so callers can still match it with errors.Is and errors.As.
type Error struct {
	Name ErrorName // one of the constants above
	Msg  string    // the human-readable cause
	Err  error     // optional underlying error
}

func (e *Error) Error() string {
	if e.Msg == "" && e.Err != nil {
		return string(e.Name) + ": " + e.Err.Error()
	}
	return string(e.Name) + ": " + e.Msg
}

func (e *Error) Unwrap() error { return e.Err }

// Cause is the text reported as the error's cause in the state machine.
func (e *Error) Cause() string {
	if e.Msg != "" {
		return e.Msg
	}
	if e.Err != nil {
		return e.Err.Error()
	}
	return string(e.Name)
}

// Errorf returns an *Error with the given name and a formatted cause. A %w
// verb wraps its operand as with fmt.Errorf.
func Errorf(name ErrorName, format string, args ...any) *Error {
	wrapped := fmt.Errorf(format, args...)
	return &Error{Name: name, Msg: wrapped.Error(), Err: errors.Unwrap(wrapped)}
}

// Wrap names err. It returns nil when err is nil.
func Wrap(name ErrorName, err error) error {
	if err == nil {
		return nil
	}
	return &Error{Name: name, Err: err}
}

// NameOf returns the state-machine error name carried by err, or "" when err
// carries none.
func NameOf(err error) ErrorName {
	var e *Error
	if errors.As(err, &e) {
		return e.Name
	}
	var ie messages.InvokeResponse_Error
	if errors.As(err, &ie) {
		return ErrorName(ie.Type)
	}
	return ""
}

// LambdaError converts err into the value aws-lambda-go reports verbatim, so
// the function's errorType is exactly the mail error name. aws-lambda-go only
// honours an unwrapped messages.InvokeResponse_Error; any other error would
// be named after its Go type ("Error", "errorString"). Errors that carry no
// mail name are returned unchanged. nil stays nil.
func LambdaError(err error) error {
	if err == nil {
		return nil
	}
	var e *Error
	if !errors.As(err, &e) {
		return err
	}
	return messages.InvokeResponse_Error{Type: string(e.Name), Message: e.Cause()}
}
