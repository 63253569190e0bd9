package sqsstore

import (
	"errors"
	"fmt"
)

// Code names an SQS error as the JSON protocol spells it (the shape name after
// "com.amazonaws.sqs#"). QueryCode gives the spelling of the query protocol.
type Code string

// The SQS error codes this store returns.
const (
	CodeInvalidParameterValue        Code = "InvalidParameterValue"
	CodeMissingParameter             Code = "MissingParameter"
	CodeInvalidAttributeName         Code = "InvalidAttributeName"
	CodeInvalidAttributeValue        Code = "InvalidAttributeValue"
	CodeInvalidMessageContents       Code = "InvalidMessageContents"
	CodeQueueDoesNotExist            Code = "QueueDoesNotExist"
	CodeQueueNameExists              Code = "QueueNameExists"
	CodeReceiptHandleIsInvalid       Code = "ReceiptHandleIsInvalid"
	CodeMessageNotInflight           Code = "MessageNotInflight"
	CodePurgeQueueInProgress         Code = "PurgeQueueInProgress"
	CodeTooManyEntriesInBatchRequest Code = "TooManyEntriesInBatchRequest"
	CodeBatchEntryIdsNotDistinct     Code = "BatchEntryIdsNotDistinct"
	CodeEmptyBatchRequest            Code = "EmptyBatchRequest"
	CodeInvalidBatchEntryID          Code = "InvalidBatchEntryId"
	CodeBatchRequestTooLong          Code = "BatchRequestTooLong"
	CodeResourceNotFound             Code = "ResourceNotFoundException"
	CodeUnsupportedOperation         Code = "UnsupportedOperation"
	CodeInternalError                Code = "InternalError"
)

var queryCodes = map[Code]string{
	CodeQueueDoesNotExist:            "AWS.SimpleQueueService.NonExistentQueue",
	CodeQueueNameExists:              "QueueAlreadyExists",
	CodeMessageNotInflight:           "AWS.SimpleQueueService.MessageNotInflight",
	CodePurgeQueueInProgress:         "AWS.SimpleQueueService.PurgeQueueInProgress",
	CodeTooManyEntriesInBatchRequest: "AWS.SimpleQueueService.TooManyEntriesInBatchRequest",
	CodeBatchEntryIdsNotDistinct:     "AWS.SimpleQueueService.BatchEntryIdsNotDistinct",
	CodeEmptyBatchRequest:            "AWS.SimpleQueueService.EmptyBatchRequest",
	CodeInvalidBatchEntryID:          "AWS.SimpleQueueService.InvalidBatchEntryId",
	CodeBatchRequestTooLong:          "AWS.SimpleQueueService.BatchRequestTooLong",
	CodeUnsupportedOperation:         "AWS.SimpleQueueService.UnsupportedOperation",
}

// QueryCode is the code the query protocol (and the x-amzn-query-error header
// of the JSON protocol) carries for c.
func (c Code) QueryCode() string {
	if q, ok := queryCodes[c]; ok {
		return q
	}
	return string(c)
}

// SenderFault reports whether the caller, not the service, is at fault.
func (c Code) SenderFault() bool { return c != CodeInternalError }

// HTTPStatus is the status AWS answers with for c.
func (c Code) HTTPStatus() int {
	if c == CodeInternalError {
		return 500
	}
	return 400
}

// Error is an SQS error with AWS's code and message. Every error the store
// returns for a bad request or a missing resource is an *Error; anything else
// is an internal failure.
type Error struct {
	Code    Code
	Message string
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// Is matches another *Error with the same code, so errors.Is(err,
// &Error{Code: CodeQueueDoesNotExist}) works.
func (e *Error) Is(target error) bool {
	var t *Error
	return errors.As(target, &t) && t.Code == e.Code
}

// ErrorCode returns the code of err, or "" if err is not an *Error.
func ErrorCode(err error) Code {
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return ""
}

func errorf(code Code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

func errNoQueue() *Error {
	return errorf(CodeQueueDoesNotExist, "The specified queue does not exist.")
}

func invalidValue(param string, value any, reason string) *Error {
	return errorf(CodeInvalidParameterValue, "Value %v for parameter %s is invalid. Reason: %s", value, param, reason)
}

func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Code: CodeInternalError, Message: err.Error()}
}
