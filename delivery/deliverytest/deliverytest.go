// Package deliverytest is the conformance suite every [delivery.Store]
// adapter must pass. An adapter's test calls [Run] with a function that
// hands out an empty store for one test; the suite passes explicit times
// (no clock is read), so expiry is tested deterministically.
//
//	func TestConformance(t *testing.T) {
//		deliverytest.Run(t, func(t *testing.T) delivery.Store { return newStoreInTempDir(t) })
//	}
//
// Adapters must keep times to the millisecond ([Precision]); ExpiresAt may
// be rounded up to the whole second (DynamoDB's TTL attribute is in
// seconds), so the suite's ExpiresAt are whole seconds.
package deliverytest

import (
	"context"
	"fmt"
	"reflect"
	"slices"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/mailflow/mailflow/delivery"
	"github.com/mailflow/mailflow/workflow"
)

// Precision is the time resolution adapters must keep.
const Precision = time.Millisecond

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

const retention = 30 * 24 * time.Hour

// Run runs the suite; newStore returns an empty store and registers its
// own cleanup.
func Run(t *testing.T, newStore func(t *testing.T) delivery.Store) {
	t.Run("RoundTrip", func(t *testing.T) { t.Parallel(); testRoundTrip(t, newStore(t)) })
	t.Run("Idempotent", func(t *testing.T) { t.Parallel(); testIdempotent(t, newStore(t)) })
	t.Run("Concurrent", func(t *testing.T) { t.Parallel(); testConcurrent(t, newStore(t)) })
	t.Run("Expiry", func(t *testing.T) { t.Parallel(); testExpiry(t, newStore(t)) })
	t.Run("Validation", func(t *testing.T) { t.Parallel(); testValidation(t, newStore(t)) })
	t.Run("MailsApart", func(t *testing.T) { t.Parallel(); testMailsApart(t, newStore(t)) })
}

// norm makes records comparable with reflect.DeepEqual: times in UTC,
// empty slices nil.
func norm(m delivery.Mail) delivery.Mail {
	m.StateAt, m.UpdatedAt, m.ExpiresAt = m.StateAt.UTC(), m.UpdatedAt.UTC(), m.ExpiresAt.UTC()
	m.Recipients = slices.Clone(m.Recipients)
	for i := range m.Recipients {
		m.Recipients[i].At = m.Recipients[i].At.UTC()
	}
	if len(m.Recipients) == 0 {
		m.Recipients = nil
	}
	m.History = normEvents(m.History)
	return m
}

func normEvents(es []delivery.Event) []delivery.Event {
	if len(es) == 0 {
		return nil
	}
	es = slices.Clone(es)
	for i := range es {
		es[i].Time = es[i].Time.UTC()
	}
	return es
}

func sameMail(t *testing.T, what string, got, want delivery.Mail) {
	t.Helper()
	if g, w := norm(got), norm(want); !reflect.DeepEqual(g, w) {
		t.Errorf("%s:\n got  %+v\n want %+v", what, g, w)
	}
}

func sameEvents(t *testing.T, what string, got, want []delivery.Event) {
	t.Helper()
	if g, w := normEvents(got), normEvents(want); !reflect.DeepEqual(g, w) {
		t.Errorf("%s:\n got  %+v\n want %+v", what, g, w)
	}
}

func ms(n int) time.Time { return t0.Add(time.Duration(n) * time.Millisecond) }

// everyField is a batch whose events set every field an event has.
func everyField() []delivery.Event {
	return []delivery.Event{
		{ID: "acc", Type: workflow.EventAccepted, Time: ms(1)},
		{ID: "sent-1", Type: workflow.EventSent, Time: ms(1002), SESMessageID: "0100018e-ses"},
		{ID: "bnc", Type: workflow.EventBounced, Recipient: "b@example.com", Time: ms(2003), SESMessageID: "0100018e-ses",
			Bounce: &workflow.EventBounce{Type: "Permanent", SubType: "NoEmail", DiagnosticCode: "smtp; 550 5.1.1 no such user"}},
		{ID: "dlv", Type: workflow.EventDelivered, Recipient: "a@example.com", Time: ms(2004), SESMessageID: "0100018e-ses"},
		{ID: "cmp", Type: workflow.EventComplained, Recipient: "a@example.com", Time: ms(9005), SESMessageID: "0100018e-ses",
			Complaint: &workflow.EventComplaint{FeedbackType: "abuse"}},
		{ID: "cmp-nofb", Type: workflow.EventComplained, Recipient: "c@example.com", Time: ms(9006), Complaint: &workflow.EventComplaint{}},
		{ID: "dl", Type: workflow.EventDeadLettered, Time: ms(9000), Reason: &workflow.EventReason{Error: string(workflow.InvalidMessage), Cause: "subject: empty"},
			Queued: &delivery.QueuedRecord{MessageID: "msg-1", ExecutionID: "arn:exec:1", Recipients: []string{"a@example.com", "b@example.com"}}},
		{ID: "rej", Type: workflow.EventRejected, Time: ms(9007), Reason: &workflow.EventReason{Error: string(workflow.Rejected), Cause: "Bad content: virus"}},
		{ID: "unicode", Type: workflow.EventDelayed, Recipient: "d@xn--bcher-kva.example", Time: ms(9008)},
	}
}

func testRoundTrip(t *testing.T, s delivery.Store) {
	ctx := context.Background()
	now := ms(10_000)
	p := delivery.ApplyParams{MailID: "mail-round-trip", Events: everyField(), Now: now, ExpiresAt: t0.Add(retention)}
	want, _ := delivery.Merge(nil, p)
	want.Version, want.UpdatedAt = 1, now

	got, applied, err := s.Apply(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	sameMail(t, "Apply's record", got, want)
	sort.Slice(applied, func(i, j int) bool { return applied[i].ID < applied[j].ID })
	all := everyField()
	sort.Slice(all, func(i, j int) bool { return all[i].ID < all[j].ID })
	sameEvents(t, "Apply's new events", applied, all)

	stored, ok, err := s.Get(ctx, p.MailID, now)
	if err != nil || !ok {
		t.Fatalf("Get: ok=%v err=%v", ok, err)
	}
	sameMail(t, "Get's record", stored, want)
	if stored.State != workflow.EventRejected {
		t.Errorf("state %q, want rejected", stored.State)
	}
	if r, _ := stored.Recipient("a@example.com"); r.State != workflow.EventComplained || r.Complaint == nil || r.Complaint.FeedbackType != "abuse" {
		t.Errorf("a@example.com: %+v, want complained with its feedback type", r)
	}

	// A second batch bumps the version and keeps the first.
	later := delivery.ApplyParams{MailID: p.MailID, Now: ms(20_000), ExpiresAt: t0.Add(retention),
		Events: []delivery.Event{{ID: "dlv-b", Type: workflow.EventDelivered, Recipient: "e@example.com", Time: ms(19_999)}}}
	want2, _ := delivery.Merge(&want, later)
	want2.Version, want2.UpdatedAt = 2, later.Now
	got2, applied2, err := s.Apply(ctx, later)
	if err != nil {
		t.Fatal(err)
	}
	sameMail(t, "second Apply's record", got2, want2)
	sameEvents(t, "second Apply's new events", applied2, later.Events)
	stored2, _, err := s.Get(ctx, p.MailID, later.Now)
	if err != nil {
		t.Fatal(err)
	}
	sameMail(t, "Get after the second Apply", stored2, want2)

	if _, ok, err := s.Get(ctx, "mail-never-applied", now); err != nil || ok {
		t.Errorf("Get of an unknown mail: ok=%v err=%v", ok, err)
	}
}

func testIdempotent(t *testing.T, s delivery.Store) {
	ctx := context.Background()
	p := delivery.ApplyParams{MailID: "mail-idem", Events: everyField(), Now: ms(10_000), ExpiresAt: t0.Add(retention)}
	first, _, err := s.Apply(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	for i := range 3 {
		again := p
		again.Now = p.Now.Add(time.Duration(i+1) * time.Second)
		got, applied, err := s.Apply(ctx, again)
		if err != nil {
			t.Fatal(err)
		}
		if len(applied) != 0 {
			t.Errorf("re-apply %d reported %d new events", i, len(applied))
		}
		sameMail(t, "record after a re-apply", got, first)
	}
	// Part of the batch again plus one new event: only that one is new.
	mixed := p
	mixed.Events = append(everyField()[:3], delivery.Event{ID: "new", Type: workflow.EventDelayed, Recipient: "a@example.com", Time: ms(500)})
	got, applied, err := s.Apply(ctx, mixed)
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) != 1 || applied[0].ID != "new" || got.Version != first.Version+1 {
		t.Errorf("mixed batch: new %+v, version %d (before %d)", applied, got.Version, first.Version)
	}
	// Only a later ExpiresAt is written, and no event is new.
	ext := p
	ext.ExpiresAt = p.ExpiresAt.Add(24 * time.Hour)
	got, applied, err = s.Apply(ctx, ext)
	if err != nil {
		t.Fatal(err)
	}
	stored, _, err := s.Get(ctx, p.MailID, p.Now)
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) != 0 || !stored.ExpiresAt.Equal(ext.ExpiresAt) || !got.ExpiresAt.Equal(ext.ExpiresAt) {
		t.Errorf("extending ExpiresAt: new %d, stored %v, want %v", len(applied), stored.ExpiresAt, ext.ExpiresAt)
	}
}

// testConcurrent applies distinct events of one mail from 8 goroutines at
// once: the adapter's conditional write and retry must lose none.
func testConcurrent(t *testing.T, s delivery.Store) {
	const workers, each = 8, delivery.MaxHistory / 8
	ctx := context.Background()
	var (
		mu   sync.Mutex
		seen = map[string]int{}
		wg   sync.WaitGroup
		errs = make(chan error, workers*each)
	)
	for w := range workers {
		wg.Go(func() {
			for i := range each {
				e := delivery.Event{ID: fmt.Sprintf("w%d-%d", w, i), Type: workflow.EventDelivered,
					Recipient: fmt.Sprintf("r%d@example.com", w), Time: ms(w*1000 + i)}
				_, applied, err := s.Apply(ctx, delivery.ApplyParams{MailID: "mail-race", Events: []delivery.Event{e},
					Now: ms(100_000), ExpiresAt: t0.Add(retention)})
				if err != nil {
					errs <- err
					return
				}
				mu.Lock()
				for _, a := range applied {
					seen[a.ID]++
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	m, ok, err := s.Get(ctx, "mail-race", ms(100_000))
	if err != nil || !ok {
		t.Fatalf("Get: ok=%v err=%v", ok, err)
	}
	if len(m.History) != workers*each || len(m.Recipients) != workers {
		t.Errorf("%d events and %d recipients kept, want %d and %d", len(m.History), len(m.Recipients), workers*each, workers)
	}
	if m.Version != workers*each {
		t.Errorf("version %d, want %d (one write per event)", m.Version, workers*each)
	}
	if len(seen) != workers*each {
		t.Errorf("%d events reported new, want %d", len(seen), workers*each)
	}
	for id, n := range seen {
		if n != 1 {
			t.Errorf("%s reported new %d times", id, n)
		}
	}
}

func testExpiry(t *testing.T, s delivery.Store) {
	ctx := context.Background()
	expires := t0.Add(time.Hour)
	ev := delivery.Event{ID: "dlv", Type: workflow.EventDelivered, Recipient: "a@example.com", Time: ms(5)}
	p := delivery.ApplyParams{MailID: "mail-expiry", Events: []delivery.Event{ev}, Now: ms(10), ExpiresAt: expires}
	first, _, err := s.Apply(ctx, p)
	if err != nil {
		t.Fatal(err)
	}
	if !first.ExpiresAt.Equal(expires) {
		t.Errorf("ExpiresAt %v, want %v", first.ExpiresAt, expires)
	}
	if _, ok, err := s.Get(ctx, p.MailID, expires.Add(-Precision)); err != nil || !ok {
		t.Errorf("Get just before ExpiresAt: ok=%v err=%v", ok, err)
	}
	if _, ok, err := s.Get(ctx, p.MailID, expires); err != nil || ok {
		t.Errorf("Get at ExpiresAt: ok=%v err=%v, want absent", ok, err)
	}
	// Apply at ExpiresAt starts afresh: the same event is new again.
	again := delivery.ApplyParams{MailID: p.MailID, Events: []delivery.Event{ev}, Now: expires, ExpiresAt: expires.Add(time.Hour)}
	got, applied, err := s.Apply(ctx, again)
	if err != nil {
		t.Fatal(err)
	}
	if len(applied) != 1 || len(got.History) != 1 {
		t.Errorf("Apply on an expired record: %d new, history %d, want a fresh record", len(applied), len(got.History))
	}
	if got.Version <= first.Version {
		t.Errorf("version %d after %d: a fresh record must still be a new write", got.Version, first.Version)
	}
	if m, ok, err := s.Get(ctx, p.MailID, expires); err != nil || !ok || !m.ExpiresAt.Equal(again.ExpiresAt) {
		t.Errorf("Get of the fresh record: ok=%v err=%v %+v", ok, err, m)
	}
}

func testValidation(t *testing.T, s delivery.Store) {
	ctx := context.Background()
	good := delivery.Event{ID: "d", Type: workflow.EventDelivered, Recipient: "a@example.com", Time: ms(1)}
	for name, p := range map[string]delivery.ApplyParams{
		"no mail id":        {Events: []delivery.Event{good}, Now: ms(2), ExpiresAt: t0.Add(time.Hour)},
		"expires at now":    {MailID: "mail-bad", Events: []delivery.Event{good}, Now: ms(2), ExpiresAt: ms(2)},
		"event without id":  {MailID: "mail-bad", Events: []delivery.Event{good, {Type: workflow.EventSent, Time: ms(1)}}, Now: ms(2), ExpiresAt: t0.Add(time.Hour)},
		"unknown type":      {MailID: "mail-bad", Events: []delivery.Event{{ID: "x", Type: "opened", Time: ms(1)}}, Now: ms(2), ExpiresAt: t0.Add(time.Hour)},
		"misplaced address": {MailID: "mail-bad", Events: []delivery.Event{{ID: "x", Type: workflow.EventSent, Recipient: "a@example.com", Time: ms(1)}}, Now: ms(2), ExpiresAt: t0.Add(time.Hour)},
	} {
		if _, _, err := s.Apply(ctx, p); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, ok, err := s.Get(ctx, "mail-bad", ms(2)); err != nil || ok {
		t.Errorf("a refused Apply stored a record: ok=%v err=%v", ok, err)
	}
}

func testMailsApart(t *testing.T, s delivery.Store) {
	ctx := context.Background()
	for i, id := range []string{"mail-a", "mail-b"} {
		p := delivery.ApplyParams{MailID: id, Now: ms(10), ExpiresAt: t0.Add(time.Hour),
			Events: []delivery.Event{{ID: "same-id", Type: workflow.EventSent, Time: ms(i), SESMessageID: "ses-" + id}}}
		if _, applied, err := s.Apply(ctx, p); err != nil || len(applied) != 1 {
			t.Fatalf("%s: %d new, err %v: an event ID is per mail", id, len(applied), err)
		}
	}
	m, _, err := s.Get(ctx, "mail-b", ms(10))
	if err != nil || m.SESMessageID != "ses-mail-b" || m.MailID != "mail-b" {
		t.Errorf("mail-b: %+v, err %v", m, err)
	}
}

// IndexedStore is a store with its dead-letter index.
type IndexedStore interface {
	delivery.Store
	delivery.DeadLetterIndex
}

// RunDeadLetterIndex runs the dead-letter index cases; newStore returns an
// empty store.
func RunDeadLetterIndex(t *testing.T, newStore func(t *testing.T) IndexedStore) {
	t.Run("DeadLetterIndex", func(t *testing.T) { t.Parallel(); testDeadLetterIndex(t, newStore(t)) })
	t.Run("DeadLetterIndexValidation", func(t *testing.T) { t.Parallel(); testDeadLetterIndexValidation(t, newStore(t)) })
}

func deadLettered(id string, at time.Time, errName, cause string, rcpts ...string) delivery.Event {
	return delivery.Event{ID: id, Type: workflow.EventDeadLettered, Time: at,
		Reason: &workflow.EventReason{Error: errName, Cause: cause},
		Queued: &delivery.QueuedRecord{MessageID: "src-" + id, ExecutionID: "exec-" + id, Recipients: rcpts}}
}

func testDeadLetterIndex(t *testing.T, s IndexedStore) {
	ctx := context.Background()
	now := ms(100_000)
	apply := func(mailID string, expires time.Time, events ...delivery.Event) {
		t.Helper()
		if _, _, err := s.Apply(ctx, delivery.ApplyParams{MailID: mailID, Events: events, Now: now, ExpiresAt: expires}); err != nil {
			t.Fatal(err)
		}
	}
	keep := t0.Add(retention)
	// Dead-lettered in this order of time: c, a, b (a and b at the same
	// millisecond, so the mail id decides).
	apply("mail-a", keep, delivery.Event{ID: "acc-a", Type: workflow.EventAccepted, Time: ms(2000)},
		deadLettered("dl-a", ms(2000), string(workflow.InvalidMessage), "to[0]: not an e-mail address", "x@example.com", "y@example.org"))
	apply("mail-b", keep, deadLettered("dl-b", ms(2000), string(workflow.Rejected), "not verified"))
	apply("mail-c", keep, deadLettered("dl-c", ms(1000), string(workflow.Suppressed), "suppressed"))
	// Not listed: only accepted; dead-lettered and then sent by a later
	// execution; dead-lettered and then delivered; expired at now.
	apply("mail-accepted", keep, delivery.Event{ID: "acc", Type: workflow.EventAccepted, Time: ms(10)})
	apply("mail-sent-later", keep, deadLettered("dl-s", ms(3000), "E", "c"), delivery.Event{ID: "snt", Type: workflow.EventSent, Time: ms(4000)})
	apply("mail-delivered-later", keep, deadLettered("dl-d", ms(3000), "E", "c"),
		delivery.Event{ID: "dlv", Type: workflow.EventDelivered, Recipient: "a@example.com", Time: ms(3500)})
	apply("mail-expired", now.Add(time.Second), deadLettered("dl-x", ms(5000), "E", "c"))

	list := func(after string, limit int, at time.Time) ([]delivery.Mail, string) {
		t.Helper()
		mails, next, err := s.DeadLettered(ctx, delivery.DeadLetterPageParams{After: after, Limit: limit, Now: at})
		if err != nil {
			t.Fatal(err)
		}
		return mails, next
	}
	ids := func(ms []delivery.Mail) []string {
		out := []string{}
		for _, m := range ms {
			out = append(out, m.MailID)
		}
		return out
	}
	all, next := list("", 10, now.Add(time.Second))
	if got, want := ids(all), []string{"mail-c", "mail-a", "mail-b"}; !reflect.DeepEqual(got, want) || next != "" {
		t.Fatalf("whole index: %v next %q, want %v and no next", got, next, want)
	}
	a := all[1].DeadLetter
	want := &delivery.DeadLetter{At: ms(2000), Error: string(workflow.InvalidMessage), Cause: "to[0]: not an e-mail address",
		MessageID: "src-dl-a", ExecutionID: "exec-dl-a", Recipients: []string{"x@example.com", "y@example.org"}}
	if a == nil || !a.At.Equal(want.At) || a.Error != want.Error || a.Cause != want.Cause || a.MessageID != want.MessageID ||
		a.ExecutionID != want.ExecutionID || !reflect.DeepEqual(a.Recipients, want.Recipients) {
		t.Errorf("mail-a's entry %+v, want %+v", a, want)
	}
	if m, _, _ := s.Get(ctx, "mail-a", now); m.DeadLetter == nil || m.DeadLetter.MessageID != "src-dl-a" {
		t.Errorf("Get of mail-a: dead letter %+v", m.DeadLetter)
	}
	// The expired record is listed while it lives.
	if got, _ := list("", 10, now); !reflect.DeepEqual(ids(got), []string{"mail-c", "mail-a", "mail-b", "mail-expired"}) {
		t.Errorf("before mail-expired expires: %v", ids(got))
	}

	// Page by page, two at a time.
	p1, next := list("", 2, now.Add(time.Second))
	if !reflect.DeepEqual(ids(p1), []string{"mail-c", "mail-a"}) || next != delivery.DeadLetterKey(ms(2000), "mail-a") {
		t.Fatalf("first page %v next %q", ids(p1), next)
	}
	p2, next2 := list(next, 2, now.Add(time.Second))
	if !reflect.DeepEqual(ids(p2), []string{"mail-b"}) || next2 != "" {
		t.Fatalf("second page %v next %q", ids(p2), next2)
	}

	// Forgetting removes the entry and keeps the record.
	ok, err := s.ForgetDeadLetter(ctx, "mail-a", now)
	if err != nil || !ok {
		t.Fatalf("ForgetDeadLetter(mail-a): ok=%v err=%v", ok, err)
	}
	if ok, err := s.ForgetDeadLetter(ctx, "mail-a", now); err != nil || ok {
		t.Errorf("forgetting again: ok=%v err=%v, want false", ok, err)
	}
	if ok, err := s.ForgetDeadLetter(ctx, "mail-accepted", now); err != nil || ok {
		t.Errorf("forgetting a mail without an entry: ok=%v err=%v, want false", ok, err)
	}
	m, found, err := s.Get(ctx, "mail-a", now)
	if err != nil || !found || m.DeadLetter != nil || m.State != workflow.EventDeadLettered || len(m.History) != 2 {
		t.Errorf("mail-a after forgetting: found=%v err=%v %+v", found, err, m)
	}
	// A redelivered event changes nothing; a later dead-lettering indexes
	// the mail again, at its new time.
	apply("mail-a", keep, deadLettered("dl-a", ms(2000), "E", "c"))
	if got, _ := list("", 10, now.Add(time.Second)); !reflect.DeepEqual(ids(got), []string{"mail-c", "mail-b"}) {
		t.Errorf("after a duplicate event: %v", ids(got))
	}
	apply("mail-a", keep, deadLettered("dl-a2", ms(6000), "E2", "c2"))
	if got, _ := list("", 10, now.Add(time.Second)); !reflect.DeepEqual(ids(got), []string{"mail-c", "mail-b", "mail-a"}) ||
		got[2].DeadLetter.Error != "E2" {
		t.Errorf("after dead-lettering again: %v", ids(got))
	}
	// A later acceptance (a redrive ran it again) removes the entry.
	apply("mail-b", keep, delivery.Event{ID: "acc-b2", Type: workflow.EventAccepted, Time: ms(7000)})
	if got, _ := list("", 10, now.Add(time.Second)); !reflect.DeepEqual(ids(got), []string{"mail-c", "mail-a"}) {
		t.Errorf("after mail-b was accepted again: %v", ids(got))
	}
}

func testDeadLetterIndexValidation(t *testing.T, s IndexedStore) {
	ctx := context.Background()
	for name, p := range map[string]delivery.DeadLetterPageParams{
		"zero limit":   {Limit: 0, Now: ms(1)},
		"limit > max":  {Limit: delivery.MaxDeadLetterPage + 1, Now: ms(1)},
		"no now":       {Limit: 1},
		"bad cursor":   {Limit: 1, Now: ms(1), After: "mail-1"},
		"bad cur time": {Limit: 1, Now: ms(1), After: "2026-13-01T00:00:00.000Z mail-1"},
	} {
		if _, _, err := s.DeadLettered(ctx, p); err == nil {
			t.Errorf("%s: accepted", name)
		}
	}
	if _, err := s.ForgetDeadLetter(ctx, "", ms(1)); err == nil {
		t.Error("forgetting an empty mail id: accepted")
	}
	bad := delivery.ApplyParams{MailID: "mail-bad", Now: ms(2), ExpiresAt: t0.Add(time.Hour),
		Events: []delivery.Event{{ID: "x", Type: workflow.EventSent, Time: ms(1), Queued: &delivery.QueuedRecord{MessageID: "m"}}}}
	if _, _, err := s.Apply(ctx, bad); err == nil {
		t.Error("a sent event with a queue record: accepted")
	}
}
