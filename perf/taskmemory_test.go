package perf

import (
	"bytes"
	"cmp"
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/metrics"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/mailflow/mailflow/infra/config"
	"github.com/mailflow/mailflow/internal/awsrun"
	"github.com/mailflow/mailflow/lock"
	"github.com/mailflow/mailflow/lock/memlock"
	"github.com/mailflow/mailflow/pacer"
	"github.com/mailflow/mailflow/pacer/mempacer"
	"github.com/mailflow/mailflow/sender"
	"github.com/mailflow/mailflow/sender/sessender"
	"github.com/mailflow/mailflow/store/memstore"
	"github.com/mailflow/mailflow/store/s3store"
	"github.com/mailflow/mailflow/suppression/memsuppression"
	acquirelock "github.com/mailflow/mailflow/tasks/acquire-lock"
	fetchattachments "github.com/mailflow/mailflow/tasks/fetch-attachments"
	releaselock "github.com/mailflow/mailflow/tasks/release-lock"
	reservesends "github.com/mailflow/mailflow/tasks/reserve-sends"
	"github.com/mailflow/mailflow/tasks/send"
	"github.com/mailflow/mailflow/testkit"
	"github.com/mailflow/mailflow/workflow"
)

// The worst-case inputs. A queue body is at most what fits an execution
// input alone (infra/config: the deployment refuses a larger
// queue.maxMessageSizeBytes); a built message at most SES's 40 MiB
// (mailmime.DefaultMaxBytes, which the tasks cap MAX_MESSAGE_BYTES at).
var (
	maxBodyBytes    = config.MaxMessageSizeThatFits()
	maxMessageBytes = int64(40 << 20)
)

const (
	memBucket   = "mail-attachments"
	memStaging  = "staging/"
	memPrefix   = "attachments/"
	taskMemCase = "MAILFLOW_TASKMEM_CASE" // set in a child: the case it runs
	taskMemS3   = "MAILFLOW_TASKMEM_S3"
	taskMemSES  = "MAILFLOW_TASKMEM_SES"
	taskMemSHA  = "MAILFLOW_TASKMEM_SHA256" // of Send's staged message
	// taskMemRuns is how many invocations a child makes, one after
	// another as a warm instance would: the peak of the worst of them.
	taskMemRuns = 3
	// taskMemProcesses is how many children run each case: the worst.
	taskMemProcesses = 10
)

var memLimits = workflow.Limits{
	AttachmentPrefix: memPrefix, AllowedSenders: []string{"example.com"},
	DefaultSender: "Example <noreply@example.com>", MaxBodyBytes: maxBodyBytes,
}

// memCase is one task's worst-case input.
type memCase struct {
	task, name string
}

var memCases = []memCase{
	// A batch of ten with a largest queue body among them.
	{"ReserveSends", "max-batch"},
	{"AcquireLock", "max-body"},
	// Attachments summing to the message limit, two inline (related) and
	// two attached, streamed from S3 and staged back.
	{"FetchAttachments", "attachments-at-limit"},
	// An offloaded HTML body (htmlKey) filling the limit: bodies are read
	// into memory whole (mailmime checks their UTF-8 first).
	{"FetchAttachments", "offloaded-body-at-limit"},
	// A largest queue body with text and HTML inline in it.
	{"FetchAttachments", "max-body"},
	// A staged message at SES's limit, for the Send task's function.
	{"Send", "staged-at-limit"},
	// An inline message at the default inline bound with a largest queue
	// body beside it: what its small function for inline messages gets
	// at most.
	{"SendInline", "inline-at-limit"},
	{"ReleaseLock", "max-body"},
}

// inlineMessageBytes is the largest message the deployment passes inline
// (fetchattachments.DefaultInlineMaxBytes; smaller still beside a large
// body).
const inlineMessageBytes = fetchattachments.DefaultInlineMaxBytes

// inlineMessage is a raw message of inlineMessageBytes.
func inlineMessage() []byte {
	raw := pseudoRandom(inlineMessageBytes, 7)
	copy(raw, "Subject: receipt\r\n\r\n")
	return raw
}

// recipients are the most a mail may have.
func maxRecipients() []string {
	r := make([]string, workflow.MaxRecipients)
	for i := range r {
		r[i] = fmt.Sprintf("Recipient Number %02d <recipient-%02d@example.org>", i, i)
	}
	return r
}

// memBody is a queue body for mailID: the most recipients, and text and
// HTML (split evenly) padding it to the largest body when fill is set.
func memBody(mailID string, fill bool, change func(m *workflow.Message)) string {
	m := workflow.Message{Version: 1, MailID: mailID, To: maxRecipients(), Subject: "Your documents " + mailID, Text: "See attached."}
	if change != nil {
		change(&m)
	}
	b := marshalBody(&m)
	if fill {
		const line = "Thank you for your order; the invoice is attached.\n"
		pad := maxBodyBytes - len(b) + len(m.Text)
		// JSON escapes the line breaks, so the padding converges on the
		// bound in a few rounds.
		for try := 0; len(b) > maxBodyBytes || (len(b) < maxBodyBytes && try < 20); try++ {
			text := strings.Repeat(line, pad/len(line)+1)[:pad]
			m.Text, m.HTML = text[:pad/2], "<p>"+text[pad/2:]+"</p>"
			b = marshalBody(&m)
			pad -= len(b) - maxBodyBytes
		}
	}
	if len(b) > maxBodyBytes {
		panic(fmt.Sprintf("body of %d bytes, more than %d", len(b), maxBodyBytes))
	}
	return string(b)
}

// marshalBody encodes m as a producer may: HTML as it is, not escaped.
func marshalBody(m *workflow.Message) []byte {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(m); err != nil {
		panic(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// attachmentsAtLimit is the raw size of each of n attachments whose
// encoded sizes, with the builder's 16 KiB for headers and the bodies'
// encoded sizes, just fit the message limit.
func attachmentsAtLimit(n int, bodies int64) int64 {
	room := maxMessageBytes - 16<<10 - bodies
	r := room / int64(n) * 57 / 78 // base64 with CRLF every 76 characters
	for encodedSize(r+1)*int64(n) <= room {
		r++
	}
	for encodedSize(r)*int64(n) > room {
		r--
	}
	return r
}

// attHTML is the HTML of the mail with attachments at the limit; its text
// is memBody's.
const attHTML = `<p><img src="cid:image-0@example.com"><img src="cid:image-1@example.com"></p>`

// attBodies is what the builder's estimate counts for that mail's bodies.
func attBodies() int64 {
	return encodedSize(int64(len("See attached."))) + encodedSize(int64(len(attHTML)))
}

// encodedSize is mailmime.EncodedSize (an internal package).
func encodedSize(n int64) int64 {
	b64 := (n + 2) / 3 * 4
	return b64 + (b64+75)/76*2
}

// pseudoRandom is incompressible content that costs nothing to make.
func pseudoRandom(n int64, seed uint64) []byte {
	b := make([]byte, n)
	x := seed | 1
	for i := range b {
		x ^= x << 13
		x ^= x >> 7
		x ^= x << 17
		b[i] = byte(x)
	}
	return b
}

// htmlAtLimit is an ASCII HTML body of short lines that quoted-printable
// leaves as it is, as large as the message limit leaves room for.
func htmlAtLimit() []byte {
	n := int(maxMessageBytes - 16<<10)
	line := "<p>Thank you for your order, the details are below.</p>\r\n"
	return []byte(strings.Repeat(line, n/len(line)+1)[:n])
}

// BenchmarkTaskMemory measures each state-machine task's peak resident
// memory on its worst-case input, in a fresh process per case (the test
// binary run again for one case) so the peak is the handler's alone, run
// with the GOMEMLIMIT of its deployed size. S3 and SES v2 are local
// servers in this process, reached through the real adapters (s3store,
// sessender), so the SDKs' request and response handling is in the peak;
// the lock table, suppression list and events queue are in memory (their
// items are a few hundred bytes). It writes the peaks into
// results/task-memory.json.
func BenchmarkTaskMemory(b *testing.B) {
	if PeakRSS() == 0 {
		b.Skip("no /proc/self/status: peak RSS unknown")
	}
	var figures map[string][]TaskMemoryCase
	for range b.N {
		figures = measureTaskMemory(b)
	}
	for task, cases := range figures {
		for _, c := range cases {
			b.ReportMetric(c.PeakRSSMiB, task+"/"+c.Name+"-peak-MiB")
		}
	}
	if err := writeTaskMemory(figures, nil); err != nil {
		b.Fatal(err)
	}
}

func measureTaskMemory(b *testing.B) map[string][]TaskMemoryCase {
	ctx := context.Background()
	fake := testkit.S3(b, memBucket)
	var sesBytes atomic.Int64
	ses := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n, _ := io.Copy(io.Discard, r.Body)
		sesBytes.Store(n)
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"MessageId":"ses-taskmem"}`))
	}))
	defer ses.Close()
	s3c := s3.NewFromConfig(testkit.AWSConfig(fake.URL), func(o *s3.Options) { o.UsePathStyle = true })
	put := func(key string, body []byte) {
		if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(memBucket), Key: aws.String(key),
			Body: bytes.NewReader(body), ContentLength: aws.Int64(int64(len(body)))}); err != nil {
			b.Fatal(err)
		}
	}
	each := attachmentsAtLimit(4, attBodies())
	for i := range 4 {
		put(fmt.Sprintf("%sdoc-%d.bin", memPrefix, i), pseudoRandom(each, uint64(i+1)))
	}
	put(memPrefix+"body.html", htmlAtLimit())
	staged := pseudoRandom(maxMessageBytes, 99)
	copy(staged, "Subject: documents\r\n\r\n")
	put(memStaging+"staged.eml", staged)
	sum := sha256.Sum256(staged)

	out := map[string][]TaskMemoryCase{}
	for _, c := range memCases {
		// The peak varies from one process to the next (when the
		// collector runs): the worst of several.
		var got TaskMemoryCase
		for range taskMemProcesses {
			run := runMemChild(b, c, fake.URL, ses.URL, hex.EncodeToString(sum[:]), &sesBytes)
			if run.PeakRSSMiB > got.PeakRSSMiB {
				got = run
			}
		}
		b.Logf("%s/%s: peak RSS %.1f MiB (heap %.1f MiB), input %d bytes, GOMEMLIMIT=%s, worst of %d processes",
			c.task, c.name, got.PeakRSSMiB, got.HeapAfterMiB, got.InputBytes, GoMemLimit(TaskMemoryMiB[c.task]), taskMemProcesses)
		out[c.task] = append(out[c.task], got)
	}
	return out
}

// runMemChild runs one case in a process of its own and returns its figures.
func runMemChild(b *testing.B, c memCase, s3URL, sesURL, sha string, sesBytes *atomic.Int64) TaskMemoryCase {
	sesBytes.Store(0)
	cmd := exec.Command(os.Args[0], "-test.run=^TestTaskMemoryChild$", "-test.v")
	cmd.Env = append(os.Environ(),
		taskMemCase+"="+c.task+"/"+c.name, taskMemS3+"="+s3URL, taskMemSES+"="+sesURL,
		taskMemSHA+"="+sha, "GOMEMLIMIT="+GoMemLimit(TaskMemoryMiB[c.task]))
	outb, err := cmd.CombinedOutput()
	if err != nil {
		b.Fatalf("%s/%s: %v\n%s", c.task, c.name, err, outb)
	}
	var got TaskMemoryCase
	found := false
	for line := range strings.Lines(string(outb)) {
		if rest, ok := strings.CutPrefix(strings.TrimSpace(line), "TASKMEM "); ok {
			found = json.Unmarshal([]byte(rest), &got) == nil
		}
	}
	if !found {
		b.Fatalf("%s/%s: no figures in the child's output:\n%s", c.task, c.name, outb)
	}
	if want := map[string]int64{"SendInline": inlineMessageBytes * 4 / 3, "Send": maxMessageBytes * 4 / 3}[c.task]; sesBytes.Load() < want {
		b.Fatalf("%s: SES received %d bytes, less than the message base64-encoded", c.task, sesBytes.Load())
	}
	return got
}

// writeTaskMemory merges new figures into results/task-memory.json: peaks
// when peaks is set, CPU times when cpu is, keeping the other kind from the
// file as it was. A case's recorded peak only rises while its task's size
// stays the same.
func writeTaskMemory(peaks map[string][]TaskMemoryCase, cpu map[string]float64) error {
	r := TaskMemoryResult{Tasks: map[string]TaskMemory{}}
	if b, err := os.ReadFile(filepath.Join(ResultsDir(), "task-memory.json")); err == nil {
		_ = json.Unmarshal(b, &r)
		if r.Tasks == nil {
			r.Tasks = map[string]TaskMemory{}
		}
	}
	r.Headroom, r.VCPUMiB = MemoryHeadroom, VCPUMiB
	for task, cases := range peaks {
		t := r.Tasks[task]
		// A case's peak varies from one process to the next (whether a
		// collection runs between its copies): at an unchanged size the
		// worst recorded so far stays, so the size covers the worst seen.
		if t.ConfiguredMiB == TaskMemoryMiB[task] && t.GoMemLimit == GoMemLimit(TaskMemoryMiB[task]) {
			for i, c := range cases {
				for _, old := range t.Cases {
					if old.Name == c.Name && old.PeakRSSMiB > c.PeakRSSMiB {
						cases[i] = old
					}
				}
			}
		}
		t.Cases = cases
		worst := slices.MaxFunc(cases, func(a, b TaskMemoryCase) int { return cmp.Compare(a.PeakRSSMiB, b.PeakRSSMiB) })
		t.PeakRSSMiB, t.InputBytes, t.WorstCase = worst.PeakRSSMiB, worst.InputBytes, worst.Name
		// The size the peaks were measured at, under its GOMEMLIMIT.
		t.ConfiguredMiB, t.GoMemLimit = TaskMemoryMiB[task], GoMemLimit(TaskMemoryMiB[task])
		r.Tasks[task] = t
	}
	for task, ms := range cpu {
		t := r.Tasks[task]
		t.CPUMsTypical = ms
		r.Tasks[task] = t
	}
	for task, t := range r.Tasks {
		t.SizedMiB = SizeFor(t.PeakRSSMiB)
		r.Tasks[task] = t
	}
	return WriteResult("task-memory.json", r)
}

// TestTaskMemoryChild runs one case of BenchmarkTaskMemory in the process
// the benchmark started for it, and prints its figures; TestMain leaves it
// out of every other run.
func TestTaskMemoryChild(t *testing.T) {
	c := os.Getenv(taskMemCase)
	if c == "" {
		t.Fatalf("%s is not set: this test runs only in the process BenchmarkTaskMemory starts for one case", taskMemCase)
	}
	task, name, _ := strings.Cut(c, "/")
	invoke := memChild(t, task, name)
	var heapAfter uint64
	var input int64
	sample := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	for i := range taskMemRuns {
		var err error
		if input, err = invoke(i); err != nil {
			t.Fatalf("%s/%s, invocation %d: %v", task, name, i, err)
		}
		metrics.Read(sample)
		heapAfter = max(heapAfter, sample[0].Value.Uint64())
	}
	b, _ := json.Marshal(TaskMemoryCase{Name: name, PeakRSSMiB: mib(PeakRSS()), InputBytes: input, HeapAfterMiB: mib(int64(heapAfter))})
	fmt.Printf("TASKMEM %s\n", b)
}

func mib(n int64) float64 { return math100(float64(n) / (1 << 20)) }

func math100(v float64) float64 { return float64(int64(v*100+0.5)) / 100 }

// memChild builds a case's handler as the task's Lambda function would
// (configured, then invoked through aws-lambda-go's handler with the JSON
// payload Step Functions sends) and returns one invocation and the size of
// the case's input (the payload, plus what the task reads from S3).
func memChild(t *testing.T, task, name string) func(i int) (inputBytes int64, err error) {
	ctx := context.Background()
	quiet := slog.New(slog.NewJSONHandler(io.Discard, nil))
	s3cfg := testkit.AWSConfig(os.Getenv(taskMemS3))
	st, err := s3store.New(s3.NewFromConfig(s3cfg, func(o *s3.Options) { o.UsePathStyle = true }), memBucket)
	if err != nil {
		t.Fatal(err)
	}
	locks := memlock.New()
	lease, retention := 6*time.Minute, 24*time.Hour
	owner := func(i int) string {
		return "arn:aws:states:us-east-1:111111111111:express:mailflow:exec-" + strconv.Itoa(i) + "/m"
	}
	acquire := func(mailID, owner string) error {
		now := time.Now()
		_, err := locks.Acquire(ctx, lock.AcquireParams{MailID: mailID, Owner: owner, ContentHash: "h", Now: now, LeaseUntil: now.Add(lease), ExpiresAt: now.Add(retention)})
		return err
	}
	var call func(ctx context.Context, payload []byte) ([]byte, error)
	var payload func(i int) any
	var extra int64
	switch task + "/" + name {
	case "AcquireLock/max-body":
		h, err := acquirelock.New(acquirelock.Config{Limits: memLimits, Lease: lease, Retention: retention},
			acquirelock.Deps{Locks: locks, Suppressions: memsuppression.New(), Events: jsonQueue{}, Log: quiet})
		if err != nil {
			t.Fatal(err)
		}
		call = lambda.NewHandler(awsrun.Wrap(h.Handle)).Invoke
		payload = func(i int) any {
			return acquirelock.In{MessageID: "m", Owner: owner(i), Body: memBody("acquire-"+strconv.Itoa(i), true, nil)}
		}
	case "ReserveSends/max-batch":
		call = lambda.NewHandler(awsrun.Wrap(newReserveSends(t, quiet).Handle)).Invoke
		payload = func(i int) any {
			records := []reservesends.Record{{MessageID: "m", Body: memBody("reserve-"+strconv.Itoa(i), true, nil)}}
			for j := range 9 {
				records = append(records, reservesends.Record{MessageID: "m", Body: throughputBody(7, j)})
			}
			return reservesends.In{Records: records}
		}
	case "ReleaseLock/max-body":
		h, err := releaselock.New(releaselock.Deps{Locks: locks, Log: quiet})
		if err != nil {
			t.Fatal(err)
		}
		call = lambda.NewHandler(awsrun.Wrap(h.Handle)).Invoke
		payload = func(i int) any {
			id := "release-" + strconv.Itoa(i)
			if err := acquire(id, owner(i)); err != nil {
				t.Fatal(err)
			}
			return releaselock.In{MessageID: "m", Owner: owner(i), Body: memBody(id, true, nil)}
		}
	case "FetchAttachments/attachments-at-limit", "FetchAttachments/offloaded-body-at-limit", "FetchAttachments/max-body":
		h, err := fetchattachments.New(fetchattachments.Config{Limits: memLimits, StagingPrefix: memStaging, TempDir: t.TempDir()},
			fetchattachments.Deps{Store: st, Log: quiet})
		if err != nil {
			t.Fatal(err)
		}
		call = lambda.NewHandler(awsrun.Wrap(h.Handle)).Invoke
		change, fill := func(*workflow.Message) {}, false
		switch name {
		case "attachments-at-limit":
			change = func(m *workflow.Message) {
				for i := range 4 {
					a := workflow.Attachment{Key: fmt.Sprintf("%sdoc-%d.bin", memPrefix, i), Filename: fmt.Sprintf("document-%d.pdf", i), ContentType: "application/pdf"}
					if i < 2 {
						a.Inline, a.ContentID, a.ContentType = true, fmt.Sprintf("image-%d@example.com", i), "image/png"
					}
					m.Attachments = append(m.Attachments, a)
				}
				m.HTML = attHTML
			}
			extra = 4 * attachmentsAtLimit(4, attBodies())
		case "offloaded-body-at-limit":
			change = func(m *workflow.Message) { m.Text, m.HTMLKey = "", memPrefix+"body.html" }
			extra = int64(len(htmlAtLimit()))
		case "max-body":
			fill = true
		}
		payload = func(i int) any {
			id := "fetch-" + strconv.Itoa(i)
			return fetchattachments.In{MessageID: "m", Owner: owner(i), MailID: id, Body: memBody(id, fill, change)}
		}
	case "Send/staged-at-limit", "SendInline/inline-at-limit":
		ses, err := sessender.New(sesv2.NewFromConfig(testkit.AWSConfig(os.Getenv(taskMemSES)), func(o *sesv2.Options) { o.RetryMaxAttempts = 1 }))
		if err != nil {
			t.Fatal(err)
		}
		h, err := send.New(send.Config{Limits: memLimits, StagingPrefix: memStaging, Lease: lease, Retention: retention},
			send.Deps{Locks: locks, Store: st, Sender: ses, Log: quiet})
		if err != nil {
			t.Fatal(err)
		}
		call = lambda.NewHandler(awsrun.Wrap(h.Handle)).Invoke
		staged := send.Staged{Key: memStaging + "staged.eml", Size: maxMessageBytes, SHA256: os.Getenv(taskMemSHA)}
		extra = maxMessageBytes
		fill := false
		if task == "SendInline" {
			raw := inlineMessage()
			sum := sha256.Sum256(raw)
			staged = send.Staged{Inline: base64.StdEncoding.EncodeToString(raw), Size: int64(len(raw)), SHA256: hex.EncodeToString(sum[:])}
			extra, fill = 0, true
		}
		payload = func(i int) any {
			// The task takes the lock in its attempt write.
			id := "send-" + strconv.Itoa(i)
			return send.In{MessageID: "m", Owner: owner(i), MailID: id, Body: memBody(id, fill, nil), Staged: staged}
		}
	default:
		t.Fatalf("no case %s/%s", task, name)
	}
	return func(i int) (int64, error) {
		p, err := json.Marshal(payload(i))
		if err != nil {
			return 0, err
		}
		res, err := call(ctx, p)
		if err != nil {
			return 0, err
		}
		if task == "FetchAttachments" && !bytes.Contains(res, []byte(`"key":"`+memStaging)) {
			return 0, fmt.Errorf("the message was not staged: %.200s", res)
		}
		return int64(len(p)) + extra, nil
	}
}

// jsonQueue is the events queue in memory: it encodes each event as the
// SQS adapter does and drops it.
type jsonQueue struct{}

func (jsonQueue) Send(_ context.Context, e workflow.PipelineEvent) error {
	_, err := json.Marshal(e)
	return err
}

// discardSender accepts every mail.
type discardSender struct{}

func (discardSender) Send(_ context.Context, m *sender.Message) (string, error) {
	if err := m.Validate(); err != nil {
		return "", err
	}
	return "ses-" + strconv.Itoa(len(m.Raw)), nil
}

// BenchmarkTaskCPU measures each task's CPU time per invocation for the
// throughput benchmark's typical mail (throughputBody: an 800-byte body
// and one 2 KB attachment), at GOMAXPROCS=1, with in-memory ports: the
// CPU a function spends besides waiting on AWS, which Lambda's CPU share
// (VCPUMiB) stretches at small sizes. It records the figures in
// results/task-memory.json.
func BenchmarkTaskCPU(b *testing.B) {
	if CPUTime() == 0 {
		b.Skip("no getrusage: CPU time unknown")
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(1))
	ctx := context.Background()
	quiet := slog.New(slog.NewJSONHandler(io.Discard, nil))
	limits := memLimits
	limits.MaxBodyBytes = 16 << 10 // the deployed default
	st := memstore.New()
	if err := st.Put(ctx, "attachments/bench/receipt.pdf", bytes.NewReader(attachment), int64(len(attachment))); err != nil {
		b.Fatal(err)
	}
	locks := memlock.New()
	lease, retention := 6*time.Minute, 24*time.Hour
	acq, err := acquirelock.New(acquirelock.Config{Limits: limits, Lease: lease, Retention: retention},
		acquirelock.Deps{Locks: locks, Suppressions: memsuppression.New(), Events: jsonQueue{}, Log: quiet})
	if err != nil {
		b.Fatal(err)
	}
	fetch, err := fetchattachments.New(fetchattachments.Config{Limits: limits, StagingPrefix: memStaging, TempDir: b.TempDir()},
		fetchattachments.Deps{Store: st, Log: quiet})
	if err != nil {
		b.Fatal(err)
	}
	// The Send task's function for staged messages: the same mail staged.
	stage, err := fetchattachments.New(fetchattachments.Config{Limits: limits, StagingPrefix: memStaging, TempDir: b.TempDir(), InlineMaxBytes: -1},
		fetchattachments.Deps{Store: st, Log: quiet})
	if err != nil {
		b.Fatal(err)
	}
	snd, err := send.New(send.Config{Limits: limits, StagingPrefix: memStaging, Lease: lease, Retention: retention},
		send.Deps{Locks: locks, Store: st, Sender: discardSender{}, Log: quiet})
	if err != nil {
		b.Fatal(err)
	}
	rel, err := releaselock.New(releaselock.Deps{Locks: locks, Log: quiet})
	if err != nil {
		b.Fatal(err)
	}
	// Each through aws-lambda-go's handler, as the functions decode their
	// payload and encode their result.
	reserve := newReserveSends(b, quiet)
	invoke := map[string]func(context.Context, []byte) ([]byte, error){
		"ReserveSends":     lambda.NewHandler(awsrun.Wrap(reserve.Handle)).Invoke,
		"AcquireLock":      lambda.NewHandler(awsrun.Wrap(acq.Handle)).Invoke,
		"FetchAttachments": lambda.NewHandler(awsrun.Wrap(fetch.Handle)).Invoke,
		"Send":             lambda.NewHandler(awsrun.Wrap(snd.Handle)).Invoke,
		"SendInline":       lambda.NewHandler(awsrun.Wrap(snd.Handle)).Invoke,
		"ReleaseLock":      lambda.NewHandler(awsrun.Wrap(rel.Handle)).Invoke,
	}
	// The staged mail's check and build, untimed.
	acquireUntimed, stageUntimed := invoke["AcquireLock"], lambda.NewHandler(awsrun.Wrap(stage.Handle)).Invoke
	stageFor := func(owner, body string) fetchattachments.Out {
		var lk acquirelock.Out
		out, err := acquireUntimed(ctx, mustJSON(b, acquirelock.In{MessageID: "m", Owner: owner, Body: body}))
		if err != nil || json.Unmarshal(out, &lk) != nil || lk.Outcome != acquirelock.Acquired {
			b.Fatalf("acquire: %s %v", out, err)
		}
		var built fetchattachments.Out
		out, err = stageUntimed(ctx, mustJSON(b, fetchattachments.In{MessageID: "m", Owner: owner, MailID: lk.MailID, Body: body}))
		if err != nil || json.Unmarshal(out, &built) != nil || built.Key == "" {
			b.Fatalf("stage: %s %v", out, err)
		}
		return built
	}
	cpu, calls := map[string]time.Duration{}, map[string]int{}
	timed := func(task string, in any) []byte {
		p, err := json.Marshal(in)
		if err != nil {
			b.Fatal(err)
		}
		t0 := CPUTime()
		out, err := invoke[task](ctx, p)
		cpu[task] += CPUTime() - t0
		calls[task]++
		if err != nil {
			b.Fatalf("%s: %v", task, err)
		}
		return out
	}
	n := 0
	var batch []reservesends.Record
	for i := range max(b.N, 2000) {
		n++
		// The batch's reservation, once per seven mails (the deployed
		// batch), before they run.
		if i%7 == 0 {
			batch = batch[:0]
			for j := i; j < i+7; j++ {
				batch = append(batch, reservesends.Record{MessageID: "m", Body: throughputBody(7, j)})
			}
			timed("ReserveSends", reservesends.In{Records: batch})
		}
		owner := "arn:aws:states:us-east-1:111111111111:express:mailflow:cpu-" + strconv.Itoa(i) + "/m"
		body := throughputBody(7, i)
		var lk acquirelock.Out
		if err := json.Unmarshal(timed("AcquireLock", acquirelock.In{MessageID: "m", Owner: owner, Body: body}), &lk); err != nil || lk.Outcome != acquirelock.Acquired {
			b.Fatalf("acquire: %+v %v", lk, err)
		}
		var built fetchattachments.Out
		if err := json.Unmarshal(timed("FetchAttachments", fetchattachments.In{MessageID: "m", Owner: owner, MailID: lk.MailID, Body: body}), &built); err != nil || built.Inline == "" {
			b.Fatalf("fetch: %+v %v", built.Key, err)
		}
		timed("SendInline", send.In{MessageID: "m", Owner: owner, MailID: lk.MailID, Body: body,
			Staged: send.Staged{Inline: built.Inline, Size: built.Size, SHA256: built.SHA256}})
		largeOwner, largeBody := owner+"s", throughputBody(9, i)
		staged := stageFor(largeOwner, largeBody)
		var largeMail workflow.Message
		if err := json.Unmarshal([]byte(largeBody), &largeMail); err != nil {
			b.Fatal(err)
		}
		timed("Send", send.In{MessageID: "m", Owner: largeOwner, MailID: largeMail.MailID, Body: largeBody,
			Staged: send.Staged{Key: staged.Key, Size: staged.Size, SHA256: staged.SHA256}})
		// A lock released is one not sent: take another mail's.
		relOwner, relBody := owner+"r", throughputBody(8, i)
		if err := acquireFor(ctx, locks, relBody, relOwner, lease, retention); err != nil {
			b.Fatal(err)
		}
		timed("ReleaseLock", releaselock.In{MessageID: "m", Owner: relOwner, Body: relBody})
	}
	figures := map[string]float64{}
	for task, d := range cpu {
		figures[task] = math1000(float64(d.Microseconds()) / 1000 / float64(calls[task]))
		b.ReportMetric(figures[task]*1000, task+"-cpu-µs/op")
	}
	if err := writeTaskMemory(nil, figures); err != nil {
		b.Fatal(err)
	}
}

// newReserveSends is the ReserveSends task over an in-memory pacer whose
// rate no benchmark reaches: every batch is granted at once.
func newReserveSends(tb testing.TB, log *slog.Logger) *reservesends.Handler {
	paced, err := pacer.New(mempacer.New(), pacer.Config{Rate: 1e6, MaxWait: time.Second})
	if err != nil {
		tb.Fatal(err)
	}
	h, err := reservesends.New(reservesends.Deps{Pacer: paced, Log: log})
	if err != nil {
		tb.Fatal(err)
	}
	return h
}

func mustJSON(b *testing.B, v any) []byte {
	p, err := json.Marshal(v)
	if err != nil {
		b.Fatal(err)
	}
	return p
}

func math1000(v float64) float64 { return float64(int64(v*1000+0.5)) / 1000 }

// acquireFor takes the lock of the mail in body for owner directly.
func acquireFor(ctx context.Context, locks lock.Table, body, owner string, lease, retention time.Duration) error {
	m, err := workflow.Parse([]byte(body), memLimits)
	if err != nil {
		return err
	}
	now := time.Now()
	_, err = locks.Acquire(ctx, lock.AcquireParams{MailID: m.MailID, Owner: owner, ContentHash: "h", Now: now, LeaseUntil: now.Add(lease), ExpiresAt: now.Add(retention)})
	return err
}

// TestTaskSizesRecorded: the committed results/task-memory.json holds a
// worst-case peak and a CPU time for every task, measured at the size the
// cost model prices (so the model and the recorded GOMEMLIMIT follow the
// deployed sizes), and each size leaves MemoryHeadroom over its peak.
func TestTaskSizesRecorded(t *testing.T) {
	r, err := RecordedTaskMemory()
	if err != nil {
		t.Fatal(err)
	}
	if r.Headroom != MemoryHeadroom || r.VCPUMiB != VCPUMiB {
		t.Errorf("recorded with headroom %v and %v MiB per vCPU, want %v and %v", r.Headroom, r.VCPUMiB, MemoryHeadroom, VCPUMiB)
	}
	for task, size := range TaskMemoryMiB {
		rec, ok := r.Tasks[task]
		switch {
		case !ok || rec.PeakRSSMiB <= 0 || rec.CPUMsTypical <= 0 || len(rec.Cases) == 0:
			t.Errorf("%s: no peak, CPU time or cases recorded: %+v", task, rec)
		case rec.ConfiguredMiB != size || rec.GoMemLimit != GoMemLimit(size):
			t.Errorf("%s: measured at %v MiB (GOMEMLIMIT=%s), but sized %v MiB: run BenchmarkTaskMemory again", task, rec.ConfiguredMiB, rec.GoMemLimit, size)
		case size < MemoryHeadroom*rec.PeakRSSMiB || size != SizeFor(rec.PeakRSSMiB):
			t.Errorf("%s: %v MiB for a peak of %.1f MiB; the rule picks %v", task, size, rec.PeakRSSMiB, SizeFor(rec.PeakRSSMiB))
		}
	}
	for _, task := range CostInputs(ThroughputResult{}).Tasks {
		if task.MemoryMB != TaskMemoryMiB[task.Name] {
			t.Errorf("cost model prices %s at %v MiB, deployed at %v", task.Name, task.MemoryMB, TaskMemoryMiB[task.Name])
		}
	}
}

func TestSizeFor(t *testing.T) {
	for peak, want := range map[float64]float64{1: 128, 85.3: 128, 85.4: 256, 160: 256, 170.7: 384, 280: 512, 341.3: 512, 341.4: 640} {
		if got := SizeFor(peak); got != want {
			t.Errorf("SizeFor(%v) = %v, want %v", peak, got, want)
		}
	}
	if got := GoMemLimit(256); got != "204MiB" {
		t.Errorf("GoMemLimit(256) = %q", got)
	}
}

// TestBilledDurationCPUShare: a task whose local duration is shorter than
// its CPU time at its size's CPU share is billed the stretched CPU time;
// one whose local duration is longer is billed that.
func TestBilledDurationCPUShare(t *testing.T) {
	cpu := recordedCPUMs("FetchAttachments")
	if cpu <= 0 {
		t.Fatal("no CPU time recorded for FetchAttachments")
	}
	fetch := func(u Usage) float64 {
		for _, task := range u.Tasks {
			if task.Name == "FetchAttachments" {
				return task.BilledMs
			}
		}
		t.Fatal("no FetchAttachments task priced")
		return 0
	}
	fast := ThroughputResult{TaskMillis: map[string]float64{"mailflow-fetch-attachments": 0}}
	if got, want := fetch(CostInputs(fast)), cpu*VCPUMiB/fetchAttachmentsMiB+s3GetMs; !near(got, want) {
		t.Errorf("billed %v ms, want the CPU time stretched to %v MiB: %v ms", got, float64(fetchAttachmentsMiB), want)
	}
	slow := ThroughputResult{TaskMillis: map[string]float64{"mailflow-fetch-attachments": 1000 * cpu}}
	if got, want := fetch(CostInputs(slow)), 1000*cpu+s3GetMs; !near(got, want) {
		t.Errorf("billed %v ms, want the local duration: %v ms", got, want)
	}
	// The earlier, larger size gives more CPU.
	if a, b := fetch(costInputs(fast, earlierSizes, design{})), fetch(CostInputs(fast)); !(a < b) {
		t.Errorf("at %v MiB billed %v ms, not less than %v ms at %v MiB", float64(fetchAttachmentsMiBBefore), a, b, float64(fetchAttachmentsMiB))
	}
}
