package asl

import (
	"errors"
	"fmt"
)

// Error names defined by the Amazon States Language, all in one place.
const (
	ErrAll                    = "States.ALL"
	ErrTaskFailed             = "States.TaskFailed"
	ErrTimeout                = "States.Timeout"
	ErrHeartbeatTimeout       = "States.HeartbeatTimeout"
	ErrRuntime                = "States.Runtime"
	ErrDataLimitExceeded      = "States.DataLimitExceeded"
	ErrResultPathMatchFailure = "States.ResultPathMatchFailure"
	ErrParameterPathFailure   = "States.ParameterPathFailure"
	ErrIntrinsicFailure       = "States.IntrinsicFailure"
	ErrNoChoiceMatched        = "States.NoChoiceMatched"
	ErrBranchFailed           = "States.BranchFailed"
	ErrPermissions            = "States.Permissions"
	ErrItemReaderFailed       = "States.ItemReaderFailed"
	ErrResultWriterFailed     = "States.ResultWriterFailed"
	ErrExceedToleratedFailure = "States.ExceedToleratedFailureThreshold"
	ErrQueryEvaluationError   = "States.QueryEvaluationError"
)

// Lambda error names reported by the Lambda integrations.
const (
	ErrLambdaServiceException  = "Lambda.ServiceException"
	ErrLambdaResourceNotFound  = "Lambda.ResourceNotFoundException"
	ErrLambdaUnknown           = "Lambda.Unknown"
	ErrLambdaAWSLambdaExcept   = "Lambda.AWSLambdaException"
	ErrLambdaSdkClientExcept   = "Lambda.SdkClientException"
	ErrLambdaTooManyRequests   = "Lambda.TooManyRequestsException"
	ErrLambdaClientExecTimeout = "Lambda.ClientExecutionTimeoutException"
)

// Error is a named ASL error: what a Fail state raises, what a task
// handler returns, what Retry and Catch match on. HasCause distinguishes an
// empty cause from an absent one (AWS leaves the field out).
type Error struct {
	Name     string
	Cause    string
	HasName  bool
	HasCause bool
	// terminal errors are matched by their own name only, never by
	// States.ALL (AWS: an oversized state output).
	terminal bool
	// fromTask marks errors raised by a task resource, which
	// States.TaskFailed matches.
	fromTask bool
	// Pos says where the interpreter raised the error when it raised it
	// evaluating a field of the definition; nil for other errors (task
	// failures, Fail states, limits). It is data only: Error() and Cause
	// do not include it. (It comes after the flags so that an Error
	// still fits the 48-byte size class.)
	Pos *Position
}

// Position locates a failure in a state machine definition.
type Position struct {
	State string // the state's name
	// Field is the definition field: "Parameters", "ResultSelector",
	// "InputPath", "ItemsPath", "Variable", "Arguments", "Output",
	// "Condition", ...
	Field string
	// Expr is the expression as written, when the failure is in one: a
	// JSONPath, an intrinsic function call, or the JSONata text between
	// "{%" and "%}", trimmed.
	Expr string
	// Offset is the byte offset in Expr of the JSONPath step or intrinsic
	// call that failed; -1 when the failure is not narrower than Expr
	// (JSONata evaluation errors, a result of the wrong type) or there is
	// no Expr.
	Offset int
}

// NewError returns an error with a name and a cause.
func NewError(name, cause string) *Error {
	return &Error{Name: name, Cause: cause, HasName: true, HasCause: true}
}

func (e *Error) Error() string {
	if e.HasCause {
		return e.Name + ": " + e.Cause
	}
	return e.Name
}

// at records the position of an error the interpreter raises.
func (e *Error) at(state, field, expr string, offset int) *Error {
	e.Pos = &Position{State: state, Field: field, Expr: expr, Offset: offset}
	return e
}

// AsError converts any error into an *Error; errors that are not *Error
// become States.TaskFailed with the error text as cause.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return NewError(ErrTaskFailed, err.Error())
}

// uncatchable reports errors that Retry and Catch never see: AWS fails the
// execution directly on a runtime error of the interpreter.
func (e *Error) uncatchable() bool {
	return e.Name == ErrRuntime
}

// stateErrPrefix starts the cause AWS gives runtime errors: it names the
// state and the id of its entered event.
func stateErrPrefix(state string, enteredID int64) string {
	return fmt.Sprintf("An error occurred while executing the state '%s' (entered at the event id #%d). ", state, enteredID)
}
