package cli

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strings"
	"syscall"

	"github.com/aws/smithy-go"
)

// userError is a failure said in the user's terms: what went wrong, what
// to do about it, and the internal error behind it, which only -v prints
// (an SDK's "operation error SQS: ReceiveMessage, https response error
// ..." says little to the person at the terminal).
type userError struct {
	msg   string
	hint  string
	cause error
}

func (e *userError) Error() string {
	if e.hint == "" {
		return e.msg
	}
	return e.msg + " (" + e.hint + ")"
}

func (e *userError) Unwrap() error { return e.cause }

// printError writes an error for the user: its message, its hint, and
// with verbose each error of its internal cause chain.
func printError(w io.Writer, prefix string, e *userError, verbose bool) {
	fmt.Fprintf(w, "%s: %s\n", prefix, e.msg)
	if e.hint != "" {
		fmt.Fprintf(w, "hint: %s\n", e.hint)
	}
	if e.cause == nil {
		return
	}
	if !verbose {
		fmt.Fprintln(w, "(run again with -v for the internal cause)")
		return
	}
	fmt.Fprintln(w, "cause:")
	seen := ""
	for c := e.cause; c != nil; c = errors.Unwrap(c) {
		text := c.Error()
		if text == seen {
			continue
		}
		seen = text
		fmt.Fprintf(w, "  %T: %s\n", c, text)
	}
}

// Error codes of AWS's access refusals (IAM, SQS, S3, DynamoDB, STS, ...).
var accessDeniedCodes = map[string]bool{
	"AccessDenied": true, "AccessDeniedException": true, "UnauthorizedOperation": true,
	"AuthorizationError": true, "UnrecognizedClientException": true, "InvalidClientTokenId": true,
	"ExpiredToken": true, "ExpiredTokenException": true, "SignatureDoesNotMatch": true,
	"InvalidSignatureException": true,
}

// userErrorOf is err in the user's terms: a userError as it is, the
// common failures (nothing listening, AWS credentials missing, access
// denied, stack not found) translated with the way out, and any other
// AWS error shortened to its service, operation and message. What the
// command said before the SDK's words is kept in front ("--wait: ...").
// Another error is already in our own words and is kept as it is.
func userErrorOf(err error) *userError {
	var ue *userError
	if errors.As(err, &ue) {
		return ue
	}
	var op *smithy.OperationError
	hasOp := errors.As(err, &op)
	prefix := ""
	if hasOp {
		prefix = strings.TrimSuffix(err.Error(), op.Error())
	}
	with := func(msg, hint string) *userError { return &userError{msg: prefix + msg, hint: hint, cause: err} }
	var api smithy.APIError
	isAPI := errors.As(err, &api)
	switch {
	case hasOp && missingCredentials(err):
		return with(fmt.Sprintf("no AWS credentials found for %s %s", op.ServiceID, op.OperationName),
			"configure them with `aws configure` or `aws sso login`, or set AWS_PROFILE or AWS_ACCESS_KEY_ID and AWS_SECRET_ACCESS_KEY; without --aws, the commands read the local runtime")
	case isAPI && accessDeniedCodes[api.ErrorCode()]:
		what := "this request"
		if hasOp {
			what = op.ServiceID + " " + op.OperationName
		}
		return with(fmt.Sprintf("AWS refused %s: %s (%s)", what, api.ErrorMessage(), api.ErrorCode()),
			"the credentials in use lack the permission, or have expired: check the IAM policy of the identity `aws sts get-caller-identity` names")
	case isAPI && api.ErrorCode() == "ValidationError" && strings.Contains(api.ErrorMessage(), "does not exist") &&
		hasOp && op.ServiceID == "CloudFormation":
		return with(fmt.Sprintf("stack not found: %s", api.ErrorMessage()),
			"check --stack (or MAILFLOW_STACK) and --region (or AWS_REGION): `aws cloudformation list-stacks` lists the stacks of the region")
	case errors.Is(err, syscall.ECONNREFUSED):
		return connectionRefused(err, op, prefix)
	case isAPI && hasOp:
		return with(fmt.Sprintf("%s %s failed: %s (%s)", op.ServiceID, op.OperationName, api.ErrorMessage(), api.ErrorCode()), "")
	}
	return &userError{msg: err.Error()}
}

// missingCredentials recognises the SDK's failure to find credentials.
// The SDK has no error type for it, only these words of its credential
// chain.
func missingCredentials(err error) bool {
	text := err.Error()
	return strings.Contains(text, "get identity: get credentials:") ||
		strings.Contains(text, "failed to retrieve credentials") ||
		strings.Contains(text, "failed to refresh cached credentials")
}

// connectionRefused names the address nothing listens on; on a loopback
// address it is the local runtime that is not running.
func connectionRefused(err error, op *smithy.OperationError, prefix string) *userError {
	addr := "the endpoint"
	var ne *net.OpError
	if errors.As(err, &ne) && ne.Addr != nil {
		addr = ne.Addr.String()
	}
	what := "the endpoint"
	if op != nil {
		switch op.ServiceID {
		case "SQS":
			what = "the queue"
		case "S3":
			what = "the attachment bucket"
		default:
			what = op.ServiceID
		}
	}
	if ap, perr := netip.ParseAddrPort(addr); perr == nil && ap.Addr().IsLoopback() {
		return &userError{msg: fmt.Sprintf("%scannot reach %s at %s: is `mailflow dev` running?", prefix, strings.Replace(what, "the ", "the local ", 1), addr),
			hint: "start it with `mailflow dev` in another terminal, or give the --endpoint of the one running", cause: err}
	}
	return &userError{msg: fmt.Sprintf("%scannot reach %s at %s: the connection was refused", prefix, what, addr),
		hint: "check the address and that the service runs there", cause: err}
}
