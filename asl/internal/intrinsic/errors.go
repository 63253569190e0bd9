package intrinsic

import "fmt"

// Error names.
const (
	// ErrRuntime is the error name of a failed evaluation, as AWS reports
	// failures of payload templates.
	ErrRuntime = "States.Runtime"
	// ErrValidation marks an expression AWS rejects when the state machine
	// is created (CreateStateMachine answers InvalidDefinition).
	ErrValidation = "SCHEMA_VALIDATION_FAILED"
)

// CauseFormat is how an evaluation error names the whole expression before
// its detail; Eval builds its causes with it, and a caller may wrap resolver
// failures the same way.
const CauseFormat = "The function '%s' had the following error: %s"

// Error is a parse or evaluation failure with AWS's error name and cause.
// For an evaluation failure, Offset is the byte offset in the expression of
// the call that failed (0 for the outermost call).
type Error struct {
	Name   string
	Cause  string
	Offset int
}

func (e *Error) Error() string { return e.Name + ": " + e.Cause }

// ValidationMessage is AWS's diagnostic for an invalid "key.$" value; field
// is the key as written, e.g. "parsed.$".
func ValidationMessage(field string) string {
	return fmt.Sprintf("The value for the field '%s' must be a valid JSONPath or a valid intrinsic function call", field)
}

func parseError(format string, a ...any) *Error {
	return &Error{Name: ErrValidation, Cause: fmt.Sprintf(format, a...)}
}

// evalError carries the detail of a failed call until Eval adds the
// expression text.
type evalError struct {
	detail string
	offset int  // of the failing call, once placed
	placed bool // the innermost call has set offset
}

func (e *evalError) Error() string { return e.detail }

func fail(format string, a ...any) error {
	return &evalError{detail: fmt.Sprintf(format, a...)}
}
