// Package taskkit holds what the four mail tasks share: reading and
// validating their configuration from environment variables (every error
// names the variable), the content hash that guards a mailId, the staging
// key of a built message, and the per-invocation structured logger.
package taskkit

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/lambdacontext"

	"github.com/mailflow/mailflow/lock"
	"github.com/mailflow/mailflow/store"
	"github.com/mailflow/mailflow/workflow"
)

// Environment variable names.
const (
	EnvLockTable        = "LOCK_TABLE"
	EnvBucket           = "ATTACHMENT_BUCKET"
	EnvAttachmentPrefix = "ATTACHMENT_PREFIX"
	EnvStagingPrefix    = "STAGING_PREFIX"
	// EnvInlineMaxBytes bounds the built messages FetchAttachments hands
	// on inline rather than staged (0: stage every message).
	EnvInlineMaxBytes   = "INLINE_MAX_BYTES"
	EnvAllowedSenders   = "ALLOWED_SENDERS"
	EnvDefaultSender    = "DEFAULT_SENDER"
	EnvMaxBodyBytes     = "MAX_BODY_BYTES"
	EnvLease            = "LOCK_LEASE"
	EnvRetention        = "LOCK_RETENTION"
	EnvMaxMessageBytes  = "MAX_MESSAGE_BYTES"
	EnvConfigurationSet = "SES_CONFIGURATION_SET"
	EnvS3PathStyle      = "S3_USE_PATH_STYLE"
	// EnvPacing is "on" (default) or "off": whether Send takes a token
	// from the shared pacer before each SES call.
	EnvPacing = "SES_PACING"
	// EnvMaxSendRate fixes the pacer's rate (recipients per second);
	// unset, the rate is SES GetAccount's MaxSendRate.
	EnvMaxSendRate = "SES_MAX_SEND_RATE"
	// EnvPacingMaxWait is how long a send may wait for a token that is on
	// its way before it raises Mail.Throttled (default DefaultPacingMaxWait).
	EnvPacingMaxWait = "SES_PACING_MAX_WAIT"
	// EnvDeliveryTable names the DynamoDB table of per-mail delivery records.
	EnvDeliveryTable = "DELIVERY_TABLE"
	// EnvSuppressionTable names the DynamoDB table of suppressed addresses.
	EnvSuppressionTable = "SUPPRESSION_TABLE"
	// EnvOutcomeBus is the name of the EventBridge bus outcome events go to.
	EnvOutcomeBus = "OUTCOME_BUS"
	// EnvEventsDeadLetterQueue is the URL of the events queue's dead-letter queue.
	EnvEventsDeadLetterQueue = "EVENTS_DLQ_URL"
	// EnvEventsQueue is the URL of the events queue AcquireLock tells of
	// each mail it accepts; unset, nobody is told.
	EnvEventsQueue = "EVENTS_QUEUE_URL"
)

// DefaultPacingMaxWait lets a send wait up to a second for its token (more
// after refusals, see package pacer): in the burst benchmark a second kept
// the drain within 6 % of N/R where 250 ms lost 20 % to idle tokens while
// every send backed off.
const DefaultPacingMaxWait = time.Second

// Pacing is the Send task's pacing configuration.
type Pacing struct {
	Enabled bool
	Rate    float64 // 0: from SES GetAccount
	MaxWait time.Duration
}

// PacingFromEnv reads SES_PACING, SES_MAX_SEND_RATE and SES_PACING_MAX_WAIT.
func PacingFromEnv(env Env) (Pacing, error) {
	var p Problems
	c := Pacing{Enabled: true, MaxWait: Duration(env, &p, EnvPacingMaxWait, DefaultPacingMaxWait, 0)}
	switch v := strings.ToLower(strings.TrimSpace(env(EnvPacing))); v {
	case "", "on":
	case "off":
		c.Enabled = false
	default:
		p.Add(EnvPacing, "%q must be on or off", v)
	}
	if v := strings.TrimSpace(env(EnvMaxSendRate)); v != "" {
		r, err := strconv.ParseFloat(v, 64)
		if err != nil || !(r > 0) || r > 1e6 {
			p.Add(EnvMaxSendRate, "%q must be a positive number of mails per second", v)
		} else {
			c.Rate = r
		}
	}
	if c.MaxWait > 10*time.Second {
		p.Add(EnvPacingMaxWait, "%s is longer than 10s; a send should not hold its function that long", c.MaxWait)
	}
	return c, p.Err()
}

// Defaults and bounds.
const (
	// DefaultLease outlasts the longest Express execution (5 minutes).
	DefaultLease = 6 * time.Minute
	// MinLease is the shortest lease longer than the longest Express
	// execution (5 minutes), at the deployment configuration's one-second
	// resolution (lock.leaseSeconds > 300): a lease that is not longer could
	// run out while its execution is still sending.
	MinLease = 5*time.Minute + time.Second
	// DefaultRetention is how long a SENT record deduplicates its mailId.
	DefaultRetention = 7 * 24 * time.Hour
	// MinRetention keeps the dedup window longer than any redelivery.
	MinRetention = time.Hour
)

// Env reads one variable; os.Getenv in production, a map in tests.
type Env func(string) string

// Problems collects configuration errors, each naming its variable.
type Problems []error

// Add records a problem with the variable name.
func (p *Problems) Add(name, format string, args ...any) {
	*p = append(*p, fmt.Errorf("%s: %s", name, fmt.Sprintf(format, args...)))
}

// Err joins the problems, or nil.
func (p Problems) Err() error {
	if len(p) == 0 {
		return nil
	}
	return errors.Join(p...)
}

// Required returns the variable or records that it is missing.
func Required(env Env, p *Problems, name string) string {
	v := strings.TrimSpace(env(name))
	if v == "" {
		p.Add(name, "required")
	}
	return v
}

// Prefix reads a key prefix: required, ending in "/", a valid key itself.
func Prefix(env Env, p *Problems, name string) string {
	v := Required(env, p, name)
	if v == "" {
		return v
	}
	if !strings.HasSuffix(v, "/") {
		p.Add(name, "%q must end with /", v)
	} else if err := store.ValidateKey(strings.TrimSuffix(v, "/")); err != nil {
		p.Add(name, "%q is not a valid key prefix: %v", v, err)
	}
	return v
}

// Duration reads a Go duration with a default and a lower bound.
func Duration(env Env, p *Problems, name string, def, min time.Duration) time.Duration {
	v := strings.TrimSpace(env(name))
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	if err != nil {
		p.Add(name, "%q is not a duration such as 6m or 168h", v)
		return def
	}
	if d < min {
		p.Add(name, "%s is shorter than the minimum %s", d, min)
	}
	return d
}

// Int reads a positive integer with a default and an upper bound.
func Int(env Env, p *Problems, name string, def, max int64) int64 {
	v := strings.TrimSpace(env(name))
	if v == "" {
		return def
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n <= 0 {
		p.Add(name, "%q is not a positive integer", v)
		return def
	}
	if n > max {
		p.Add(name, "%d is more than the maximum %d", n, max)
	}
	return n
}

// Bool reads true/false (empty = false).
func Bool(env Env, p *Problems, name string) bool {
	v := strings.TrimSpace(env(name))
	if v == "" {
		return false
	}
	b, err := strconv.ParseBool(v)
	if err != nil {
		p.Add(name, "%q is not true or false", v)
	}
	return b
}

// Bucket reads ATTACHMENT_BUCKET: required, an S3 bucket name.
func Bucket(env Env, p *Problems) string {
	b := Required(env, p, EnvBucket)
	if b != "" && !bucketPattern.MatchString(b) {
		p.Add(EnvBucket, "%q is not an S3 bucket name", b)
	}
	return b
}

var bucketPattern = regexp.MustCompile(`^[a-z0-9][a-z0-9.-]{1,61}[a-z0-9]$`)

// Limits reads the message contract's limits: ATTACHMENT_PREFIX,
// ALLOWED_SENDERS (comma-separated addresses or domains), DEFAULT_SENDER
// and MAX_BODY_BYTES.
func Limits(env Env, p *Problems) workflow.Limits {
	l := workflow.Limits{AttachmentPrefix: Prefix(env, p, EnvAttachmentPrefix)}
	if senders := Required(env, p, EnvAllowedSenders); senders != "" {
		for id := range strings.SplitSeq(senders, ",") {
			id = strings.TrimSpace(id)
			if id == "" {
				continue
			}
			if (workflow.Limits{AttachmentPrefix: "x/", AllowedSenders: []string{id}}).Validate() != nil {
				p.Add(EnvAllowedSenders, "%q is neither an e-mail address nor a domain", id)
				continue
			}
			l.AllowedSenders = append(l.AllowedSenders, id)
		}
	}
	l.DefaultSender = strings.TrimSpace(env(EnvDefaultSender))
	if l.DefaultSender != "" {
		check := workflow.Limits{AttachmentPrefix: "x/", AllowedSenders: l.AllowedSenders, DefaultSender: l.DefaultSender}
		if err := check.Validate(); err != nil {
			p.Add(EnvDefaultSender, "%q is not an allowed sender address (see %s)", l.DefaultSender, EnvAllowedSenders)
		}
	}
	l.MaxBodyBytes = int(Int(env, p, EnvMaxBodyBytes, workflow.DefaultMaxBodyBytes, 1<<20))
	return l
}

// ContentHash identifies a message's content: SHA-256 over its canonical
// JSON encoding (struct field order, sorted header names), so the same mail
// re-encoded with other whitespace or key order hashes the same.
func ContentHash(m *workflow.Message) string {
	b, err := json.Marshal(m)
	if err != nil {
		panic(fmt.Sprintf("taskkit: encoding a parsed message: %v", err)) // cannot happen: plain strings and slices
	}
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// StagedKey is where an execution attempt stores the built message:
// <prefix><hash of mailId>/<hash of owner>.eml. Hashes keep keys short and
// free of any character a mailId or execution ARN may hold; a retried
// attempt overwrites its own object.
func StagedKey(prefix, mailID, owner string) string {
	m := sha256.Sum256([]byte(mailID))
	o := sha256.Sum256([]byte(owner))
	return prefix + hex.EncodeToString(m[:16]) + "/" + hex.EncodeToString(o[:8]) + ".eml"
}

// ExecutionID is the execution part of an owner, which the state machine
// builds as "<execution ARN>/<messageId>".
func ExecutionID(owner, messageID string) string {
	if e, ok := strings.CutSuffix(owner, "/"+messageID); ok && messageID != "" {
		return e
	}
	return owner
}

// MaxOwnerLength bounds the owner string (an execution ARN plus a message id).
const MaxOwnerLength = 2048

// CheckOwner validates the owner input.
func CheckOwner(owner string) error {
	switch {
	case owner == "":
		return workflow.Errorf(workflow.InvalidMessage, "owner: required")
	case len(owner) > MaxOwnerLength:
		return workflow.Errorf(workflow.InvalidMessage, "owner: %d bytes, more than %d", len(owner), MaxOwnerLength)
	case strings.ContainsFunc(owner, func(r rune) bool { return r < 0x20 }):
		return workflow.Errorf(workflow.InvalidMessage, "owner: control character")
	}
	return nil
}

// Result line keys a reader of the task log groups relies on (package
// inspect reads them).
const (
	// KeyExecution is an Express execution named by what follows its state
	// machine's ARN ("<name>:<id>"): the reader knows the state machine, so
	// the line need not repeat the region, account and state machine name.
	KeyExecution = "exec"
	// KeyExecutionID is any other execution, named by its whole ARN (and
	// every execution in lines written before KeyExecution).
	KeyExecutionID = "executionId"
)

// ShortExecution is what follows the state machine's part in an Express
// execution ARN (arn:PARTITION:states:REGION:ACCOUNT:express:STATE_MACHINE:
// NAME:ID), that is "NAME:ID"; ok is false for anything else.
func ShortExecution(arn string) (short string, ok bool) {
	parts := strings.SplitN(arn, ":", 8)
	if len(parts) < 8 || parts[0] != "arn" || parts[2] != "states" || parts[5] != "express" || parts[6] == "" || parts[7] == "" {
		return "", false
	}
	return parts[7], true
}

// Logger returns log with the invocation's identifiers: task, messageId,
// the execution (KeyExecution, or KeyExecutionID when it is not an Express
// execution ARN), mailId (when known) and the Lambda request id (in
// Lambda). In Lambda it logs through [LambdaForm].
func Logger(ctx context.Context, log *slog.Logger, task, messageID, owner, mailID string) *slog.Logger {
	if log == nil {
		log = slog.Default()
	}
	attrs := []any{slog.String("task", task), slog.String("messageId", messageID)}
	exec := ExecutionID(owner, messageID)
	if short, ok := ShortExecution(exec); ok {
		attrs = append(attrs, slog.String(KeyExecution, short))
	} else {
		attrs = append(attrs, slog.String(KeyExecutionID, exec))
	}
	if mailID != "" {
		attrs = append(attrs, slog.String("mailId", mailID))
	}
	if lc, ok := lambdacontext.FromContext(ctx); ok {
		attrs = append(attrs, slog.String("requestId", lc.AwsRequestID))
		log = slog.New(LambdaForm(log.Handler()))
	}
	return log.With(nonEmpty(attrs)...)
}

// LambdaForm is h writing lines as the tasks do in Lambda: without the
// "time" attribute, since CloudWatch Logs stamps every event with the time
// it was written (about 33 bytes of each line, paid for at ingestion).
// Local logs keep it: nothing else stamps them.
func LambdaForm(h slog.Handler) slog.Handler {
	if _, ok := h.(untimed); ok {
		return h
	}
	return untimed{h}
}

type untimed struct{ slog.Handler }

func (h untimed) Handle(ctx context.Context, r slog.Record) error {
	r.Time = time.Time{} // the built-in handlers leave out a zero time
	return h.Handler.Handle(ctx, r)
}

func (h untimed) WithAttrs(attrs []slog.Attr) slog.Handler {
	return untimed{h.Handler.WithAttrs(attrs)}
}

func (h untimed) WithGroup(name string) slog.Handler { return untimed{h.Handler.WithGroup(name)} }

// LogResult logs the end of an invocation: info on success, warn with the
// error name and cause on failure. The cause does not repeat the name its
// text starts with (the state machine's cause does not either). Attributes
// with an empty value (a string "", a zero number, false) are left out:
// their absence reads the same and costs nothing.
func LogResult(log *slog.Logger, err error, attrs ...any) {
	if err == nil {
		log.Info("done", nonEmpty(attrs)...)
		return
	}
	name := string(workflow.NameOf(err))
	cause := err.Error()
	if name != "" {
		cause = strings.TrimPrefix(cause, name+": ")
	}
	log.Warn("failed", append(nonEmpty(attrs), slog.String("error", name), slog.String("cause", cause))...)
}

// nonEmpty drops the slog.Attr arguments whose value is empty; key-value
// pairs are kept as they are.
func nonEmpty(args []any) []any {
	out := make([]any, 0, len(args))
	for i := 0; i < len(args); i++ {
		switch a := args[i].(type) {
		case string:
			out = append(out, a)
			if i+1 < len(args) {
				i++
				out = append(out, args[i])
			}
		case slog.Attr:
			if !emptyValue(a.Value) {
				out = append(out, a)
			}
		default:
			out = append(out, a)
		}
	}
	return out
}

func emptyValue(v slog.Value) bool {
	switch v.Kind() {
	case slog.KindString:
		return v.String() == ""
	case slog.KindInt64:
		return v.Int64() == 0
	case slog.KindUint64:
		return v.Uint64() == 0
	case slog.KindFloat64:
		return v.Float64() == 0
	case slog.KindBool:
		return !v.Bool()
	}
	return false
}

// OutcomeUnknownError is the Mail.OutcomeUnknown failure for a lock record
// whose send attempt has no recorded answer: it names the attempt and the
// one way to send the mail again. cause, when set, is why the answer is
// missing.
func OutcomeUnknownError(rec lock.Record, cause error) error {
	why := "its answer was never recorded"
	if cause != nil {
		why = "it got no answer (" + cause.Error() + ")"
	}
	return workflow.Errorf(workflow.OutcomeUnknown,
		"a send of %q started at %s (by %s) and %s: the mail may have been sent, so it is not sent again automatically; after checking the recipient's mailbox or the provider's logs, `mailflow replay EXECUTION --force` sends it again",
		rec.MailID, rec.AttemptedAt.UTC().Format(time.RFC3339Nano), rec.Owner, why)
}

// maxClaimedMailID bounds the mail id read from a message that failed
// validation: it is the producer's claim, logged only to find the mail.
const maxClaimedMailID = 256

// ClaimedMailID is the mailId a message that failed validation says it
// has, when its body is a JSON object with a string mailId of printable
// characters and at most 256 bytes; "" otherwise. Logs of a refused mail
// then still name the mail, without trusting anything else in it.
func ClaimedMailID(body string) string {
	var claim struct {
		MailID json.RawMessage `json:"mailId"`
	}
	if json.Unmarshal([]byte(body), &claim) != nil {
		return ""
	}
	var id string
	if json.Unmarshal(claim.MailID, &id) != nil || id == "" || len(id) > maxClaimedMailID || !utf8.ValidString(id) {
		return ""
	}
	for _, r := range id {
		if !unicode.IsPrint(r) {
			return ""
		}
	}
	return id
}
