package tasktest

import (
	"bytes"
	"context"
	"io"
	"net/mail"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/mailflow/mailflow/local/sessim"
	"github.com/mailflow/mailflow/lock"
	"github.com/mailflow/mailflow/lock/memlock"
	"github.com/mailflow/mailflow/sender"
	"github.com/mailflow/mailflow/store"
	"github.com/mailflow/mailflow/store/memstore"
	"github.com/mailflow/mailflow/testkit"
	"github.com/mailflow/mailflow/workflow"
)

// Probe stands in front of an in-memory port as testkit.FaultProxy stands
// in front of an emulator: it counts the calls that reach the port (Hits)
// and answers the next ones with the armed faults, in order. A fault with
// Pass lets its call through; any other fails the call with Mail.Transient,
// which is what every adapter reports for a service that answers 5xx or
// drops the connection (each adapter's own tests check that mapping on the
// wire).
type Probe struct {
	testkit.FaultQueue
	dropped atomic.Bool
}

func (p *Probe) call(op string) error {
	f, armed := p.Next()
	p.dropped.Store(armed && f.Drop)
	if !armed || f.Pass {
		return nil
	}
	if f.Drop {
		return workflow.Errorf(workflow.Transient, "tasktest: %s: the connection was lost before an answer (armed fault)", op)
	}
	return workflow.Errorf(workflow.Transient, "tasktest: %s: the service is unavailable (armed fault)", op)
}

// lastDropped reports whether the last call's fault dropped the connection.
func (p *Probe) lastDropped() bool { return p.dropped.Load() }

// MemLocks returns an in-memory lock table behind a probe.
func MemLocks() (lock.Table, *Probe) {
	p := &Probe{}
	return &probedLocks{p: p, t: memlock.New()}, p
}

var (
	_ lock.Table    = (*probedLocks)(nil)
	_ store.Store   = (*probedStore)(nil)
	_ sender.Sender = (*MemSender)(nil)
)

type probedLocks struct {
	p *Probe
	t lock.Table
}

func (l *probedLocks) Acquire(ctx context.Context, a lock.AcquireParams) (lock.Record, error) {
	if err := l.p.call("Acquire"); err != nil {
		return lock.Record{}, err
	}
	return l.t.Acquire(ctx, a)
}

func (l *probedLocks) Renew(ctx context.Context, a lock.RenewParams) (lock.Record, error) {
	if err := l.p.call("Renew"); err != nil {
		return lock.Record{}, err
	}
	return l.t.Renew(ctx, a)
}

func (l *probedLocks) MarkSent(ctx context.Context, a lock.MarkSentParams) (lock.Record, error) {
	if err := l.p.call("MarkSent"); err != nil {
		return lock.Record{}, err
	}
	return l.t.MarkSent(ctx, a)
}

func (l *probedLocks) StartAttempt(ctx context.Context, a lock.AttemptParams) (lock.Record, error) {
	if err := l.p.call("StartAttempt"); err != nil {
		return lock.Record{}, err
	}
	return l.t.StartAttempt(ctx, a)
}

func (l *probedLocks) ClearAttempt(ctx context.Context, a lock.ClearAttemptParams) (lock.Record, error) {
	if err := l.p.call("ClearAttempt"); err != nil {
		return lock.Record{}, err
	}
	return l.t.ClearAttempt(ctx, a)
}

func (l *probedLocks) ResolveSent(ctx context.Context, a lock.ResolveParams) (lock.Record, error) {
	if err := l.p.call("ResolveSent"); err != nil {
		return lock.Record{}, err
	}
	return l.t.ResolveSent(ctx, a)
}

func (l *probedLocks) Forget(ctx context.Context, a lock.ForgetParams) error {
	if err := l.p.call("Forget"); err != nil {
		return err
	}
	return l.t.Forget(ctx, a)
}

func (l *probedLocks) Release(ctx context.Context, a lock.ReleaseParams) error {
	if err := l.p.call("Release"); err != nil {
		return err
	}
	return l.t.Release(ctx, a)
}

func (l *probedLocks) Peek(ctx context.Context, id string) (lock.Record, bool, error) {
	if err := l.p.call("Peek"); err != nil {
		return lock.Record{}, false, err
	}
	return l.t.Peek(ctx, id)
}

func (l *probedLocks) Get(ctx context.Context, id string) (lock.Record, bool, error) {
	if err := l.p.call("Get"); err != nil {
		return lock.Record{}, false, err
	}
	return l.t.Get(ctx, id)
}

// MemStore returns an in-memory bucket behind a probe, and the bucket itself
// (for Forbid and for reading what was written).
func MemStore() (store.Store, *memstore.Store, *Probe) {
	p := &Probe{}
	m := memstore.New()
	return &probedStore{p: p, s: m}, m, p
}

type probedStore struct {
	p *Probe
	s store.Store
}

func (s *probedStore) Stat(ctx context.Context, key string) (store.Info, error) {
	if err := s.p.call("Stat"); err != nil {
		return store.Info{}, err
	}
	return s.s.Stat(ctx, key)
}

func (s *probedStore) Open(ctx context.Context, key string) (io.ReadCloser, store.Info, error) {
	if err := s.p.call("Open"); err != nil {
		return nil, store.Info{}, err
	}
	return s.s.Open(ctx, key)
}

func (s *probedStore) Put(ctx context.Context, key string, body io.Reader, size int64) error {
	if err := s.p.call("Put"); err != nil {
		return err
	}
	return s.s.Put(ctx, key, body, size)
}

func (s *probedStore) Delete(ctx context.Context, key string) error {
	if err := s.p.call("Delete"); err != nil {
		return err
	}
	return s.s.Delete(ctx, key)
}

// MemSender is an in-memory mail service: the SES simulator (for SES's
// error classes, Inject) in front of a recorder of accepted mail, behind a
// probe.
type MemSender struct {
	*Probe
	Sim *sessim.Simulator
	rec *recorder
}

// NewMemSender returns an unlimited simulated account.
func NewMemSender() *MemSender {
	rec := &recorder{}
	sim, err := sessim.New(rec, sessim.Config{})
	if err != nil {
		panic(err) // a zero Config is always valid
	}
	return &MemSender{Probe: &Probe{}, Sim: sim, rec: rec}
}

// Send implements sender.Sender.
// An armed fault with Drop stands for a connection lost with no answer
// (the mail may have been accepted); any other for an answered failure.
func (s *MemSender) Send(ctx context.Context, m *sender.Message) (string, error) {
	if err := s.call("Send"); err != nil {
		if s.lastDropped() {
			return "", err
		}
		return "", sender.NotAccepted(err)
	}
	return s.Sim.Send(ctx, m)
}

// Sent lists the accepted mail, as Services.Sent does for the emulator.
func (s *MemSender) Sent() []SentMail {
	s.rec.mu.Lock()
	defer s.rec.mu.Unlock()
	return append([]SentMail(nil), s.rec.sent...)
}

type recorder struct {
	mu   sync.Mutex
	sent []SentMail
}

func (r *recorder) Send(ctx context.Context, m *sender.Message) (string, error) {
	if err := m.Validate(); err != nil {
		return "", err
	}
	msg, err := mail.ReadMessage(bytes.NewReader(m.Raw))
	if err != nil {
		return "", workflow.Errorf(workflow.Rejected, "tasktest: unparsable message: %v", err)
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	id := "mem-" + strconv.Itoa(len(r.sent)+1)
	r.sent = append(r.sent, SentMail{MessageID: id, Subject: msg.Header.Get("Subject"), From: m.From})
	return id, nil
}
