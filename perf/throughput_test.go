package perf

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/mailflow/mailflow/internal/taskkit"
	"github.com/mailflow/mailflow/local"
	"github.com/mailflow/mailflow/local/execstore"
	"github.com/mailflow/mailflow/local/sessim"
	"github.com/mailflow/mailflow/local/sqsstore"
)

func throughputN() int {
	n := 2000
	if Full() {
		n = 10000
	}
	return int(EnvFloat("THROUGHPUT_N", float64(n)))
}

const pipeConc, mapConc = 4, 10

// attachment is a small PDF-like attachment shared by every mail.
var attachment = bytes.Repeat([]byte("%PDF-1.4 mailflow benchmark attachment\n"), 50) // ~2 KB

func throughputBody(run, i int) string {
	return `{"version":1,"mailId":"tp` + strconv.Itoa(run) + `-` + strconv.Itoa(i) + `","to":["Ann Example <ann` + strconv.Itoa(i) +
		`@example.org>"],"subject":"Your receipt ` + strconv.Itoa(i) + `","text":"Thank you for your order.",` +
		`"html":"<p>Thank you for your order.</p>","attachments":[{"key":"attachments/bench/receipt.pdf","filename":"receipt.pdf","contentType":"application/pdf"}]}`
}

func BenchmarkThroughput(b *testing.B) {
	n := throughputN()
	var r, first ThroughputResult
	// Two runs in one data directory: the first in a new one, the second
	// after a restart on the same one, as `mailflow dev` runs day to day.
	// The first also pays for warming the machine up: on the VMs these
	// figures come from, the kernel's first few thousand files after an
	// idle moment cost many times what later ones do (BenchmarkWriteFile
	// in local/outbox; BENCHMARKS.md).
	b.Run(fmt.Sprintf("pipeline/N=%d", n), func(b *testing.B) {
		for range b.N {
			dir := b.TempDir()
			first = runPipeline(b, n, dir, 1, 0)
			r = runPipeline(b, n, dir, 2, 0)
		}
		b.ReportMetric(r.MailsPerSecond, "mails/s")
		b.ReportMetric(first.MailsPerSecond, "first-run-mails/s")
		b.ReportMetric(r.P50Millis, "p50-ms")
		b.ReportMetric(r.P99Millis, "p99-ms")
		b.ReportMetric(float64(r.PeakRSSBytes)/(1<<20), "peak-RSS-MiB")
		b.ReportMetric(r.CPUMicrosPerMail, "cpu-µs/mail")
		b.ReportMetric(first.CPUMicrosPerMail, "first-run-cpu-µs/mail")
	})
	b.Run(fmt.Sprintf("queue-baseline/N=%d", n), func(b *testing.B) {
		for range b.N {
			r.BaselinePerSecond, r.BaselineCPUMicrosPerMsg = runQueueBaseline(b, n)
		}
		b.ReportMetric(r.BaselinePerSecond, "msgs/s")
		b.ReportMetric(r.BaselineCPUMicrosPerMsg, "cpu-µs/msg")
	})
	// The runs above stage every message, as the local runtime does (its
	// store keeps every state's data). A smaller run with messages inline,
	// as the deployment does at its default log level, gives the cost
	// model that design's figures; any bound above the benchmark mail's
	// built message (about 4 KB) sends it inline.
	b.Run(fmt.Sprintf("pipeline-inline/N=%d", max(n/4, 1)), func(b *testing.B) {
		for range b.N {
			s := runPipeline(b, max(n/4, 1), b.TempDir(), 1, 32*1024)
			r.Inline = &InlineFigures{N: s.N, StagedPerMail: s.StagedPerMail, TaskMillis: s.TaskMillis, LogBytesAll: s.LogBytesAll, TaskLogBytes: s.TaskLogBytes,
				PacerReservationsPerExecution: s.PacerReservationsPerExecution, PacerTakesPerMail: s.PacerTakesPerMail, PacerExpiredPerMail: s.PacerExpiredPerMail}
		}
		b.ReportMetric(r.Inline.StagedPerMail, "staged/mail")
		b.ReportMetric(r.Inline.LogBytesAll, "history-B/mail")
	})
	if r.BaselinePerSecond == 0 || r.MailsPerSecond == 0 {
		return
	}
	r.RatioToBaseline = r.MailsPerSecond / r.BaselinePerSecond
	r.CPURatioToBaseline = r.BaselineCPUMicrosPerMsg / r.CPUMicrosPerMail
	r.FirstRun = RunFigures{
		MailsPerSecond: first.MailsPerSecond, RatioToBaseline: first.MailsPerSecond / r.BaselinePerSecond,
		CPUMicrosPerMail: first.CPUMicrosPerMail, CPURatioToBaseline: r.BaselineCPUMicrosPerMsg / first.CPUMicrosPerMail,
		P50Millis: first.P50Millis, P99Millis: first.P99Millis,
	}
	b.Logf("first run (new data directory): %.0f mails/s = %.1f %% of the queue baseline %.0f msgs/s; CPU per mail %.0f µs = %.1f %% efficiency against %.0f µs per baseline message",
		first.MailsPerSecond, 100*r.FirstRun.RatioToBaseline, r.BaselinePerSecond, first.CPUMicrosPerMail, 100*r.FirstRun.CPURatioToBaseline, r.BaselineCPUMicrosPerMsg)
	b.Logf("second run (same data directory): %.0f mails/s = %.1f %% of the queue baseline; CPU per mail %.0f µs = %.1f %% efficiency",
		r.MailsPerSecond, 100*r.RatioToBaseline, r.CPUMicrosPerMail, 100*r.CPURatioToBaseline)
	if err := WriteResult(fmt.Sprintf("throughput-N%d.json", n), r); err != nil {
		b.Fatal(err)
	}
	cols, err := WriteCost(r)
	if err != nil {
		b.Fatal(err)
	}
	for _, c := range cols {
		b.Logf("cost per million mails, %s: $%.2f without SES (SES $%.2f)", c.LogLevel, c.Total, c.SES)
	}
	if err := WriteChart(fmt.Sprintf("throughput-N%d.svg", n), Chart{
		Title:  fmt.Sprintf("%d mails with a 2 KB attachment each, two runs on one data directory", n),
		XLabel: "seconds since the first enqueue", YLabel: "mails delivered",
		Series: []Series{
			{Name: fmt.Sprintf("first run: %.0f/s", first.MailsPerSecond), Points: first.Delivered},
			{Name: fmt.Sprintf("second run: %.0f/s", r.MailsPerSecond), Points: r.Delivered},
		},
	}); err != nil {
		b.Fatal(err)
	}
	if err := WriteChart(fmt.Sprintf("latency-N%d.svg", n), Chart{
		Title:  fmt.Sprintf("Enqueue-to-delivery latency, sorted (second run: p50 %.0f ms, p99 %.0f ms)", r.P50Millis, r.P99Millis),
		XLabel: "percentile", YLabel: "latency (ms)",
		Series: []Series{{Name: "first run", Points: first.Latencies}, {Name: "second run", Points: r.Latencies}},
	}); err != nil {
		b.Fatal(err)
	}
}

// runPipeline runs n mails through a runtime on dataDir; run numbers the
// mails' ids so that runs on one directory do not share them.
func runPipeline(b *testing.B, n int, dataDir string, run int, inlineMax int64) ThroughputResult {
	b.Helper()
	ctx := context.Background()
	var (
		mu        sync.Mutex
		enqueued  = make([]time.Time, n)
		latencies = make([]float64, 0, n)
		delivered = [][2]float64{{0, 0}}
		done      = make(chan struct{})
		t0        time.Time
		inputs    int64
		execs     int
		other     int
	)
	taskLog := &taskLineCounter{}
	cfg := local.Config{
		DataDir: dataDir, Addr: "127.0.0.1:0",
		// The tasks' lines in the form Lambda writes them (see taskLineCounter).
		Log:       slog.New(taskkit.LambdaForm(slog.NewJSONHandler(taskLog, nil))),
		BatchSize: 10, BatchWindow: 20 * time.Millisecond,
		PipeConcurrency: pipeConc, MapConcurrency: mapConc, InlineMaxBytes: inlineMax,
		// Paced, as deployed, at a quota far above what one machine
		// sends: the pacer never holds a mail back, and its bucket writes
		// per mail are counted for the cost model.
		SES: sessim.Config{MaxSendRate: 100_000},
		OnExecution: func(e execstore.Execution, items []execstore.Item) {
			now := time.Now()
			mu.Lock()
			defer mu.Unlock()
			inputs += int64(len(e.Input))
			execs++
			for _, it := range items {
				i, err := strconv.Atoi(strings.TrimPrefix(it.MailID, fmt.Sprintf("tp%d-", run)))
				if it.Outcome != "sent" || err != nil {
					other++
					continue
				}
				latencies = append(latencies, float64(now.Sub(enqueued[i]).Microseconds())/1000)
				delivered = append(delivered, [2]float64{now.Sub(t0).Seconds(), float64(len(latencies))})
			}
			if len(latencies)+other >= n {
				select {
				case <-done:
				default:
					close(done)
				}
			}
		},
	}
	rt, err := local.Start(ctx, cfg)
	if err != nil {
		b.Fatal(err)
	}
	defer rt.Close(context.Background())
	s3c := s3.New(s3.Options{Region: "us-east-1", BaseEndpoint: aws.String(rt.Endpoint()), UsePathStyle: true,
		Credentials: credentials.NewStaticCredentialsProvider("local", "local", "")})
	if _, err := s3c.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String(rt.Config().Bucket), Key: aws.String("attachments/bench/receipt.pdf"),
		Body: bytes.NewReader(attachment), ContentLength: aws.Int64(int64(len(attachment)))}); err != nil {
		b.Fatal(err)
	}
	ResetPeakRSS()
	paced0 := rt.Pacer().Counts()
	q := rt.Config().SourceQueue
	b.ResetTimer()
	t0 = time.Now()
	cpu0 := CPUTime()
	// Producers: one SendMessage per mail, as backends enqueue.
	var wg sync.WaitGroup
	const producers = 4
	for p := range producers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := p; i < n; i += producers {
				mu.Lock()
				enqueued[i] = time.Now()
				mu.Unlock()
				if _, err := rt.Queues().Send(ctx, q, sqsstore.SendParams{Body: throughputBody(run, i)}); err != nil {
					b.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	select {
	case <-done:
	case <-time.After(10 * time.Minute):
		b.Fatalf("only %d of %d delivered", len(latencies), n)
	}
	elapsed := time.Since(t0)
	cpu := CPUTime() - cpu0
	b.StopTimer()
	rss := PeakRSS()
	files, _ := filepath.Glob(filepath.Join(rt.OutboxDir(), "*.eml"))
	if len(files) != run*n || other != 0 {
		b.Fatalf("%d .eml files and %d other outcomes after run %d of %d mails", len(files), other, run, n)
	}
	mu.Lock()
	defer mu.Unlock()
	sorted := slices.Clone(latencies)
	slices.Sort(sorted)
	pct := func(p float64) float64 { return sorted[min(len(sorted)-1, int(p*float64(len(sorted))))] }
	var lat [][2]float64
	for i := 0; i < 100; i++ {
		lat = append(lat, [2]float64{float64(i), pct(float64(i) / 100)})
	}
	lat = append(lat, [2]float64{100, sorted[len(sorted)-1]})
	hist, err := historyStats(ctx, rt.Executions(), t0)
	if err != nil {
		b.Fatal(err)
	}
	lines, lineBytes := taskLog.counts()
	paced := rt.Pacer().Counts()
	return ThroughputResult{
		PacerReservationsPerExecution: float64(paced.Reservations-paced0.Reservations) / float64(max(execs, 1)),
		PacerTakesPerMail:             float64(paced.Takes-paced0.Takes) / float64(n),
		PacerExpiredPerMail:           float64(paced.Expired-paced0.Expired) / float64(n),
		N:                             n, AttachmentBytes: len(attachment),
		MailsPerSecond: float64(n) / elapsed.Seconds(),
		P50Millis:      pct(0.50), P99Millis: pct(0.99),
		PeakRSSBytes: rss, TaskMillis: hist.taskMillis,
		CPUMicrosPerMail:  float64(cpu.Microseconds()) / float64(n),
		InputBytesPerMail: float64(inputs) / float64(n),
		LogBytesAll:       float64(hist.bytes) / float64(n), LogEventsAll: float64(hist.events) / float64(n),
		LogBytesError:   float64(hist.errorBytes) / float64(n),
		TaskInvocations: float64(hist.invocations) / float64(n),
		TaskLogBytes:    float64(lineBytes) / float64(max(lines, 1)),
		StagedPerMail:   float64(hist.staged) / float64(n),
		Latencies:       lat, Delivered: thin(delivered, 400),
		PipeConcurrency: pipeConc, MapConcurrency: mapConc,
	}
}

// history sums up the stored execution histories of a run (the executions
// started since a time): what
// CloudWatch Logs would store at level ALL with execution data (each
// event's details plus its envelope: id, type, timestamps, execution ARN)
// and at ERROR (failure events only), and the mean duration of each task
// (TaskScheduled names the function, TaskStarted follows it, TaskSucceeded
// or TaskFailed follows the start). It reads the store after the run, so
// the measured run pays nothing for it.
type history struct {
	events, bytes, errorBytes int64
	invocations               int64
	staged                    int64 // FetchAttachments results naming a staged object
	taskMillis                map[string]float64
}

func historyStats(ctx context.Context, execs *execstore.Store, since time.Time) (history, error) {
	h := history{taskMillis: map[string]float64{}}
	taskDur := map[string]time.Duration{}
	taskCount := map[string]int{}
	f := execstore.Filter{Limit: 1000, Since: since.Truncate(time.Millisecond)}
	for {
		page, err := execs.List(ctx, f)
		if err != nil {
			return h, err
		}
		for _, e := range page.Executions {
			evs, err := execs.Events(ctx, e.ID)
			if err != nil {
				return h, err
			}
			scheduled := map[int64]string{}
			type start struct {
				task string
				at   time.Time
			}
			started := map[int64]start{}
			for _, ev := range evs {
				size := int64(len(ev.Details)) + 120 + int64(len(e.ID))
				h.events++
				h.bytes += size
				if strings.HasSuffix(ev.Type, "Failed") || strings.HasSuffix(ev.Type, "TimedOut") || strings.HasSuffix(ev.Type, "Aborted") {
					h.errorBytes += size
				}
				switch ev.Type {
				case "TaskScheduled":
					scheduled[ev.ID] = taskOfEvent(ev.Details)
					h.invocations++
				case "TaskStarted":
					started[ev.ID] = start{task: scheduled[ev.PreviousID], at: ev.Timestamp}
				case "TaskSucceeded", "TaskFailed":
					if s, ok := started[ev.PreviousID]; ok {
						taskDur[s.task] += ev.Timestamp.Sub(s.at)
						taskCount[s.task]++
						if s.task == local.FunctionFetchAttachments && ev.Type == "TaskSucceeded" && stagedResult(ev.Details) {
							h.staged++
						}
					}
				}
			}
		}
		if page.NextCursor == "" {
			break
		}
		f.Before = page.NextCursor
	}
	for k, d := range taskDur {
		h.taskMillis[k] = float64(d.Microseconds()) / 1000 / float64(taskCount[k])
	}
	return h, nil
}

// taskOfEvent names the task of a Lambda event from its details (the
// function ARN's name), or "unknown".
func taskOfEvent(details []byte) string {
	// The inline Send function first: its name begins with the other's.
	for _, t := range []string{local.FunctionReserveSends, local.FunctionAcquireLock, local.FunctionFetchAttachments, local.FunctionSendInline, local.FunctionSend, local.FunctionReleaseLock} {
		if bytes.Contains(details, []byte(t)) {
			return t
		}
	}
	return "unknown"
}

// runQueueBaseline moves n messages through the same durable SQLite queue
// store the runtime uses (same file settings): one insert, one claim and one
// delete per message, a producer and a consumer running side by side.
func runQueueBaseline(b *testing.B, n int) (perSecond, cpuMicrosPerMsg float64) {
	b.Helper()
	ctx := context.Background()
	st, err := sqsstore.Open(filepath.Join(b.TempDir(), "queues.db"), sqsstore.Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer st.Close()
	if err := st.CreateQueue(ctx, "baseline", map[string]string{"VisibilityTimeout": "420"}, nil); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	start := time.Now()
	cpu0 := CPUTime()
	go func() {
		for i := range n {
			if _, err := st.Send(ctx, "baseline", sqsstore.SendParams{Body: throughputBody(1, i)}); err != nil {
				b.Error(err)
				return
			}
		}
	}()
	wait := 1
	for got := 0; got < n; {
		msgs, err := st.Receive(ctx, "baseline", sqsstore.ReceiveParams{MaxMessages: 1, WaitTimeSeconds: &wait})
		if err != nil {
			b.Fatal(err)
		}
		for _, m := range msgs {
			if err := st.Delete(ctx, "baseline", m.ReceiptHandle); err != nil {
				b.Fatal(err)
			}
			got++
		}
	}
	b.StopTimer()
	return float64(n) / time.Since(start).Seconds(), float64((CPUTime() - cpu0).Microseconds()) / float64(n)
}

// taskLineCounter counts the tasks' log lines (those with a "task"
// attribute) and their bytes as the runtime's JSON logger writes them; the
// runtime's own lines are left out. The logger is the tasks' Lambda form
// (taskkit.LambdaForm: no "time", which Logger applies in Lambda), so the
// bytes are what Lambda writes but for the requestId attribute, which only
// Lambda's context carries (costbench.go adds requestIDAttrBytes). The
// rest is the same in both: the execution after its state machine's ARN,
// empty attributes left out.
type taskLineCounter struct {
	mu           sync.Mutex
	lines, bytes int64
}

func (c *taskLineCounter) Write(p []byte) (int, error) {
	if bytes.Contains(p, []byte(`"task":`)) {
		c.mu.Lock()
		c.lines++
		c.bytes += int64(len(p))
		c.mu.Unlock()
	}
	return len(p), nil
}

func (c *taskLineCounter) counts() (lines, bytes int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.lines, c.bytes
}

// stagedResult reports whether a FetchAttachments result names a staged
// object (its payload's key) rather than carrying the message inline.
func stagedResult(details []byte) bool {
	var d struct {
		Output json.RawMessage `json:"output"`
	}
	if json.Unmarshal(details, &d) != nil {
		return false
	}
	out := d.Output
	var text string
	if json.Unmarshal(out, &text) == nil { // AWS's form: the output as JSON text
		out = []byte(text)
	}
	var res struct {
		Payload struct {
			Key string `json:"key"`
		} `json:"Payload"`
	}
	return json.Unmarshal(out, &res) == nil && res.Payload.Key != ""
}
