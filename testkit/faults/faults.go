// Package faults injects failures, delays and crashes at the step
// boundaries of the mail pipeline, for tests.
//
// A Plan says what happens at each Point: nothing, a failure (the call
// returns an error, with or without its effect), a delay (the call waits,
// e.g. past the execution timeout, then goes on), or a crash. The wrappers
// (Lock, Store, Sender, Source, DeadLetter) consult the plan around the
// real call; the local runtime takes them as its hooks ([Plan.Hooks],
// local.StartWith).
//
// A crash models the process dying at that instant: from then on every
// wrapped call of the plan returns ErrCrashed without reaching the real
// part, so nothing the dead process would have done after that point takes
// effect (no delete from the queue, no SENT mark, no lease release, no
// further delivery). The test then closes the runtime and starts a new one
// on the same data directory, as a restart after kill -9 does.
package faults

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/mailflow/mailflow/asl"
	"github.com/mailflow/mailflow/clock"
	"github.com/mailflow/mailflow/local"
	"github.com/mailflow/mailflow/local/pipes"
	"github.com/mailflow/mailflow/lock"
	"github.com/mailflow/mailflow/sender"
	"github.com/mailflow/mailflow/store"
)

// Point is a step boundary where a fault can strike.
type Point string

// The step boundaries of one mail's way through the pipeline, in order.
const (
	QueueReceive  Point = "queue-receive"  // the pipe polls the source queue
	AcquireBefore Point = "acquire-before" // before AcquireLock reads the lock
	AcquireAfter  Point = "acquire-after"  // the lock was read, the answer is not back yet
	Fetch         Point = "fetch"          // reading an attachment from the bucket
	Stage         Point = "stage"          // writing the built MIME message to staging
	Attempt       Point = "start-attempt"  // recording that a send is about to start
	SESAccepted   Point = "ses-accepted"   // SES accepted the mail, the SENT mark is not written
	MarkSent      Point = "mark-sent"      // writing the SENT mark
	Release       Point = "release"        // releasing the lock after a failure
	DeadLetter    Point = "dead-letter"    // sending the record to the DLQ
	QueueDelete   Point = "queue-delete"   // the pipe deletes settled messages
)

// Points lists every Point in pipeline order.
var Points = []Point{QueueReceive, AcquireBefore, AcquireAfter, Fetch, Stage, Attempt, SESAccepted, MarkSent, Release, DeadLetter, QueueDelete}

// Kind is what a fault does.
type Kind int

// Kinds of fault.
const (
	None  Kind = iota
	Fail       // the call fails (before its effect, or after it for *After/SESAccepted points)
	Delay      // the call waits Fault.Delay, then goes on
	Crash      // the process dies here (see the package doc)
)

func (k Kind) String() string {
	switch k {
	case Fail:
		return "fail"
	case Delay:
		return "delay"
	case Crash:
		return "crash"
	}
	return "none"
}

// Fault is one scripted fault.
type Fault struct {
	Kind  Kind
	Delay time.Duration // for Delay
	// Times is how many consecutive hits of the point the fault strikes
	// (0 = once). A large number outlasts the in-execution retries.
	Times int
}

// ErrInjected is the error of an injected failure; ErrCrashed is what every
// wrapped call returns after a crash.
var (
	ErrInjected = errors.New("faults: injected failure")
	ErrCrashed  = errors.New("faults: the process has crashed")
)

// Random strikes a random fault at any point with a probability.
type Random struct {
	Rate      float64       // probability of a fault per hit, 0..1
	CrashRate float64       // probability that a struck fault is a crash
	MaxDelay  time.Duration // delays are drawn from [0, MaxDelay)
	// StallRate is the probability that a struck delay is a stall of
	// Stall instead: long enough to outlast a task's TimeoutSeconds.
	StallRate float64
	Stall     time.Duration
	Seed      uint64
}

// Plan decides the faults of one run of the runtime. The zero value is not
// usable; call New. A Plan is safe for concurrent use.
type Plan struct {
	mu      sync.Mutex
	rules   map[Point]*Fault
	left    map[Point]int
	hits    map[Point]int
	struck  map[string]int
	random  *Random
	rng     *rand.Rand
	clock   clock.Clock
	crashed chan struct{}
	crashAt Point
	once    sync.Once
	onCrash func(Point)
	// AttachmentPrefix tells attachment reads (Fetch) from other reads.
	attachmentPrefix string
}

// Option configures a Plan.
type Option func(*Plan)

// At strikes f at p.
func At(p Point, f Fault) Option {
	return func(pl *Plan) {
		f := f
		pl.rules[p] = &f
		pl.left[p] = max(f.Times, 1)
	}
}

// WithRandom strikes random faults everywhere.
func WithRandom(r Random) Option {
	return func(pl *Plan) {
		pl.random = &r
		pl.rng = rand.New(rand.NewPCG(r.Seed, r.Seed^0x9e3779b97f4a7c15))
	}
}

// WithClock sets the clock delays wait on (default: clock.Wall); pass the
// runtime's clock so delays are scaled with it.
func WithClock(c clock.Clock) Option {
	return func(pl *Plan) { pl.clock = clock.Or(c) }
}

// OnCrash is called once, when the plan crashes.
func OnCrash(f func(Point)) Option { return func(pl *Plan) { pl.onCrash = f } }

// WithAttachmentPrefix sets the key prefix of attachments (default
// "attachments/"); reads under it are the Fetch point.
func WithAttachmentPrefix(prefix string) Option {
	return func(pl *Plan) { pl.attachmentPrefix = prefix }
}

// New returns a plan.
func New(opts ...Option) *Plan {
	p := &Plan{
		rules: map[Point]*Fault{}, left: map[Point]int{}, hits: map[Point]int{}, struck: map[string]int{},
		crashed: make(chan struct{}), attachmentPrefix: "attachments/",
		clock: clock.Wall,
	}
	for _, o := range opts {
		o(p)
	}
	return p
}

// Crashed is closed once the plan has crashed.
func (p *Plan) Crashed() <-chan struct{} { return p.crashed }

// IsCrashed reports whether the plan has crashed.
func (p *Plan) IsCrashed() bool {
	select {
	case <-p.crashed:
		return true
	default:
		return false
	}
}

// Crash crashes the plan now (see the package doc).
func (p *Plan) Crash(at Point) {
	p.once.Do(func() {
		p.mu.Lock()
		p.crashAt = at
		p.mu.Unlock()
		close(p.crashed)
		if p.onCrash != nil {
			p.onCrash(at)
		}
	})
}

// CrashedAt is the point of the crash ("" before one).
func (p *Plan) CrashedAt() Point {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.crashAt
}

// Hits is how often each point was reached.
func (p *Plan) Hits(pt Point) int {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.hits[pt]
}

// Struck counts the faults that struck, by "point/kind".
func (p *Plan) Struck() map[string]int {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[string]int, len(p.struck))
	for k, v := range p.struck {
		out[k] = v
	}
	return out
}

// StruckTotal is the number of faults that struck.
func (p *Plan) StruckTotal() int {
	n := 0
	for _, v := range p.Struck() {
		n += v
	}
	return n
}

// Summary is Struck as sorted text.
func (p *Plan) Summary() string {
	s := p.Struck()
	keys := make([]string, 0, len(s))
	for k := range s {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	for i, k := range keys {
		if i > 0 {
			b.WriteString(" ")
		}
		fmt.Fprintf(&b, "%s=%d", k, s[k])
	}
	return b.String()
}

// decide records a hit of pt and returns the fault that strikes, if any.
func (p *Plan) decide(pt Point) Fault {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.hits[pt]++
	if f, ok := p.rules[pt]; ok && p.left[pt] > 0 {
		p.left[pt]--
		p.struck[string(pt)+"/"+f.Kind.String()]++
		return *f
	}
	if r := p.random; r != nil && p.rng.Float64() < r.Rate {
		f := Fault{Kind: Fail}
		switch x := p.rng.Float64(); {
		case x < r.CrashRate:
			f.Kind = Crash
		case x < r.CrashRate+(1-r.CrashRate)/2 && r.MaxDelay > 0:
			f.Kind = Delay
			f.Delay = time.Duration(p.rng.Int64N(int64(r.MaxDelay)))
			if r.Stall > 0 && p.rng.Float64() < r.StallRate {
				f.Delay = r.Stall
				p.struck[string(pt)+"/stall"]++
				return f
			}
		}
		p.struck[string(pt)+"/"+f.Kind.String()]++
		return f
	}
	return Fault{}
}

// before is called before the real call: it returns the error the call
// must fail with (nil: go on), after a delay if one strikes. afterEffect
// faults (the *After points) are decided by after instead.
func (p *Plan) before(ctx context.Context, pt Point) error {
	if p.IsCrashed() {
		return ErrCrashed
	}
	return p.apply(ctx, pt, p.decide(pt))
}

func (p *Plan) apply(ctx context.Context, pt Point, f Fault) error {
	switch f.Kind {
	case Fail:
		return fmt.Errorf("%w at %s", ErrInjected, pt)
	case Delay:
		dctx, cancel := context.WithCancel(ctx)
		defer cancel()
		go func() {
			select {
			case <-p.crashed:
				cancel()
			case <-dctx.Done():
			}
		}()
		if err := p.clock.Sleep(dctx, f.Delay); err != nil {
			if p.IsCrashed() {
				return ErrCrashed
			}
			return err
		}
		if p.IsCrashed() {
			return ErrCrashed
		}
	case Crash:
		p.Crash(pt)
		return ErrCrashed
	}
	return nil
}

// Lock wraps a lock table: AcquireBefore and AcquireAfter around Peek (the
// AcquireLock task's read; the lock itself is taken by StartAttempt) and
// Acquire, Attempt before StartAttempt, MarkSent before MarkSent, Release
// before Release.
// Hooks are the plan's wrappers as the local runtime takes them.
func (p *Plan) Hooks() local.Hooks {
	return local.Hooks{WrapLock: p.Lock, WrapStore: p.Store, WrapSender: p.Sender, WrapSource: p.Source, WrapDeadLetter: p.DeadLetter}
}

func (p *Plan) Lock(t lock.Table) lock.Table { return &lockTable{p: p, t: t} }

type lockTable struct {
	p *Plan
	t lock.Table
}

func (l *lockTable) Acquire(ctx context.Context, a lock.AcquireParams) (lock.Record, error) {
	if err := l.p.before(ctx, AcquireBefore); err != nil {
		return lock.Record{}, err
	}
	rec, err := l.t.Acquire(ctx, a)
	if err != nil {
		return rec, err
	}
	if err := l.p.before(ctx, AcquireAfter); err != nil {
		return lock.Record{}, err
	}
	return rec, nil
}

func (l *lockTable) Renew(ctx context.Context, a lock.RenewParams) (lock.Record, error) {
	if l.p.IsCrashed() {
		return lock.Record{}, ErrCrashed
	}
	return l.t.Renew(ctx, a)
}

func (l *lockTable) MarkSent(ctx context.Context, a lock.MarkSentParams) (lock.Record, error) {
	if err := l.p.before(ctx, MarkSent); err != nil {
		return lock.Record{}, err
	}
	return l.t.MarkSent(ctx, a)
}

func (l *lockTable) StartAttempt(ctx context.Context, a lock.AttemptParams) (lock.Record, error) {
	if err := l.p.before(ctx, Attempt); err != nil {
		return lock.Record{}, err
	}
	return l.t.StartAttempt(ctx, a)
}

func (l *lockTable) ClearAttempt(ctx context.Context, a lock.ClearAttemptParams) (lock.Record, error) {
	if l.p.IsCrashed() {
		return lock.Record{}, ErrCrashed
	}
	return l.t.ClearAttempt(ctx, a)
}

func (l *lockTable) ResolveSent(ctx context.Context, a lock.ResolveParams) (lock.Record, error) {
	if l.p.IsCrashed() {
		return lock.Record{}, ErrCrashed
	}
	return l.t.ResolveSent(ctx, a)
}

func (l *lockTable) Forget(ctx context.Context, a lock.ForgetParams) error {
	if l.p.IsCrashed() {
		return ErrCrashed
	}
	return l.t.Forget(ctx, a)
}

func (l *lockTable) Release(ctx context.Context, a lock.ReleaseParams) error {
	if err := l.p.before(ctx, Release); err != nil {
		return err
	}
	return l.t.Release(ctx, a)
}

func (l *lockTable) Get(ctx context.Context, id string) (lock.Record, bool, error) {
	if l.p.IsCrashed() {
		return lock.Record{}, false, ErrCrashed
	}
	return l.t.Get(ctx, id)
}

func (l *lockTable) Peek(ctx context.Context, id string) (lock.Record, bool, error) {
	if err := l.p.before(ctx, AcquireBefore); err != nil {
		return lock.Record{}, false, err
	}
	rec, ok, err := l.t.Peek(ctx, id)
	if err != nil {
		return rec, ok, err
	}
	if err := l.p.before(ctx, AcquireAfter); err != nil {
		return lock.Record{}, false, err
	}
	return rec, ok, nil
}

// Store wraps the attachment store: Fetch before reads of attachments,
// Stage before writes.
func (p *Plan) Store(s store.Store) store.Store { return &objectStore{p: p, s: s} }

type objectStore struct {
	p *Plan
	s store.Store
}

func (o *objectStore) readPoint(ctx context.Context, key string) error {
	if strings.HasPrefix(key, o.p.attachmentPrefix) {
		return o.p.before(ctx, Fetch)
	}
	if o.p.IsCrashed() {
		return ErrCrashed
	}
	return nil
}

func (o *objectStore) Stat(ctx context.Context, key string) (store.Info, error) {
	if err := o.readPoint(ctx, key); err != nil {
		return store.Info{}, err
	}
	return o.s.Stat(ctx, key)
}

func (o *objectStore) Open(ctx context.Context, key string) (io.ReadCloser, store.Info, error) {
	if err := o.readPoint(ctx, key); err != nil {
		return nil, store.Info{}, err
	}
	return o.s.Open(ctx, key)
}

func (o *objectStore) Put(ctx context.Context, key string, body io.Reader, size int64) error {
	if err := o.p.before(ctx, Stage); err != nil {
		return err
	}
	return o.s.Put(ctx, key, body, size)
}

func (o *objectStore) Delete(ctx context.Context, key string) error {
	if o.p.IsCrashed() {
		return ErrCrashed
	}
	return o.s.Delete(ctx, key)
}

// Sender wraps the SES endpoint: SESAccepted strikes after SES accepted
// the mail, so a failure there is a lost answer and a crash there dies in
// the duplicate window.
func (p *Plan) Sender(s sender.Sender) sender.Sender { return &sesSender{p: p, s: s} }

type sesSender struct {
	p *Plan
	s sender.Sender
}

func (s *sesSender) Send(ctx context.Context, m *sender.Message) (string, error) {
	if s.p.IsCrashed() {
		return "", ErrCrashed
	}
	id, err := s.s.Send(ctx, m)
	if err != nil {
		return id, err
	}
	if err := s.p.before(ctx, SESAccepted); err != nil {
		return "", err
	}
	return id, nil
}

// Source wraps the pipe's source queue: QueueReceive before a receive,
// QueueDelete before a delete.
func (p *Plan) Source(s pipes.Source) pipes.Source { return &source{p: p, s: s} }

type source struct {
	p *Plan
	s pipes.Source
}

func (s *source) Receive(ctx context.Context, n int, wait time.Duration) ([]pipes.Message, error) {
	if err := s.p.before(ctx, QueueReceive); err != nil {
		if errors.Is(err, ErrCrashed) {
			// A dead process polls nothing: idle until the runtime stops.
			_ = s.p.clock.Sleep(ctx, wait)
			return nil, nil
		}
		return nil, err
	}
	return s.s.Receive(ctx, n, wait)
}

func (s *source) Delete(ctx context.Context, handles []string) error {
	if err := s.p.before(ctx, QueueDelete); err != nil {
		return err
	}
	return s.s.Delete(ctx, handles)
}

// DeadLetter wraps the dead-letter integration: DeadLetter before the send.
func (p *Plan) DeadLetter(h asl.TaskHandler) asl.TaskHandler {
	return asl.TaskHandlerFunc(func(ctx context.Context, req *asl.TaskRequest) (any, error) {
		if err := p.before(ctx, DeadLetter); err != nil {
			return nil, asl.NewError("SQS.SdkClientException", err.Error())
		}
		return h.Invoke(ctx, req)
	})
}
