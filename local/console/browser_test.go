package console_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"
	"github.com/chromedp/chromedp"

	"github.com/mailflow/mailflow/asl"
	"github.com/mailflow/mailflow/cli"
	"github.com/mailflow/mailflow/delivery"
	"github.com/mailflow/mailflow/delivery/memdelivery"
	"github.com/mailflow/mailflow/local"
	"github.com/mailflow/mailflow/local/console"
	"github.com/mailflow/mailflow/local/execstore"
	"github.com/mailflow/mailflow/sender"
	"github.com/mailflow/mailflow/sender/sendertest"
	"github.com/mailflow/mailflow/testkit"
	"github.com/mailflow/mailflow/testkit/browser"
	"github.com/mailflow/mailflow/workflow"
)

// pipeline is a local runtime with the console served next to it, as
// `mailflow dev` serves it.
type pipeline struct {
	rt       *local.Runtime
	url      string
	finished chan execstore.Execution
	// deliveries is the console's delivery store: the tests record in it
	// what SES would have reported of their mails.
	deliveries *memdelivery.Store
}

func startPipeline(t *testing.T) *pipeline { return startPipelineWith(t, local.Hooks{}) }

// startPipelineWith starts the runtime and the console as `mailflow dev`
// wires them, with hooks injecting faults.
func startPipelineWith(t *testing.T, hooks local.Hooks) *pipeline {
	t.Helper()
	hub := console.NewHub()
	p := &pipeline{finished: make(chan execstore.Execution, 100), deliveries: memdelivery.New()}
	var cfg local.Config
	cfg.DataDir, cfg.Addr, cfg.BatchWindow = t.TempDir(), "127.0.0.1:0", 10*time.Millisecond
	cfg.OnEvent = hub.Event
	cfg.OnExecution = func(e execstore.Execution, items []execstore.Item) {
		hub.Execution(e, items)
		p.finished <- e
	}
	rt, err := local.StartWith(context.Background(), cfg, hooks)
	if err != nil {
		t.Fatal(err)
	}
	p.rt = rt
	t.Cleanup(func() { rt.Close(context.Background()) })
	backend := rt.Inspection()
	backend.Queues.PollInterval = 50 * time.Millisecond
	backend.Deliveries = p.deliveries
	srv, err := console.New(console.Options{Backend: backend, Definition: workflow.Definition(), Hub: hub,
		Counts: countsOf{p.deliveries, []string{"welcome-7", "order-1001"}}})
	if err != nil {
		t.Fatal(err)
	}
	l, err := console.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { srv.Serve(ctx, l); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	p.url = "http://" + l.Addr().String()
	return p
}

func (p *pipeline) wait(t *testing.T, n int) {
	t.Helper()
	for range n {
		select {
		case <-p.finished:
		case <-time.After(60 * time.Second):
			t.Fatal("an execution did not finish")
		}
	}
}

func (p *pipeline) sendMail(t *testing.T, mailID, subject string) {
	t.Helper()
	dir := t.TempDir()
	html := filepath.Join(dir, "body.html")
	os.WriteFile(html, []byte(`<h1 style="color:#1565c0">Order confirmed</h1><p>Thanks for your order <b>#1001</b>.</p><script>document.title="pwned"</script>`), 0o644)
	invoice := filepath.Join(dir, "invoice-1001.txt")
	os.WriteFile(invoice, []byte("invoice 1001: 3 items, 42.00 EUR\n"), 0o644)
	var out, errOut strings.Builder
	code := cli.Run(context.Background(), []string{"send", "--endpoint", p.rt.Endpoint(), "--to", "Ann Example <ann@example.org>",
		"--subject", subject, "--text", "Thanks for your order #1001.", "--html-file", html, "--attach", invoice, "--mail-id", mailID},
		strings.NewReader(""), &out, &errOut)
	if code != 0 {
		t.Fatalf("send: %d %s %s", code, out.String(), errOut.String())
	}
}

func (p *pipeline) sendRaw(t *testing.T, body string) {
	t.Helper()
	c := p.rt.Config()
	client := sqs.New(sqs.Options{Region: c.Region, BaseEndpoint: aws.String(p.rt.Endpoint()),
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")})
	if _, err := client.SendMessage(context.Background(), &sqs.SendMessageInput{
		QueueUrl: aws.String(p.rt.QueueURL(c.SourceQueue)), MessageBody: aws.String(body)}); err != nil {
		t.Fatal(err)
	}
}

// startBrowser starts headless Chromium with a fresh profile.
func startBrowser(t *testing.T) context.Context {
	t.Helper()
	return browser.Start(t, chromedp.WindowSize(1400, 1000))
}

// step runs actions with a bounded time.
func step(t *testing.T, ctx context.Context, what string, actions ...chromedp.Action[chromedp.Void]) {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	if err := chromedp.Do(sctx, actions...); err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

// value runs one action that returns a value, with a bounded time.
func value[T any](t *testing.T, ctx context.Context, what string, a chromedp.Action[T]) T {
	t.Helper()
	sctx, cancel := context.WithTimeout(ctx, 60*time.Second)
	defer cancel()
	v, err := chromedp.Run(sctx, a)
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
	return v
}

// until polls a JavaScript condition in the page until it holds.
func until(t *testing.T, ctx context.Context, what, cond string) {
	t.Helper()
	value(t, ctx, what, chromedp.Poll[bool](cond, chromedp.WithPollingTimeout(60*time.Second)))
}

func screenshot(t *testing.T, ctx context.Context, dir, name string) { shoot(t, ctx, dir, name, true) }

// shoot saves a screenshot in dir, and in docs/ too when docs is set and
// MAILFLOW_UPDATE_SCREENSHOTS=1.
func shoot(t *testing.T, ctx context.Context, dir, name string, docs bool) {
	t.Helper()
	value(t, ctx, "hide toasts", chromedp.Evaluate[bool](`document.querySelectorAll('.toast').forEach(e => e.remove()) || true`))
	png := value(t, ctx, "screenshot "+name, chromedp.FullScreenshot(100))
	path := filepath.Join(dir, name)
	if err := os.WriteFile(path, png, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshot %s", path)
	if docs && os.Getenv("MAILFLOW_UPDATE_SCREENSHOTS") == "1" {
		docs := filepath.Join(testkit.RepoRoot(t), "docs")
		os.MkdirAll(docs, 0o755)
		if err := os.WriteFile(filepath.Join(docs, name), png, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// TestConsoleInBrowser finds why a mail failed, replays it and sees it
// delivered, in headless Chromium; then it redrives the dead-letter queue.
// Screenshots go to a temporary directory (MAILFLOW_SCREENSHOT_DIR names
// another), and to docs/ with MAILFLOW_UPDATE_SCREENSHOTS=1.
func TestConsoleInBrowser(t *testing.T) {
	t.Parallel()
	p := startPipeline(t)
	shots := t.TempDir()
	if dir := os.Getenv("MAILFLOW_SCREENSHOT_DIR"); dir != "" {
		shots = dir
	}

	// A delivered mail, a mail SES rejects (dead-lettered), an invalid one.
	p.sendMail(t, "welcome-7", "Welcome aboard")
	p.wait(t, 1)
	p.rt.SES().Inject(workflow.Rejected)
	p.sendMail(t, "order-1001", "Your order #1001")
	p.wait(t, 1)
	p.sendRaw(t, `{"version":1,"mailId":"broken-9","to":["not an address"],"subject":"x","text":"y"}`)
	p.wait(t, 1)
	failed, err := p.rt.Executions().List(context.Background(), execstore.Filter{MailID: "order-1001"})
	if err != nil || len(failed.Executions) != 1 {
		t.Fatalf("executions of order-1001: %+v %v", failed, err)
	}
	row := `#executions tbody tr[data-name="` + failed.Executions[0].Name + `"]`
	// What SES reported: welcome-7 bounced at one recipient, with a
	// diagnostic code full of markup; order-1001 was dead-lettered.
	bounced(t, p.deliveries, "welcome-7")
	now := time.Now()
	if _, _, err := p.deliveries.Apply(context.Background(), delivery.ApplyParams{MailID: "order-1001", Now: now, ExpiresAt: now.Add(time.Hour), Events: []delivery.Event{
		{ID: "o-a", Type: workflow.EventAccepted, Time: now.Add(-time.Second)},
		{ID: "o-d", Type: workflow.EventDeadLettered, Time: now, Reason: &workflow.EventReason{Error: string(workflow.Rejected), Cause: "Email address is not verified."}},
	}}); err != nil {
		t.Fatal(err)
	}

	ctx := startBrowser(t)
	// The list shows the three executions with their outcomes.
	step(t, ctx, "list", chromedp.Navigate(p.url+"/"), chromedp.WaitVisible(row))
	text := value(t, ctx, "list text", chromedp.Text(`#executions tbody`))
	for _, want := range []string{"dead-lettered", "Mail.Rejected", "Mail.InvalidMessage", "sent"} {
		if !strings.Contains(text, want) {
			t.Errorf("list lacks %q:\n%s", want, text)
		}
	}

	until(t, ctx, "the delivery counts", `!document.getElementById('delivery-counts').hidden`)
	counts := value(t, ctx, "delivery counts", chromedp.Evaluate[[]string](`[...document.querySelectorAll('#delivery-counts .count')].map(c => c.textContent)`))
	if strings.Join(counts, "|") != "bounced 1|dead-lettered 1" {
		t.Errorf("delivery counts %q", counts)
	}
	shoot(t, ctx, shots, "console-list.png", false)
	// Filters: the executions with an item not delivered, then one mail's.
	step(t, ctx, "filter failed", chromedp.SetValue(`select[name="status"]`, "failed"), chromedp.Click(`form.filters button`))
	until(t, ctx, "two failed executions", `document.querySelectorAll('#executions tbody tr[data-name]').length === 2`)
	// The filter is in the URL: a reload (a copied link) shows the same list,
	// and back returns to the unfiltered one.
	if loc := value(t, ctx, "location", chromedp.Location()); !strings.HasSuffix(loc, "#/?status=failed") {
		t.Errorf("the filter is not in the URL: %s", loc)
	}
	step(t, ctx, "reload the filtered list", chromedp.Reload())
	until(t, ctx, "the filter after a reload", `document.querySelector('select[name="status"]').value === 'failed' && document.querySelectorAll('#executions tbody tr[data-name]').length === 2`)
	step(t, ctx, "back to no filter", chromedp.NavigateBack())
	until(t, ctx, "no filter after back", `document.querySelector('select[name="status"]').value === '' && document.querySelectorAll('#executions tbody tr[data-name]').length === 3`)
	value(t, ctx, "forward to the filter", chromedp.Evaluate[bool](`history.forward() || true`))
	until(t, ctx, "the filter after forward", `document.querySelector('select[name="status"]').value === 'failed' && document.querySelectorAll('#executions tbody tr[data-name]').length === 2`)
	// A time range from a link: since 2000 keeps the two, until 2000 none.
	step(t, ctx, "since in the URL", chromedp.Navigate(p.url+"/#/?status=failed&since=2000-01-01T00:00:00Z"))
	until(t, ctx, "since 2000", `document.querySelector('input[name="since"]').value.startsWith('2000-01-01') || document.querySelector('input[name="since"]').value.startsWith('1999-12-31')`)
	until(t, ctx, "two since 2000", `document.querySelectorAll('#executions tbody tr[data-name]').length === 2`)
	step(t, ctx, "until in the URL", chromedp.Navigate(p.url+"/#/?until=2000-01-01T00:00:00Z"))
	until(t, ctx, "none until 2000", `document.querySelectorAll('#executions tbody tr[data-name]').length === 0 && document.querySelector('#executions tbody').textContent.includes('No executions match')`)
	step(t, ctx, "the failed list again", chromedp.Navigate(p.url+"/#/?status=failed"))
	until(t, ctx, "two failed executions", `document.querySelectorAll('#executions tbody tr[data-name]').length === 2`)
	step(t, ctx, "filter by mail", chromedp.SetValue(`select[name="status"]`, ""), chromedp.SetValue(`input[name="mailId"]`, "welcome-7"), chromedp.Click(`form.filters button`))
	until(t, ctx, "welcome-7's execution", `(() => { const r = document.querySelectorAll('#executions tbody tr[data-name]'); return r.length === 1 && r[0].textContent.includes('sent 1'); })()`)
	value(t, ctx, "clear the mail id", chromedp.Evaluate[bool](`(document.querySelector('input[name="mailId"]').value = '', true)`))
	step(t, ctx, "no filter", chromedp.Click(`form.filters button`))
	until(t, ctx, "all three executions", `document.querySelectorAll('#executions tbody tr[data-name]').length === 3`)

	// The failed execution: Send is highlighted as failed, with its cause.
	step(t, ctx, "execution page", chromedp.Click(row), chromedp.WaitVisible(`#graph g.state.failed[data-state="Send"]`))
	text = value(t, ctx, "failure box", chromedp.Text(`#failure`))
	if !strings.Contains(text, "Send failed: Mail.Rejected") || !strings.Contains(text, "MessageRejected") {
		t.Errorf("failure box: %q", text)
	}
	failedStates := value(t, ctx, "failed states", chromedp.Evaluate[[]string](`[...document.querySelectorAll('#graph g.state.failed')].map(g => g.dataset.state)`))
	if strings.Join(failedStates, ",") != "Send" {
		t.Errorf("failed states in the graph: %v, want [Send]", failedStates)
	}
	sent := value(t, ctx, "succeeded states", chromedp.Evaluate[[]string](`[...document.querySelectorAll('#graph g.state.succeeded')].map(g => g.dataset.state)`))
	if got := strings.Join(sent, ","); !strings.Contains(got, "AcquireLock,AlreadySent?,FetchAttachments,Inline?,ReleaseForDeadLetter,DeadLetter,RecordDeadLettered,DeadLettered") || slices.Contains(sent, "Sent") || slices.Contains(sent, "SendInline") {
		t.Errorf("succeeded states in the graph: %v", sent)
	}
	detail := value(t, ctx, "state detail", chromedp.Text(`#state-detail`))
	if !strings.Contains(detail, "order-1001") || !strings.Contains(detail, "Mail.Rejected") {
		t.Errorf("state detail lacks the input or the error:\n%s", detail)
	}
	if text = value(t, ctx, "item delivery", chromedp.Text(`#items td.delivery`)); !strings.Contains(text, "dead-lettered") {
		t.Errorf("the item's delivery: %q", text)
	}
	// The path taken: Send's failure was caught into ReleaseForDeadLetter,
	// the Map went on to AnyToRetry; a path not taken stays plain.
	for _, e := range [][2]string{{"Send", "ReleaseForDeadLetter"}, {"ProcessRecords", "AnyToRetry"}, {"AcquireLock", "AlreadySent?"}} {
		sel := `#graph path.edge.taken[data-from="` + e[0] + `"][data-to="` + e[1] + `"]`
		if n := value(t, ctx, "taken edge", chromedp.Evaluate[int](`document.querySelectorAll('`+sel+`').length`)); n != 1 {
			t.Errorf("the transition %s → %s is not drawn as taken (%d)", e[0], e[1], n)
		}
	}
	if n := value(t, ctx, "edges not taken", chromedp.Evaluate[int](`document.querySelectorAll('#graph path.edge.taken[data-to="Sent"]').length`)); n != 0 {
		t.Errorf("%d edge(s) into Sent drawn as taken", n)
	}
	// The state's input is a foldable tree: collapse all, expand all, copy.
	until(t, ctx, "the input tree", `document.querySelectorAll('#state-detail .json details[open]').length > 0`)
	step(t, ctx, "collapse all", chromedp.Click(`#state-detail .json .json-collapse`))
	if n := value(t, ctx, "open nodes", chromedp.Evaluate[int](`document.querySelector('#state-detail .json').querySelectorAll('details[open]').length`)); n != 0 {
		t.Errorf("%d node(s) open after collapse all", n)
	}
	step(t, ctx, "expand all", chromedp.Click(`#state-detail .json .json-expand`))
	if n := value(t, ctx, "closed nodes", chromedp.Evaluate[int](`document.querySelector('#state-detail .json').querySelectorAll('details:not([open])').length`)); n != 0 {
		t.Errorf("%d node(s) closed after expand all", n)
	}
	step(t, ctx, "copy the input", chromedp.Click(`#state-detail .json .json-copy`))
	until(t, ctx, "copied", `document.querySelector('#state-detail .json .json-copy').textContent === 'Copied'`)
	screenshot(t, ctx, shots, "console-execution.png")

	// The events tab: the whole history, each event unfolding to its
	// payloads; the tab and the event are in the URL.
	step(t, ctx, "events tab", chromedp.Click(`#tabs button[data-tab="events"]`), chromedp.WaitVisible(`#events tbody tr[data-event]`))
	nEvents := value(t, ctx, "events", chromedp.Evaluate[int](`document.querySelectorAll('#events tbody tr[data-event]').length`))
	if want := value(t, ctx, "events in the tab label", chromedp.Evaluate[string](`document.querySelector('#tabs button[data-tab="events"]').textContent`)); want != fmt.Sprintf("Events (%d)", nEvents) || nEvents < 10 {
		t.Errorf("%d event rows, tab %q", nEvents, want)
	}
	failedEvent := value(t, ctx, "the failed task event", chromedp.Evaluate[string](`[...document.querySelectorAll('#events tbody tr[data-event]')].find(r => r.textContent.includes('TaskFailed')).dataset.event`))
	step(t, ctx, "open the failed event", chromedp.Click(`#events tr[data-event="`+failedEvent+`"]`), chromedp.WaitVisible(`#events tr[data-event-detail="`+failedEvent+`"]`))
	if text = value(t, ctx, "event detail", chromedp.Text(`#events tr[data-event-detail="`+failedEvent+`"]`)); !strings.Contains(text, "Mail.Rejected") {
		t.Errorf("the failed event's detail: %q", text)
	}
	if text = value(t, ctx, "event row", chromedp.Text(`#events tr[data-event="`+failedEvent+`"]`)); !strings.Contains(text, "Send") || !strings.Contains(text, "+") {
		t.Errorf("the failed event's row lacks its step or elapsed time: %q", text)
	}
	loc := value(t, ctx, "location", chromedp.Location())
	if !strings.Contains(loc, "tab=events") || !strings.Contains(loc, "event="+failedEvent) {
		t.Errorf("the events tab is not in the URL: %s", loc)
	}
	step(t, ctx, "the event's link", chromedp.Navigate("about:blank"), chromedp.Navigate(loc), chromedp.WaitVisible(`#events tr[data-event-detail="`+failedEvent+`"]`))
	// An event with a payload shows it as a tree.
	step(t, ctx, "open the start event", chromedp.Click(`#events tr[data-event="1"]`), chromedp.WaitVisible(`#events tr[data-event-detail="1"] .json-tree`))
	if text = value(t, ctx, "start event input", chromedp.Text(`#events tr[data-event-detail="1"] .json-tree`)); !strings.Contains(text, "order-1001") {
		t.Errorf("the start event's input: %q", text)
	}
	screenshot(t, ctx, shots, "console-events.png")
	step(t, ctx, "back to the failed event", chromedp.NavigateBack(), chromedp.WaitVisible(`#events tr[data-event-detail="`+failedEvent+`"]`))
	step(t, ctx, "back to the graph", chromedp.Click(`#tabs button[data-tab="graph"]`), chromedp.WaitVisible(`#graph`))
	step(t, ctx, "mail status", chromedp.Click(`#items a`), chromedp.WaitVisible(`#mail-executions tbody tr`))
	if text = value(t, ctx, "mail status", chromedp.Text(`#main`)); !strings.Contains(text, "No lock") || !strings.Contains(text, "dead-lettered") {
		t.Errorf("mail status page:\n%s", text)
	}
	if text = value(t, ctx, "mail delivery", chromedp.Text(`#delivery-history`)); !strings.Contains(text, "dead-lettered") || !strings.Contains(text, "Mail.Rejected: Email address is not verified.") {
		t.Errorf("mail delivery history:\n%s", text)
	}
	step(t, ctx, "back to the execution", chromedp.NavigateBack(), chromedp.WaitVisible(`#replay-failed`))

	// Replay: the rejection is permanent, so the console asks before
	// replaying it; then the mail arrives in the outbox.
	step(t, ctx, "replay", chromedp.Click(`#replay-failed`), chromedp.WaitVisible(`#replay-anyway`))
	if text = value(t, ctx, "replay result", chromedp.Text(`#replay-result`)); !strings.Contains(text, "order-1001: skipped — will fail again: Mail.Rejected") {
		t.Errorf("replay result: %q", text)
	}
	step(t, ctx, "replay anyway", chromedp.Click(`#replay-anyway`), chromedp.WaitNotPresent(`#replay-anyway`))
	if text = value(t, ctx, "replay result", chromedp.Text(`#replay-result`)); !strings.Contains(text, "order-1001: enqueued") {
		t.Errorf("replay anyway result: %q", text)
	}
	step(t, ctx, "outbox", chromedp.Navigate(p.url+"/#/outbox"), chromedp.WaitVisible(`#outbox tbody tr[data-name]`))
	// The replay's execution may finish after the page loaded: the live
	// update refreshes the list.
	until(t, ctx, "the replayed mail in the outbox", `document.querySelectorAll('#outbox tbody tr[data-name]').length === 2`)
	subjects := value(t, ctx, "subjects", chromedp.Evaluate[[]string](`[...document.querySelectorAll('#outbox tbody tr[data-name] td:nth-child(2)')].map(td => td.textContent)`))
	if strings.Join(subjects, "|") != "Your order #1001|Welcome aboard" {
		t.Errorf("outbox subjects %q", subjects)
	}
	step(t, ctx, "mail page", chromedp.Click(`#outbox tbody tr[data-name]:first-child`), chromedp.WaitVisible(`#attachments a`))
	attachments := value(t, ctx, "attachments", chromedp.Text(`#attachments`))
	text = value(t, ctx, "mail text", chromedp.Text(`#mail-text`))
	if !strings.Contains(attachments, "invoice-1001.txt") || !strings.Contains(text, "Thanks for your order #1001.") {
		t.Errorf("mail page: attachments %q, text %q", attachments, text)
	}
	sandbox := value(t, ctx, "iframe sandbox", chromedp.AttributeValue(`iframe.mail`, "sandbox"))
	if !sandbox.Exists || sandbox.Value != "" {
		t.Errorf("the mail's HTML must be in a sandboxed iframe: %+v", sandbox)
	}
	if title := value(t, ctx, "title", chromedp.Title()); title == "pwned" {
		t.Error("the mail's script ran")
	}
	download := value(t, ctx, "download", chromedp.Evaluate[string](`fetch(document.querySelector('#attachments a').href).then(r => r.text())`, chromedp.EvalAwaitPromise))
	if download != "invoice 1001: 3 items, 42.00 EUR\n" {
		t.Errorf("attachment download %q", download)
	}
	screenshot(t, ctx, shots, "console-outbox.png")
	// The mail's status now: SENT, with its SES message id linking to it.
	step(t, ctx, "mail status after the replay", chromedp.Navigate(p.url+"/#/mail/order-1001"), chromedp.WaitVisible(`#mail-status a`))
	if text = value(t, ctx, "mail status", chromedp.Text(`#main`)); !strings.Contains(text, "SENT") || strings.Count(text, "order-1001") < 1 ||
		!strings.Contains(text, "sent") || !strings.Contains(text, "dead-lettered") {
		t.Errorf("mail status after the replay:\n%s", text)
	}

	// The bounced mail: each recipient's state, the hostile diagnostic code
	// shown as text, never run.
	step(t, ctx, "bounced mail", chromedp.Navigate(p.url+"/#/mail/welcome-7"), chromedp.WaitVisible(`#delivery-recipients tbody tr[data-recipient="bob@example.org"]`))
	text = value(t, ctx, "bounce detail", chromedp.Text(`#delivery-recipients tr[data-recipient="bob@example.org"] td.detail`))
	if text != "Permanent/General: "+hostileBounce {
		t.Errorf("bounce detail %q", text)
	}
	if text = value(t, ctx, "delivered", chromedp.Text(`#delivery-recipients tr[data-recipient="ann@example.org"]`)); !strings.Contains(text, "delivered") {
		t.Errorf("delivered recipient %q", text)
	}
	if n := value(t, ctx, "injected elements", chromedp.Evaluate[int](`document.querySelectorAll('#main img, #main script').length`)); n != 0 {
		t.Errorf("%d element(s) from the diagnostic code in the page", n)
	}
	if title := value(t, ctx, "title", chromedp.Title()); title == "pwned" {
		t.Error("the diagnostic code's script ran")
	}
	shoot(t, ctx, shots, "console-delivery.png", false) // not in docs/

	// The dead letters with their reasons, then a redrive. order-1001's
	// copy went when it was replayed.
	step(t, ctx, "dlq page", chromedp.Navigate(p.url+"/#/dlq"), chromedp.WaitVisible(`#dlq tbody tr[data-message]`))
	until(t, ctx, "one dead letter", `document.querySelectorAll('#dlq tbody tr[data-message]').length === 1`)
	text = value(t, ctx, "dlq text", chromedp.Text(`#dlq tbody`))
	for _, want := range []string{"broken-9", "Mail.InvalidMessage", "to[0]: not an e-mail address"} {
		if !strings.Contains(text, want) {
			t.Errorf("dlq page lacks %q:\n%s", want, text)
		}
	}
	if strings.Contains(text, "order-1001") {
		t.Errorf("the replayed mail is still dead-lettered:\n%s", text)
	}
	shoot(t, ctx, shots, "console-dlq-one.png", false) // docs/console-dlq.png is TestConsoleDeadLetters'
	step(t, ctx, "redrive", chromedp.Click(`#redrive`))
	until(t, ctx, "the redrive to complete", `document.getElementById('redrive-progress').textContent.includes('COMPLETED: 1 message(s) moved')`)
	// broken-9 is dead-lettered again.
	until(t, ctx, "broken-9 back in the dead-letter queue, alone",
		`(() => { const rows = document.querySelectorAll('#dlq tbody tr[data-message]'); return rows.length === 1 && rows[0].textContent.includes('broken-9'); })()`)
}

// A running execution's page shows its history so far, and follows it to
// the end without a reload.
func TestConsoleFollowsARunningExecution(t *testing.T) {
	t.Parallel()
	held := sendertest.NewHeld(1)
	p := startPipelineWith(t, local.Hooks{WrapSender: func(s sender.Sender) sender.Sender { held.Sender = s; return held }})
	t.Cleanup(held.Release) // before the runtime closes: cleanups run last first
	p.sendMail(t, "slow-1", "Slow")
	select {
	case <-held.Entered:
	case <-time.After(60 * time.Second):
		t.Fatal("the send never started")
	}
	running, err := p.rt.Executions().List(context.Background(), execstore.Filter{Status: asl.StatusRunning})
	if err != nil || len(running.Executions) != 1 {
		t.Fatalf("running executions: %+v %v", running, err)
	}
	ctx := startBrowser(t)
	step(t, ctx, "running execution", chromedp.Navigate(p.url+"/#/x/"+running.Executions[0].Name),
		chromedp.WaitVisible(`#graph g.state.running[data-state="Send"]`), chromedp.WaitVisible(`#live-state`))
	until(t, ctx, "AcquireLock done", `!!document.querySelector('#graph g.state.succeeded[data-state="AcquireLock"]')`)
	// Its item is the record under way, not "0 items".
	if text := value(t, ctx, "running items", chromedp.Text(`#items tbody`)); !strings.Contains(text, "slow-1") || !strings.Contains(text, "running") {
		t.Errorf("the running execution's items: %q", text)
	}
	// Each state as it happens reaches the page: the history grows live.
	before := value(t, ctx, "events so far", chromedp.Evaluate[string](`document.querySelector('#tabs button[data-tab="events"]').textContent`))
	held.Release()
	p.wait(t, 1)
	until(t, ctx, "Send done, without a reload", `!!document.querySelector('#graph g.state.succeeded[data-state="Send"]') && !document.querySelector('#live-state')`)
	if after := value(t, ctx, "events at the end", chromedp.Evaluate[string](`document.querySelector('#tabs button[data-tab="events"]').textContent`)); after == before {
		t.Errorf("the events did not grow live: %q", after)
	}
	if text := value(t, ctx, "finished items", chromedp.Text(`#items tbody`)); !strings.Contains(text, "sent") {
		t.Errorf("the finished execution's items: %q", text)
	}
}

func TestConsoleRefusesNonLoopback(t *testing.T) {
	t.Parallel()
	if _, err := console.Listen("0.0.0.0:0"); err == nil || !strings.Contains(err.Error(), "not a loopback address") {
		t.Fatalf("Listen on all interfaces: %v", err)
	}
}

// The dead-letter queue page: filters in the URL, each body as a tree, and
// redrive (matching, selected), delete and purge with their summaries; then
// every page at 360 px wide fits the screen.
func TestConsoleDeadLetters(t *testing.T) {
	t.Parallel()
	p := startPipeline(t)
	shots := t.TempDir()
	if dir := os.Getenv("MAILFLOW_SCREENSHOT_DIR"); dir != "" {
		shots = dir
	}
	// Three messages the pipeline refuses, sent in one batch so that one
	// execution takes them: each is dead-lettered.
	c := p.rt.Config()
	client := sqs.New(sqs.Options{Region: c.Region, BaseEndpoint: aws.String(p.rt.Endpoint()),
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")})
	var entries []types.SendMessageBatchRequestEntry
	for i, body := range []string{
		`{"version":99,"mailId":"dl-ann","to":["ann@example.org"],"subject":"Hi","text":"t"}`,
		`{"version":99,"mailId":"dl-eve","to":["eve@other.test"],"subject":"Hi","text":"t"}`,
		`{"version":1,"mailId":"dl-bad","to":["not an address"],"subject":"Hi","text":"t"}`,
	} {
		entries = append(entries, types.SendMessageBatchRequestEntry{Id: aws.String(fmt.Sprint(i)), MessageBody: aws.String(body)})
	}
	if _, err := client.SendMessageBatch(context.Background(), &sqs.SendMessageBatchInput{QueueUrl: aws.String(p.rt.QueueURL(c.SourceQueue)), Entries: entries}); err != nil {
		t.Fatal(err)
	}
	ctx := startBrowser(t)
	rows := `document.querySelectorAll('#dlq tbody tr[data-message]')`
	step(t, ctx, "dlq page", chromedp.Navigate(p.url+"/#/dlq"))
	until(t, ctx, "three dead letters", rows+`.length === 3`)

	// The batch's execution: the Map iteration chosen is in the URL.
	var batch execstore.Execution
	all, err := p.rt.Executions().List(context.Background(), execstore.Filter{})
	if err != nil {
		t.Fatal(err)
	}
	for _, x := range all.Executions {
		if items, _ := p.rt.Executions().Items(context.Background(), x.ID); len(items) == 3 {
			batch = x
		}
	}
	if batch.ID == "" {
		t.Fatalf("no execution took the batch of three: %+v", all.Executions)
	}
	step(t, ctx, "the batch, iteration 2", chromedp.Navigate(p.url+"/#/x/"+batch.Name+"?iteration=2"), chromedp.WaitVisible(`#iterations button[data-iteration="2"].active`))
	if text := value(t, ctx, "iteration 2's failure", chromedp.Text(`#failure`)); !strings.Contains(text, "not an e-mail address") {
		t.Errorf("iteration 2 (dl-bad) failure: %q", text)
	}
	step(t, ctx, "iteration 1", chromedp.Click(`#iterations button[data-iteration="1"]`), chromedp.WaitVisible(`#iterations button[data-iteration="1"].active`))
	if loc := value(t, ctx, "location", chromedp.Location()); !strings.HasSuffix(loc, "?iteration=1") {
		t.Errorf("the iteration is not in the URL: %s", loc)
	}
	if text := value(t, ctx, "iteration 1's failure", chromedp.Text(`#failure`)); !strings.Contains(text, "unsupported version 99") {
		t.Errorf("iteration 1 (dl-eve) failure: %q", text)
	}
	step(t, ctx, "back to iteration 2", chromedp.NavigateBack(), chromedp.WaitVisible(`#iterations button[data-iteration="2"].active`))
	step(t, ctx, "dlq page again", chromedp.Navigate(p.url+"/#/dlq"))
	until(t, ctx, "three dead letters", rows+`.length === 3`)
	text := value(t, ctx, "dlq rows", chromedp.Text(`#dlq tbody`))
	for _, want := range []string{"dl-ann", "ann@example.org", "eve@other.test", "Mail.InvalidMessage", "to[0]: not an e-mail address"} {
		if !strings.Contains(text, want) {
			t.Errorf("the dead letters lack %q:\n%s", want, text)
		}
	}
	// Each body unfolds as a tree.
	value(t, ctx, "open a body", chromedp.Evaluate[bool](`(document.querySelector('#dlq tr.dlq-body details').open = true, true)`))
	if text = value(t, ctx, "body tree", chromedp.Text(`#dlq tr.dlq-body .json-tree`)); !strings.Contains(text, `"mailId": "dl-`) {
		t.Errorf("the body tree: %q", text)
	}
	screenshot(t, ctx, shots, "console-dlq.png")

	// A filter by recipient domain, kept in the URL.
	step(t, ctx, "filter by domain", chromedp.SetValue(`#dlq-filters input[name="recipientDomain"]`, "other.test"), chromedp.Click(`#dlq-filters button[type="submit"]`))
	until(t, ctx, "eve's message alone", rows+`.length === 1 && `+rows+`[0].textContent.includes('dl-eve')`)
	if loc := value(t, ctx, "location", chromedp.Location()); !strings.HasSuffix(loc, "#/dlq?recipientDomain=other.test") {
		t.Errorf("the filter is not in the URL: %s", loc)
	}
	step(t, ctx, "reload", chromedp.Reload())
	until(t, ctx, "the filter after a reload", rows+`.length === 1 && document.querySelector('#dlq-filters input[name="recipientDomain"]').value === 'other.test'`)
	// A filter the server refuses says why.
	step(t, ctx, "a bad age", chromedp.SetValue(`#dlq-filters input[name="olderThan"]`, "yesterday"), chromedp.Click(`#dlq-filters button[type="submit"]`))
	until(t, ctx, "the age refused", `document.getElementById('dlq-result').textContent.includes('olderThan "yesterday": give a duration')`)
	step(t, ctx, "an age", chromedp.SetValue(`#dlq-filters input[name="olderThan"]`, "1h"), chromedp.Click(`#dlq-filters button[type="submit"]`))
	until(t, ctx, "nothing is an hour old", `!!document.getElementById('dlq-empty') && document.getElementById('dlq-empty').textContent.includes('No message matches')`)
	step(t, ctx, "back to the domain filter", chromedp.NavigateBack(), chromedp.NavigateBack())
	until(t, ctx, "eve's message again", rows+`.length === 1 && `+rows+`[0].textContent.includes('dl-eve')`)

	// Redrive the matching message: it moves, fails again, comes back.
	step(t, ctx, "redrive matching", chromedp.Click(`#redrive`))
	until(t, ctx, "the redrive summary", `document.getElementById('dlq-result').textContent.includes('moved 1 matching message(s) to the source queue, kept 2')`)
	step(t, ctx, "clear the filter", chromedp.Click(`#dlq-filters button[type="button"]`))
	until(t, ctx, "three again", rows+`.length === 3`)

	// Delete one, after a confirmation.
	value(t, ctx, "delete dl-bad", chromedp.Evaluate[bool](`([...document.querySelectorAll('#dlq tbody tr[data-message]')].find(r => r.textContent.includes('dl-bad')).querySelector('button.delete').click(), true)`))
	step(t, ctx, "the delete confirmation", chromedp.WaitVisible(`#dlq-confirm-yes`))
	if text = value(t, ctx, "confirm text", chromedp.Text(`#dlq-confirm-text`)); !strings.Contains(text, "mail dl-bad") {
		t.Errorf("delete confirmation: %q", text)
	}
	step(t, ctx, "confirm the delete", chromedp.Click(`#dlq-confirm-yes`))
	until(t, ctx, "two left", rows+`.length === 2 && !document.querySelector('#dlq tbody').textContent.includes('dl-bad') && document.getElementById('dlq-result').textContent.includes('Deleted message')`)

	// Redrive the one selected.
	annRow := `[...document.querySelectorAll('#dlq tbody tr[data-message]')].find(r => r.textContent.includes('dl-ann'))`
	annID := value(t, ctx, "dl-ann's message", chromedp.Evaluate[string](annRow+`.dataset.message`))
	value(t, ctx, "select dl-ann", chromedp.Evaluate[bool](`(`+annRow+`.querySelector('input.pick').click(), true)`))
	until(t, ctx, "one selected", `document.getElementById('redrive-selected').textContent === 'Redrive 1 selected' && !document.getElementById('redrive-selected').disabled`)
	step(t, ctx, "redrive selected", chromedp.Click(`#redrive-selected`))
	until(t, ctx, "the selected redrive summary", `document.getElementById('dlq-result').textContent.includes('moved 1 selected message(s) to the source queue, kept 1')`)
	// It fails again and comes back as a new message.
	until(t, ctx, "dl-ann dead-lettered again", `(() => { const r = `+annRow+`; return !!r && r.dataset.message !== '`+annID+`' && `+rows+`.length === 2; })()`)

	// Purge all: the confirmation counts them; cancel keeps them.
	step(t, ctx, "purge", chromedp.Click(`#purge`), chromedp.WaitVisible(`#dlq-confirm-no`))
	if text = value(t, ctx, "purge confirmation", chromedp.Text(`#dlq-confirm-text`)); text != "Delete all 2 message(s) of the dead-letter queue for good?" {
		t.Errorf("purge confirmation: %q", text)
	}
	step(t, ctx, "cancel", chromedp.Click(`#dlq-confirm-no`))
	until(t, ctx, "cancelled", `document.getElementById('dlq-result').textContent.includes('Purge cancelled') && `+rows+`.length === 2`)
	step(t, ctx, "purge again", chromedp.Click(`#purge`), chromedp.WaitVisible(`#dlq-confirm-yes`), chromedp.Click(`#dlq-confirm-yes`))
	until(t, ctx, "purged", `document.getElementById('dlq-result').textContent.includes('Purge: deleted 2 message(s), kept 0') && !!document.getElementById('dlq-empty')`)

	// 360 px wide: no page scrolls sideways.
	p.sendRaw(t, `{"version":99,"mailId":"dl-narrow","to":["ann@example.org"],"subject":"Hi","text":"t"}`)
	until(t, ctx, "dl-narrow dead-lettered", rows+`.length === 1`)
	list, err := p.rt.Executions().List(context.Background(), execstore.Filter{MailID: "dl-narrow"})
	if err != nil || len(list.Executions) != 1 {
		t.Fatalf("executions of dl-narrow: %+v %v", list, err)
	}
	step(t, ctx, "narrow", chromedp.EmulateViewport(360, 780))
	fits := `document.documentElement.scrollWidth <= window.innerWidth`
	for _, pg := range []struct{ name, hash, ready string }{
		{"list", "#/", `document.querySelectorAll('#executions tbody tr[data-name]').length >= 1`},
		{"execution", "#/x/" + list.Executions[0].Name, `!!document.querySelector('#graph g.state.failed')`},
		{"events", "#/x/" + list.Executions[0].Name + "?tab=events&event=1", `!!document.querySelector('#events tr[data-event-detail="1"] .json-tree')`},
		{"dlq", "#/dlq", `document.querySelectorAll('#dlq tbody tr[data-message]').length === 1`},
	} {
		step(t, ctx, pg.name+" at 360 px", chromedp.Navigate(p.url+"/"+pg.hash))
		until(t, ctx, pg.name+" at 360 px", pg.ready)
		if ok := value(t, ctx, pg.name+" fits", chromedp.Evaluate[bool](fits)); !ok {
			w := value(t, ctx, "widths", chromedp.Evaluate[string](`document.documentElement.scrollWidth + ' > ' + window.innerWidth`))
			t.Errorf("the %s page scrolls sideways at 360 px: %s", pg.name, w)
		}
		if pg.name == "execution" {
			screenshot(t, ctx, shots, "console-narrow.png")
		}
	}
}
