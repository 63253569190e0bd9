package webhooks_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/mailflow/mailflow/client"
	"github.com/mailflow/mailflow/clock"
	"github.com/mailflow/mailflow/local/webhooks"
	"github.com/mailflow/mailflow/workflow"
)

var (
	start  = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	secret = []byte("0123456789abcdef-webhook-secret")
)

func event(id string) workflow.OutcomeEvent {
	return workflow.OutcomeEvent{Version: workflow.OutcomeEventVersion, ID: id, Type: workflow.EventDelivered,
		MailID: "mail-1", Time: start, Recipient: "ann@example.com", SESMessageID: "ses-" + id}
}

// request is what a receiver got.
type request struct {
	header http.Header
	body   []byte
}

// receiver is an HTTP endpoint that answers with answer(n) to its n-th
// request (1 for the first) and keeps every request.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	got    []request
	answer func(n int, w http.ResponseWriter, r *http.Request)
}

func newReceiver(t *testing.T, answer func(n int, w http.ResponseWriter, r *http.Request)) *receiver {
	rc := &receiver{answer: answer}
	rc.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rc.mu.Lock()
		rc.got = append(rc.got, request{header: r.Header.Clone(), body: body})
		n := len(rc.got)
		rc.mu.Unlock()
		if rc.answer != nil {
			rc.answer(n, w, r)
		}
	}))
	t.Cleanup(rc.Close)
	return rc
}

func (rc *receiver) requests() []request {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]request(nil), rc.got...)
}

func openLog(t *testing.T, path string, clk clock.Clock) *webhooks.Log {
	t.Helper()
	l, err := webhooks.Open(path, clk)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { l.Close() })
	return l
}

// dispatch starts a dispatcher on a new log posting to urls.
func dispatch(t *testing.T, clk *clock.Virtual, cfg webhooks.Config, urls ...string) (*webhooks.Dispatcher, *webhooks.Log) {
	t.Helper()
	l := openLog(t, filepath.Join(t.TempDir(), "outcomes.db"), clk)
	return startOn(t, l, clk, cfg, urls...), l
}

func startOn(t *testing.T, l *webhooks.Log, clk *clock.Virtual, cfg webhooks.Config, urls ...string) *webhooks.Dispatcher {
	t.Helper()
	cfg.URLs, cfg.Clock = urls, clk
	if cfg.Secret == nil {
		cfg.Secret = secret
	}
	d, err := webhooks.New(l, cfg)
	if err != nil {
		t.Fatal(err)
	}
	d.Start(context.Background())
	t.Cleanup(func() { d.Close() })
	return d
}

func publish(t *testing.T, d *webhooks.Dispatcher, events ...workflow.OutcomeEvent) {
	t.Helper()
	if err := d.Publish(context.Background(), events); err != nil {
		t.Fatal(err)
	}
}

// waitFor waits (wall time) until cond holds.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(10 * time.Second); !cond(); time.Sleep(2 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// drive moves the virtual clock from one scheduled attempt to the next
// until cond holds: only while no attempt is due or in flight (a pending
// delivery whose next attempt is still ahead has settled its last one), and
// then exactly to the earliest next attempt, so attempts take no virtual
// time and the waits between them are the dispatcher's own.
func drive(t *testing.T, clk *clock.Virtual, l *webhooks.Log, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s (virtual time %v)", what, clk.Now().Sub(start))
		}
		now := clk.Now()
		var next time.Time
		busy := false
		for _, d := range deliveries(t, l, "") {
			switch {
			case d.Status != webhooks.StatusPending:
			case !d.NextAttempt.After(now):
				busy = true
			case next.IsZero() || d.NextAttempt.Before(next):
				next = d.NextAttempt
			}
		}
		if !busy && !next.IsZero() {
			clk.Advance(next.Sub(now))
		}
	}
}

func deliveries(t *testing.T, l *webhooks.Log, id string) []webhooks.Delivery {
	t.Helper()
	ds, err := l.Deliveries(context.Background(), id, 0)
	if err != nil {
		t.Fatal(err)
	}
	return ds
}

func status(t *testing.T, l *webhooks.Log, id string) string {
	ds := deliveries(t, l, id)
	if len(ds) != 1 {
		t.Fatalf("%d deliveries of %s, want 1", len(ds), id)
	}
	return ds[0].Status
}

func TestEveryEventArrivesSigned(t *testing.T) {
	t.Parallel()
	clk := clock.NewVirtual(start)
	rc := newReceiver(t, nil)
	d, l := dispatch(t, clk, webhooks.Config{}, rc.URL)
	events := []workflow.OutcomeEvent{event("e1"), event("e2"), event("e3")}
	publish(t, d, events...)
	waitFor(t, "three requests", func() bool { return len(rc.requests()) == 3 })
	byID := map[string]request{}
	for _, r := range rc.requests() {
		byID[r.header.Get(client.WebhookEventIDHeader)] = r
	}
	for _, e := range events {
		r, ok := byID[e.ID]
		if !ok {
			t.Fatalf("no request with %s %s", client.WebhookEventIDHeader, e.ID)
		}
		want, _ := e.MarshalJSON()
		if !bytes.Equal(r.body, want) {
			t.Errorf("body of %s is %s, want the event's JSON %s", e.ID, r.body, want)
		}
		if ct := r.header.Get("Content-Type"); ct != "application/json" {
			t.Errorf("Content-Type %q", ct)
		}
		sig := r.header.Get(client.WebhookSignatureHeader)
		if err := client.VerifyWebhook(secret, sig, r.body, clk.Now(), 5*time.Minute); err != nil {
			t.Errorf("event %s: %v", e.ID, err)
		}
		if err := client.VerifyWebhook([]byte("another-secret-of-16+bytes"), sig, r.body, clk.Now(), 5*time.Minute); !errors.Is(err, client.ErrWebhookMismatch) {
			t.Errorf("event %s verified with a wrong secret: %v", e.ID, err)
		}
		waitFor(t, "delivered status", func() bool { return status(t, l, e.ID) == webhooks.StatusDelivered })
		a := deliveries(t, l, e.ID)[0].Attempts
		if len(a) != 1 || a[0].StatusCode != http.StatusOK || a[0].Error != "" || a[0].N != 1 || !a[0].At.Equal(start) {
			t.Errorf("attempts of %s: %+v, want one answered 200 at the start", e.ID, a)
		}
	}
}

func TestAFailingReceiverGetsTheEventOnTheThirdAttempt(t *testing.T) {
	t.Parallel()
	clk := clock.NewVirtual(start)
	rc := newReceiver(t, func(n int, w http.ResponseWriter, _ *http.Request) {
		if n <= 2 {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
	})
	d, l := dispatch(t, clk, webhooks.Config{MinBackoff: time.Second, MaxBackoff: time.Minute})
	_ = d
	d = startOn(t, l, clk, webhooks.Config{MinBackoff: time.Second, MaxBackoff: time.Minute}, rc.URL)
	publish(t, d, event("e1"))
	drive(t, clk, l, "delivery", func() bool { return status(t, l, "e1") == webhooks.StatusDelivered })
	got := rc.requests()
	if len(got) != 3 {
		t.Fatalf("%d requests, want 3", len(got))
	}
	a := deliveries(t, l, "e1")[0].Attempts
	if len(a) != 3 || a[0].StatusCode != 503 || a[1].StatusCode != 503 || a[2].StatusCode != 200 {
		t.Fatalf("attempts %+v, want 503, 503, 200", a)
	}
	if !strings.Contains(a[0].Error, "503") || a[2].Error != "" {
		t.Errorf("attempt errors %q, %q", a[0].Error, a[2].Error)
	}
	// Backoff: the n-th wait is between half and all of MinBackoff·2^(n-1).
	if gap := a[1].At.Sub(a[0].At); gap < 500*time.Millisecond || gap > time.Second {
		t.Errorf("first wait %v, want 0.5s..1s", gap)
	}
	if gap := a[2].At.Sub(a[1].At); gap < time.Second || gap > 2*time.Second {
		t.Errorf("second wait %v, want 1s..2s", gap)
	}
	for _, r := range got {
		if err := client.VerifyWebhook(secret, r.header.Get(client.WebhookSignatureHeader), r.body, clk.Now(), time.Minute); err != nil {
			t.Error(err)
		}
	}
}

func TestAHangingReceiverDelaysNoOtherReceiverNorPublish(t *testing.T) {
	t.Parallel()
	clk := clock.NewVirtual(start)
	release := make(chan struct{})
	hanging := newReceiver(t, func(_ int, _ http.ResponseWriter, r *http.Request) {
		select {
		case <-release:
		case <-r.Context().Done():
		}
	})
	t.Cleanup(func() { close(release) }) // before the server closes
	healthy := newReceiver(t, nil)
	d, l := dispatch(t, clk, webhooks.Config{Concurrency: 2, AttemptTimeout: 10 * time.Second}, hanging.URL, healthy.URL)
	const n = 6 // more than the hanging receiver's slots
	var slowest time.Duration
	for i := range n {
		t0 := time.Now()
		publish(t, d, event(fmt.Sprintf("e%d", i)))
		slowest = max(slowest, time.Since(t0))
	}
	// No virtual time passes: the healthy receiver gets every event while
	// the hanging one holds two requests open.
	waitFor(t, "the healthy receiver's events", func() bool {
		delivered := 0
		for _, dl := range deliveries(t, l, "") {
			if dl.URL == healthy.URL && dl.Status == webhooks.StatusDelivered {
				delivered++
			}
		}
		return delivered == n
	})
	if got := len(healthy.requests()); got != n {
		t.Errorf("the healthy receiver got %d requests, want %d", got, n)
	}
	waitFor(t, "the hanging receiver's two requests", func() bool { return len(hanging.requests()) == 2 })
	t.Logf("slowest Publish %v with a receiver hanging", slowest)
	if slowest > time.Second {
		t.Errorf("Publish took %v with a receiver hanging", slowest)
	}
	// The attempt timeout, on the clock, ends the hanging requests.
	clk.Advance(10 * time.Second)
	waitFor(t, "timed-out attempts recorded", func() bool {
		timedOut := 0
		for _, dl := range deliveries(t, l, "") {
			if dl.URL == hanging.URL && len(dl.Attempts) > 0 && strings.Contains(dl.Attempts[0].Error, "no answer within 10s") {
				timedOut++
			}
		}
		return timedOut == 2
	})
}

func TestBoundedRetryGivesUpAndRecordsIt(t *testing.T) {
	t.Parallel()
	clk := clock.NewVirtual(start)
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) { w.WriteHeader(http.StatusInternalServerError) })
	cfg := webhooks.Config{RetryFor: time.Minute, MinBackoff: time.Second, MaxBackoff: 10 * time.Second}
	d, l := dispatch(t, clk, cfg, rc.URL)
	publish(t, d, event("e1"))
	drive(t, clk, l, "failure", func() bool { return status(t, l, "e1") == webhooks.StatusFailed })
	dl := deliveries(t, l, "e1")[0]
	last := dl.Attempts[len(dl.Attempts)-1]
	// 0.5–1s, 1–2s, 2–4s, 4–8s, then at most 10s apart: at least 7 in the minute.
	if len(dl.Attempts) < 7 || last.StatusCode != 500 || !last.At.Equal(start.Add(time.Minute)) || !dl.Deadline.Equal(start.Add(time.Minute)) {
		t.Fatalf("attempts %+v: want at least 7, the last answered 500 at the end of the minute", dl.Attempts)
	}
	for i := 1; i < len(dl.Attempts); i++ {
		if gap := dl.Attempts[i].At.Sub(dl.Attempts[i-1].At); gap > 10*time.Second {
			t.Errorf("wait %d is %v, longer than the maximum backoff", i, gap)
		}
	}
	if len(rc.requests()) != len(dl.Attempts) {
		t.Errorf("%d requests, %d attempts recorded", len(rc.requests()), len(dl.Attempts))
	}
	// Given up: no more requests however long we wait.
	before := len(rc.requests())
	for range 20 {
		clk.Advance(time.Hour)
		time.Sleep(time.Millisecond)
	}
	if n := len(rc.requests()); n != before {
		t.Errorf("%d requests after giving up", n-before)
	}
}

func TestAnEventPublishedTwiceIsDeliveredOnce(t *testing.T) {
	t.Parallel()
	clk := clock.NewVirtual(start)
	rc := newReceiver(t, nil)
	d, l := dispatch(t, clk, webhooks.Config{}, rc.URL)
	publish(t, d, event("e1"), event("e1"))
	publish(t, d, event("e1"), event("e2"))
	waitFor(t, "two requests", func() bool { return len(rc.requests()) == 2 })
	waitFor(t, "both delivered", func() bool {
		return status(t, l, "e1") == webhooks.StatusDelivered && status(t, l, "e2") == webhooks.StatusDelivered
	})
	publish(t, d, event("e1"))
	clk.Advance(time.Hour)
	time.Sleep(50 * time.Millisecond)
	if n := len(rc.requests()); n != 2 {
		t.Fatalf("%d requests for two distinct events", n)
	}
	rs, err := l.List(context.Background(), webhooks.Query{})
	if err != nil || len(rs) != 2 {
		t.Fatalf("log holds %d events (%v), want 2", len(rs), err)
	}
}

func TestPendingDeliveriesResumeAfterARestart(t *testing.T) {
	t.Parallel()
	clk := clock.NewVirtual(start)
	var mu sync.Mutex
	up := false
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		defer mu.Unlock()
		if !up {
			w.WriteHeader(http.StatusBadGateway)
		}
	})
	path := filepath.Join(t.TempDir(), "outcomes.db")
	l, err := webhooks.Open(path, clk)
	if err != nil {
		t.Fatal(err)
	}
	cfg := webhooks.Config{URLs: []string{rc.URL}, Secret: secret, Clock: clk}
	d, err := webhooks.New(l, cfg)
	if err != nil {
		t.Fatal(err)
	}
	d.Start(context.Background())
	publish(t, d, event("e1"))
	// Published while nothing delivers: recorded, pending.
	waitFor(t, "the first attempt", func() bool { return len(deliveries(t, l, "e1")[0].Attempts) == 1 })
	d.Close()
	undelivered, err := webhooks.New(l, webhooks.Config{URLs: []string{rc.URL}, Secret: secret, Clock: clk})
	if err != nil {
		t.Fatal(err)
	}
	publish(t, undelivered, event("e2")) // never started
	l.Close()

	mu.Lock()
	up = true
	mu.Unlock()
	l2 := openLog(t, path, clk)
	startOn(t, l2, clk, webhooks.Config{}, rc.URL)
	drive(t, clk, l2, "both delivered after the restart", func() bool {
		return status(t, l2, "e1") == webhooks.StatusDelivered && status(t, l2, "e2") == webhooks.StatusDelivered
	})
	a := deliveries(t, l2, "e1")[0].Attempts
	if len(a) != 2 || a[0].StatusCode != 502 || a[1].StatusCode != 200 {
		t.Fatalf("attempts of e1 %+v, want 502 then 200", a)
	}
}

func TestConfigIsValidatedAndTheSecretNeverShown(t *testing.T) {
	t.Parallel()
	short := "short-secret"
	for _, c := range []struct {
		cfg  webhooks.Config
		want string
	}{
		{webhooks.Config{URLs: []string{"ftp://example.com/x"}, Secret: secret}, `must be an absolute http or https URL, not scheme "ftp"`},
		{webhooks.Config{URLs: []string{"/relative"}, Secret: secret}, `must be an absolute http or https URL`},
		{webhooks.Config{URLs: []string{"http:///nohost"}, Secret: secret}, "has no host"},
		{webhooks.Config{URLs: []string{"http://example.com/#x"}, Secret: secret}, "has a fragment"},
		{webhooks.Config{URLs: []string{"http://example.com/a", "http://example.com/a"}, Secret: secret}, "given twice"},
		{webhooks.Config{URLs: []string{"http://example.com/a"}}, "webhook secret has 0 bytes, at least 16"},
		{webhooks.Config{URLs: []string{"http://example.com/a"}, Secret: []byte(short)}, "webhook secret has 12 bytes"},
		{webhooks.Config{RetryFor: -time.Second}, "retry period -1s is negative"},
		{webhooks.Config{MinBackoff: time.Hour, MaxBackoff: time.Second}, "longer than the maximum"},
		{webhooks.Config{Concurrency: 65}, "outside 0..64"},
		{webhooks.Config{URLs: []string{"https://user:hunter2-password@example.com/a", "https://user:hunter2-password@example.com/a"}, Secret: secret}, "user:xxxxx@example.com"},
	} {
		err := c.cfg.Validate()
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%v: error %v, want it to say %q", c.cfg.URLs, err, c.want)
			continue
		}
		for _, s := range []string{string(secret), short, "hunter2"} {
			if strings.Contains(err.Error(), s) {
				t.Errorf("error %q shows a secret", err)
			}
		}
	}
	if err := (webhooks.Config{URLs: []string{"https://example.com/hook"}, Secret: secret}).Validate(); err != nil {
		t.Errorf("a valid configuration: %v", err)
	}
	if s := fmt.Sprint(webhooks.Config{URLs: []string{"https://u:pw@example.com/"}, Secret: secret}); strings.Contains(s, string(secret)) || strings.Contains(s, "pw@") {
		t.Errorf("Config prints as %q", s)
	}
}

func TestInvalidEventIsRefused(t *testing.T) {
	t.Parallel()
	clk := clock.NewVirtual(start)
	d, l := dispatch(t, clk, webhooks.Config{})
	bad := event("e2")
	bad.Recipient = ""
	err := d.Publish(context.Background(), []workflow.OutcomeEvent{event("e1"), bad})
	if !errors.Is(err, webhooks.ErrInvalidEvent) || !strings.Contains(err.Error(), "recipient") {
		t.Fatalf("Publish of an invalid event: %v", err)
	}
	if rs, _ := l.List(context.Background(), webhooks.Query{}); len(rs) != 0 {
		t.Errorf("%d events recorded from a refused batch", len(rs))
	}
}

func TestListAndFollowReadWhatAnotherHandleRecorded(t *testing.T) {
	t.Parallel()
	clk := clock.NewVirtual(start)
	path := filepath.Join(t.TempDir(), "outcomes.db")
	writer := openLog(t, path, clk)
	d := startOn(t, writer, clk, webhooks.Config{})
	old := event("old")
	old.Time = start.Add(-2 * time.Hour)
	publish(t, d, old, event("e1"))

	// A reader of its own, as the CLI in another process.
	reader := openLog(t, path, clock.Wall)
	rs, err := reader.List(context.Background(), webhooks.Query{Since: start.Add(-time.Hour)})
	if err != nil || len(rs) != 1 || rs[0].Event.ID != "e1" {
		t.Fatalf("List since an hour ago: %+v %v", rs, err)
	}
	all, _ := reader.List(context.Background(), webhooks.Query{})
	after, _ := reader.List(context.Background(), webhooks.Query{After: all[0].Seq})
	if len(all) != 2 || len(after) != 1 || after[0].Event.ID != "e1" {
		t.Fatalf("List all %d, after the first %d", len(all), len(after))
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	got := make(chan string, 10)
	done := make(chan error, 1)
	go func() {
		done <- reader.Follow(ctx, webhooks.Query{Since: start.Add(-time.Hour)}, func(r webhooks.Record) error {
			got <- r.Event.ID
			return nil
		})
	}()
	late := event("late") // recorded now, about an hour ago: followed all the same
	late.Time = start.Add(-90 * time.Minute)
	if id := <-got; id != "e1" {
		t.Fatalf("followed %s first, want e1 (the old event is before --since)", id)
	}
	publish(t, d, event("e2"), late, event("e3"))
	for _, want := range []string{"e2", "late", "e3"} {
		select {
		case id := <-got:
			if id != want {
				t.Fatalf("followed %s, want %s", id, want)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("Follow did not report %s", want)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("Follow ended with %v", err)
	}
}

func TestARedirectIsNotFollowed(t *testing.T) {
	t.Parallel()
	clk := clock.NewVirtual(start)
	elsewhere := newReceiver(t, nil)
	rc := newReceiver(t, func(_ int, w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, elsewhere.URL, http.StatusTemporaryRedirect)
	})
	d, l := dispatch(t, clk, webhooks.Config{}, rc.URL)
	publish(t, d, event("e1"))
	waitFor(t, "the first attempt", func() bool { return len(deliveries(t, l, "e1")[0].Attempts) == 1 })
	a := deliveries(t, l, "e1")[0]
	if a.Status != webhooks.StatusPending || a.Attempts[0].StatusCode != http.StatusTemporaryRedirect {
		t.Fatalf("delivery %+v, want pending after a 307", a)
	}
	if n := len(elsewhere.requests()); n != 0 {
		t.Fatalf("the redirect was followed: %d requests elsewhere", n)
	}
}
