package jsonata

import (
	"errors"
	"fmt"
	"strings"

	jsonata "github.com/blues/jsonata-go"
	"github.com/blues/jsonata-go/jparse"
)

// SyntaxError is a compile failure.
type SyntaxError struct {
	msg string
	src string // the expression as given to Compile
}

func (e *SyntaxError) Error() string { return e.msg }

// EvalError is an evaluation failure with the reference implementation's
// error code and message.
type EvalError struct {
	Code string
	Msg  string
}

func (e *EvalError) Error() string {
	if e.Code == "" {
		return e.Msg
	}
	return e.Code + ": " + e.Msg
}

func syntaxMessage(err error) string {
	var pe *jparse.Error
	if errors.As(err, &pe) {
		return fmt.Sprintf("%s (position %d)", pe.Error(), pe.Position)
	}
	return err.Error()
}

// unsupportedOperator names the JSONata 2 operators the base library's
// parser does not know: @ (context binding), # (position binding) and %
// (parent).
func unsupportedOperator(err error, msg string) string {
	var pe *jparse.Error
	if !errors.As(err, &pe) {
		return msg
	}
	for _, op := range []struct{ tok, what string }{{"@", "context variable binding"}, {"#", "positional variable binding"}, {"%", "parent"}} {
		if strings.HasPrefix(pe.Token, op.tok) {
			return fmt.Sprintf("the %s operator '%s' is not supported by this interpreter (position %d)", op.what, op.tok, pe.Position)
		}
	}
	return msg
}

// toEvalError maps the base library's errors to JSONata's codes and
// messages.
func toEvalError(err error) *EvalError {
	var ee *EvalError
	if errors.As(err, &ee) {
		return ee
	}
	var je *jsonata.EvalError
	if errors.As(err, &je) {
		return mapEvalError(*je)
	}
	var jv jsonata.EvalError
	if errors.As(err, &jv) {
		return mapEvalError(jv)
	}
	var ac *jsonata.ArgCountError
	if errors.As(err, &ac) {
		return &EvalError{Code: "T0410", Msg: fmt.Sprintf("Argument %d of function \"%s\" does not match function signature", ac.Received, ac.Func)}
	}
	var at *jsonata.ArgTypeError
	if errors.As(err, &at) {
		return &EvalError{Code: "T0410", Msg: fmt.Sprintf("Argument %d of function \"%s\" does not match function signature", at.Which, at.Func)}
	}
	msg := err.Error()
	switch {
	case strings.HasPrefix(msg, "number of matching values returned by single() must be 1, got: 0"):
		return &EvalError{Code: "D3139", Msg: "The $single() function expected exactly 1 matching result.  Instead it matched 0."}
	case strings.HasPrefix(msg, "number of matching values returned by single()"):
		return &EvalError{Code: "D3138", Msg: "The $single() function expected exactly 1 matching result.  Instead it matched more."}
	case strings.HasPrefix(msg, "unable to cast ") && strings.HasSuffix(msg, " to a number"):
		return &EvalError{Code: "D3030", Msg: "Unable to cast value to a number: " + strings.TrimSuffix(strings.TrimPrefix(msg, "unable to cast "), " to a number")}
	case strings.HasPrefix(msg, "the sqrt function cannot be applied to a negative number"):
		return &EvalError{Code: "D3060", Msg: "The sqrt function cannot be applied to a negative number"}
	case strings.HasPrefix(msg, "the power function has resulted in a value that cannot be represented"):
		return &EvalError{Code: "D3061", Msg: "The power function has resulted in a value that cannot be represented as a JSON number"}
	case strings.Contains(msg, "cannot convert NaN/Infinity to string"):
		return &EvalError{Code: "D3001", Msg: "Attempting to invoke string function on Infinity or NaN"}
	}
	return &EvalError{Code: "D3137", Msg: msg}
}

func mapEvalError(e jsonata.EvalError) *EvalError {
	switch e.Type {
	case jsonata.ErrNonCallable, jsonata.ErrNonCallableApply:
		return &EvalError{Code: "T1006", Msg: "Attempted to invoke a non-function"}
	case jsonata.ErrNonCallablePartial:
		return &EvalError{Code: "T1007", Msg: "Attempted to partially apply a non-function"}
	case jsonata.ErrNonNumberLHS:
		return &EvalError{Code: "T2001", Msg: fmt.Sprintf("The left side of the \"%s\" operator must evaluate to a number", e.Value)}
	case jsonata.ErrNonNumberRHS:
		return &EvalError{Code: "T2002", Msg: fmt.Sprintf("The right side of the \"%s\" operator must evaluate to a number", e.Value)}
	case jsonata.ErrNonIntegerLHS:
		return &EvalError{Code: "T2003", Msg: "The left side of the range operator (..) must evaluate to an integer"}
	case jsonata.ErrNonIntegerRHS:
		return &EvalError{Code: "T2004", Msg: "The right side of the range operator (..) must evaluate to an integer"}
	case jsonata.ErrNonComparableLHS, jsonata.ErrNonComparableRHS:
		return &EvalError{Code: "T2010", Msg: fmt.Sprintf("The expressions either side of operator \"%s\" must evaluate to numeric or string values", e.Value)}
	case jsonata.ErrTypeMismatch:
		return &EvalError{Code: "T2009", Msg: fmt.Sprintf("The values either side of operator \"%s\" must be of the same data type", e.Value)}
	case jsonata.ErrNumberInf, jsonata.ErrNumberNaN:
		return &EvalError{Code: "D1001", Msg: "Number out of range"}
	case jsonata.ErrMaxRangeItems:
		return &EvalError{Code: "D2014", Msg: "The size of the sequence allocated by the range operator (..) must not exceed 1e7."}
	case jsonata.ErrIllegalKey:
		return &EvalError{Code: "T1003", Msg: "Key in object structure must evaluate to a string"}
	case jsonata.ErrDuplicateKey:
		return &EvalError{Code: "D1009", Msg: fmt.Sprintf("Multiple key definitions evaluate to same key: %s", e.Value)}
	case jsonata.ErrClone:
		return &EvalError{Code: "T2013", Msg: "The transform expression clones the input object using the $clone() function.  This has been overridden in the current scope by a non-function."}
	case jsonata.ErrIllegalUpdate:
		return &EvalError{Code: "T2011", Msg: "The insert/update clause of the transform expression must evaluate to an object"}
	case jsonata.ErrIllegalDelete:
		return &EvalError{Code: "T2012", Msg: "The delete clause of the transform expression must evaluate to a string or array of strings"}
	case jsonata.ErrNonSortable, jsonata.ErrSortMismatch:
		return &EvalError{Code: "T2008", Msg: "The expressions within an order-by clause must evaluate to numeric or string values"}
	}
	return &EvalError{Code: "D3137", Msg: e.Error()}
}
