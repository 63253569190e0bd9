package local

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/mailflow/mailflow/client"
	"github.com/mailflow/mailflow/clock"
	"github.com/mailflow/mailflow/local/datadir"
	"github.com/mailflow/mailflow/local/webhooks"
	"github.com/mailflow/mailflow/workflow"
)

const testWebhookSecret = "a-webhook-secret-of-32-bytes-xyz"

// TestWebhookProblems: every mistake of the webhook settings is reported
// with its field, the URL's password and the secret never shown.
func TestWebhookProblems(t *testing.T) {
	t.Parallel()
	cfg := Config{DataDir: "d", Webhooks: WebhookConfig{
		URLs:     []string{"ftp://x.example/a", "https://user:pass-word@hooks.example/b", "https://user:pass-word@hooks.example/b", "http:///nohost"},
		Secret:   "short-secret",
		RetryFor: 40 * 24 * time.Hour,
	}}
	var got []string
	for _, p := range cfg.Problems() {
		got = append(got, p.Error())
	}
	all := strings.Join(got, "\n")
	for _, want := range []string{
		`local: Webhooks.URLs "ftp://x.example/a" must be an absolute http or https URL, not scheme "ftp"`,
		`local: Webhooks.URLs "https://user:xxxxx@hooks.example/b" is given twice`,
		`local: Webhooks.URLs "http:///nohost" has no host`,
		`local: Webhooks.Secret (12 bytes, not shown) must have at least 16 bytes`,
		`local: Webhooks.RetryFor 960h0m0s is outside 1s..720h0m0s`,
	} {
		if !strings.Contains(all, want) {
			t.Errorf("problems\n%s\ndo not say %q", all, want)
		}
	}
	for _, secret := range []string{"short-secret", "pass-word"} {
		if strings.Contains(all, secret) || strings.Contains(fmt.Sprint(cfg.Webhooks), secret) {
			t.Errorf("a secret is shown: %s / %v", all, cfg.Webhooks)
		}
	}
	if len(got) != 5 {
		t.Errorf("%d problems, want 5:\n%s", len(got), all)
	}
	ok := Config{DataDir: "d", Webhooks: WebhookConfig{URLs: []string{"https://hooks.example/b"}, Secret: testWebhookSecret}}
	if err := ok.Validate(); err != nil {
		t.Errorf("valid webhooks: %v", err)
	}
	if ps := (Config{DataDir: "d"}).Problems(FieldWebhookRetryFor); len(ps) != 1 || ps[0].Field != FieldWebhookRetryFor {
		t.Errorf("an explicit zero retry period: %v", ps)
	}
	if ps := (Config{DataDir: "d", Webhooks: WebhookConfig{Secret: "x"}}).Problems(); len(ps) != 0 {
		t.Errorf("a short secret without URLs: %v", ps)
	}
}

// TestOpenOutcomesPostsTheDirectorysEvents: what the runtime opens posts a
// published event, signed, and keeps it in the data directory's log.
func TestOpenOutcomesPostsTheDirectorysEvents(t *testing.T) {
	t.Parallel()
	got := make(chan *http.Request, 1)
	bodies := make(chan []byte, 1)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		got <- r
		bodies <- b
	}))
	defer srv.Close()
	dir := datadir.New(t.TempDir())
	if _, err := dir.Claim(time.Now()); err != nil {
		t.Fatal(err)
	}
	clk := clock.NewVirtual(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	cfg := Config{DataDir: dir.Path(), Clock: clk, Webhooks: WebhookConfig{URLs: []string{srv.URL}, Secret: testWebhookSecret}}
	log, d, err := openOutcomes(dir, cfg)
	if err != nil {
		t.Fatal(err)
	}
	defer log.Close()
	d.Start(context.Background())
	defer d.Close()
	e := workflow.OutcomeEvent{Version: 1, ID: "ev-1", Type: workflow.EventAccepted, MailID: "mail-1", Time: clk.Now()}
	if err := d.Publish(context.Background(), []workflow.OutcomeEvent{e}); err != nil {
		t.Fatal(err)
	}
	select {
	case r := <-got:
		if err := client.VerifyWebhook([]byte(testWebhookSecret), r.Header.Get(client.WebhookSignatureHeader), <-bodies, clk.Now(), time.Minute); err != nil {
			t.Fatal(err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no request")
	}
	if rs, err := log.List(context.Background(), webhooks.Query{}); err != nil || len(rs) != 1 || rs[0].Event.ID != "ev-1" {
		t.Fatalf("log %+v %v", rs, err)
	}
	bad := cfg
	bad.Webhooks.Secret = ""
	if _, _, err := openOutcomes(dir, bad); err == nil || !strings.Contains(err.Error(), "secret has 0 bytes") {
		t.Fatalf("no secret: %v", err)
	}
}
