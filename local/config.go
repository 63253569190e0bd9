package local

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/mailflow/mailflow/clock"
	"github.com/mailflow/mailflow/internal/taskkit"
	"github.com/mailflow/mailflow/local/datadir"
	"github.com/mailflow/mailflow/local/gateway"
	"github.com/mailflow/mailflow/local/pipes"
	"github.com/mailflow/mailflow/local/webhooks"
	"github.com/mailflow/mailflow/workflow"
)

// Problem is one invalid setting of a [Config].
type Problem struct {
	Field string // the Config field, e.g. "BatchSize" or "SES.MaxSendRate"
	Value string // the value given, formatted; "" for a missing one
	Rule  string // what the value breaks, e.g. "is outside 1..10000"
	// Named says Rule names the field itself (the contract's limits do).
	Named bool
	// Override is the Config field that accepts the value anyway, when
	// there is one (FieldAllowShortVisibility).
	Override string
}

func (p Problem) Error() string {
	if p.Named {
		return "local: " + p.Rule
	}
	name := p.Field
	if name == "Addr" {
		name = "address"
	}
	var b strings.Builder
	b.WriteString("local: ")
	b.WriteString(name)
	if p.Value != "" {
		b.WriteString(" ")
		b.WriteString(p.Value)
	}
	if !strings.HasPrefix(p.Rule, ":") {
		b.WriteString(" ")
	}
	b.WriteString(p.Rule)
	if p.Override != "" {
		b.WriteString(" (set " + p.Override + " to accept it anyway)")
	}
	return b.String()
}

// Names of the Config fields a [Problem] reports.
const (
	FieldDataDir           = "DataDir"
	FieldAddr              = "Addr"
	FieldMaxReceiveCount   = "MaxReceiveCount"
	FieldVisibilityTimeout = "VisibilityTimeout"
	FieldBatchSize         = "BatchSize"
	FieldBatchWindow       = "BatchWindow"
	FieldPipeConcurrency   = "PipeConcurrency"
	FieldMapConcurrency    = "MapConcurrency"
	FieldSESMaxSendRate    = "SES.MaxSendRate"
	FieldSESMax24HourSend  = "SES.Max24HourSend"
	FieldSenders           = "AllowedSenders"
	FieldDefaultSender     = "DefaultSender"
	FieldAttachmentPrefix  = "AttachmentPrefix"
	FieldAccessKeyID       = "AccessKeyID"
	FieldSecretAccessKey   = "SecretAccessKey"
	FieldCORSOrigins       = "CORSOrigins"
	FieldWebhookURLs       = "Webhooks.URLs"
	FieldWebhookSecret     = "Webhooks.Secret"
	FieldWebhookRetryFor   = "Webhooks.RetryFor"
)

// Names a [Problem] gives that are not settings with a value of their own.
const (
	// FieldAllowShortVisibility is named by a Problem's Override only.
	FieldAllowShortVisibility = "AllowShortVisibility"
	// FieldLease is the lock lease the runtime gives its tasks
	// (taskkit.DefaultLease), not a Config field: a problem with it is one
	// of the build, not of the configuration.
	FieldLease = "Lease"
)

// Validate checks every setting of the configuration and returns all the
// problems found together (errors.Join of [Problem]s), or nil. A zero
// value of a field with a default is the default, not a problem. Start
// calls it; so does the CLI, through [Config.Problems].
func (c Config) Validate() error {
	ps := c.Problems()
	errs := make([]error, len(ps))
	for i, p := range ps {
		errs[i] = p
	}
	return errors.Join(errs...)
}

// Problems lists every invalid setting, in field order. A zero value of a
// field with a default is the default, except for the fields named in
// explicit: a command line, whose flags have defaults of their own, names
// the fields a user set, where zero is what was typed.
func (c Config) Problems(explicit ...string) []Problem {
	var ps []Problem
	add := func(field string, v any, rule string, args ...any) {
		value := ""
		if v != nil {
			value = fmt.Sprint(v)
		}
		ps = append(ps, Problem{Field: field, Value: value, Rule: fmt.Sprintf(rule, args...)})
	}
	given := func(field string, zero bool) bool { return !zero || slices.Contains(explicit, field) }
	if c.DataDir == "" {
		add(FieldDataDir, nil, "must name a directory")
	}
	addr := c.Addr
	if addr == "" {
		addr = DefaultAddr
	}
	if host, _, err := net.SplitHostPort(addr); err != nil {
		add(FieldAddr, strconv.Quote(addr), ": %v", err)
	} else if !IsLoopback(host) && !c.AllowNonLoopback {
		add(FieldAddr, strconv.Quote(addr), "is not a loopback address; the local runtime is meant for one machine (set AllowNonLoopback to serve it anyway, with AccessKeyID and SecretAccessKey so that signatures are verified)")
	}
	ps = append(ps, endpointProblems(c.AccessKeyID, c.SecretAccessKey, c.CORSOrigins)...)
	if given(FieldBatchSize, c.BatchSize == 0) && (c.BatchSize < 1 || c.BatchSize > pipes.MaxBatchSize) {
		add(FieldBatchSize, c.BatchSize, "is outside 1..%d", pipes.MaxBatchSize)
	}
	if c.BatchWindow < 0 || c.BatchWindow > pipes.MaxBatchWindow {
		add(FieldBatchWindow, c.BatchWindow, "is outside 0..%ds", int(pipes.MaxBatchWindow/time.Second))
	}
	if given(FieldPipeConcurrency, c.PipeConcurrency == 0) && (c.PipeConcurrency < 1 || c.PipeConcurrency > pipes.MaxConcurrency) {
		add(FieldPipeConcurrency, c.PipeConcurrency, "is outside 1..%d", pipes.MaxConcurrency)
	}
	if given(FieldMapConcurrency, c.MapConcurrency == 0) && (c.MapConcurrency < 1 || c.MapConcurrency > workflow.MaxMapConcurrency) {
		add(FieldMapConcurrency, c.MapConcurrency, "is outside 1..%d", workflow.MaxMapConcurrency)
	}
	if c.SES.MaxSendRate < 0 {
		add(FieldSESMaxSendRate, c.SES.MaxSendRate, "is negative")
	}
	if c.SES.Max24HourSend < 0 {
		add(FieldSESMax24HourSend, c.SES.Max24HourSend, "is negative")
	}
	visibility := c.VisibilityTimeout
	if !given(FieldVisibilityTimeout, visibility == 0) {
		visibility = DefaultVisibilityTimeout
	}
	longest, longestIs := longestExecution()
	ps = append(ps, timingProblems(visibility, LockLease, longest, longestIs, c.AllowShortVisibility)...)
	if given(FieldMaxReceiveCount, c.MaxReceiveCount == 0) && (c.MaxReceiveCount < 1 || c.MaxReceiveCount > 1000) {
		add(FieldMaxReceiveCount, c.MaxReceiveCount, "is outside 1..1000")
	}
	ps = append(ps, c.historyProblems(explicit)...)
	ps = append(ps, c.Webhooks.problems(given(FieldWebhookRetryFor, c.Webhooks.RetryFor == 0))...)
	if err := c.limits().Validate(); err != nil {
		// The limits name their own fields, which are the Config's.
		errs := []error{err}
		if j, ok := err.(interface{ Unwrap() []error }); ok {
			errs = j.Unwrap()
		}
		for _, e := range errs {
			field := FieldSenders
			for _, f := range []string{FieldAttachmentPrefix, FieldDefaultSender} {
				if strings.Contains(e.Error(), f) {
					field = f
				}
			}
			ps = append(ps, Problem{Field: field, Rule: e.Error(), Named: true})
		}
	}
	return ps
}

// endpointProblems checks the endpoint's credentials and CORS origins.
func endpointProblems(key, secret string, origins []string) []Problem {
	var ps []Problem
	if (key == "") != (secret == "") {
		field, other := FieldSecretAccessKey, "the access key id"
		if key == "" {
			field, other = FieldAccessKeyID, "the secret access key"
		}
		ps = append(ps, Problem{Field: field, Rule: "must be given with " + other + " (both or neither)"})
	}
	if strings.ContainsFunc(key, func(r rune) bool { return r <= ' ' || r == '/' || r == ',' || r >= 0x7f }) {
		ps = append(ps, Problem{Field: FieldAccessKeyID, Value: strconv.Quote(key), Rule: "may not contain spaces, control characters, \"/\" or \",\" (it is part of a SigV4 credential scope)"})
	}
	for _, o := range origins {
		if err := gateway.ValidateOrigin(o); err != nil {
			ps = append(ps, Problem{Field: FieldCORSOrigins, Value: strconv.Quote(o), Rule: strings.TrimPrefix(err.Error(), "CORS origin "+strconv.Quote(o)+" ")})
		}
	}
	return ps
}

// LockLease is the lease the runtime gives the tasks that take a lock
// (Acquire and Send): taskkit's default, as on AWS.
const LockLease = taskkit.DefaultLease

// timingProblems checks the order of the three durations the retry design
// rests on: the source queue's visibility timeout outlasts the lock lease,
// which outlasts the longest execution. A record that reappears sooner
// finds its lease still held by the execution that received it first,
// meets Mail.LockBusy on every receive and, on the last one, is
// dead-lettered while that execution may still fail to send it; a lease
// that ends first lets a second execution take over a mail the first is
// still sending. allowShort accepts the first (faster retries in
// development), never the second.
func timingProblems(visibility, lease, longest time.Duration, longestIs string, allowShort bool) []Problem {
	var ps []Problem
	switch {
	case visibility < time.Second || visibility > 12*time.Hour:
		ps = append(ps, Problem{Field: FieldVisibilityTimeout, Value: visibility.String(), Rule: "is outside 1s..12h"})
	case visibility%time.Second != 0:
		ps = append(ps, Problem{Field: FieldVisibilityTimeout, Value: visibility.String(), Rule: "is not a whole number of seconds (SQS counts it in seconds)"})
	case visibility <= lease && !allowShort:
		ps = append(ps, Problem{Field: FieldVisibilityTimeout, Value: visibility.String(), Override: FieldAllowShortVisibility,
			Rule: fmt.Sprintf("must be longer than the lock lease %s: a record would reappear while an execution still holds its lease, meet %s and could be dead-lettered without being sent", lease, workflow.LockBusy)})
	}
	if lease <= longest {
		ps = append(ps, Problem{Field: FieldLease, Named: true,
			Rule: fmt.Sprintf("the lock lease %s must be longer than the longest execution %s (%s): a second execution could take over a mail the first is still sending", lease, longest, longestIs)})
	}
	return ps
}

// longestExecution is how long an execution may run: the state machine's
// TimeoutSeconds, read from the definition workflow provides (rendering
// substitutes ARNs and tunes the Map state and the retries, never
// TimeoutSeconds), or the Express limit when the definition sets none or
// a longer one. It also says which of the two it is.
func longestExecution() (time.Duration, string) {
	var def struct{ TimeoutSeconds int64 }
	if err := json.Unmarshal(workflow.Definition(), &def); err == nil && def.TimeoutSeconds > 0 {
		if d := time.Duration(def.TimeoutSeconds) * time.Second; d <= ExpressTimeout {
			return d, "the state machine's TimeoutSeconds"
		}
	}
	return ExpressTimeout, "the Express execution limit"
}

// limits are the contract's limits the tasks enforce, defaults applied.
func (c Config) limits() workflow.Limits {
	l := workflow.Limits{AttachmentPrefix: c.AttachmentPrefix, AllowedSenders: c.AllowedSenders, DefaultSender: c.DefaultSender}
	if l.AttachmentPrefix == "" {
		l.AttachmentPrefix = DefaultAttachmentPrefix
	}
	if len(l.AllowedSenders) == 0 {
		l.AllowedSenders = []string{DefaultSenderDomain}
		if l.DefaultSender == "" {
			l.DefaultSender = DefaultSenderAddress
		}
	}
	return l
}

// defaults validates the configuration and fills in the defaults.
func (c *Config) defaults() error {
	if err := c.Validate(); err != nil {
		return err
	}
	set := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	set(&c.Addr, DefaultAddr)
	set(&c.Region, DefaultRegion)
	set(&c.Account, DefaultAccount)
	set(&c.Bucket, DefaultBucket)
	set(&c.SourceQueue, DefaultSourceQueue)
	set(&c.DeadLetterQueue, DefaultDeadLetterQueue)
	set(&c.EventsQueue, DefaultEventsQueue)
	set(&c.EventsDeadLetterQueue, DefaultEventsDeadLetterQueue)
	set(&c.AttachmentPrefix, DefaultAttachmentPrefix)
	set(&c.StagingPrefix, DefaultStagingPrefix)
	if len(c.AllowedSenders) == 0 {
		c.AllowedSenders = []string{DefaultSenderDomain}
		set(&c.DefaultSender, DefaultSenderAddress)
	}
	if c.MaxReceiveCount == 0 {
		c.MaxReceiveCount = DefaultMaxReceiveCount
	}
	if c.VisibilityTimeout == 0 {
		c.VisibilityTimeout = DefaultVisibilityTimeout
	}
	c.Clock = clock.Or(c.Clock)
	if c.Log == nil {
		c.Log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if c.VisibilityTimeout <= LockLease {
		c.Log.Warn("the source queue's visibility timeout is not longer than the lock lease: a record whose execution outlasts it reappears while its lease is held and may be dead-lettered without being sent",
			"visibilityTimeout", c.VisibilityTimeout, "lease", LockLease)
	}
	if host, _, _ := net.SplitHostPort(c.Addr); !IsLoopback(host) && c.SecretAccessKey == "" {
		c.Log.Warn("serving on a non-loopback address without credentials: the SQS and S3 endpoints check only that requests are signed, not with which key; anyone who can reach it can send mail and read attachments", "addr", c.Addr)
	}
	return nil
}

// IsLoopback reports whether host (a name or an IP address) is "localhost"
// or a loopback address.
func IsLoopback(host string) bool {
	ip := net.ParseIP(host)
	return host == "localhost" || (ip != nil && ip.IsLoopback())
}

// WebhookConfig is where the runtime posts the outcome events of its mail
// (see local/webhooks): every event goes to every URL, signed with Secret.
type WebhookConfig struct {
	// URLs are absolute http or https URLs; none: events are only
	// recorded in the data directory's log (`mailflow events`).
	URLs []string
	// Secret signs every request (Mailflow-Signature); at least
	// webhooks.MinSecretBytes bytes, required when URLs are set. Problems
	// give its length, never its value.
	Secret string
	// RetryFor is how long a delivery is retried before it is marked
	// failed (zero: webhooks.DefaultRetryFor, 24 hours).
	RetryFor time.Duration
}

// Bounds of WebhookConfig.RetryFor.
const (
	MinWebhookRetryFor = time.Second
	MaxWebhookRetryFor = 30 * 24 * time.Hour
)

func (w WebhookConfig) problems(retryGiven bool) []Problem {
	var ps []Problem
	seen := map[string]bool{}
	for _, u := range w.URLs {
		shown := strconv.Quote(webhooks.Redact(u))
		if rule := webhooks.URLRule(u); rule != "" {
			ps = append(ps, Problem{Field: FieldWebhookURLs, Value: shown, Rule: rule})
		} else if seen[u] {
			ps = append(ps, Problem{Field: FieldWebhookURLs, Value: shown, Rule: "is given twice"})
		}
		seen[u] = true
	}
	if len(w.URLs) > 0 && len(w.Secret) < webhooks.MinSecretBytes {
		ps = append(ps, Problem{Field: FieldWebhookSecret, Value: fmt.Sprintf("(%d bytes, not shown)", len(w.Secret)),
			Rule: fmt.Sprintf("must have at least %d bytes when a webhook URL is set: receivers verify every event with it", webhooks.MinSecretBytes)})
	}
	if retryGiven && (w.RetryFor < MinWebhookRetryFor || w.RetryFor > MaxWebhookRetryFor) {
		ps = append(ps, Problem{Field: FieldWebhookRetryFor, Value: w.RetryFor.String(), Rule: fmt.Sprintf("is outside %v..%v", MinWebhookRetryFor, MaxWebhookRetryFor)})
	}
	return ps
}

// String describes the configuration without the secret.
func (w WebhookConfig) String() string {
	urls := make([]string, len(w.URLs))
	for i, u := range w.URLs {
		urls[i] = webhooks.Redact(u)
	}
	return fmt.Sprintf("{URLs:%v Secret:(%d bytes, not shown) RetryFor:%v}", urls, len(w.Secret), w.RetryFor)
}

// openOutcomes opens the data directory's outcome log and the webhook
// dispatcher over it, on the runtime's clock and log (c with its defaults
// applied). The runtime passes the dispatcher to the event recording as
// its notify.Publisher, starts it with its own context once the stores are
// open, and at shutdown closes the dispatcher, then the log.
func openOutcomes(dir datadir.Dir, c Config) (*webhooks.Log, *webhooks.Dispatcher, error) {
	log, err := dir.OpenOutcomes(c.Clock)
	if err != nil {
		return nil, nil, err
	}
	d, err := webhooks.New(log, webhooks.Config{
		URLs: c.Webhooks.URLs, Secret: []byte(c.Webhooks.Secret), RetryFor: c.Webhooks.RetryFor,
		Clock: c.Clock, Log: c.Log,
	})
	if err != nil {
		log.Close()
		return nil, nil, err
	}
	return log, d, nil
}
