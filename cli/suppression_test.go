package cli

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/mailflow/mailflow/delivery"
	"github.com/mailflow/mailflow/delivery/memdelivery"
	"github.com/mailflow/mailflow/inspect"
	"github.com/mailflow/mailflow/local"
	"github.com/mailflow/mailflow/suppression"
	"github.com/mailflow/mailflow/suppression/dynamosuppression"
	"github.com/mailflow/mailflow/suppression/memsuppression"
	"github.com/mailflow/mailflow/testkit"
	"github.com/mailflow/mailflow/workflow"
)

// noExecutions is a Source that knows no execution.
type noExecutions struct{}

func (noExecutions) List(context.Context, inspect.Filter) (inspect.Page, error) {
	return inspect.Page{}, nil
}
func (noExecutions) Get(context.Context, string) (*inspect.Execution, error) {
	return nil, inspect.ErrNotFound
}
func (noExecutions) MailExecutions(context.Context, string) ([]inspect.MailExecution, error) {
	return nil, nil
}

// withStores makes the local and the AWS backend of the commands carry
// these stores (either may be nil), until the test ends.
func withStores(t *testing.T, deliveries delivery.Store, list suppression.List) {
	savedLocal, savedAWS := openLocal, openAWS
	t.Cleanup(func() { openLocal, openAWS = savedLocal, savedAWS })
	openLocal = func(context.Context, local.InspectOptions) (*inspect.Backend, error) {
		b := &inspect.Backend{Source: noExecutions{}, Queues: &inspect.Queues{}, Via: "files"}
		if deliveries != nil {
			b.Deliveries = deliveries
		}
		if list != nil {
			b.Suppressions = list
		}
		return b, nil
	}
	openAWS = func(ctx context.Context, o awsOptions) (*inspect.Backend, error) {
		b := &inspect.Backend{Source: noExecutions{}, Queues: &inspect.Queues{}, Via: "aws"}
		if o.SuppressionTable == "mailflow-suppression" && list != nil {
			b.Suppressions = list
		}
		return b, nil
	}
}

type result struct {
	code     int
	out, err string
}

func run(args ...string) result {
	var out, errOut bytes.Buffer
	code := Run(context.Background(), args, strings.NewReader(""), &out, &errOut)
	return result{code, out.String(), errOut.String()}
}

// These tests replace the package's openers, so they do not run in parallel.

func TestMailStatusShowsTheDelivery(t *testing.T) {
	ctx := context.Background()
	t0 := time.Now().UTC().Truncate(time.Second).Add(-time.Hour)
	store := memdelivery.New()
	hostile := "smtp; 550 \x1b[31mno such user\x1b[0m"
	if _, _, err := store.Apply(ctx, delivery.ApplyParams{MailID: "order-1", Now: t0, ExpiresAt: t0.Add(48 * time.Hour), Events: []delivery.Event{
		{ID: "acc", Type: workflow.EventAccepted, Time: t0},
		{ID: "snt", Type: workflow.EventSent, Time: t0.Add(time.Second), SESMessageID: "ses-42"},
		{ID: "dlv", Type: workflow.EventDelivered, Recipient: "ann@example.org", Time: t0.Add(2 * time.Second)},
		{ID: "bnc", Type: workflow.EventBounced, Recipient: "bob@example.org", Time: t0.Add(3 * time.Second),
			Bounce: &workflow.EventBounce{Type: "Permanent", SubType: "NoEmail", DiagnosticCode: hostile}},
		{ID: "cmp", Type: workflow.EventComplained, Recipient: "cy@example.org", Time: t0.Add(4 * time.Second), Complaint: &workflow.EventComplaint{FeedbackType: "abuse"}},
		{ID: "dly", Type: workflow.EventDelayed, Recipient: "di@example.org", Time: t0.Add(5 * time.Second)},
	}}); err != nil {
		t.Fatal(err)
	}
	list := memsuppression.New()
	if err := list.Put(ctx, suppression.Entry{Address: "bob@example.org", Reason: suppression.Bounce, At: t0.Add(3 * time.Second), MailID: "order-1"}); err != nil {
		t.Fatal(err)
	}
	withStores(t, store, list)

	r := run("mail", "status", "order-1", "--data", t.TempDir())
	if r.code != ExitOK {
		t.Fatalf("exit %d: %s%s", r.code, r.out, r.err)
	}
	for _, want := range []string{
		"DELIVERY",
		"~mail\\s+sent at .*, SES message id ses-42",
		"~ann@example.org\\s+delivered\\s+",
		"~bob@example.org\\s+bounced\\s+.*Permanent/NoEmail: smtp; 550 \\\\u001b\\[31mno such user\\\\u001b\\[0m\\s+\\(suppressed: BOUNCE since ",
		"~cy@example.org\\s+complained\\s+.*feedback type abuse",
		"~di@example.org\\s+delayed",
		"history    6 event(s)",
		"~accepted\\s+-",
		"~bounced\\s+bob@example.org\\s+Permanent/NoEmail",
	} {
		if !matches(r.out, want) {
			t.Errorf("output lacks %q:\n%s", want, r.out)
		}
	}
	if strings.Contains(r.out, "\x1b") {
		t.Errorf("a control character reached the terminal:\n%q", r.out)
	}

	r = run("mail", "status", "order-1", "--json", "--data", t.TempDir())
	var st inspect.MailStatus
	if err := json.Unmarshal([]byte(r.out), &st); err != nil || st.Delivery == nil || len(st.Delivery.Recipients) != 4 || len(st.Delivery.History) != 6 ||
		st.Delivery.Recipients[1].Bounce.DiagnosticCode != hostile || st.Delivery.Recipients[1].Suppressed == nil {
		t.Errorf("--json: %v %+v\n%s", err, st.Delivery, r.out)
	}

	if r := run("mail", "status", "never-seen", "--data", t.TempDir()); r.code != ExitOK || !strings.Contains(r.out, "delivery   "+inspect.NoDeliveryRecord) {
		t.Errorf("no record: %d %s%s", r.code, r.out, r.err)
	}
	withStores(t, nil, nil)
	if r := run("mail", "status", "order-1", "--data", t.TempDir()); r.code != ExitOK || !strings.Contains(r.out, "delivery   delivery feedback not configured") {
		t.Errorf("not configured: %d %s%s", r.code, r.out, r.err)
	}
}

func TestSuppressionCommands(t *testing.T) {
	list := memsuppression.New()
	withStores(t, nil, list)
	data := t.TempDir()
	longNote := strings.Repeat("n", suppression.MaxNote+1)
	for _, c := range []struct {
		args []string
		code int
		want []string
	}{
		{[]string{"suppression", "list", "--data", data}, ExitOK, []string{"the suppression list is empty"}},
		{[]string{"suppression", "add", "Bob@Example.ORG", "--reason", "BOUNCE", "--note", "hard bounce seen in the logs", "--data", data}, ExitOK,
			[]string{"suppressed bob@example.org (BOUNCE): mailflow dead-letters mail to it with Mail.Suppressed until `mailflow suppression remove bob@example.org`"}},
		{[]string{"suppression", "add", "ann@bücher.example", "--reason", "complaint", "--data", data}, ExitOK, []string{"suppressed ann@xn--bcher-kva.example (COMPLAINT)"}},
		{[]string{"suppression", "add", "bob@example.org", "--reason", "COMPLAINT", "--data", data}, ExitOK, []string{"replaced the entry of bob@example.org (was BOUNCE since "}},
		{[]string{"suppression", "list", "--data", data}, ExitOK, []string{"~ADDRESS\\s+REASON", "~ann@xn--bcher-kva.example\\s+COMPLAINT\\s+.*operator", "~bob@example.org\\s+COMPLAINT"}},
		{[]string{"suppression", "list", "--limit", "1", "--data", data}, ExitOK, []string{"ann@xn--bcher-kva.example", "more: --after ann@xn--bcher-kva.example"}},
		{[]string{"suppression", "list", "--limit", "1", "--after", "ann@xn--bcher-kva.example", "--data", data}, ExitOK, []string{"bob@example.org"}},
		{[]string{"suppression", "remove", "BOB@example.org", "--data", data}, ExitOK, []string{"removed bob@example.org from the suppression list"}},
		{[]string{"suppression", "remove", "bob@example.org", "--data", data}, ExitFailure, []string{"bob@example.org is not on the suppression list"}},
		// Every argument is checked, and every mistake named at once.
		{[]string{"suppression", "add", "not an address", "--reason", "SPAM", "--note", longNote, "--data", data}, ExitUsage,
			[]string{`address "not an address": suppression:`, `--reason "SPAM" is not BOUNCE or COMPLAINT`, "--note is 1025 bytes, at most 1024"}},
		{[]string{"suppression", "add", "x@example.org", "--data", data}, ExitUsage, []string{"--reason is required: BOUNCE or COMPLAINT"}},
		{[]string{"suppression", "add", "x@example.org", "--reason", "BOUNCE", "--note", "a\x1b[2Jb", "--data", data}, ExitUsage, []string{`--note has a control character ("\x1b") at byte 1`}},
		{[]string{"suppression", "add", "Ann <ann@example.org>", "--reason", "BOUNCE", "--data", data}, ExitUsage, []string{"has a display name; give the bare address"}},
		{[]string{"suppression", "add", "--reason", "BOUNCE", "--data", data}, ExitUsage, []string{"an ADDRESS is required"}},
		{[]string{"suppression", "remove", "a@example.org", "b@example.org", "--data", data}, ExitUsage, []string{`unexpected argument "b@example.org"`}},
		{[]string{"suppression", "list", "--limit", "0", "--after", "nope", "--data", data}, ExitUsage, []string{"--limit 0 is not within 1..1000", `--after "nope"`}},
		{[]string{"suppression", "list", "extra", "--data", data}, ExitUsage, []string{`unexpected argument "extra"`}},
		{[]string{"suppression", "purge"}, ExitUsage, []string{`unknown subcommand "purge" (want list, add, remove)`}},
		// With --aws: the deployed stack's table, and a word on SES's own list.
		{[]string{"suppression", "add", "eve@example.org", "--reason", "BOUNCE", "--aws", "--region", "eu-west-1"}, ExitUsage, []string{"--aws needs --suppression-table"}},
		{[]string{"suppression", "add", "eve@example.org", "--reason", "BOUNCE", "--aws", "--suppression-table", "mailflow-suppression"}, ExitOK, []string{"suppressed eve@example.org (BOUNCE)"}},
		{[]string{"suppression", "remove", "eve@example.org", "--aws", "--region", "eu-west-1", "--suppression-table", "mailflow-suppression"}, ExitOK, []string{
			"removed eve@example.org from the suppression list",
			"SES's account-level suppression list is separate",
			"aws sesv2 delete-suppressed-destination --email-address eve@example.org --region eu-west-1"}},
		{[]string{"suppression", "remove", "eve@example.org", "--aws", "--suppression-table", "mailflow-suppression"}, ExitFailure, []string{
			"eve@example.org is not on the suppression list", "aws sesv2 delete-suppressed-destination --email-address eve@example.org"}},
		{[]string{"suppression", "list", "--aws", "--suppression-table", "other-table"}, ExitFailure, []string{"no suppression list is configured for table other-table"}},
	} {
		r := run(c.args...)
		name := strings.Join(c.args, " ")
		if r.code != c.code {
			t.Errorf("%s: exit %d, want %d\n%s%s", name, r.code, c.code, r.out, r.err)
			continue
		}
		for _, w := range c.want {
			if !matches(r.out+r.err, w) {
				t.Errorf("%s: output lacks %q:\n%s%s", name, w, r.out, r.err)
			}
		}
	}
	entries, _, _ := list.List(context.Background(), suppression.ListParams{Limit: 10})
	if len(entries) != 1 || entries[0].Address != "ann@xn--bcher-kva.example" || entries[0].Note != "" {
		t.Errorf("left on the list: %+v", entries)
	}
	r := run("suppression", "list", "--json", "--data", data)
	var got struct {
		Entries []struct {
			Address string `json:"address"`
			Reason  string `json:"reason"`
		} `json:"entries"`
	}
	if err := json.Unmarshal([]byte(r.out), &got); err != nil || len(got.Entries) != 1 || got.Entries[0].Reason != "COMPLAINT" {
		t.Errorf("--json: %v %s", err, r.out)
	}
	withStores(t, nil, nil)
	if r := run("suppression", "list", "--data", data); r.code != ExitFailure || !strings.Contains(r.err, "data directory "+data+" has no suppression list") {
		t.Errorf("no list: %d %s%s", r.code, r.out, r.err)
	}
}

// TestSuppressionCommandsOnDynamoDB runs the commands with --aws against
// a suppression table in dynalite, through the real wiring.
func TestSuppressionCommandsOnDynamoDB(t *testing.T) {
	ctx := context.Background()
	cfg := testkit.AWSConfig(testkit.Dynalite(t))
	if err := dynamosuppression.CreateTable(ctx, dynamodb.NewFromConfig(cfg), "mailflow-suppression"); err != nil {
		t.Fatal(err)
	}
	saved := openAWS
	t.Cleanup(func() { openAWS = saved })
	openAWS = func(ctx context.Context, o awsOptions) (*inspect.Backend, error) {
		o.Config = &cfg
		return openAWSBackend(ctx, o)
	}
	flags := []string{"--aws", "--suppression-table", "mailflow-suppression"}
	if r := run(append([]string{"suppression", "add", "Ann@Example.org", "--reason", "COMPLAINT", "--note", "asked by phone"}, flags...)...); r.code != ExitOK {
		t.Fatalf("add: %+v", r)
	}
	r := run(append([]string{"suppression", "list"}, flags...)...)
	if r.code != ExitOK || !strings.Contains(r.out, "ann@example.org") || !strings.Contains(r.out, "COMPLAINT") {
		t.Fatalf("list: %+v", r)
	}
	if r := run(append([]string{"suppression", "remove", "ann@example.org"}, flags...)...); r.code != ExitOK {
		t.Fatalf("remove: %+v", r)
	}
	if r := run(append([]string{"suppression", "remove", "ann@example.org"}, flags...)...); r.code != 1 {
		t.Fatalf("second remove: %+v, want exit 1", r)
	}
}
