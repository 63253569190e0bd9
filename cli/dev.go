package cli

import (
	"context"
	"flag"
	"fmt"
	"log/slog"
	"net"
	"os"
	"sort"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/mailflow/mailflow/asl"
	"github.com/mailflow/mailflow/local"
	"github.com/mailflow/mailflow/local/console"
	"github.com/mailflow/mailflow/local/datadir"
	"github.com/mailflow/mailflow/local/execstore"
	"github.com/mailflow/mailflow/local/sessim"
	"github.com/mailflow/mailflow/local/webhooks"
)

// DefaultDataDir is where `mailflow dev` keeps its state.
const DefaultDataDir = ".mailflow"

type devOptions struct {
	data, addr, smtp       string
	allowRemote            bool
	senders                listFlag
	defaultSender          string
	batchSize, concurrency int
	mapConcurrency         int
	batchWindow            time.Duration
	sesRate                float64
	sesQuota               int
	sesVerified            listFlag
	pacing                 string
	visibility             time.Duration
	allowShortVisibility   bool
	maxReceive             int
	historyAge             time.Duration
	historyCount           int
	demo                   bool
	logLevel, logFormat    string
	console                string
	consoleSet             bool
	accessKey, secretKey   string
	corsOrigins            listFlag
	webhooks               listFlag
	webhookSecret          string
	webhookRetryFor        time.Duration
}

// Environment variables that give `mailflow dev` (and `mailflow send`, to
// sign with them) the endpoint's credentials, so the secret need not be on
// a command line.
const (
	envAccessKey = "MAILFLOW_ACCESS_KEY_ID"
	envSecretKey = "MAILFLOW_SECRET_ACCESS_KEY"
	// envWebhookSecret keeps the webhook signing secret off the command line.
	envWebhookSecret = "MAILFLOW_WEBHOOK_SECRET"
)

// devFlags name the flag of each local.Config field a flag sets.
var devFlags = map[string]string{
	local.FieldDataDir:           "--data",
	local.FieldBatchSize:         "--batch-size",
	local.FieldBatchWindow:       "--batch-window",
	local.FieldPipeConcurrency:   "--concurrency",
	local.FieldMapConcurrency:    "--map-concurrency",
	local.FieldSESMaxSendRate:    "--ses-rate",
	local.FieldSESMax24HourSend:  "--ses-quota",
	local.FieldVisibilityTimeout: "--visibility-timeout",
	local.FieldMaxReceiveCount:   "--max-receive-count",
	local.FieldHistoryMaxAge:     "--history-max-age",
	local.FieldHistoryMaxCount:   "--history-max-count",
	local.FieldAccessKeyID:       "--access-key",
	local.FieldSecretAccessKey:   "--secret-key",
	local.FieldCORSOrigins:       "--cors-origin",
	local.FieldWebhookURLs:       "--webhook",
	local.FieldWebhookSecret:     "--webhook-secret",
	local.FieldWebhookRetryFor:   "--webhook-retry-for",
	// Named by a problem as the setting that accepts it anyway.
	local.FieldAllowShortVisibility: "--allow-short-visibility",
}

// validate reports every mistake of the flags at once: the runtime's own
// checks of the configuration they make (local.Config.Problems), named by
// flag, then those of the flags that are not configuration. The problems
// of the address and the senders are left to local.Start, which reports
// them as a failure to start rather than a usage error.
func (o *devOptions) validate() error {
	var msgs []string
	// Every flag has a default of its own: a zero is what the user typed.
	explicit := []string{local.FieldBatchSize, local.FieldPipeConcurrency, local.FieldMapConcurrency,
		local.FieldVisibilityTimeout, local.FieldMaxReceiveCount, local.FieldHistoryMaxAge, local.FieldHistoryMaxCount,
		local.FieldWebhookRetryFor}
	for _, p := range o.config().Problems(explicit...) {
		flag, ok := devFlags[p.Field]
		if !ok {
			continue
		}
		msg := flag
		if p.Value != "" {
			msg += " " + p.Value
		}
		msg += " " + p.Rule
		if p.Override != "" {
			msg += " (" + devFlags[p.Override] + " accepts it anyway)"
		}
		msgs = append(msgs, msg)
	}
	if o.pacing != "on" && o.pacing != "off" {
		msgs = append(msgs, fmt.Sprintf("--pacing %q must be on or off", o.pacing))
	}
	if _, ok := logLevels[strings.ToLower(o.logLevel)]; !ok && o.logLevel != "" {
		msgs = append(msgs, fmt.Sprintf("--log-level %q is not one of %s", o.logLevel, strings.Join(logLevelNames, ", ")))
	}
	if f := strings.ToLower(o.logFormat); f != logText && f != logJSON {
		msgs = append(msgs, fmt.Sprintf("--log-format %q is not %s or %s", o.logFormat, logText, logJSON))
	}
	if err := validateConsoleAddr(o.console); err != nil {
		msgs = append(msgs, err.Error())
	}
	return usageErrors(msgs...)
}

// config is the runtime configuration the flags make, without the
// callbacks.
func (o *devOptions) config() local.Config {
	return local.Config{
		DataDir: o.data, Addr: o.addr, AllowNonLoopback: o.allowRemote, SMTP: o.smtp,
		AllowedSenders: o.senders, DefaultSender: o.defaultSender,
		BatchSize: o.batchSize, BatchWindow: o.batchWindow, PipeConcurrency: o.concurrency, MapConcurrency: o.mapConcurrency,
		SES:         sessim.Config{MaxSendRate: o.sesRate, Max24HourSend: o.sesQuota},
		SESVerified: o.sesVerified, DisablePacing: o.pacing == "off",
		VisibilityTimeout: o.visibility, AllowShortVisibility: o.allowShortVisibility, MaxReceiveCount: o.maxReceive,
		HistoryMaxAge: o.historyAge, HistoryMaxCount: o.historyCount,
		AccessKeyID: o.accessKey, SecretAccessKey: o.secretKey, CORSOrigins: o.corsOrigins,
		Webhooks: local.WebhookConfig{URLs: o.webhooks, Secret: o.webhookSecret, RetryFor: o.webhookRetryFor},
	}
}

func runDev(ctx context.Context, args []string, s Streams) error {
	var o devOptions
	fs := newFlags("dev", s, "[flags]")
	fs.StringVar(&o.data, "data", DefaultDataDir, "data directory (queues, bucket, locks, executions, outbox)")
	fs.StringVar(&o.addr, "addr", local.DefaultAddr, "loopback address for the SQS and S3 endpoints")
	fs.BoolVar(&o.allowRemote, "allow-remote", false, "allow a non-loopback --addr (set --access-key and --secret-key too: without them any well-formed signature is accepted)")
	fs.StringVar(&o.accessKey, "access-key", os.Getenv(envAccessKey), "the only access key id the SQS and S3 endpoints accept; with --secret-key, every request's SigV4 signature is verified (env "+envAccessKey+"; default: any signed request is accepted)")
	fs.StringVar(&o.secretKey, "secret-key", os.Getenv(envSecretKey), "the secret access key signatures are verified with (env "+envSecretKey+", which keeps it off the command line)")
	fs.Var(&o.corsOrigins, "cors-origin", "browser origin (scheme://host[:port]) allowed to call the endpoints from a web page, CORS preflights answered (repeatable; default: none, every cross-site request is refused)")
	fs.Var(&o.webhooks, "webhook", "URL (http or https) every outcome event is POSTed to, signed with --webhook-secret, retried until a 2xx for --webhook-retry-for (repeatable; default: none, events are only kept for `mailflow events`)")
	// The environment is read after parsing, so -h never prints the secret.
	fs.StringVar(&o.webhookSecret, "webhook-secret", "", "secret (16 bytes or more) the Mailflow-Signature of every webhook request is made with (default: env "+envWebhookSecret+", which keeps it off the command line)")
	fs.DurationVar(&o.webhookRetryFor, "webhook-retry-for", webhooks.DefaultRetryFor, "how long a webhook delivery is retried before it is marked failed (1s to 720h)")
	fs.StringVar(&o.smtp, "smtp", "", "relay mail to this SMTP server (host:port) instead of the outbox")
	fs.Var(&o.senders, "sender", "allowed sender identity, an address or a domain (repeatable; default example.com)")
	fs.StringVar(&o.defaultSender, "default-sender", "", "From address for messages without one")
	fs.IntVar(&o.batchSize, "batch-size", 10, "records per pipe batch (1-10000)")
	fs.DurationVar(&o.batchWindow, "batch-window", time.Second, "how long the pipe gathers a batch (0-300s)")
	fs.IntVar(&o.concurrency, "concurrency", 2, "pipe pollers running batches at once")
	fs.IntVar(&o.mapConcurrency, "map-concurrency", 10, "records of a batch processed at once")
	fs.Float64Var(&o.sesRate, "ses-rate", 0, "simulated SES maximum send rate per second (0: unlimited)")
	fs.IntVar(&o.sesQuota, "ses-quota", 0, "simulated SES 24-hour quota (0: unlimited)")
	fs.StringVar(&o.pacing, "pacing", "on", "pace sends to the simulated SES send rate with the shared token bucket (on or off)")
	fs.Var(&o.sesVerified, "ses-verified", "identity the simulated SES has verified (repeatable; default: all)")
	fs.DurationVar(&o.visibility, "visibility-timeout", local.DefaultVisibilityTimeout, fmt.Sprintf("source queue visibility timeout: how long a failed record waits before it is retried (longer than the %s lock lease)", local.LockLease))
	fs.BoolVar(&o.allowShortVisibility, "allow-short-visibility", false, "accept a --visibility-timeout not longer than the lock lease, for faster retries (a record whose execution outlasts it reappears while its lock is held and may be dead-lettered without being sent)")
	fs.IntVar(&o.maxReceive, "max-receive-count", local.DefaultMaxReceiveCount, "receives before SQS moves a record to the dead-letter queue")
	fs.DurationVar(&o.historyAge, "history-max-age", execstore.DefaultMaxAge, "execution history kept: executions that started longer ago are pruned (1m to 87600h)")
	fs.IntVar(&o.historyCount, "history-max-count", execstore.DefaultMaxCount, "execution history kept: only this many of the newest executions (1-10000000)")
	fs.BoolVar(&o.demo, "demo", false, "send sample mails through the pipeline, print what happened to each, and exit")
	fs.StringVar(&o.logLevel, "log-level", "", "lowest level of the runtime's log on stderr: debug, info, warn or error (default error; info with -v, which logs every task)")
	fs.StringVar(&o.logFormat, "log-format", logText, "the runtime's log lines on stderr: text or json (one JSON object a line)")
	fs.StringVar(&o.console, "console", console.DefaultAddr, `loopback address of the web console ("" or "off": none)`)
	if _, err := parse(fs, args, 0); err != nil {
		return err
	}
	fs.Visit(func(f *flag.Flag) { o.consoleSet = o.consoleSet || f.Name == "console" })
	if o.webhookSecret == "" {
		o.webhookSecret = os.Getenv(envWebhookSecret)
	}
	if err := o.validate(); err != nil {
		return err
	}

	log := o.logger(s)
	w := &syncWriter{w: s.Out}
	var watchers watchList
	hub := console.NewHub()
	cfg := o.config()
	cfg.Log = log
	cfg.OnExecution = func(e execstore.Execution, items []execstore.Item) {
		w.printf("%s\n", summarize(e, items))
		watchers.notify(e, items)
		hub.Execution(e, items)
	}
	cfg.OnEvent = hub.Event
	if host, _, err := net.SplitHostPort(o.addr); err == nil && o.allowRemote && !local.IsLoopback(host) && o.secretKey == "" {
		fmt.Fprintf(s.Err, "WARNING: serving SQS and S3 on %s, which is not a loopback address, without --access-key/--secret-key: any signed request is accepted, whatever its key; anyone who can reach it can send mail and read attachments\n", o.addr)
	}
	if o.allowShortVisibility && o.visibility <= local.LockLease {
		fmt.Fprintf(s.Err, "WARNING: --visibility-timeout %s is not longer than the lock lease: a record whose execution outlasts it reappears while its lock is held, and may be dead-lettered without being sent\n", o.visibility)
	}
	rt, err := local.Start(context.WithoutCancel(ctx), cfg)
	if err != nil {
		return err
	}
	c := rt.Config()
	if c.SMTP != "" {
		// Said at once: otherwise the first sign is a mail's delivery
		// delays, minutes later.
		if conn, err := net.DialTimeout("tcp", c.SMTP, smtpCheckTimeout); err != nil {
			fmt.Fprintf(s.Err, "WARNING: the SMTP relay %s does not answer (%v): mail is accepted and its delivery retried until it does; /healthz reports it meanwhile\n", c.SMTP, err)
		} else {
			conn.Close()
		}
	}
	where := datadir.New(c.DataDir).OutboxPattern()
	if c.SMTP != "" {
		where = "SMTP " + c.SMTP
	}
	w.printf("mailflow dev: the pipeline runs on this machine\n")
	w.printf("  endpoint      %s (SQS and S3)\n", rt.Endpoint())
	w.printf("  source queue  %s\n", rt.QueueURL(c.SourceQueue))
	w.printf("  dead letters  %s (after %d receives)\n", rt.QueueURL(c.DeadLetterQueue), c.MaxReceiveCount)
	w.printf("  bucket        %s (attachments under %s)\n", c.Bucket, c.AttachmentPrefix)
	w.printf("  senders       %s (default %s)\n", strings.Join(c.AllowedSenders, ", "), orNone(c.DefaultSender))
	w.printf("  mail goes to  %s\n", where)
	w.printf("  data          %s\n", c.DataDir)
	w.printf("  history       %s kept\n", execstore.Retention{MaxAge: c.HistoryMaxAge, MaxCount: c.HistoryMaxCount}.OrDefaults())
	stopConsole, consoleURL, err := startConsole(ctx, rt, hub, o.consoleAddr(), o.consoleSet, w)
	if err != nil {
		cctx, cancel := context.WithTimeout(context.Background(), local.ExpressTimeout)
		defer cancel()
		rt.Close(cctx)
		return err
	}
	defer stopConsole() // idempotent: also called before the runtime closes
	key, secret := "local", "local"
	if c.SecretAccessKey != "" {
		key, secret = c.AccessKeyID, "<your --secret-key>"
		w.printf("  signatures    verified with access key %s\n", c.AccessKeyID)
	}
	w.printf("SDK clients (requests must be SigV4-signed, as SDKs and the AWS CLI sign): AWS_ENDPOINT_URL=%s AWS_REGION=%s AWS_ACCESS_KEY_ID=%s AWS_SECRET_ACCESS_KEY=%s\n", rt.Endpoint(), c.Region, key, secret)

	var runErr error
	if o.demo {
		runErr = runDemo(ctx, rt, &watchers, w, demoNext{dataFlag: o.dataFlag(), console: consoleURL, consoleAddr: o.console})
	} else {
		w.printf("Ctrl-C stops; in-flight mail finishes first.\n")
		<-ctx.Done()
	}
	w.printf("mailflow dev: stopping\n")
	stopConsole()
	cctx, cancel := context.WithTimeout(context.Background(), local.ExpressTimeout+10*time.Second)
	defer cancel()
	if err := rt.Close(cctx); err != nil && runErr == nil {
		runErr = err
	}
	return runErr
}

// smtpCheckTimeout bounds dev's check at startup that the relay answers.
const smtpCheckTimeout = 2 * time.Second

// Log formats and levels of dev's --log-format and --log-level.
const (
	logText = "text"
	logJSON = "json"
)

var (
	logLevelNames = []string{"debug", "info", "warn", "error"}
	logLevels     = map[string]slog.Level{"debug": slog.LevelDebug, "info": slog.LevelInfo, "warn": slog.LevelWarn, "error": slog.LevelError}
)

// logger is the runtime's log on stderr: errors only, unless -v (every
// task) or --log-level says otherwise.
func (o *devOptions) logger(s Streams) *slog.Logger {
	level := slog.LevelError
	if s.verbose() {
		level = slog.LevelInfo
	}
	if l, ok := logLevels[strings.ToLower(o.logLevel)]; ok {
		level = l
	}
	opts := &slog.HandlerOptions{Level: level}
	if strings.EqualFold(o.logFormat, logJSON) {
		return slog.New(slog.NewJSONHandler(s.Err, opts))
	}
	return slog.New(slog.NewTextHandler(s.Err, opts))
}

// dataFlag is the --data flag that names this data directory to the other
// commands, "" for the default one.
func (o *devOptions) dataFlag() string {
	if o.data == DefaultDataDir {
		return ""
	}
	if strings.ContainsAny(o.data, " \t'\"$\\") {
		return " --data " + strconv.Quote(o.data)
	}
	return " --data " + o.data
}

func orNone(s string) string {
	if s == "" {
		return "none"
	}
	return s
}

// summarize is the one line printed per execution.
func summarize(e execstore.Execution, items []execstore.Item) string {
	counts := map[string]int{}
	var errs []string
	for _, it := range items {
		counts[string(it.Outcome)]++
		if it.Error != "" {
			errs = append(errs, it.Error)
		}
	}
	outcomes := make([]string, 0, len(counts))
	for k := range counts {
		outcomes = append(outcomes, k)
	}
	sort.Strings(outcomes)
	parts := make([]string, len(outcomes))
	for i, k := range outcomes {
		parts[i] = fmt.Sprintf("%s %d", k, counts[k])
	}
	line := fmt.Sprintf("%s batch of %d in %s: %s", e.StartedAt.Local().Format("15:04:05"), len(items),
		e.Duration().Round(time.Millisecond), strings.Join(parts, ", "))
	if len(errs) > 0 {
		line += " (" + strings.Join(uniq(errs), ", ") + ")"
	}
	if e.Status != asl.StatusSucceeded {
		line += fmt.Sprintf(" — execution %s: %s %s", e.Status, e.Error, e.Cause)
	}
	return line + "  [" + e.Name + "]"
}

func uniq(xs []string) []string {
	seen := map[string]bool{}
	var out []string
	for _, x := range xs {
		if !seen[x] {
			seen[x] = true
			out = append(out, x)
		}
	}
	return out
}

type syncWriter struct {
	mu sync.Mutex
	w  interface{ Write([]byte) (int, error) }
}

func (s *syncWriter) printf(format string, args ...any) {
	s.mu.Lock()
	defer s.mu.Unlock()
	fmt.Fprintf(s.w, format, args...)
}

// watchList lets the demo wait for the outcome of given messages.
type watchList struct {
	mu       sync.Mutex
	watchers []chan itemResult
}

type itemResult struct {
	exec execstore.Execution
	item execstore.Item
}

func (l *watchList) watch() chan itemResult {
	ch := make(chan itemResult, 1000)
	l.mu.Lock()
	l.watchers = append(l.watchers, ch)
	l.mu.Unlock()
	return ch
}

func (l *watchList) notify(e execstore.Execution, items []execstore.Item) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for _, ch := range l.watchers {
		for _, it := range items {
			select {
			case ch <- itemResult{e, it}:
			default:
			}
		}
	}
}
