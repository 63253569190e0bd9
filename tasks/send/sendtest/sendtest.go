// Package sendtest holds the send handler's scenarios, run by the
// handler's own tests over in-memory adapters and the SES simulator, and by
// test/awstasks over DynamoDB, S3 and the SES v2 emulator: one set of
// assertions, two sets of adapters.
package sendtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailflow/mailflow/clock"
	"github.com/mailflow/mailflow/feedback/sesevent"
	"github.com/mailflow/mailflow/internal/taskkit"
	"github.com/mailflow/mailflow/lock"
	"github.com/mailflow/mailflow/pacer"
	"github.com/mailflow/mailflow/pacer/mempacer"
	"github.com/mailflow/mailflow/sender"
	"github.com/mailflow/mailflow/store"
	"github.com/mailflow/mailflow/tasks/send"
	"github.com/mailflow/mailflow/testkit"
	"github.com/mailflow/mailflow/testkit/tasktest"
	"github.com/mailflow/mailflow/workflow"
)

var quiet = slog.New(slog.NewJSONHandler(io.Discard, nil))

const lease = 6 * time.Minute

type fixture struct {
	h        *send.Handler
	locks    lock.Table
	lockProx testkit.Faults
	store    store.Store
	sesProx  interface{ Hits() int }
	sent     func(t *testing.T) []tasktest.SentMail
	failNext func(FailCase)
	clock    *clock.Skipping
	handed   *tap          // what the handler gave the sender
	writes   *writeCounter // the handler's lock-table writes
	opens    *openCounter  // the handler's reads from the store
}

// openCounter counts the objects the handler opens or stats in the store.
type openCounter struct {
	store.Store
	mu sync.Mutex
	n  int
}

func (o *openCounter) Open(ctx context.Context, key string) (io.ReadCloser, store.Info, error) {
	o.mu.Lock()
	o.n++
	o.mu.Unlock()
	return o.Store.Open(ctx, key)
}

func (o *openCounter) Stat(ctx context.Context, key string) (store.Info, error) {
	o.mu.Lock()
	o.n++
	o.mu.Unlock()
	return o.Store.Stat(ctx, key)
}

func (o *openCounter) reads() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return o.n
}

// writeCounter counts the lock-table writes made through it, by operation.
type writeCounter struct {
	lock.Table
	mu     sync.Mutex
	counts map[string]int
}

func (w *writeCounter) count(op string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	if w.counts == nil {
		w.counts = map[string]int{}
	}
	w.counts[op]++
}

// total returns the writes so far and their breakdown.
func (w *writeCounter) total() (int, string) {
	w.mu.Lock()
	defer w.mu.Unlock()
	n := 0
	for _, c := range w.counts {
		n += c
	}
	return n, fmt.Sprint(w.counts)
}

func (w *writeCounter) Acquire(ctx context.Context, p lock.AcquireParams) (lock.Record, error) {
	w.count("acquire")
	return w.Table.Acquire(ctx, p)
}

func (w *writeCounter) Renew(ctx context.Context, p lock.RenewParams) (lock.Record, error) {
	w.count("renew")
	return w.Table.Renew(ctx, p)
}

func (w *writeCounter) StartAttempt(ctx context.Context, p lock.AttemptParams) (lock.Record, error) {
	w.count("start-attempt")
	return w.Table.StartAttempt(ctx, p)
}

func (w *writeCounter) ClearAttempt(ctx context.Context, p lock.ClearAttemptParams) (lock.Record, error) {
	w.count("clear-attempt")
	return w.Table.ClearAttempt(ctx, p)
}

func (w *writeCounter) MarkSent(ctx context.Context, p lock.MarkSentParams) (lock.Record, error) {
	w.count("mark-sent")
	return w.Table.MarkSent(ctx, p)
}

func (w *writeCounter) ResolveSent(ctx context.Context, p lock.ResolveParams) (lock.Record, error) {
	w.count("resolve-sent")
	return w.Table.ResolveSent(ctx, p)
}

func (w *writeCounter) Release(ctx context.Context, p lock.ReleaseParams) error {
	w.count("release")
	return w.Table.Release(ctx, p)
}

func (w *writeCounter) Forget(ctx context.Context, p lock.ForgetParams) error {
	w.count("forget")
	return w.Table.Forget(ctx, p)
}

// tap records the tags and raw content of each message the handler hands
// to the sender.
type tap struct {
	next sender.Sender
	mu   sync.Mutex
	tags [][]workflow.Tag
	raws [][]byte
}

func (t *tap) Send(ctx context.Context, m *sender.Message) (string, error) {
	t.mu.Lock()
	t.tags = append(t.tags, slices.Clone(m.Tags))
	t.raws = append(t.raws, slices.Clone(m.Raw))
	t.mu.Unlock()
	return t.next.Send(ctx, m)
}

func (t *tap) rawHanded() [][]byte {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.raws)
}

func (t *tap) handed() [][]workflow.Tag {
	t.mu.Lock()
	defer t.mu.Unlock()
	return slices.Clone(t.tags)
}

// Services are the adapters one scenario runs on.
type Services struct {
	Locks      lock.Table
	LockFaults testkit.Faults // fail the lock table's next calls
	Store      store.Store
	Sender     sender.Sender
	SenderHits interface{ Hits() int }                // sends that reached the sender
	Sent       func(t *testing.T) []tasktest.SentMail // what the sender delivered
	// FailNext makes the sender's next send fail as c says.
	FailNext func(c FailCase)
}

// FailCase is one way the sender fails a send, and the error class the
// handler must report for it.
type FailCase struct {
	Label string
	Arm   any // what the backend arms: an error name, a testkit.Fault
	Want  workflow.ErrorName
}

// Run runs the scenarios, each on the services newServices makes; fails
// lists the sender failures to check, each mapped to its error class.
func Run(t *testing.T, newServices func(t *testing.T) Services, fails []FailCase) {
	ctx := context.Background()

	setupWith := func(t *testing.T, maxBytes int64, pace func(clock.Clock) send.Pacer) *fixture {
		f := &fixture{clock: tasktest.NewClock()}
		svc := newServices(t)
		f.locks, f.lockProx, f.store = svc.Locks, svc.LockFaults, svc.Store
		f.sesProx, f.sent, f.failNext = svc.SenderHits, svc.Sent, svc.FailNext
		f.handed = &tap{next: svc.Sender}
		snd := f.handed
		f.writes = &writeCounter{Table: f.locks}
		f.opens = &openCounter{Store: f.store}
		h, err := send.New(send.Config{Limits: tasktest.Limits, StagingPrefix: tasktest.StagingPrefix, Lease: lease, Retention: 24 * time.Hour, ConfigSet: "default-set", MaxBytes: maxBytes},
			send.Deps{Locks: f.writes, Store: f.opens, Sender: snd, Clock: f.clock, Log: quiet, MarkSentBackoff: time.Nanosecond, Pacer: pace(f.clock)})
		if err != nil {
			t.Fatal(err)
		}
		f.h = h
		return f
	}
	setupPaced := func(t *testing.T, pace func(clock.Clock) send.Pacer) *fixture {
		return setupWith(t, 0, pace)
	}
	setup := func(t *testing.T) *fixture {
		return setupPaced(t, func(clock.Clock) send.Pacer { return nil })
	}
	// prepareInline returns the task input with the message carried
	// inline, and the raw message. No lock is taken: the task takes it, as
	// AcquireLock only reads it.
	prepareInline := func(t *testing.T, f *fixture, mailID, owner, subject string) (send.In, []byte) {
		raw := []byte("From: Shop <billing@example.com>\r\nTo: ann@example.org\r\nSubject: " + subject + "\r\nMIME-Version: 1.0\r\nContent-Type: text/plain\r\n\r\nThank you.\r\n")
		sum := sha256.Sum256(raw)
		return send.In{MessageID: "msg", MailID: mailID, Owner: owner,
			Body:   tasktest.Body(t, mailID, func(m map[string]any) { m["bcc"] = []string{"archive@example.com"}; m["subject"] = subject }),
			Staged: send.Staged{Inline: base64.StdEncoding.EncodeToString(raw), Size: int64(len(raw)), SHA256: hex.EncodeToString(sum[:])}}, raw
	}
	// prepare stages a message and returns the task input.
	prepare := func(t *testing.T, f *fixture, mailID, owner, subject string) send.In {
		in, raw := prepareInline(t, f, mailID, owner, subject)
		key := tasktest.StagingPrefix + strings.ReplaceAll(mailID, "/", "_") + "/" + strings.ReplaceAll(owner, "/", "_") + ".eml"
		if err := f.store.Put(ctx, key, bytes.NewReader(raw), int64(len(raw))); err != nil {
			t.Fatal(err)
		}
		in.Staged.Key, in.Staged.Inline = key, ""
		return in
	}
	// hold takes the lock for another owner of in's mail, with the content
	// hash of in's body unless hash is given.
	hold := func(t *testing.T, f *fixture, in send.In, owner, hash string) {
		t.Helper()
		if hash == "" {
			m, err := workflow.Parse([]byte(in.Body), tasktest.Limits)
			if err != nil {
				t.Fatal(err)
			}
			hash = taskkit.ContentHash(&m)
		}
		now := f.clock.Now()
		if _, err := f.locks.Acquire(ctx, lock.AcquireParams{MailID: in.MailID, Owner: owner, ContentHash: hash, Now: now, LeaseUntil: now.Add(lease), ExpiresAt: now.Add(2 * lease)}); err != nil {
			t.Fatal(err)
		}
	}
	sentWith := func(t *testing.T, f *fixture, subject string) []tasktest.SentMail {
		var out []tasktest.SentMail
		for _, m := range f.sent(t) {
			if m.Subject == subject {
				out = append(out, m)
			}
		}
		return out
	}

	t.Run("SendsAndMarksSent", func(t *testing.T) {
		f := setup(t)
		in := prepare(t, f, "m-1", "exec-1/msg", "subject-1")
		out, err := f.h.Handle(ctx, in)
		if err != nil || out.SESMessageID == "" {
			t.Fatalf("Send = %+v, %v", out, err)
		}
		rec, _, _ := f.locks.Get(ctx, "m-1")
		if rec.Status != lock.Sent || rec.SESMessageID != out.SESMessageID || rec.Owner != "exec-1/msg" {
			t.Fatalf("lock after send: %+v", rec)
		}
		if got := sentWith(t, f, "subject-1"); len(got) != 1 || got[0].MessageID != out.SESMessageID {
			t.Fatalf("SES recorded %+v", got)
		}
		// Taking the lock and recording the attempt are one write; the
		// SENT mark is the other.
		if n, by := f.writes.total(); n != 2 || by != "map[mark-sent:1 start-attempt:1]" {
			t.Fatalf("a successful send made %d lock-table writes (%s), want 2: start-attempt and mark-sent", n, by)
		}
		if rec.Renewals != 1 || !rec.LeaseUntil.After(f.clock.Now().Add(lease-time.Second)) {
			t.Fatalf("lock after send: %d renewals, lease until %v; want the attempt to take it with one", rec.Renewals, rec.LeaseUntil)
		}
		// A retry of the task returns the stored id and sends nothing.
		hits := f.sesProx.Hits()
		again, err := f.h.Handle(ctx, in)
		if err != nil || again != out {
			t.Fatalf("retry = %+v, %v; want %+v", again, err, out)
		}
		if f.sesProx.Hits() != hits || len(sentWith(t, f, "subject-1")) != 1 {
			t.Fatal("the retry sent the mail again")
		}
	})

	// Every mail carries its mailId as a tag, after the producer's own, so
	// SES's events about it can be traced back to it.
	t.Run("TagsTheMailID", func(t *testing.T) {
		f := setup(t)
		in := prepare(t, f, "m-tag", "exec-1/msg", "subject-tag")
		in.Body = tasktest.Body(t, "m-tag", func(m map[string]any) {
			m["subject"] = "subject-tag"
			m["tags"] = []map[string]string{{"name": "kind", "value": "receipt"}}
		})
		if _, err := f.h.Handle(ctx, in); err != nil {
			t.Fatal(err)
		}
		want := []workflow.Tag{{Name: "kind", Value: "receipt"}, {Name: sesevent.MailIDTag, Value: sesevent.MailIDTagValue("m-tag")}}
		if got := f.handed.handed(); len(got) != 1 || !slices.Equal(got[0], want) {
			t.Fatalf("the sender was handed tags %v, want %v", got, want)
		}
		if got := sentWith(t, f, "subject-tag"); len(got) != 1 {
			t.Fatalf("SES recorded %+v", got)
		}
	})

	t.Run("AnotherLeaseSendsNothing", func(t *testing.T) {
		f := setup(t)
		in := prepare(t, f, "m-2", "exec-1/msg", "subject-2")
		hold(t, f, in, "exec-2/msg", "")
		_, err := f.h.Handle(ctx, in)
		if workflow.NameOf(err) != workflow.LockBusy {
			t.Fatalf("send while another owner holds the lease = %v, want %s", err, workflow.LockBusy)
		}
		if f.sesProx.Hits() != 0 {
			t.Fatal("SES was called without the lease")
		}
		// Once that lease ran out with no attempt, this owner takes over.
		f.clock.Advance(lease + time.Second)
		if out, err := f.h.Handle(ctx, in); err != nil || out.SESMessageID == "" {
			t.Fatalf("after the other lease ran out = %+v, %v", out, err)
		}
		if rec, _, _ := f.locks.Get(ctx, "m-2"); rec.Status != lock.Sent || rec.Owner != "exec-1/msg" {
			t.Fatalf("lock after the takeover: %+v", rec)
		}
	})

	t.Run("SentByAnotherAttempt", func(t *testing.T) {
		f := setup(t)
		in := prepare(t, f, "m-3", "exec-1/msg", "subject-3")
		hold(t, f, in, "exec-2/msg", "")
		now := f.clock.Now()
		if _, err := f.locks.MarkSent(ctx, lock.MarkSentParams{MailID: "m-3", Owner: "exec-2/msg", SESMessageID: "ses-other", Now: now, ExpiresAt: now.Add(time.Hour)}); err != nil {
			t.Fatal(err)
		}
		out, err := f.h.Handle(ctx, in)
		if err != nil || out.SESMessageID != "ses-other" || f.sesProx.Hits() != 0 {
			t.Fatalf("= %+v, %v, SES hits %d; want the other attempt's id and no send", out, err, f.sesProx.Hits())
		}
	})

	// The mailId was taken for other content after AcquireLock read the
	// lock: nothing is sent, and the conflict is named.
	t.Run("OtherContentConflicts", func(t *testing.T) {
		f := setup(t)
		in := prepare(t, f, "m-4", "exec-1/msg", "subject-4")
		hold(t, f, in, "exec-2/msg", "sha256:other")
		if _, err := f.h.Handle(ctx, in); workflow.NameOf(err) != workflow.IdempotencyConflict || f.sesProx.Hits() != 0 {
			t.Fatalf("= %v (SES hits %d), want %s and no send", err, f.sesProx.Hits(), workflow.IdempotencyConflict)
		}
		if rec, _, _ := f.locks.Get(ctx, "m-4"); rec.Owner != "exec-2/msg" || rec.OutcomeUnknown() {
			t.Fatalf("the other mail's lock changed: %+v", rec)
		}
	})

	t.Run("EverySESErrorClass", func(t *testing.T) {
		f := setup(t)
		for i, c := range fails {
			mailID := "err-" + string(rune('a'+i))
			in := prepare(t, f, mailID, "exec/msg", "err")
			f.failNext(c)
			if _, err := f.h.Handle(ctx, in); workflow.NameOf(err) != c.Want {
				t.Errorf("%s: %v, want %s", c.Label, err, c.Want)
			}
			rec, _, _ := f.locks.Get(ctx, mailID)
			if rec.Status != lock.Sending {
				t.Errorf("%s: lock %s after a failed send", c.Label, rec.Status)
			}
			// A refusal takes the attempt back; only a send with no
			// answer leaves the mail outcome-unknown.
			if unknown := c.Want == workflow.OutcomeUnknown; rec.OutcomeUnknown() != unknown {
				t.Errorf("%s: lock %+v: outcome-unknown %v, want %v", c.Label, rec, rec.OutcomeUnknown(), unknown)
			}
			if c.Want == workflow.OutcomeUnknown {
				// Every later attempt by this owner fails the same way
				// and sends nothing.
				hits := f.sesProx.Hits()
				if _, err := f.h.Handle(ctx, in); workflow.NameOf(err) != workflow.OutcomeUnknown || f.sesProx.Hits() != hits {
					t.Errorf("%s: the retry = %v with %d more sends; want %s and none", c.Label, err, f.sesProx.Hits()-hits, workflow.OutcomeUnknown)
				}
			} else if _, err := f.h.Handle(ctx, in); err != nil {
				t.Errorf("%s: the retry after a refusal: %v", c.Label, err)
			}
		}
	})

	// The SENT write fails: once (the retry inside the step lands it),
	// and always (the task still succeeds, and the record stays
	// outcome-unknown so no later attempt sends again).
	markSentFault := testkit.Fault{Status: 500, Body: `{"__type":"com.amazonaws.dynamodb.v20120810#InternalServerError","message":"down"}`}
	t.Run("MarkSentFailsOnce", func(t *testing.T) {
		f := setup(t)
		in := prepare(t, f, "m-5a", "exec-1/msg", "subject-5a")
		// The attempt passes; the first mark-sent fails.
		f.lockProx.Arm(testkit.Fault{Pass: true}, markSentFault)
		out, err := f.h.Handle(ctx, in)
		if err != nil || out.SESMessageID == "" {
			t.Fatalf("= %+v, %v", out, err)
		}
		if rec, _, _ := f.locks.Get(ctx, "m-5a"); rec.Status != lock.Sent || rec.SESMessageID != out.SESMessageID {
			t.Fatalf("lock %+v, want SENT with %s", rec, out.SESMessageID)
		}
	})

	t.Run("MarkSentAlwaysFailsStillSucceeds", func(t *testing.T) {
		f := setup(t)
		in := prepare(t, f, "m-5", "exec-1/msg", "subject-5")
		faults := []testkit.Fault{{Pass: true}}
		for range 5 { // every try inside the step
			faults = append(faults, markSentFault)
		}
		f.lockProx.Arm(faults...)
		out, err := f.h.Handle(ctx, in)
		if err != nil || out.SESMessageID == "" {
			t.Fatalf("= %+v, %v; the mail went out, so the task must succeed", out, err)
		}
		rec, _, _ := f.locks.Get(ctx, "m-5")
		if !rec.OutcomeUnknown() {
			t.Fatalf("lock %+v, want it outcome-unknown", rec)
		}
		// A retry, or a redelivery after the lease, sends nothing more.
		hits := f.sesProx.Hits()
		if _, err := f.h.Handle(ctx, in); workflow.NameOf(err) != workflow.OutcomeUnknown {
			t.Fatalf("the retry = %v, want %s", err, workflow.OutcomeUnknown)
		}
		f.clock.Advance(lease + time.Second)
		now := f.clock.Now()
		_, err = f.locks.Acquire(ctx, lock.AcquireParams{MailID: "m-5", Owner: "exec-2/msg", ContentHash: "h", Now: now, LeaseUntil: now.Add(lease), ExpiresAt: now.Add(2 * lease)})
		if ce := lock.AsCondition(err); ce == nil || ce.Current == nil || !ce.Current.OutcomeUnknown() {
			t.Fatalf("a redelivery took the lock over: %v", err)
		}
		if f.sesProx.Hits() != hits || len(sentWith(t, f, "subject-5")) != 1 {
			t.Fatal("the mail was sent again")
		}
	})

	t.Run("AttemptWriteFailsSendsNothing", func(t *testing.T) {
		f := setup(t)
		in := prepare(t, f, "m-6", "exec-1/msg", "subject-6")
		// Recording the attempt fails.
		f.lockProx.Arm(markSentFault)
		if _, err := f.h.Handle(ctx, in); workflow.NameOf(err) != workflow.Transient || f.sesProx.Hits() != 0 {
			t.Fatalf("= %v with %d sends; want %s and none", err, f.sesProx.Hits(), workflow.Transient)
		}
		if rec, _, _ := f.locks.Get(ctx, "m-6"); rec.OutcomeUnknown() {
			t.Fatalf("lock %+v: outcome-unknown although SES was never called", rec)
		}
		if out, err := f.h.Handle(ctx, in); err != nil || out.SESMessageID == "" {
			t.Fatalf("the retry = %+v, %v", out, err)
		}
	})

	t.Run("PacedPerRecipient", func(t *testing.T) {
		// Two tokens a second; each mail has two recipients (to and bcc).
		f := setupPaced(t, func(c clock.Clock) send.Pacer {
			p, err := pacer.New(mempacer.New(), pacer.Config{Rate: 2, Clock: c})
			if err != nil {
				t.Fatal(err)
			}
			return p
		})
		first := prepare(t, f, "p-1", "exec-1/msg", "paced-1")
		if _, err := f.h.Handle(ctx, first); err != nil {
			t.Fatal(err)
		}
		second := prepare(t, f, "p-2", "exec-1/msg", "paced-2")
		hits := f.sesProx.Hits()
		if _, err := f.h.Handle(ctx, second); workflow.NameOf(err) != workflow.Throttled {
			t.Fatalf("second mail in the same second = %v, want %s", err, workflow.Throttled)
		}
		if f.sesProx.Hits() != hits {
			t.Fatal("a throttled send reached SES")
		}
		// A paced refusal writes nothing: the mail is not outcome-unknown,
		// and the attempt is not counted.
		if rec, found, _ := f.locks.Get(ctx, "p-2"); found {
			t.Fatalf("lock after a paced refusal: %+v, want none", rec)
		}
		if n, by := f.writes.total(); n != 2 {
			t.Fatalf("lock-table writes after one send and one paced refusal: %d (%s), want 2", n, by)
		}
		f.clock.Advance(time.Second)
		if out, err := f.h.Handle(ctx, second); err != nil || out.SESMessageID == "" {
			t.Fatalf("a second later = %+v, %v", out, err)
		}
	})

	t.Run("ReservedGrantWritesNothing", func(t *testing.T) {
		// Two tokens a second, a batch of three two-recipient mails
		// reserved at once: the first now, then half a second apart.
		var p *pacer.Pacer
		f := setupPaced(t, func(c clock.Clock) send.Pacer {
			var err error
			p, err = pacer.New(mempacer.New(), pacer.Config{Rate: 2, MaxWait: 4 * time.Second, Clock: c})
			if err != nil {
				t.Fatal(err)
			}
			return p
		})
		grants, err := p.Reserve(ctx, []int{2, 2, 2})
		if err != nil || grants[0].IsZero() {
			t.Fatalf("Reserve = %v, %v", grants, err)
		}
		pacing := send.Pacing{}
		for _, g := range grants {
			pacing.Grants = append(pacing.Grants, g.UnixMicro())
		}
		for i := range 3 {
			in := prepare(t, f, fmt.Sprintf("r-%d", i), "exec-1/msg", fmt.Sprintf("reserved-%d", i))
			in.Pacing, in.Index = pacing, i
			start := f.clock.Now()
			if out, err := f.h.Handle(ctx, in); err != nil || out.SESMessageID == "" {
				t.Fatalf("mail %d = %+v, %v", i, out, err)
			}
			// It waited for its grant, and no longer.
			if got, want := f.clock.Now(), time.UnixMicro(pacing.Grants[i]); got.Before(want) || (i > 0 && got.Sub(start) > time.Second) {
				t.Fatalf("mail %d sent at %v, its grant %v", i, got, want)
			}
		}
		if c := p.Counts(); c.Takes != 0 || c.Reservations != 1 || c.Expired != 0 {
			t.Fatalf("pacer counts %+v, want one reservation and no take", c)
		}
		// A retry takes its own tokens; so does a grant gone stale, and a
		// pacing that does not fit the index.
		retry := prepare(t, f, "r-retry", "exec-1/msg", "reserved-retry")
		retry.Pacing, retry.Index, retry.RetryCount = pacing, 0, 1
		stale := prepare(t, f, "r-stale", "exec-1/msg", "reserved-stale")
		stale.Pacing, stale.Index = pacing, 0
		misfit := prepare(t, f, "r-misfit", "exec-1/msg", "reserved-misfit")
		misfit.Pacing, misfit.Index = pacing, 7
		for _, in := range []send.In{retry, stale, misfit} {
			f.clock.Advance(10 * time.Second)
			if out, err := f.h.Handle(ctx, in); err != nil || out.SESMessageID == "" {
				t.Fatalf("%s = %+v, %v", in.MailID, out, err)
			}
		}
		if c := p.Counts(); c.Takes != 3 || c.Expired != 1 {
			t.Fatalf("pacer counts %+v, want three takes, one of them a stale grant", c)
		}
	})

	t.Run("EarlierAttemptsFromTheRetryCount", func(t *testing.T) {
		// The pacer hears how many attempts came before: the state's
		// retry count, whatever instance made them.
		var earlier []int
		refuse := pacerFunc(func(_ context.Context, _ int, _ string, n int) error {
			earlier = append(earlier, n)
			return workflow.Errorf(workflow.Throttled, "no token")
		})
		f := setupPaced(t, func(clock.Clock) send.Pacer { return refuse })
		in := prepare(t, f, "a-1", "exec-1/msg", "attempts-1")
		for i := range 3 {
			in.RetryCount = 2 * i
			if _, err := f.h.Handle(ctx, in); workflow.NameOf(err) != workflow.Throttled {
				t.Fatalf("= %v, want %s", err, workflow.Throttled)
			}
		}
		if fmt.Sprint(earlier) != "[0 2 4]" {
			t.Fatalf("earlier attempts passed to the pacer: %v, want [0 2 4]", earlier)
		}
		if n, by := f.writes.total(); n != 0 {
			t.Fatalf("throttled attempts wrote on the lock: %d (%s)", n, by)
		}
		if rec, found, _ := f.locks.Get(ctx, "a-1"); found {
			t.Fatalf("lock after throttled attempts: %+v, want none", rec)
		}
	})

	t.Run("StagedProblems", func(t *testing.T) {
		f := setup(t)
		base := prepare(t, f, "m-6", "exec-1/msg", "subject-6")
		cases := []struct {
			name string
			mod  func(in *send.In)
			want workflow.ErrorName
		}{
			{"sha mismatch", func(in *send.In) { in.Staged.SHA256 = strings.Repeat("0", 64) }, workflow.Transient},
			{"size mismatch", func(in *send.In) { in.Staged.Size++ }, workflow.Transient},
			{"missing", func(in *send.In) { in.Staged.Key = tasktest.StagingPrefix + "gone.eml" }, workflow.Transient},
			{"outside staging", func(in *send.In) { in.Staged.Key = "attachments/x.eml" }, workflow.InvalidMessage},
			{"traversal", func(in *send.In) { in.Staged.Key = tasktest.StagingPrefix + "../attachments/x.eml" }, workflow.InvalidMessage},
			{"bad sha", func(in *send.In) { in.Staged.SHA256 = "xyz" }, workflow.InvalidMessage},
			{"zero size", func(in *send.In) { in.Staged.Size = 0 }, workflow.InvalidMessage},
			{"mailId mismatch", func(in *send.In) { in.MailID = "other" }, workflow.InvalidMessage},
			{"no owner", func(in *send.In) { in.Owner = "" }, workflow.InvalidMessage},
			{"negative retry count", func(in *send.In) { in.RetryCount = -1 }, workflow.InvalidMessage},
			{"retry count too large", func(in *send.In) { in.RetryCount = send.MaxRetryCount + 1 }, workflow.InvalidMessage},
			{"invalid body", func(in *send.In) { in.Body = `{"version":1}` }, workflow.InvalidMessage},
		}
		for _, c := range cases {
			in := base
			c.mod(&in)
			if _, err := f.h.Handle(ctx, in); workflow.NameOf(err) != c.want {
				t.Errorf("%s: %v, want %s", c.name, err, c.want)
			}
		}
		if f.sesProx.Hits() != 0 {
			t.Fatal("a broken input reached SES")
		}
	})

	// A message carried inline is sent as decoded, and the store is never
	// read.
	t.Run("SendsInline", func(t *testing.T) {
		f := setup(t)
		in, raw := prepareInline(t, f, "i-1", "exec-1/msg", "inline-1")
		out, err := f.h.Handle(ctx, in)
		if err != nil || out.SESMessageID == "" {
			t.Fatalf("Send = %+v, %v", out, err)
		}
		if got := f.handed.rawHanded(); len(got) != 1 || !bytes.Equal(got[0], raw) {
			t.Fatalf("the sender was handed %d messages, want one equal to the decoded inline bytes (%d bytes)", len(got), len(raw))
		}
		if n := f.opens.reads(); n != 0 {
			t.Fatalf("an inline send read the store %d times", n)
		}
		if got := sentWith(t, f, "inline-1"); len(got) != 1 || got[0].MessageID != out.SESMessageID {
			t.Fatalf("SES recorded %+v", got)
		}
		if rec, _, _ := f.locks.Get(ctx, "i-1"); rec.Status != lock.Sent || rec.SESMessageID != out.SESMessageID {
			t.Fatalf("lock after an inline send: %+v", rec)
		}
	})

	// An inline message that breaks the contract is the input's fault:
	// Mail.InvalidMessage, nothing sent, nothing written on the lock.
	t.Run("InlineProblems", func(t *testing.T) {
		f := setup(t)
		base, raw := prepareInline(t, f, "i-2", "exec-1/msg", "inline-2")
		tampered := slices.Clone(raw)
		tampered[len(tampered)-3] ^= 0x20
		cases := []struct {
			name string
			mod  func(in *send.In)
			says []string
		}{
			{"tampered content", func(in *send.In) { in.Staged.Inline = base64.StdEncoding.EncodeToString(tampered) }, []string{"staged.inline", "staged.sha256"}},
			{"size too large", func(in *send.In) { in.Staged.Size++ }, []string{"staged.inline", "staged.size"}},
			{"size too small", func(in *send.In) { in.Staged.Size-- }, []string{"staged.inline", "staged.size"}},
			{"not base64", func(in *send.In) { in.Staged.Inline = "!" + in.Staged.Inline[1:] }, []string{"staged.inline", "base64"}},
			{"key and inline", func(in *send.In) { in.Staged.Key = tasktest.StagingPrefix + "i-2.eml" }, []string{"staged.key", "staged.inline", "both"}},
			{"neither", func(in *send.In) { in.Staged.Inline = "" }, []string{"staged.key", "staged.inline", "neither"}},
		}
		for _, c := range cases {
			in := base
			c.mod(&in)
			_, err := f.h.Handle(ctx, in)
			if workflow.NameOf(err) != workflow.InvalidMessage {
				t.Errorf("%s: %v, want %s", c.name, err, workflow.InvalidMessage)
				continue
			}
			for _, w := range c.says {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("%s: %q does not name %q", c.name, err, w)
				}
			}
		}
		if f.sesProx.Hits() != 0 || len(f.handed.rawHanded()) != 0 {
			t.Fatal("a broken inline message reached the sender")
		}
		if n, by := f.writes.total(); n != 0 {
			t.Fatalf("broken inline messages wrote on the lock: %d (%s)", n, by)
		}
		if rec, found, _ := f.locks.Get(ctx, "i-2"); found {
			t.Fatalf("lock after broken inline messages: %+v, want none taken", rec)
		}
		if n := f.opens.reads(); n != 0 {
			t.Fatalf("broken inline messages read the store %d times", n)
		}
		// The intact input still sends.
		if out, err := f.h.Handle(ctx, base); err != nil || out.SESMessageID == "" {
			t.Fatalf("the intact inline input = %+v, %v", out, err)
		}
	})

	// An inline text longer than any message the handler accepts is
	// refused on its length, before it is decoded: the text here is not
	// even base64, and the error is about its length.
	t.Run("InlineTooLongRefusedBeforeDecoding", func(t *testing.T) {
		const maxBytes = 1000
		f := setupWith(t, maxBytes, func(clock.Clock) send.Pacer { return nil })
		in, _ := prepareInline(t, f, "i-3", "exec-1/msg", "inline-3")
		// Three more bytes than maxBytes once decoded (4 characters per 3
		// bytes), one more than the two bytes of padding slack allowed.
		in.Staged.Inline = strings.Repeat("!", (maxBytes+3)/3*4+4)
		_, err := f.h.Handle(ctx, in)
		if workflow.NameOf(err) != workflow.InvalidMessage || !strings.Contains(err.Error(), "staged.inline") || !strings.Contains(err.Error(), fmt.Sprintf("more than a %d-byte message", maxBytes)) {
			t.Fatalf("an inline text beyond %d bytes = %v; want %s refusing its length", maxBytes, err, workflow.InvalidMessage)
		}
		if strings.Contains(err.Error(), "base64") {
			t.Fatalf("the over-long text was decoded before it was refused: %v", err)
		}
		// At the limit it is decoded (and refused as not base64).
		in.Staged.Inline = strings.Repeat("!", maxBytes/3*4+4)
		if _, err := f.h.Handle(ctx, in); workflow.NameOf(err) != workflow.InvalidMessage || !strings.Contains(err.Error(), "base64") {
			t.Fatalf("an inline text of %d characters = %v; want it decoded and refused as not base64", len(in.Staged.Inline), err)
		}
		if f.sesProx.Hits() != 0 {
			t.Fatal("an over-long inline message reached SES")
		}
	})
}

// pacerFunc adapts a function to send.Pacer; it is never given a grant.
type pacerFunc func(ctx context.Context, recipients int, key string, earlier int) error

func (f pacerFunc) TakeReserved(ctx context.Context, _ time.Time, recipients int, key string, earlier int) error {
	return f(ctx, recipients, key, earlier)
}
