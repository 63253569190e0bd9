package cli_test

import (
	"context"
	"encoding/json"
	"fmt"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/mailflow/mailflow/cli"
	"github.com/mailflow/mailflow/clock"
	"github.com/mailflow/mailflow/inspect"
	"github.com/mailflow/mailflow/local"
	"github.com/mailflow/mailflow/local/datadir"
	"github.com/mailflow/mailflow/local/sqsstore"
	"github.com/mailflow/mailflow/workflow"
)

// deadLetter is one message a test puts in the dead-letter queue.
type deadLetter struct {
	mailID, errName, cause, to string
	age                        time.Duration // sent this long before now
}

// settableClock sends each message at the time a test chooses.
type settableClock struct {
	*clock.Virtual
	at time.Time
}

func (c *settableClock) Now() time.Time { return c.at }

// dlqData makes a data directory whose dead-letter queue holds dls, sent
// in order, and returns it with the message ids.
func dlqData(t *testing.T, dls []deadLetter) (string, []string) {
	t.Helper()
	data := t.TempDir()
	dir := datadir.New(data)
	if err := dir.Create(); err != nil {
		t.Fatal(err)
	}
	execs, err := dir.OpenExecutions()
	if err != nil {
		t.Fatal(err)
	}
	execs.Close()
	locks, err := dir.OpenLocks()
	if err != nil {
		t.Fatal(err)
	}
	locks.Close()
	now := time.Now()
	vc := &settableClock{Virtual: clock.NewVirtual(now), at: now}
	qs, err := dir.OpenQueues(sqsstore.Options{Clock: vc, Region: local.DefaultRegion, AccountID: local.DefaultAccount})
	if err != nil {
		t.Fatal(err)
	}
	defer qs.Close()
	ctx := context.Background()
	for _, q := range []string{local.DefaultSourceQueue, local.DefaultDeadLetterQueue} {
		if err := qs.CreateQueue(ctx, q, nil, nil); err != nil {
			t.Fatal(err)
		}
	}
	var ids []string
	for _, d := range dls {
		vc.at = now.Add(-d.age)
		failure, _ := json.Marshal(map[string]string{"Error": d.errName, "Cause": `{"errorMessage":` + fmt.Sprintf("%q", d.cause) + `}`})
		body, _ := json.Marshal(map[string]any{"mailId": d.mailID, "to": []string{d.to}, "subject": "s"})
		r, err := qs.Send(ctx, local.DefaultDeadLetterQueue, sqsstore.SendParams{Body: string(body), Attributes: map[string]sqsstore.MessageAttributeValue{
			workflow.DLQAttrError:   {DataType: "String", StringValue: d.errName},
			workflow.DLQAttrFailure: {DataType: "String", StringValue: string(failure)},
		}})
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, r.MessageID)
	}
	return data, ids
}

// peekQueue reads a queue of the data directory as the store holds it.
func peekQueue(t *testing.T, data, queue string) []sqsstore.Message {
	t.Helper()
	qs, err := datadir.New(data).OpenQueues(sqsstore.Options{Region: local.DefaultRegion, AccountID: local.DefaultAccount})
	if err != nil {
		t.Fatal(err)
	}
	defer qs.Close()
	msgs, _, err := qs.Peek(context.Background(), queue, "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	return msgs
}

func dlqJSON(t *testing.T, args ...string) []inspect.DeadLetter {
	t.Helper()
	code, out, errOut := run(t, context.Background(), append([]string{"dlq", "list", "--json"}, args...)...)
	if code != cli.ExitOK {
		t.Fatalf("dlq list %v: exit %d: %s", args, code, errOut)
	}
	var dls []inspect.DeadLetter
	if err := json.Unmarshal([]byte(out), &dls); err != nil {
		t.Fatalf("dlq list --json: %v\n%s", err, out)
	}
	return dls
}

// TestDLQListPeeksAll lists a dead-letter queue of 1,000 messages: all of
// them, in order, whole or page by page, and listing receives none of them
// (every receive count stays 0, however often it is listed).
func TestDLQListPeeksAll(t *testing.T) {
	t.Parallel()
	dls := make([]deadLetter, 1000)
	for i := range dls {
		dls[i] = deadLetter{mailID: fmt.Sprintf("mail-%04d", i), errName: string(workflow.InvalidMessage), cause: "invalid message: to[0]: not an e-mail address", to: "x"}
	}
	data, ids := dlqData(t, dls)
	for range 2 {
		got := dlqJSON(t, "--data", data)
		if len(got) != 1000 {
			t.Fatalf("listed %d messages, want 1000", len(got))
		}
		for i, d := range got {
			if d.MessageID != ids[i] || d.MailID != dls[i].mailID || d.ReceiveCount != 0 || d.Error != string(workflow.InvalidMessage) {
				t.Fatalf("message %d: %+v (want %s, receive count 0)", i, d, ids[i])
			}
		}
	}
	// Page by page: each page ends with the cursor of the next.
	var paged []string
	after := ""
	next := regexp.MustCompile(`more follow: list them with --after (\S+)`)
	for pages := 0; ; pages++ {
		if pages > 4 {
			t.Fatal("paging does not end")
		}
		args := []string{"dlq", "list", "--data", data, "--limit", "300"}
		if after != "" {
			args = append(args, "--after", after)
		}
		code, out, errOut := run(t, context.Background(), args...)
		if code != cli.ExitOK {
			t.Fatalf("%v: exit %d: %s", args, code, errOut)
		}
		for _, line := range strings.Split(out, "\n") {
			if f := strings.Fields(line); len(f) > 2 && f[1] == "mail" {
				paged = append(paged, f[0])
			}
		}
		m := next.FindStringSubmatch(out)
		if m == nil {
			break
		}
		after = m[1]
	}
	if strings.Join(paged, ",") != strings.Join(ids, ",") {
		t.Fatalf("paging listed %d messages, not the 1000 in order", len(paged))
	}
	for i, m := range peekQueue(t, data, local.DefaultDeadLetterQueue) {
		if m.ApproximateReceiveCount != 0 {
			t.Fatalf("message %d received %d times by listing", i, m.ApproximateReceiveCount)
		}
	}
	runCases(t, map[string]string{"data": data, "first": ids[0]}, []cliCase{
		{args: []string{"dlq", "list", "--data", "{data}", "--limit", "-1"}, code: cli.ExitUsage, stderr: []string{"--limit -1 must not be negative"}},
		{args: []string{"dlq", "list", "--data", "{data}", "--after", "nope"}, code: cli.ExitFailure, stderr: []string{"Value nope for parameter After is invalid"}},
		{args: []string{"dlq", "list", "--aws", "--after", "{first}", "--queue-url", "q", "--dlq-url", "d"}, code: cli.ExitUsage, stderr: []string{"--after with --aws needs the delivery table"}},
		{args: []string{"dlq", "list", "--data", "{data}", "--limit", "1"}, stdout: []string{"{first}  mail mail-0000  Mail.InvalidMessage", "received 0 time(s)", "1 message(s) in", "more follow: list them with --after {first}"}},
	})
}

// filterSet is a dead-letter queue with one message of each kind a filter
// tells apart.
var filterSet = []deadLetter{
	{mailID: "a", errName: string(workflow.InvalidMessage), cause: "invalid message: to[0]: not an e-mail address", to: "x@one.example", age: 72 * time.Hour},
	{mailID: "b", errName: string(workflow.Rejected), cause: "Email address is not verified: sender@one.example", to: "y@One.Example"},
	{mailID: "c", errName: string(workflow.Rejected), cause: "Mail from domain not verified", to: "z@two.example", age: 72 * time.Hour},
	{mailID: "d", errName: string(workflow.Suppressed), cause: "suppressed: bounce", to: "w@two.example"},
}

// TestDLQFilters selects by each filter, in list and in redrive, and moves
// exactly the selected messages (a dry run moves none).
func TestDLQFilters(t *testing.T) {
	t.Parallel()
	data, ids := dlqData(t, filterSet)
	for _, c := range []struct {
		flags []string
		want  string
	}{
		{[]string{"--error", strings.ToLower(string(workflow.Rejected))}, "b,c"},
		{[]string{"--reason", "NOT VERIFIED"}, "b,c"},
		{[]string{"--older-than", "24h"}, "a,c"},
		{[]string{"--mail-id", "d"}, "d"},
		{[]string{"--recipient-domain", "one.example"}, "a,b"},
		{[]string{"--error", string(workflow.Rejected), "--older-than", "1h"}, "c"},
		{[]string{"--recipient-domain", "three.example"}, ""},
	} {
		var got []string
		for _, d := range dlqJSON(t, append([]string{"--data", data}, c.flags...)...) {
			got = append(got, d.MailID)
		}
		if strings.Join(got, ",") != c.want {
			t.Errorf("dlq list %v: mails %v, want %s", c.flags, got, c.want)
		}
	}
	runCases(t, map[string]string{"data": data, "b": ids[1], "c": ids[2]}, []cliCase{
		{args: []string{"dlq", "list", "--data", "{data}", "--error", "mail.rejected"}, stdout: []string{"2 message(s) match, of 4 read"}},
		{args: []string{"dlq", "list", "--data", "{data}", "--older-than", "-1h"}, code: cli.ExitUsage, stderr: []string{"--older-than -1h0m0s must not be negative"}},
		{args: []string{"dlq", "list", "--data", "{data}", "--recipient-domain", "a@b.example"}, code: cli.ExitUsage, stderr: []string{`--recipient-domain "a@b.example" must be a domain alone`}},
		{args: []string{"dlq", "redrive", "--data", "{data}", "--error", "MAIL.REJECTED", "--dry-run"},
			stdout: []string{"would move {b}  mail b", "would move {c}  mail c", "dry run: would move 2, keep 2"}},
		{args: []string{"dlq", "redrive", "--aws", "--queue-url", "q", "--dlq-url", "d", "--error", "Mail.Rejected", "--dry-run"}, code: cli.ExitUsage,
			stderr: []string{"--dry-run with --aws reads the dead-letter index: give --delivery-table"}},
		{args: []string{"dlq", "redrive", "--data", "{data}", "--error", "MAIL.REJECTED", "--dry-run", "-o", "JSON"},
			stdout: []string{`"dryRun": true`, `"mailId": "b"`}},
		{args: []string{"dlq", "list", "--data", "{data}", "-o", "yaml"}, code: cli.ExitUsage, stderr: []string{`"yaml" is not an output format: want json or table`}},
	})
	if n := len(peekQueue(t, data, local.DefaultDeadLetterQueue)); n != 4 {
		t.Fatalf("the dry run left %d messages, want 4", n)
	}
	runCases(t, map[string]string{"data": data, "b": ids[1], "c": ids[2]}, []cliCase{
		{args: []string{"dlq", "redrive", "--data", "{data}", "--error", "mail.rejected"}, stdout: []string{"moved {b}", "moved {c}", "moved 2, kept 2"}},
	})
	var left, moved []string
	for _, m := range peekQueue(t, data, local.DefaultDeadLetterQueue) {
		left = append(left, workflow.PeekMailID(m.Body))
	}
	for _, m := range peekQueue(t, data, local.DefaultSourceQueue) {
		moved = append(moved, workflow.PeekMailID(m.Body))
		if m.Attributes[workflow.DLQAttrError].StringValue != string(workflow.Rejected) {
			t.Errorf("moved message lost its attributes: %+v", m.Attributes)
		}
	}
	if strings.Join(left, ",") != "a,d" || strings.Join(moved, ",") != "b,c" {
		t.Fatalf("after redrive: dead-letter queue %v, source queue %v; want a,d and b,c", left, moved)
	}
}

// TestDLQDeleteAndPurge deletes one message by id, and purges the selected
// ones only when told --yes.
func TestDLQDeleteAndPurge(t *testing.T) {
	t.Parallel()
	data, ids := dlqData(t, filterSet)
	vars := map[string]string{"data": data, "a": ids[0], "b": ids[1], "c": ids[2], "d": ids[3]}
	runCases(t, vars, []cliCase{
		{args: []string{"dlq", "delete", "{a}", "--data", "{data}"}, stdout: []string{"deleted {a} from"}},
		{args: []string{"dlq", "delete", "{a}", "--data", "{data}"}, code: cli.ExitFailure, stderr: []string{"no message {a} in"}},
		{args: []string{"dlq", "delete", "--data", "{data}"}, code: cli.ExitUsage, stderr: []string{"the message id is required"}},
		{args: []string{"dlq", "purge", "--data", "{data}", "--recipient-domain", "two.example"}, code: cli.ExitFailure,
			stdout: []string{"2 message(s) of", "would be deleted, 1 kept"}, stderr: []string{"nothing deleted: run again with --yes"}},
	})
	if n := len(peekQueue(t, data, local.DefaultDeadLetterQueue)); n != 3 {
		t.Fatalf("purge without --yes left %d messages, want 3", n)
	}
	runCases(t, vars, []cliCase{
		{args: []string{"dlq", "purge", "--data", "{data}", "--recipient-domain", "two.example", "--yes"}, stdout: []string{"deleted {c}", "deleted {d}", "deleted 2, kept 1"}},
		{args: []string{"dlq", "list", "--data", "{data}"}, stdout: []string{"{b}  mail b", "1 message(s) in"}, missing: []string{"mail c", "mail d"}},
		{args: []string{"dlq", "purge", "--data", "{data}", "--yes"}, stdout: []string{"deleted 1, kept 0"}},
		{args: []string{"dlq", "list", "--data", "{data}"}, stdout: []string{"the dead-letter queue is empty"}},
	})
}

// TestDLQWhileDevRuns manages the dead-letter queue of a running `mailflow
// dev`: the listing reads the runtime's queue file without receiving (the
// receive counts stay 0), and a message is deleted by id there.
func TestDLQWhileDevRuns(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	dev := startDev(t, data, "--ses-verified", "someone@elsewhere.test")
	for _, id := range []string{"r-1", "r-2"} {
		code, out, errOut := run(t, context.Background(), "send", "--endpoint", dev.info.Endpoint,
			"--to", "ann@example.org", "--subject", "s", "--text", "t", "--mail-id", id)
		if code != cli.ExitOK {
			t.Fatalf("send: %d %s %s", code, out, errOut)
		}
	}
	waitFor(t, "both mails to be dead-lettered", func() bool {
		return countOutcome(listJSON(t, data), workflow.OutcomeDeadLettered) == 2
	})
	var first []inspect.DeadLetter
	for range 3 {
		first = dlqJSON(t, "--data", data)
		if len(first) != 2 {
			t.Fatalf("listed %d dead letters, want 2", len(first))
		}
		for _, d := range first {
			if d.ReceiveCount != 0 || d.Error != string(workflow.Rejected) {
				t.Fatalf("dead letter %+v: want receive count 0 and %s", d, workflow.Rejected)
			}
		}
	}
	id := first[0].MessageID
	runCases(t, map[string]string{"data": data, "id": id, "mail": first[0].MailID, "endpoint": dev.info.Endpoint}, []cliCase{
		// Through the runtime's endpoint, not a second owner of its file.
		{args: []string{"dlq", "list", "--data", "{data}"}, stdout: []string{"2 message(s) in {endpoint}/"}},
		{args: []string{"dlq", "delete", "{id}", "--data", "{data}"}, stdout: []string{"deleted {id}"}},
		{args: []string{"dlq", "list", "--data", "{data}", "--mail-id", "{mail}"}, stdout: []string{"0 message(s) match, of 1 read"}},
	})
}

// TestDLQShow shows one dead letter in full, found by its message id or its
// mail id, read from the store without receiving it.
func TestDLQShow(t *testing.T) {
	t.Parallel()
	data, ids := dlqData(t, filterSet)
	vars := map[string]string{"data": data, "a": ids[0], "b": ids[1]}
	runCases(t, vars, []cliCase{
		{args: []string{"dlq", "show", "{b}", "--data", "{data}"}, stdout: []string{
			"message          {b}", "mail             b", "error            Mail.Rejected", "received         0 time(s)",
			"mailflow.error = Mail.Rejected", "body\n  {\n    \"mailId\": \"b\",", "sent at          "}},
		{args: []string{"dlq", "show", "a", "--data", "{data}", "-o", "json"}, stdout: []string{`"messageId": "{a}"`, `"attributes": {`, `"ageNanos": `}},
		{args: []string{"dlq", "show", "nope", "--data", "{data}"}, code: cli.ExitFailure, stderr: []string{"no dead letter nope in"}},
		{args: []string{"dlq", "show", "--data", "{data}"}, code: cli.ExitUsage, stderr: []string{"the message id or mail id is required"}},
	})
	for _, m := range peekQueue(t, data, local.DefaultDeadLetterQueue) {
		if m.ApproximateReceiveCount != 0 {
			t.Errorf("show received %s", m.MessageID)
		}
	}
}
