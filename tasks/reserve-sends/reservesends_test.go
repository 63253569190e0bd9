package reservesends_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/mailflow/mailflow/clock"
	"github.com/mailflow/mailflow/internal/awsrun"
	"github.com/mailflow/mailflow/pacer"
	"github.com/mailflow/mailflow/pacer/mempacer"
	reservesends "github.com/mailflow/mailflow/tasks/reserve-sends"
	"github.com/mailflow/mailflow/testkit/tasktest"
	"github.com/mailflow/mailflow/workflow"
)

var epoch = time.Date(2026, 12, 7, 9, 0, 0, 0, time.UTC)

// counting is a pacer.Bucket that records every take it is given.
type counting struct {
	pacer.Bucket
	mu    sync.Mutex
	takes []pacer.TakeParams
}

func (c *counting) Take(ctx context.Context, p pacer.TakeParams) (pacer.TakeResult, error) {
	c.mu.Lock()
	c.takes = append(c.takes, p)
	c.mu.Unlock()
	return c.Bucket.Take(ctx, p)
}

func (c *counting) count() []pacer.TakeParams {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]pacer.TakeParams(nil), c.takes...)
}

// failing is a bucket that cannot be reached.
type failing struct{}

func (failing) Take(context.Context, pacer.TakeParams) (pacer.TakeResult, error) {
	return pacer.TakeResult{}, errors.New("RequestLimitExceeded: throughput exceeds the current capacity")
}

// blocking is a bucket whose answer never comes.
type blocking struct{}

func (blocking) Take(ctx context.Context, _ pacer.TakeParams) (pacer.TakeResult, error) {
	<-ctx.Done()
	return pacer.TakeResult{}, ctx.Err()
}

// setup is a handler over a real pacer at rate recipients per second (its
// burst half a second's worth) on bucket, with a virtual clock at epoch,
// logging into the returned buffer.
func setup(t *testing.T, bucket pacer.Bucket, rate float64) (*reservesends.Handler, *bytes.Buffer) {
	t.Helper()
	p, err := pacer.New(bucket, pacer.Config{Rate: rate, MaxWait: time.Second, Clock: clock.NewVirtual(epoch)})
	if err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	h, err := reservesends.New(reservesends.Deps{Pacer: p, Log: slog.New(slog.NewJSONHandler(&logs, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return h, &logs
}

// mail is a record whose body has n recipients in to, cc and bcc.
func mail(t *testing.T, id string, to, cc, bcc int) reservesends.Record {
	t.Helper()
	addrs := func(kind string, n int) []string {
		a := make([]string, n)
		for i := range a {
			a[i] = fmt.Sprintf("%s-%d-%s@example.org", id, i, kind)
		}
		return a
	}
	return reservesends.Record{MessageID: "msg-" + id, Body: tasktest.Body(t, id, func(m map[string]any) {
		m["to"], m["cc"], m["bcc"] = addrs("to", to), addrs("cc", cc), addrs("bcc", bcc)
	})}
}

func micros(d time.Duration) int64 { return epoch.Add(d).UnixMicro() }

// The grants come in the records' order: those the burst holds now, then
// each later by its recipients over the rate. A record whose body does not
// decode gets 0 and takes no tokens. Success logs nothing.
func TestGrantsInOrderBeyondTheBurst(t *testing.T) {
	t.Parallel()
	bucket := &counting{Bucket: mempacer.New()}
	// 10 recipients a second, a burst of 5.
	h, logs := setup(t, bucket, 10)
	in := reservesends.In{Records: []reservesends.Record{
		mail(t, "a", 2, 1, 0), // 3: in the burst
		{MessageID: "msg-bad", Body: `{"to": ["x@example.org"`},
		mail(t, "b", 1, 0, 1), // 2: the burst's last
		mail(t, "c", 4, 0, 0), // 4: 0.4 s later
		mail(t, "d", 0, 0, 1), // 1: 0.1 s after that
	}}
	out, err := h.Handle(context.Background(), in)
	if err != nil {
		t.Fatal(err)
	}
	want := []int64{micros(0), 0, micros(0), micros(400 * time.Millisecond), micros(500 * time.Millisecond)}
	if fmt.Sprint(out.Grants) != fmt.Sprint(want) {
		t.Errorf("grants %v, want %v", out.Grants, want)
	}
	takes := bucket.count()
	if len(takes) != 1 || takes[0].Cost != 10 {
		t.Errorf("bucket takes %+v, want one of the 10 recipients of the good records", takes)
	}
	if logs.Len() != 0 {
		t.Errorf("a successful reservation logged:\n%s", logs)
	}
}

// The bucket is written once per batch, not once per record, and a batch
// that has no recipient at all does not touch it.
func TestOneBucketWritePerBatch(t *testing.T) {
	t.Parallel()
	bucket := &counting{Bucket: mempacer.New()}
	h, _ := setup(t, bucket, 100)
	ctx := context.Background()
	batch := func(prefix string) reservesends.In {
		var in reservesends.In
		for i := range 10 {
			in.Records = append(in.Records, mail(t, fmt.Sprintf("%s%d", prefix, i), 1, 1, 0))
		}
		return in
	}
	for i, in := range []reservesends.In{batch("x"), batch("y")} {
		out, err := h.Handle(ctx, in)
		if err != nil {
			t.Fatal(err)
		}
		for j, g := range out.Grants {
			if g == 0 {
				t.Errorf("batch %d record %d: no grant", i, j)
			}
		}
		if n := len(bucket.count()); n != i+1 {
			t.Errorf("after batch %d: %d bucket takes, want %d", i, n, i+1)
		}
	}
	none := reservesends.In{Records: []reservesends.Record{{MessageID: "m1", Body: "not json"}, {MessageID: "m2", Body: tasktest.Body(t, "none", func(m map[string]any) { delete(m, "to") })}}}
	out, err := h.Handle(ctx, none)
	if err != nil || fmt.Sprint(out.Grants) != "[0 0]" {
		t.Errorf("a batch without recipients: %v, %v", out.Grants, err)
	}
	if n := len(bucket.count()); n != 2 {
		t.Errorf("a batch without recipients took from the bucket: %d takes", n)
	}
}

// Pacing off (no pacer) grants nothing: every send runs as it would
// without the task.
func TestPacingOffGivesZeros(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	for _, deps := range []reservesends.Deps{
		{Log: slog.New(slog.NewJSONHandler(&logs, nil))},
		{Pacer: (*pacer.Pacer)(nil), Log: slog.New(slog.NewJSONHandler(&logs, nil))},
	} {
		h, err := reservesends.New(deps)
		if err != nil {
			t.Fatal(err)
		}
		out, err := h.Handle(context.Background(), reservesends.In{Records: []reservesends.Record{mail(t, "a", 1, 0, 0), mail(t, "b", 3, 0, 0)}})
		if err != nil || fmt.Sprint(out.Grants) != "[0 0]" {
			t.Errorf("pacing off (%T): %v, %v", deps.Pacer, out.Grants, err)
		}
	}
	if logs.Len() != 0 {
		t.Errorf("pacing off logged:\n%s", logs.String())
	}
}

// A bucket that cannot be reached costs the batch nothing: zeros, no
// error, and one WARN line that says why.
func TestBucketFailureGivesZeros(t *testing.T) {
	t.Parallel()
	h, logs := setup(t, failing{}, 10)
	out, err := h.Handle(context.Background(), reservesends.In{Records: []reservesends.Record{mail(t, "a", 1, 0, 0), mail(t, "b", 2, 0, 0), mail(t, "c", 1, 0, 0)}})
	if err != nil || fmt.Sprint(out.Grants) != "[0 0 0]" {
		t.Fatalf("bucket down: %v, %v", out.Grants, err)
	}
	lines := strings.Split(strings.TrimSpace(logs.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("want one log line, got:\n%s", logs)
	}
	var line map[string]any
	if err := json.Unmarshal([]byte(lines[0]), &line); err != nil {
		t.Fatal(err)
	}
	if line["level"] != "WARN" || line["task"] != reservesends.TaskName || line["records"] != float64(3) ||
		!strings.Contains(fmt.Sprint(line["error"]), "RequestLimitExceeded") {
		t.Errorf("log line %v", line)
	}
	// Not a result line: inspection reads "done" and "failed" only.
	if line["msg"] == "done" || line["msg"] == "failed" {
		t.Errorf("the warning reads as a result line: %v", line)
	}
}

// A bucket that does not answer is given up after ReserveTimeout: zeros,
// no error.
func TestSlowBucketGivesZeros(t *testing.T) {
	t.Parallel()
	h, logs := setup(t, blocking{}, 10)
	start := time.Now()
	out, err := h.Handle(context.Background(), reservesends.In{Records: []reservesends.Record{mail(t, "a", 1, 0, 0)}})
	if err != nil || fmt.Sprint(out.Grants) != "[0]" {
		t.Fatalf("bucket hangs: %v, %v", out.Grants, err)
	}
	if d := time.Since(start); d < reservesends.ReserveTimeout || d > reservesends.ReserveTimeout+5*time.Second {
		t.Errorf("gave up after %s, want about %s", d, reservesends.ReserveTimeout)
	}
	if !strings.Contains(logs.String(), `"level":"WARN"`) {
		t.Errorf("no warning:\n%s", logs)
	}
}

// shortPacer answers fewer grants than it was asked for.
type shortPacer struct{}

func (shortPacer) Reserve(_ context.Context, r []int) ([]time.Time, error) {
	return make([]time.Time, len(r)-1), nil
}

func TestPacerAnsweringTheWrongCountGivesZeros(t *testing.T) {
	t.Parallel()
	var logs bytes.Buffer
	h, _ := reservesends.New(reservesends.Deps{Pacer: shortPacer{}, Log: slog.New(slog.NewJSONHandler(&logs, nil))})
	out, err := h.Handle(context.Background(), reservesends.In{Records: []reservesends.Record{mail(t, "a", 1, 0, 0), mail(t, "b", 1, 0, 0)}})
	if err != nil || fmt.Sprint(out.Grants) != "[0 0]" || !strings.Contains(logs.String(), "1 grants for 2 records") {
		t.Errorf("%v, %v\n%s", out.Grants, err, logs.String())
	}
}

// An input far beyond a Pipes batch is refused as Mail.InvalidMessage,
// naming the count; it reserves nothing.
func TestTooManyRecordsRefused(t *testing.T) {
	t.Parallel()
	bucket := &counting{Bucket: mempacer.New()}
	h, _ := setup(t, bucket, 10)
	in := reservesends.In{Records: make([]reservesends.Record, reservesends.MaxRecords+1)}
	for i := range in.Records {
		in.Records[i] = reservesends.Record{MessageID: fmt.Sprint(i), Body: `{"to":["a@example.org"]}`}
	}
	_, err := h.Handle(context.Background(), in)
	if workflow.NameOf(err) != workflow.InvalidMessage || !strings.Contains(err.Error(), "10001") {
		t.Errorf("over-long input: %v", err)
	}
	if n := len(bucket.count()); n != 0 {
		t.Errorf("over-long input took from the bucket %d times", n)
	}
	in.Records = in.Records[:reservesends.MaxRecords]
	if _, err := h.Handle(context.Background(), in); err != nil {
		t.Errorf("%d records: %v", reservesends.MaxRecords, err)
	}
}

func TestRecipients(t *testing.T) {
	t.Parallel()
	many := make([]string, workflow.MaxRecipients+7)
	for i := range many {
		many[i] = fmt.Sprintf("r%d@example.org", i)
	}
	manyJSON, _ := json.Marshal(many)
	for _, c := range []struct {
		body string
		want int
	}{
		{`{"to":["a@example.org"],"cc":["b@example.org","c@example.org"],"bcc":["d@example.org"]}`, 4},
		{`{"version":1,"mailId":"m","to":["a@example.org"]}`, 1},
		// Only strings count; a field that is not an array counts nothing.
		{`{"to":["a@example.org", 7, null, {"x":1}, ["b@example.org"]],"cc":"c@example.org","bcc":{"d":1}}`, 1},
		{`{"to":null}`, 0},
		{`{"To":["a@example.org"]}`, 0}, // the contract's names, exactly
		{`{"subject":"no recipients"}`, 0},
		{`{"to":` + string(manyJSON) + `}`, workflow.MaxRecipients},
		{`["a@example.org"]`, 0},
		{`"to"`, 0},
		{``, 0},
		{`{"to":["a@example.org"]`, 0},
		{`{"to":["a@example.org"]} trailing`, 0},
	} {
		if got := reservesends.Recipients(c.body); got != c.want {
			t.Errorf("Recipients(%.60q) = %d, want %d", c.body, got, c.want)
		}
	}
}

func TestMicrosRoundsUp(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		t    time.Time
		want int64
	}{
		{time.Time{}, 0},
		{epoch, epoch.UnixMicro()},
		{epoch.Add(1), epoch.UnixMicro() + 1},
		{epoch.Add(999), epoch.UnixMicro() + 1},
		{epoch.Add(1000), epoch.UnixMicro() + 1},
		{epoch.Add(1001), epoch.UnixMicro() + 2},
	} {
		if got := reservesends.Micros(c.t); got != c.want {
			t.Errorf("Micros(%v) = %d, want %d", c.t, got, c.want)
		}
	}
	// Well below 2^53: exact as a JSON number through Step Functions.
	if us := reservesends.Micros(time.Date(2200, 1, 1, 0, 0, 0, 0, time.UTC)); us >= 1<<53 {
		t.Errorf("%d µs is not exact as a float64", us)
	}
}

// Through aws-lambda-go's handler, as the function runs: the input is the
// batch of Pipes records whole (receiptHandle, attributes and all), the
// answer exactly {"grants":[...]}.
func TestLambdaJSON(t *testing.T) {
	t.Parallel()
	h, _ := setup(t, mempacer.New(), 10)
	invoke := lambda.NewHandler(awsrun.Wrap(h.Handle)).Invoke
	sqsRecord := func(id, body string) workflow.Record {
		attr := "shop"
		return workflow.Record{
			MessageID: id, ReceiptHandle: "AQEB" + id + "/handle==", Body: body,
			Attributes: map[string]string{
				workflow.AttrApproximateReceiveCount: "1", workflow.AttrSentTimestamp: "1765098000000",
				workflow.AttrSenderID: "AIDAEXAMPLE", workflow.AttrApproximateFirstReceiveTimestamp: "1765098000100",
			},
			MessageAttributes: map[string]workflow.MessageAttribute{"producer": {StringValue: &attr, DataType: "String"}},
			MD5OfBody:         "0123456789abcdef0123456789abcdef", EventSource: workflow.EventSourceSQS,
			EventSourceARN: "arn:aws:sqs:eu-west-1:123456789012:mailflow-mail", AWSRegion: "eu-west-1",
		}
	}
	payload, err := json.Marshal(map[string]any{"records": workflow.Batch{
		sqsRecord("5fea7756-0ea4-451a-a703-a558b933e274", tasktest.Body(t, "order-1", nil)),
		sqsRecord("6afb8867-1fb5-562b-b814-b669c044f385", "not json"),
		sqsRecord("7b0c9978-20c6-673c-c925-c77ad155a496", tasktest.Body(t, "order-2", func(m map[string]any) { m["cc"] = []string{"bob@example.org"} })),
	}})
	if err != nil {
		t.Fatal(err)
	}
	got, err := invoke(context.Background(), payload)
	if err != nil {
		t.Fatal(err)
	}
	want := fmt.Sprintf(`{"grants":[%d,0,%d]}`, epoch.UnixMicro(), epoch.UnixMicro())
	if string(got) != want {
		t.Errorf("answer %s, want %s", got, want)
	}
	if got, err := invoke(context.Background(), []byte(`{"records":[]}`)); err != nil || string(got) != `{"grants":[]}` {
		t.Errorf("empty batch: %s, %v", got, err)
	}
	// A payload that is not the input shape is a Lambda error, not a crash.
	if _, err := invoke(context.Background(), []byte(`"not an object"`)); err == nil {
		t.Error("a bad payload was accepted")
	}
}
