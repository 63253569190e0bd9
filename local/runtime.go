package local

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mailflow/mailflow/clock"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/mailflow/mailflow/asl"
	"github.com/mailflow/mailflow/internal/taskkit"
	"github.com/mailflow/mailflow/local/datadir"
	"github.com/mailflow/mailflow/local/execstore"
	"github.com/mailflow/mailflow/local/fakes3store"
	"github.com/mailflow/mailflow/local/gateway"
	"github.com/mailflow/mailflow/local/health"
	"github.com/mailflow/mailflow/local/outbox"
	"github.com/mailflow/mailflow/local/pipes"
	"github.com/mailflow/mailflow/local/s3local"
	"github.com/mailflow/mailflow/local/sessim"
	"github.com/mailflow/mailflow/local/sqlitefeedback"
	"github.com/mailflow/mailflow/local/sqlitelock"
	"github.com/mailflow/mailflow/local/sqsapi"
	"github.com/mailflow/mailflow/local/sqsstore"
	"github.com/mailflow/mailflow/local/webhooks"
	"github.com/mailflow/mailflow/lock"
	"github.com/mailflow/mailflow/pacer"
	"github.com/mailflow/mailflow/pacer/mempacer"
	"github.com/mailflow/mailflow/sender"
	"github.com/mailflow/mailflow/sender/smtpsend"
	"github.com/mailflow/mailflow/store"
	"github.com/mailflow/mailflow/store/tierstore"
	acquirelock "github.com/mailflow/mailflow/tasks/acquire-lock"
	fetchattachments "github.com/mailflow/mailflow/tasks/fetch-attachments"
	recordevent "github.com/mailflow/mailflow/tasks/record-event"
	releaselock "github.com/mailflow/mailflow/tasks/release-lock"
	reservesends "github.com/mailflow/mailflow/tasks/reserve-sends"
	"github.com/mailflow/mailflow/tasks/send"
	"github.com/mailflow/mailflow/workflow"
)

// Defaults of the local runtime.
const (
	DefaultAddr            = "127.0.0.1:4580"
	DefaultRegion          = "us-east-1"
	DefaultAccount         = "000000000000"
	DefaultBucket          = "mailflow-attachments"
	DefaultSourceQueue     = "mailflow-source"
	DefaultDeadLetterQueue = "mailflow-dlq"
	// The delivery-feedback queue (SES's events and the pipeline's own)
	// and its dead-letter queue.
	DefaultEventsQueue           = "mailflow-events"
	DefaultEventsDeadLetterQueue = "mailflow-events-dlq"
	// eventsVisibilityTimeout is short: recording an event takes
	// milliseconds, and a failed one is retried soon.
	eventsVisibilityTimeout = 30 * time.Second
	DefaultStateMachine     = "mailflow"
	DefaultAttachmentPrefix = "attachments/"
	DefaultStagingPrefix    = "staging/"
	DefaultMaxReceiveCount  = 5
	// DefaultVisibilityTimeout outlasts the lease, which outlasts an Express
	// execution: a message reappears only after its attempt is surely over.
	DefaultVisibilityTimeout = taskkit.DefaultLease + time.Minute
	dlqRetention             = 14 * 24 * time.Hour
	dlqMaxMessageSize        = 1024 * 1024 // the SQS maximum
)

// Config sets up the local runtime. Zero values take the defaults above.
type Config struct {
	DataDir string // required
	Addr    string // loopback host:port; port 0 picks a free one
	// AllowNonLoopback lets Addr be a non-loopback address. Without
	// AccessKeyID and SecretAccessKey, anyone who can reach the address
	// can enqueue mail and read or write attachments. Start logs a warning.
	AllowNonLoopback bool
	// AccessKeyID and SecretAccessKey, when both set, are the only
	// credentials the SQS and S3 endpoints accept: every request's SigV4
	// signature is verified with them. Unset, a signature must only be
	// well formed (see local/gateway).
	AccessKeyID, SecretAccessKey string
	// CORSOrigins are the browser origins (scheme://host[:port]) allowed to
	// call the endpoints from a web page, preflights answered; none by
	// default, and any other origin is refused.
	CORSOrigins []string
	Region      string
	Account     string

	Bucket, SourceQueue, DeadLetterQueue string
	// EventsQueue and EventsDeadLetterQueue carry delivery feedback.
	EventsQueue, EventsDeadLetterQueue string
	AttachmentPrefix, StagingPrefix    string
	AllowedSenders                     []string // SES identities; default example.com
	DefaultSender                      string

	MaxReceiveCount int

	// VisibilityTimeout is the source queue's: how long a received record
	// stays hidden, and so how long a failed one waits before it is
	// retried. It must be longer than the lock lease (DefaultLease of
	// internal/taskkit, 6 minutes), unless AllowShortVisibility is set.
	VisibilityTimeout time.Duration
	// AllowShortVisibility accepts a VisibilityTimeout not longer than the
	// lock lease, for faster retries in development and tests: a record
	// whose execution outlasts the timeout then reappears while its lease
	// is held, meets a busy lock on every receive and may be dead-lettered
	// without being sent. Start logs a warning.
	AllowShortVisibility bool

	BatchSize       int
	BatchWindow     time.Duration
	PipeConcurrency int
	MapConcurrency  int

	// InlineMaxBytes is the largest built message FetchAttachments hands
	// to Send inline, in the state, rather than staging it. 0 (the
	// default) or negative stages every message: the execution store
	// keeps every state's input and output, as a deployment logging at ALL
	// with execution data does, and the deployment stages every message
	// then too (infra), since an inline message would be recorded whole
	// in each state of its iteration (twice the history, more CPU per
	// mail). Staged messages live in the memory tier (store/tierstore).
	InlineMaxBytes int64

	// HistoryMaxAge and HistoryMaxCount bound the execution history: an
	// execution is pruned in the background once it started longer ago
	// than HistoryMaxAge or once HistoryMaxCount newer ones exist, a
	// running one never (zero: execstore.DefaultMaxAge, 7 days, and
	// execstore.DefaultMaxCount, 10,000; see local/execstore).
	HistoryMaxAge   time.Duration
	HistoryMaxCount int

	SMTP string // relay to this SMTP server instead of the outbox
	// SESVerified lists the identities the SES simulator treats as verified;
	// empty: all of them. A sender allowed by the contract but missing here
	// is rejected as SES rejects an unverified identity.
	SESVerified []string
	SES         sessim.Config // the SES simulator's limits (zero: unlimited)
	Log         *slog.Logger  // default: discard

	// Webhooks receive the outcome events of the mail (see WebhookConfig).
	Webhooks WebhookConfig

	// Clock is the runtime's time for everything that waits or compares
	// times: the queues (visibility, long polls), the pipe, the state
	// machine's Retry/Wait delays, the tasks, the pacer and the SES
	// simulator (default clock.Wall). Benchmarks pass a time-scaled clock.
	Clock clock.Clock
	// DisablePacing switches off the shared send pacer. When the SES
	// simulator has a send rate, the Send task otherwise takes a token per
	// recipient from an in-process bucket paced to the simulator's quota
	// (as GetAccount reports it), and raises Mail.Throttled when none is
	// available.
	DisablePacing bool
	// PacingMaxWait is how long a send may wait for a token on its way
	// (0: taskkit.DefaultPacingMaxWait; negative: never wait).
	PacingMaxWait time.Duration

	// OnExecution is called after every execution with its items.
	OnExecution func(execstore.Execution, []execstore.Item)
	// OnEvent streams history events as they happen.
	OnEvent func(executionID string, ev execstore.Event)
}

// DefaultSenderDomain and DefaultSenderAddress are the identities the local
// runtime allows when none are configured.
const (
	DefaultSenderDomain  = "example.com"
	DefaultSenderAddress = "mailflow@example.com"
)

// Runtime is a running local pipeline.
type Runtime struct {
	cfg      Config
	hooks    Hooks
	dir      datadir.Dir
	queues   *sqsstore.Store
	locks    *sqlitelock.Table
	execs    *execstore.Store
	bucket   *s3local.Server
	listener net.Listener
	server   *http.Server
	endpoint string
	ses      *sessim.Simulator
	// sesOpen is ses for the scrapes, which start before it is opened.
	sesOpen atomic.Pointer[sessim.Simulator]
	pacer   *pacer.Pacer
	outbox  *outbox.Outbox
	pipe    *pipes.Pipe
	// Delivery feedback: the delivery records and suppression list, the
	// outcome event log and its webhook dispatcher.
	feedback   *sqlitefeedback.DB
	executions atomic.Int64 // under way; the feedback loop yields to them
	outcomes   *webhooks.Log
	dispatcher *webhooks.Dispatcher
	exec       *executor
	metrics    *health.Metrics
	cancel     context.CancelFunc
	done       chan struct{}
	closers    []io.Closer
	once       sync.Once
}

// Hooks inject faults into a runtime: each wraps what the tasks, the pipe
// or the state machine use (the lock table, the attachment store, the SES
// endpoint, the pipe's source queue (receive and delete), the pipe's target
// (one synchronous execution per batch) and the dead-letter integration,
// arn:aws:states:::sqs:sendMessage). A nil hook leaves its part as it is.
// They are for tests (see testkit/faults); only [StartWith] takes them.
type Hooks struct {
	WrapLock       func(lock.Table) lock.Table
	WrapStore      func(store.Store) store.Store
	WrapSender     func(sender.Sender) sender.Sender
	WrapSource     func(pipes.Source) pipes.Source
	WrapTarget     func(pipes.Target) pipes.Target
	WrapDeadLetter func(asl.TaskHandler) asl.TaskHandler
	// WrapReserveSends wraps the batch's send reservation as the state
	// machine invokes it (its Lambda payload in, its answer out).
	WrapReserveSends func(asl.LambdaHandler) asl.LambdaHandler
}

// Start opens the data directory, serves the endpoints and starts the pipe.
func Start(ctx context.Context, cfg Config) (*Runtime, error) {
	return StartWith(ctx, cfg, Hooks{})
}

// StartWith is Start with faults injected by hooks; tests use it.
func StartWith(ctx context.Context, cfg Config, hooks Hooks) (rt *Runtime, err error) {
	if err := cfg.defaults(); err != nil {
		return nil, err
	}
	r := &Runtime{cfg: cfg, hooks: hooks, dir: datadir.New(cfg.DataDir), done: make(chan struct{})}
	defer func() {
		if err != nil {
			if r.server != nil {
				r.server.Close()
			}
			r.closeStores()
		}
	}()
	for _, step := range []func(context.Context) error{
		r.openStores,    // the data directory, its lock and its stores
		r.recover,       // what the last process left running
		r.retainHistory, // the execution history's bounds, kept in the background
		r.createQueues,  // the source and dead-letter queues
		r.recordEvents,  // SES's events and the pipeline's into each mail's delivery record
		r.serve,         // the SQS and S3 endpoints
		r.openSES,       // the outbox or SMTP relay behind the SES simulator
		r.buildExecutor, // the tasks, the state machine and its executor
		r.startPipe,     // the pipe from the source queue to the executor
	} {
		if err := step(ctx); err != nil {
			return nil, err
		}
	}
	return r, nil
}

// openStores takes the data directory for this runtime, checks its
// identity (or gives a new or older directory one) and opens its stores.
func (r *Runtime) openStores(context.Context) (err error) {
	cfg := r.cfg
	if err := r.dir.Create(); err != nil {
		return err
	}
	unlock, err := r.dir.Lock()
	if err != nil {
		return err
	}
	r.closers = append(r.closers, closerFunc(unlock))
	// The store files must be this directory's before they are opened:
	// opening creates an empty file where one is missing.
	claimed, err := r.dir.Claim(cfg.Clock.Now())
	if err != nil {
		return err
	}
	switch {
	case claimed.Initialised:
		cfg.Log.Info("new data directory", "dir", r.dir.Path(), "id", claimed.Manifest.ID)
	case claimed.Adopted:
		cfg.Log.Warn("data directory of an older mailflow adopted: manifest written and store files stamped", "dir", r.dir.Path(), "id", claimed.Manifest.ID)
	}
	queueOpts := sqsstore.Options{Region: cfg.Region, AccountID: cfg.Account, Clock: cfg.Clock}
	if r.queues, err = r.dir.OpenQueues(queueOpts); err != nil {
		return err
	}
	r.closers = append(r.closers, r.queues)
	if r.locks, err = r.dir.OpenLocks(); err != nil {
		return err
	}
	r.closers = append(r.closers, r.locks)
	if r.execs, err = r.dir.OpenExecutions(); err != nil {
		return err
	}
	r.closers = append(r.closers, r.execs)
	if r.bucket, err = r.dir.OpenBucket(cfg.Bucket); err != nil {
		return err
	}
	if r.feedback, err = r.dir.OpenFeedback(); err != nil {
		return err
	}
	r.closers = append(r.closers, r.feedback)
	outcomes, dispatcher, err := openOutcomes(r.dir, cfg)
	if err != nil {
		return err
	}
	r.outcomes, r.dispatcher = outcomes, dispatcher
	r.closers = append(r.closers, outcomes)
	dctx, cancel := context.WithCancel(context.Background())
	dispatcher.Start(dctx)
	r.closers = append(r.closers, closerFunc(func() error { cancel(); return dispatcher.Close() }))
	return nil
}

// recover settles what the previous process left: its executions are
// aborted (their messages return to the queue) and its leases released,
// except those whose send has no recorded answer (see
// sqlitelock.ReleaseAbandoned).
func (r *Runtime) recover(ctx context.Context) error {
	cfg := r.cfg
	if n, err := r.execs.RecoverRunning(ctx, cfg.Clock.Now()); err != nil {
		return err
	} else if n > 0 {
		cfg.Log.Warn("executions interrupted by the last shutdown marked ABORTED; their messages return to the queue", "count", n)
	}
	a, err := r.locks.ReleaseAbandoned(ctx, cfg.Clock.Now())
	if err != nil {
		return err
	}
	if a.Released > 0 {
		cfg.Log.Warn("leases held by executions of the previous process released", "count", a.Released)
	}
	if a.OutcomeUnknown > 0 {
		cfg.Log.Warn("sends of the previous process started without a recorded answer: their mails are outcome-unknown and will be dead-lettered, not sent again (mailflow replay --force sends one again)", "count", a.OutcomeUnknown)
	}
	return nil
}

// serve listens on the configured address and serves SQS and S3 there,
// and the operator endpoints (local/health).
func (r *Runtime) serve(context.Context) (err error) {
	cfg := r.cfg
	ops, err := r.operatorEndpoints()
	if err != nil {
		return err
	}
	if r.listener, err = net.Listen("tcp", cfg.Addr); err != nil {
		return fmt.Errorf("local: listen on %s: %w", cfg.Addr, err)
	}
	r.endpoint = "http://" + r.listener.Addr().String()
	r.server = &http.Server{
		Handler: gateway.Router{SQS: sqsapi.New(r.queues, sqsapi.Options{BaseURL: r.endpoint}), S3: r.bucket, Ops: ops,
			Policy: gateway.Policy{Addr: cfg.Addr, CORSOrigins: cfg.CORSOrigins,
				Verifier: gateway.Verifier{AccessKeyID: cfg.AccessKeyID, SecretAccessKey: cfg.SecretAccessKey}}},
		ReadHeaderTimeout: 10 * time.Second,
	}
	go r.server.Serve(r.listener)
	return nil
}

// operatorEndpoints makes GET /healthz and GET /metrics over the stores
// and counters the runtime keeps anyway.
func (r *Runtime) operatorEndpoints() (http.Handler, error) {
	cfg := r.cfg
	depth := func(queue string) func(context.Context) (health.QueueDepth, error) {
		return func(ctx context.Context) (health.QueueDepth, error) {
			c, err := r.queues.QueueCounts(ctx, queue)
			return health.QueueDepth{Visible: c.Visible, InFlight: c.InFlight}, err
		}
	}
	m, err := health.NewMetrics(health.Sources{
		Queues:             map[string]func(context.Context) (health.QueueDepth, error){"source": depth(cfg.SourceQueue), "events": depth(cfg.EventsQueue)},
		ExecutionsInFlight: r.executions.Load,
		SESThrottles: func() int {
			if ses := r.sesOpen.Load(); ses != nil {
				return ses.Stats().Throttled
			}
			return 0
		},
	})
	if err != nil {
		return nil, err
	}
	r.metrics = m
	checker := &health.Checker{SMTP: cfg.SMTP, Clock: cfg.Clock, Stores: []health.Probe{
		{Name: "queues", Check: func(ctx context.Context) error { _, err := r.queues.QueueCounts(ctx, cfg.SourceQueue); return err }},
		{Name: "executions", Check: func(ctx context.Context) error {
			_, err := r.execs.List(ctx, execstore.Filter{Limit: 1})
			return err
		}},
		{Name: "locks", Check: func(ctx context.Context) error { _, _, err := r.locks.Get(ctx, "healthz"); return err }},
		{Name: "feedback", Check: func(ctx context.Context) error { _, err := r.feedback.Counts(ctx); return err }},
		{Name: "datadir", Check: func(context.Context) error { _, err := os.Stat(r.dir.Path()); return err }},
	}}
	mux := http.NewServeMux()
	mux.Handle("GET /healthz", checker)
	mux.Handle("GET /metrics", m.Handler())
	return mux, nil
}

// observe counts a finished execution in the metrics: its duration and
// its records' outcomes. An unfinished record counts as failed with the
// execution's error, when it names one.
func (r *Runtime) observe(e execstore.Execution, items []execstore.Item) {
	out := make([]health.Item, len(items))
	for i, it := range items {
		switch it.Outcome {
		case workflow.OutcomeSent:
			out[i].Sent = true
		case workflow.OutcomeDeadLettered, workflow.OutcomeRetryLater:
			out[i].Failed, out[i].Error = true, it.Error
		case workflow.OutcomeUnfinished:
			out[i].Failed, out[i].Error = e.Error != "", e.Error
		}
	}
	r.metrics.ObserveExecution(e.StoppedAt.Sub(e.StartedAt), out)
}

// openSES opens where mail is delivered (the outbox, or the SMTP relay)
// and the SES simulator in front of it.
func (r *Runtime) openSES(context.Context) (err error) {
	cfg := r.cfg
	var delivery sender.Sender
	if cfg.SMTP != "" {
		if delivery, err = smtpsend.New(smtpsend.Config{Addr: cfg.SMTP, InsecureSkipVerify: true}); err != nil {
			return err
		}
		delivery = &relayWatch{next: delivery, addr: cfg.SMTP, log: cfg.Log}
	} else {
		// No fsync per .eml: the outbox keeps the durability of the SQLite
		// stores (see local/outbox).
		if r.outbox, err = r.dir.OpenOutbox(outbox.WithoutSync()); err != nil {
			return err
		}
		delivery = r.outbox
	}
	sesCfg := cfg.SES
	if len(cfg.SESVerified) > 0 {
		sesCfg.VerifiedIdentities = cfg.SESVerified
	}
	if sesCfg.Clock == nil {
		sesCfg.Clock = cfg.Clock
	}
	// Through an SMTP server, SES's acceptance and the server's answer
	// part: the answer decides the delivery events (sessim's relay).
	sesCfg.Relay = cfg.SMTP != ""
	if r.ses, err = sessim.New(delivery, sesCfg); err != nil {
		return err
	}
	r.sesOpen.Store(r.ses)
	r.closers = append(r.closers, r.ses)
	return nil
}

// buildExecutor binds the tasks and the dead-letter integration, renders
// the state machine and makes the executor the pipe invokes.
func (r *Runtime) buildExecutor(context.Context) error {
	cfg := r.cfg
	registry, err := r.tasks()
	if err != nil {
		return err
	}
	def, err := r.definition(registry)
	if err != nil {
		return err
	}
	exec := &executor{
		def: def, registry: registry, store: r.execs, stateMachine: DefaultStateMachine,
		region: cfg.Region, account: cfg.Account, clock: cfg.Clock, onEvent: cfg.OnEvent,
		onStore: func(err error) { cfg.Log.Error("execution store", "err", err) },
		running: map[string]*recorder{}, inFlight: &r.executions,
	}
	exec.onFinish = func(e execstore.Execution, items []execstore.Item) {
		r.observe(e, items)
		if cfg.OnExecution != nil {
			cfg.OnExecution(e, items)
		}
	}
	r.exec = exec
	return nil
}

// startPipe starts draining the source queue into the executor. The pipe
// outlives ctx: Close stops it.
func (r *Runtime) startPipe(ctx context.Context) (err error) {
	cfg := r.cfg
	var source pipes.Source = queueSource{store: r.queues, queue: cfg.SourceQueue}
	if r.hooks.WrapSource != nil {
		source = r.hooks.WrapSource(source)
	}
	var target pipes.Target = r.exec
	if r.hooks.WrapTarget != nil {
		target = r.hooks.WrapTarget(target)
	}
	r.pipe, err = pipes.New(source, target, pipes.Config{
		BatchSize: cfg.BatchSize, BatchWindow: cfg.BatchWindow, Concurrency: cfg.PipeConcurrency,
		SourceARN: r.queues.QueueARN(cfg.SourceQueue), Region: cfg.Region, Clock: cfg.Clock,
		DeadLetters:     queueDeadLetters{store: r.queues, queue: cfg.DeadLetterQueue, log: cfg.Log},
		MaxReceiveCount: cfg.MaxReceiveCount,
		OnError:         func(err error) { cfg.Log.Error("pipe", "err", err) },
		OnBatch: func(b pipes.BatchReport) {
			switch {
			case len(b.DeadLettered) > 0:
				// Each record's own line, with its mailId, is queueDeadLetters'.
				cfg.Log.Warn("the pipe dead-lettered records", "messages", b.DeadLettered, "reason", b.Reason, "error", b.Error, "execution", b.ExecutionID)
			case b.Isolating:
				cfg.Log.Warn("batch failed as a whole; each of its records runs again alone", "records", b.Records, "reason", b.Reason, "execution", b.ExecutionID)
			case b.Reason != "":
				cfg.Log.Warn("batch failed as a whole; its messages return to the queue", "records", b.Records, "reason", b.Reason, "execution", b.ExecutionID)
			}
		},
	})
	if err != nil {
		return err
	}
	pctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
	r.cancel = cancel
	go func() {
		defer close(r.done)
		r.pipe.Run(pctx)
	}()
	return nil
}

func (r *Runtime) createQueues(ctx context.Context) error {
	c := r.cfg
	dlqAttrs := map[string]string{
		"MessageRetentionPeriod": strconv.Itoa(int(dlqRetention / time.Second)),
		// Above the source's 256 KiB, so a record of any size still fits
		// with the attributes that give its reason.
		"MaximumMessageSize": strconv.Itoa(dlqMaxMessageSize),
	}
	err := r.queues.CreateQueue(ctx, c.DeadLetterQueue, dlqAttrs, nil)
	if sqsstore.ErrorCode(err) == sqsstore.CodeQueueNameExists {
		err = r.queues.SetQueueAttributes(ctx, c.DeadLetterQueue, dlqAttrs)
	}
	if err != nil {
		return fmt.Errorf("local: dead-letter queue: %w", err)
	}
	redrive, _ := json.Marshal(map[string]any{
		"deadLetterTargetArn": r.queues.QueueARN(c.DeadLetterQueue),
		"maxReceiveCount":     c.MaxReceiveCount,
	})
	attrs := map[string]string{
		"VisibilityTimeout": strconv.Itoa(int(c.VisibilityTimeout / time.Second)),
		"RedrivePolicy":     string(redrive),
	}
	err = r.queues.CreateQueue(ctx, c.SourceQueue, attrs, nil)
	if sqsstore.ErrorCode(err) == sqsstore.CodeQueueNameExists {
		// Settings changed since the last run: apply the new ones.
		err = r.queues.SetQueueAttributes(ctx, c.SourceQueue, attrs)
	}
	if err != nil {
		return fmt.Errorf("local: source queue: %w", err)
	}
	return r.createEventsQueues(ctx)
}

// createEventsQueues creates the delivery-feedback queue and its
// dead-letter queue. Both take the largest message SQS takes: a
// dead-lettered record carries the queue body it was about.
func (r *Runtime) createEventsQueues(ctx context.Context) error {
	c := r.cfg
	create := func(name string, attrs map[string]string) error {
		err := r.queues.CreateQueue(ctx, name, attrs, nil)
		if sqsstore.ErrorCode(err) == sqsstore.CodeQueueNameExists {
			err = r.queues.SetQueueAttributes(ctx, name, attrs)
		}
		if err != nil {
			return fmt.Errorf("local: queue %s: %w", name, err)
		}
		return nil
	}
	size := strconv.Itoa(dlqMaxMessageSize)
	if err := create(c.EventsDeadLetterQueue, map[string]string{
		"MessageRetentionPeriod": strconv.Itoa(int(dlqRetention / time.Second)), "MaximumMessageSize": size,
	}); err != nil {
		return err
	}
	redrive, _ := json.Marshal(map[string]any{
		"deadLetterTargetArn": r.queues.QueueARN(c.EventsDeadLetterQueue),
		"maxReceiveCount":     DefaultMaxReceiveCount,
	})
	return create(c.EventsQueue, map[string]string{
		"VisibilityTimeout": strconv.Itoa(int(eventsVisibilityTimeout / time.Second)),
		"RedrivePolicy":     string(redrive), "MaximumMessageSize": size,
	})
}

// ConfigurationSet is the SES configuration set every local send names,
// as the stack's does on AWS; the simulator tags events with it.
const ConfigurationSet = "mailflow"

// recordEvents is the step that starts delivery feedback: the consumer
// (tasks/record-event, as on AWS) over the local stores, fed by the
// events queue.
func (r *Runtime) recordEvents(ctx context.Context) error {
	h, err := recordevent.New(recordevent.Config{}, recordevent.Deps{
		Deliveries: r.feedback.Deliveries(), Suppressions: r.feedback.Suppressions(), Locks: r.locks,
		Publisher: r.dispatcher, Clock: r.cfg.Clock, Log: r.cfg.Log,
	})
	if err != nil {
		return err
	}
	// A receive at a time, as the Lambda takes a batch: its outcome events
	// are published together.
	return r.startFeedback(ctx, nil, func(ctx context.Context, bodies [][]byte) []error {
		_, errs := h.HandleBatch(ctx, bodies)
		return errs
	}, recordevent.Malformed)
}

// Feedback is the runtime's delivery records and suppression list.
func (r *Runtime) Feedback() *sqlitefeedback.DB { return r.feedback }

// Outcomes is the runtime's outcome event log.
func (r *Runtime) Outcomes() *webhooks.Log { return r.outcomes }

// Function names of the five tasks, as deployed. The Send task has two
// functions, as on AWS: FunctionSendInline sends the inline messages (one
// process here, so the same handler serves both; the runtime stages every
// message unless Config.InlineMaxBytes says otherwise).
const (
	FunctionReserveSends     = "mailflow-reserve-sends"
	FunctionAcquireLock      = "mailflow-acquire-lock"
	FunctionFetchAttachments = "mailflow-fetch-attachments"
	FunctionSend             = "mailflow-send"
	FunctionSendInline       = "mailflow-send-inline"
	FunctionReleaseLock      = "mailflow-release-lock"
)

func (r *Runtime) functionARN(name string) string {
	return fmt.Sprintf("arn:aws:lambda:%s:%s:function:%s", r.cfg.Region, r.cfg.Account, name)
}

// bind wraps a task handler as Lambda does: JSON through aws-lambda-go's own
// handler, errors reported with their workflow name.
//
// Each invocation gets a handler of its own: aws-lambda-go's Invoke returns
// the bytes of a pooled buffer and puts that buffer back for the next
// invocation before the caller has read them. Lambda invokes one at a time;
// the Map state here runs iterations concurrently, and a shared handler
// answered one record with another's output.
func bind[In, Out any](handle func(context.Context, In) (Out, error)) asl.LambdaHandler {
	fn := func(ctx context.Context, in In) (Out, error) {
		out, err := handle(ctx, in)
		return out, workflow.LambdaError(err)
	}
	return asl.LambdaHandlerFunc(func(ctx context.Context, payload []byte) ([]byte, error) {
		return lambda.NewHandler(fn).Invoke(ctx, payload)
	})
}

func (r *Runtime) tasks() (*asl.Registry, error) {
	c := r.cfg
	limits := c.limits() // checked by Validate
	// The tasks reach the bucket in process, through the same backend the
	// S3 endpoint serves: no loopback HTTP, signing and SDK stack per object
	// (see local/fakes3store).
	bucket, err := fakes3store.New(r.bucket.Backend(), c.Bucket)
	if err != nil {
		return nil, err
	}
	// Staged messages live from FetchAttachments to Send: keep them in
	// memory (bounded, expiring) rather than on disk (see tierstore).
	s3objects, err := tierstore.New(bucket, tierstore.Config{Prefix: c.StagingPrefix, Clock: c.Clock})
	if err != nil {
		return nil, err
	}
	var (
		objects store.Store     = s3objects
		locks   lock.Table      = r.locks
		ses     sender.Sender   = r.ses
		dlq     asl.TaskHandler = sqsSendMessage{store: r.queues}
	)
	if r.hooks.WrapStore != nil {
		objects = r.hooks.WrapStore(objects)
	}
	if r.hooks.WrapLock != nil {
		locks = r.hooks.WrapLock(locks)
	}
	if r.hooks.WrapSender != nil {
		ses = r.hooks.WrapSender(ses)
	}
	if r.hooks.WrapDeadLetter != nil {
		dlq = r.hooks.WrapDeadLetter(dlq)
	}
	log := c.Log
	acquire, err := acquirelock.New(acquirelock.Config{Limits: limits, Lease: LockLease, Retention: taskkit.DefaultRetention},
		acquirelock.Deps{Locks: locks, Suppressions: r.feedback.Suppressions(), Events: eventsQueue{store: r.queues, queue: c.EventsQueue},
			Clock: c.Clock, Log: log})
	if err != nil {
		return nil, err
	}
	tmp, err := r.dir.Temp()
	if err != nil {
		return nil, err
	}
	fetch, err := fetchattachments.New(fetchattachments.Config{Limits: limits, StagingPrefix: c.StagingPrefix, TempDir: tmp, InlineMaxBytes: localInlineBound(c.InlineMaxBytes)},
		fetchattachments.Deps{Store: objects, Clock: c.Clock, Log: log})
	if err != nil {
		return nil, err
	}
	sendDeps := send.Deps{Locks: locks, Store: objects, Sender: ses, Clock: c.Clock, Log: log}
	reserveDeps := reservesends.Deps{Log: log}
	if r.pacer, err = r.newPacer(); err != nil {
		return nil, err
	} else if r.pacer != nil {
		sendDeps.Pacer, reserveDeps.Pacer = r.pacer, r.pacer
	}
	reserve, err := reservesends.New(reserveDeps)
	if err != nil {
		return nil, err
	}
	sendTask, err := send.New(send.Config{Limits: limits, StagingPrefix: c.StagingPrefix, Lease: LockLease, Retention: taskkit.DefaultRetention,
		ConfigSet: ConfigurationSet},
		sendDeps)
	if err != nil {
		return nil, err
	}
	release, err := releaselock.New(releaselock.Deps{Locks: locks, Clock: c.Clock, Log: log})
	if err != nil {
		return nil, err
	}
	reg := asl.NewRegistry()
	reserveFn := bind(reserve.Handle)
	if r.hooks.WrapReserveSends != nil {
		reserveFn = r.hooks.WrapReserveSends(reserveFn)
	}
	reg.RegisterLambda(FunctionReserveSends, reserveFn)
	reg.RegisterLambda(FunctionAcquireLock, bind(acquire.Handle))
	reg.RegisterLambda(FunctionFetchAttachments, bind(fetch.Handle))
	reg.RegisterLambda(FunctionSend, bind(sendTask.Handle))
	reg.RegisterLambda(FunctionSendInline, bind(sendTask.Handle))
	reg.RegisterLambda(FunctionReleaseLock, bind(release.Handle))
	reg.Register(sendMessageResource, dlq)
	return reg, nil
}

// newPacer paces sends to the simulator's quota, read as GetAccount reports
// it; nil when pacing is off or the simulator has no send rate.
func (r *Runtime) newPacer() (*pacer.Pacer, error) {
	c := r.cfg
	if c.DisablePacing || c.SES.MaxSendRate <= 0 {
		return nil, nil
	}
	wait := c.PacingMaxWait
	switch {
	case wait == 0:
		wait = taskkit.DefaultPacingMaxWait
	case wait < 0:
		wait = 0
	}
	pc := pacer.Config{
		Account: func(context.Context) (pacer.Quota, error) {
			q := r.ses.Quota()
			return pacer.Quota{MaxSendRate: q.MaxSendRate, Max24HourSend: q.Max24HourSend, SentLast24Hours: q.SentLast24Hours}, nil
		},
		MaxWait: wait, Clock: c.Clock,
	}
	return pacer.New(mempacer.New(), pc)
}

// PacerView is the shared send pacer as tests see it.
type PacerView interface {
	// Counts are its bucket takes, batch reservations and grants used
	// too late.
	Counts() pacer.Counts
	// Rate is the send rate the pacer paces to, per second.
	Rate(ctx context.Context) (float64, error)
}

// Pacer is the shared send pacer, or nil when sends are not paced.
func (r *Runtime) Pacer() PacerView {
	if r.pacer == nil {
		return nil
	}
	return r.pacer
}

func (r *Runtime) definition(reg *asl.Registry) (*asl.Definition, error) {
	text, err := workflow.Render(workflow.Settings{
		MapConcurrency:  r.cfg.MapConcurrency,
		MaxReceiveCount: r.cfg.MaxReceiveCount,
		Substitutions: map[string]string{
			workflow.PlaceholderReserveSends:     r.functionARN(FunctionReserveSends),
			workflow.PlaceholderAcquireLock:      r.functionARN(FunctionAcquireLock),
			workflow.PlaceholderFetchAttachments: r.functionARN(FunctionFetchAttachments),
			workflow.PlaceholderSend:             r.functionARN(FunctionSend),
			workflow.PlaceholderSendInline:       r.functionARN(FunctionSendInline),
			workflow.PlaceholderReleaseLock:      r.functionARN(FunctionReleaseLock),
			workflow.PlaceholderDeadLetterQueue:  r.QueueURL(r.cfg.DeadLetterQueue),
			workflow.PlaceholderEventsQueue:      r.QueueURL(r.cfg.EventsQueue),
		},
	})
	if err != nil {
		return nil, err
	}
	def, err := asl.Parse(text)
	if err != nil {
		return nil, err
	}
	if issues := asl.Validate(def, asl.WithType("EXPRESS"), asl.WithBoundResources(reg)); len(issues) > 0 {
		return nil, fmt.Errorf("local: the state machine does not validate: %v", issues)
	}
	return def, nil
}

// Endpoint is the address SDK clients use (AWS_ENDPOINT_URL).
func (r *Runtime) Endpoint() string { return r.endpoint }

// QueueURL is the URL of a local queue.
func (r *Runtime) QueueURL(name string) string {
	return r.endpoint + "/" + r.cfg.Account + "/" + name
}

// Config is the effective configuration.
func (r *Runtime) Config() Config { return r.cfg }

// Queues and Executions are the runtime's queue and execution stores, for
// the CLI and tests, which use much of their API (sending, receiving,
// reading attributes; listing and reading executions and their history).
func (r *Runtime) Queues() *sqsstore.Store      { return r.queues }
func (r *Runtime) Executions() *execstore.Store { return r.execs }

// Locks is the dedup lock table.
func (r *Runtime) Locks() lock.Table { return r.locks }

// SESControl is what the CLI and tests do with the SES simulator: make it
// fail the next sends, read its counters.
type SESControl interface {
	// Inject makes the next send fail with the error class name (one of
	// sender.Names), once per call.
	Inject(name workflow.ErrorName)
	Stats() sessim.Stats
}

// SES is the SES simulator.
func (r *Runtime) SES() SESControl { return r.ses }

// RunningEvents returns the history so far of an execution under way,
// which the store has only once it stops; false when it is not running in
// this runtime.
func (r *Runtime) RunningEvents(id string) ([]execstore.Event, bool) { return r.exec.runningEvents(id) }

// OutboxDir is where delivered mail is written ("" when relaying to SMTP).
func (r *Runtime) OutboxDir() string {
	if r.outbox == nil {
		return ""
	}
	return r.outbox.Dir()
}

// Close stops polling, lets in-flight executions finish and settle, then
// stops serving and closes the stores. Messages not yet settled when ctx
// ends return to the queue after their visibility timeout.
func (r *Runtime) Close(ctx context.Context) error {
	var err error
	r.once.Do(func() {
		r.cancel()
		select {
		case <-r.done:
		case <-ctx.Done():
			err = fmt.Errorf("local: executions still running at shutdown: %w", ctx.Err())
		}
		if serr := r.server.Shutdown(ctx); serr != nil && err == nil {
			err = serr
		}
		r.closeStores()
	})
	return err
}

func (r *Runtime) closeStores() {
	for i := len(r.closers) - 1; i >= 0; i-- {
		r.closers[i].Close()
	}
	r.closers = nil
}

// localInlineBound maps Config.InlineMaxBytes to the task's setting, where
// 0 means its own default and negative stages everything.
func localInlineBound(n int64) int64 {
	if n <= 0 {
		return -1
	}
	return n
}
