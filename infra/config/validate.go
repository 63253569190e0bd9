package config

import (
	"encoding/json"
	"net/mail"
	"regexp"
	"slices"
	"strconv"
	"strings"

	"github.com/mailflow/mailflow/workflow"
)

// Limits the rules below enforce. Each comes from an AWS quota or from the
// lock's correctness argument (see the package doc).
const (
	// ExpressMaxSeconds is the longest an Express execution may run.
	ExpressMaxSeconds = 300
	// PipePayloadBytes is the largest batch a pipe hands to a Step Functions
	// target (256 KiB).
	PipePayloadBytes = 256 * 1024
	// RecordEnvelopeBytes is what a pipe adds around each SQS message in
	// the execution input: the record's keys, message id (36), receipt
	// handle (up to 1024), system attributes (with a SenderId of an assumed
	// role and an AWSTraceHeader, about 360), MD5 (32), source ARN and
	// region (about 140), and the JSON shape of up to ten message attributes
	// (about 80 each). The names and values of message attributes count
	// towards SQS's message size instead, and grow with it. The largest such
	// envelope is 2,506 bytes (TestRecordEnvelopeBound).
	RecordEnvelopeBytes = 3 * 1024
	// DeadLetterRetentionDays is the dead-letter queue's retention, the
	// SQS maximum. A standard queue keeps a message's first enqueue time
	// when it moves to the DLQ, so no message lives longer than this.
	DeadLetterRetentionDays = 14
	// MaxThrottleWaitSeconds bounds MaxAttempts × MaxDelaySeconds of the
	// throttle retry budget, so the waits of one record leave most of the
	// execution's time (290 s in the definition) to the sends themselves.
	MaxThrottleWaitSeconds = 120
)

var (
	stackNamePattern   = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9-]{0,127}$`)
	accountPattern     = regexp.MustCompile(`^[0-9]{12}$`)
	regionPattern      = regexp.MustCompile(`^[a-z]{2}(-[a-z]+)+-[0-9]+$`)
	domainLabel        = regexp.MustCompile(`^[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?$`)
	configSetPattern   = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)
	prefixPattern      = regexp.MustCompile(`^[A-Za-z0-9!_.*'()-]+(/[A-Za-z0-9!_.*'()-]+)*/$`)
	slackWorkspaceExpr = regexp.MustCompile(`^[0-9A-Z]{1,255}$`)
	slackChannelExpr   = regexp.MustCompile(`^[A-Za-z0-9]{1,256}$`)

	pipeLogLevels     = []string{"OFF", "ERROR", "INFO", "TRACE"}
	workflowLogLevels = []string{"ALL", "ERROR", "FATAL", "OFF"}
	lambdaLogLevels   = []string{"TRACE", "DEBUG", "INFO", "WARN", "ERROR", "FATAL"}
	systemLogLevels   = []string{"DEBUG", "INFO", "WARN"}
	// logRetentionDays are the values CloudWatch Logs accepts.
	logRetentionDays = []int{1, 3, 5, 7, 14, 30, 60, 90, 120, 150, 180, 365, 400, 545, 731, 1096, 1827, 2192, 2557, 2922, 3288, 3653}
)

// Validate checks every rule and returns an [*Error] listing all
// violations, or nil.
func (c *Config) Validate() error {
	var ps problems
	if !stackNamePattern.MatchString(c.StackName) {
		ps.add("stackName", "must start with a letter and contain only letters, digits and hyphens (at most 128)")
	}
	if c.Account != "" && !accountPattern.MatchString(c.Account) {
		ps.add("account", "must be a 12-digit AWS account id")
	}
	if c.Region != "" && !regionPattern.MatchString(c.Region) {
		ps.add("region", "%q is not an AWS region name such as eu-west-1", c.Region)
	}
	c.validateSES(&ps)
	c.validateQueueAndPipe(&ps)
	c.validateWorkflow(&ps)
	c.validateLock(&ps)
	c.validateStorage(&ps)
	if !slices.Contains(logRetentionDays, c.Logs.RetentionDays) {
		ps.add("logs.retentionDays", "must be one of the CloudWatch Logs retention values %v", logRetentionDays)
	}
	oneOf(&ps, "logs.lambdaLevel", c.Logs.LambdaLevel, lambdaLogLevels)
	oneOf(&ps, "logs.lambdaSystemLevel", c.Logs.LambdaSystemLevel, systemLogLevels)
	if r := c.Tracing.SampleRate; !(r >= 0 && r <= 1) {
		ps.add("tracing.sampleRate", "must be a fraction from 0 to 1, not %v", r)
	}
	if n := c.Tracing.ReservoirPerSecond; n < 0 || n > 1000 {
		ps.add("tracing.reservoirPerSecond", "must be from 0 to 1000, not %d", n)
	}
	c.validateAlarms(&ps)
	if c.Chatbot != nil {
		if !slackWorkspaceExpr.MatchString(c.Chatbot.SlackWorkspaceID) {
			ps.add("chatbot.slackWorkspaceId", "must be the Slack workspace (team) id, upper-case letters and digits such as T0123ABCD")
		}
		if !slackChannelExpr.MatchString(c.Chatbot.SlackChannelID) {
			ps.add("chatbot.slackChannelId", "must be the Slack channel id, letters and digits such as C0123ABCD")
		}
	}
	return ps.err()
}

func (c *Config) validateSES(ps *problems) {
	s := c.SES
	if len(s.Identities) == 0 {
		ps.add("ses.identities", "at least one verified SES identity (domain or address) is required")
	}
	seen := map[string]bool{}
	for i, id := range s.Identities {
		f := "ses.identities[" + strconv.Itoa(i) + "]"
		if !isDomain(id) && !isAddress(id) {
			ps.add(f, "%q is neither a domain name nor an e-mail address", id)
			continue
		}
		if seen[strings.ToLower(id)] {
			ps.add(f, "%q is listed twice", id)
		}
		seen[strings.ToLower(id)] = true
	}
	if len(s.AllowedFrom) == 0 {
		ps.add("ses.allowedFrom", "at least one allowed From address or domain is required")
	}
	seenFrom := map[string]bool{}
	for i, from := range s.AllowedFrom {
		f := "ses.allowedFrom[" + strconv.Itoa(i) + "]"
		switch {
		case !isDomain(from) && !isAddress(from):
			ps.add(f, "%q is neither a domain name nor an e-mail address", from)
			continue
		case !c.coveredByIdentity(from):
			ps.add(f, "%q is not covered by any of ses.identities", from)
		}
		if seenFrom[strings.ToLower(from)] {
			ps.add(f, "%q is listed twice", from)
		}
		seenFrom[strings.ToLower(from)] = true
	}
	if s.DefaultFrom != "" {
		a, err := mail.ParseAddress(s.DefaultFrom)
		switch {
		case err != nil:
			ps.add("ses.defaultFrom", "not an e-mail address: %v", err)
		case !c.allowedFrom(a.Address):
			ps.add("ses.defaultFrom", "%q is not in ses.allowedFrom", a.Address)
		}
	}
	if s.ConfigurationSet != "" && !configSetPattern.MatchString(s.ConfigurationSet) {
		ps.add("ses.configurationSet", "must be 1-64 letters, digits, '_' or '-'")
	}
	if s.MaxSendRate < 0 || s.MaxSendRate > 100000 {
		ps.add("ses.maxSendRate", "must be a rate in mails per second between 0 (ask SES) and 100000")
	}
	oneOf(ps, "ses.pacing", s.Pacing, []string{"on", "off"})
	for i, r := range s.SandboxRecipients {
		if !isDomain(r) && !isAddress(r) {
			ps.add("ses.sandboxRecipients["+strconv.Itoa(i)+"]", "%q is neither a domain name nor an e-mail address", r)
		}
	}
}

// coveredByIdentity reports whether a From entry (address or domain) can be
// sent through one of the identities: the address itself, its domain, or a
// parent domain.
func (c *Config) coveredByIdentity(from string) bool {
	from = strings.ToLower(from)
	domain := from
	if at := strings.LastIndexByte(from, '@'); at >= 0 {
		domain = from[at+1:]
	}
	for _, id := range c.SES.Identities {
		id = strings.ToLower(id)
		if id == from || id == domain || strings.HasSuffix(domain, "."+id) {
			return true
		}
	}
	return false
}

// allowedFrom reports whether address is allowed by ses.allowedFrom: listed
// itself, or its domain is listed.
func (c *Config) allowedFrom(address string) bool {
	address = strings.ToLower(address)
	_, domain, _ := strings.Cut(address, "@")
	for _, a := range c.SES.AllowedFrom {
		a = strings.ToLower(a)
		if a == address || a == domain {
			return true
		}
	}
	return false
}

func (c *Config) validateQueueAndPipe(ps *problems) {
	q, p := c.Queue, c.Pipe
	between(ps, "queue.visibilityTimeoutSeconds", q.VisibilityTimeoutSeconds, 0, 43200)
	if q.VisibilityTimeoutSeconds <= c.Lock.LeaseSeconds {
		ps.add("queue.visibilityTimeoutSeconds", "%d must be greater than lock.leaseSeconds (%d), so a message is redelivered only after its lease has expired: sooner, it meets its own lease held, fails %s and may be dead-lettered without being sent",
			q.VisibilityTimeoutSeconds, c.Lock.LeaseSeconds, workflow.LockBusy)
	}
	if q.MaxReceiveCount < 5 || q.MaxReceiveCount > 1000 {
		ps.add("queue.maxReceiveCount", "must be between 5 (AWS guidance: a failed batch counts a receive for every message in it) and 1000")
	}
	between(ps, "queue.maxMessageSizeBytes", q.MaxMessageSizeBytes, 1024, 1024*1024)
	between(ps, "queue.retentionDays", q.RetentionDays, 1, DeadLetterRetentionDays)

	between(ps, "pipe.batchSize", p.BatchSize, 1, 10000)
	between(ps, "pipe.batchWindowSeconds", p.BatchWindowSeconds, 0, 300)
	if p.BatchSize > 10 && p.BatchWindowSeconds < 1 {
		ps.add("pipe.batchWindowSeconds", "must be at least 1 when pipe.batchSize is over 10")
	}
	c.validatePayloadBudget(ps)
	oneOf(ps, "pipe.logLevel", p.LogLevel, pipeLogLevels)
}

func (c *Config) validateWorkflow(ps *problems) {
	w := c.Workflow
	between(ps, "workflow.mapConcurrency", w.MapConcurrency, 1, workflow.MaxMapConcurrency)
	oneOf(ps, "workflow.logLevel", w.LogLevel, workflowLogLevels)
	between(ps, "workflow.throttleRetry.maxAttempts", w.ThrottleRetry.MaxAttempts, 0, 20)
	between(ps, "workflow.throttleRetry.maxDelaySeconds", w.ThrottleRetry.MaxDelaySeconds, 1, 60)
	if wait := w.ThrottleRetry.MaxAttempts * w.ThrottleRetry.MaxDelaySeconds; wait > MaxThrottleWaitSeconds {
		ps.add("workflow.throttleRetry", "maxAttempts × maxDelaySeconds is %d s, over %d s of the execution's 5 minutes", wait, MaxThrottleWaitSeconds)
	}
}

func (c *Config) validateLock(ps *problems) {
	l := c.Lock
	longest, longestIs := longestExecution()
	switch {
	case l.LeaseSeconds <= longest:
		ps.add("lock.leaseSeconds", "%d must be greater than %d, the longest execution (%s), so a live owner never loses its lease",
			l.LeaseSeconds, longest, longestIs)
	case l.LeaseSeconds <= ExpressMaxSeconds:
		ps.add("lock.leaseSeconds", "%d must be greater than %d, the Express execution limit: a lease outlasts any execution, whatever the definition's TimeoutSeconds",
			l.LeaseSeconds, ExpressMaxSeconds)
	}
	if l.RetentionDays < DeadLetterRetentionDays || l.RetentionDays > 3650 {
		ps.add("lock.retentionDays", "must be between %d (the longest a message can live in the queues, so a redelivered mail still finds its lock) and 3650", DeadLetterRetentionDays)
	}
}

// longestExecution is how long an execution of the state machine may run,
// in seconds, and what says so: the definition's TimeoutSeconds (290), as
// workflow.Definition has it (rendering substitutes the ARNs and tunes the
// Map state and the retries, never TimeoutSeconds), or the Express limit
// when the definition sets none or a longer one.
func longestExecution() (int, string) {
	var def struct{ TimeoutSeconds int }
	if err := json.Unmarshal(workflow.Definition(), &def); err == nil && def.TimeoutSeconds > 0 && def.TimeoutSeconds <= ExpressMaxSeconds {
		return def.TimeoutSeconds, "the state machine's TimeoutSeconds"
	}
	return ExpressMaxSeconds, "the Express execution limit"
}

func (c *Config) validateStorage(ps *problems) {
	s := c.Storage
	for _, p := range []struct{ field, v string }{
		{"storage.attachmentPrefix", s.AttachmentPrefix},
		{"storage.stagingPrefix", s.StagingPrefix},
	} {
		if !prefixPattern.MatchString(p.v) || slices.Contains(strings.Split(p.v, "/"), "..") || slices.Contains(strings.Split(p.v, "/"), ".") {
			ps.add(p.field, "%q must be a key prefix such as \"attachments/\": non-empty segments of letters, digits and !_.*'()- , each ending in '/', no '.' or '..' segments", p.v)
		}
	}
	if s.AttachmentPrefix != "" && s.StagingPrefix != "" &&
		(strings.HasPrefix(s.AttachmentPrefix, s.StagingPrefix) || strings.HasPrefix(s.StagingPrefix, s.AttachmentPrefix)) {
		ps.add("storage.stagingPrefix", "must not overlap storage.attachmentPrefix: the tasks' permissions and the expiry rules are per prefix")
	}
	between(ps, "storage.attachmentRetentionDays", s.AttachmentRetentionDays, 1, 3650)
	between(ps, "storage.stagingRetentionDays", s.StagingRetentionDays, 1, 3650)
}

func (c *Config) validateAlarms(ps *problems) {
	a := c.Alarms
	if a.PeriodSeconds < 60 || a.PeriodSeconds > 86400 || a.PeriodSeconds%60 != 0 {
		ps.add("alarms.periodSeconds", "must be a multiple of 60 between 60 and 86400")
	}
	between(ps, "alarms.deadLetterMessages", a.DeadLetterMessages, 1, 1_000_000)
	if a.OldestMessageAgeSeconds != nil {
		age := *a.OldestMessageAgeSeconds
		between(ps, "alarms.oldestMessageAgeSeconds", age, 60, 14*86400)
		if age <= c.Queue.VisibilityTimeoutSeconds {
			ps.add("alarms.oldestMessageAgeSeconds", "%d must be greater than queue.visibilityTimeoutSeconds (%d): every ordinary retry makes a mail that old; omit the field to derive it from the processing time (%d s)",
				age, c.Queue.VisibilityTimeoutSeconds, (&Config{Queue: c.Queue, Pipe: c.Pipe}).OldestMessageAlarmSeconds())
		}
	}
	if r := c.Concurrency.ReservedPerTask; r != nil {
		switch {
		case *r < 0 || *r > 1000:
			ps.add("concurrency.reservedPerTask", "%d is outside 0..1000 (0 reserves none)", *r)
		case *r > 0 && *r < c.Workflow.MapConcurrency:
			ps.add("concurrency.reservedPerTask", "%d is below workflow.mapConcurrency (%d): one execution alone would be throttled", *r, c.Workflow.MapConcurrency)
		}
	}
	between(ps, "alarms.executionsFailed", a.ExecutionsFailed, 1, 1_000_000)
	between(ps, "alarms.executionsTimedOut", a.ExecutionsTimedOut, 1, 1_000_000)
	between(ps, "alarms.taskErrors", a.TaskErrors, 1, 1_000_000)
	between(ps, "alarms.taskThrottles", a.TaskThrottles, 1, 1_000_000)
	if !(a.BounceRate > 0 && a.BounceRate < 1) {
		ps.add("alarms.bounceRate", "must be a fraction between 0 and 1 (0.05 is 5%%)")
	}
	if !(a.ComplaintRate > 0 && a.ComplaintRate < 1) {
		ps.add("alarms.complaintRate", "must be a fraction between 0 and 1 (0.001 is 0.1%%)")
	}
}

func between(ps *problems, field string, v, lo, hi int) {
	if v < lo || v > hi {
		ps.add(field, "%d is outside %d..%d", v, lo, hi)
	}
}

func oneOf(ps *problems, field, v string, allowed []string) {
	if !slices.Contains(allowed, v) {
		ps.add(field, "%q is not one of %s", v, strings.Join(allowed, ", "))
	}
}

func isDomain(s string) bool {
	labels := strings.Split(strings.ToLower(s), ".")
	if len(s) > 253 || len(labels) < 2 {
		return false
	}
	for _, l := range labels {
		if !domainLabel.MatchString(l) {
			return false
		}
	}
	return true
}

// isAddress accepts a bare address (no display name) whose domain is a
// domain name.
func isAddress(s string) bool {
	a, err := mail.ParseAddress(s)
	if err != nil || a.Name != "" || a.Address != s {
		return false
	}
	_, domain, _ := strings.Cut(s, "@")
	return isDomain(domain)
}
