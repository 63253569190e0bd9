package perf

import (
	"bytes"
	"context"
	"fmt"
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

	"github.com/mailflow/mailflow/execstore"
	"github.com/mailflow/mailflow/localaws/sqsstore"
	"github.com/mailflow/mailflow/localrt"
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

func throughputBody(i int) string {
	return `{"version":1,"mailId":"tp-` + strconv.Itoa(i) + `","to":["Ann Example <ann` + strconv.Itoa(i) +
		`@example.org>"],"subject":"Your receipt ` + strconv.Itoa(i) + `","text":"Thank you for your order.",` +
		`"html":"<p>Thank you for your order.</p>","attachments":[{"key":"attachments/bench/receipt.pdf","filename":"receipt.pdf","contentType":"application/pdf"}]}`
}

func BenchmarkThroughput(b *testing.B) {
	n := throughputN()
	var r ThroughputResult
	b.Run(fmt.Sprintf("pipeline/N=%d", n), func(b *testing.B) {
		for range b.N {
			r = runPipeline(b, n)
		}
		b.ReportMetric(r.MailsPerSecond, "mails/s")
		b.ReportMetric(r.P50Millis, "p50-ms")
		b.ReportMetric(r.P99Millis, "p99-ms")
		b.ReportMetric(float64(r.PeakRSSBytes)/(1<<20), "peak-RSS-MiB")
		b.ReportMetric(r.CPUMicrosPerMail, "cpu-µs/mail")
	})
	b.Run(fmt.Sprintf("queue-baseline/N=%d", n), func(b *testing.B) {
		for range b.N {
			r.BaselinePerSecond, r.BaselineCPUMicrosPerMsg = runQueueBaseline(b, n)
		}
		b.ReportMetric(r.BaselinePerSecond, "msgs/s")
		b.ReportMetric(r.BaselineCPUMicrosPerMsg, "cpu-µs/msg")
	})
	if r.BaselinePerSecond == 0 || r.MailsPerSecond == 0 {
		return
	}
	r.RatioToBaseline = r.MailsPerSecond / r.BaselinePerSecond
	r.CPURatioToBaseline = r.BaselineCPUMicrosPerMsg / r.CPUMicrosPerMail
	b.Logf("pipeline %.0f mails/s = %.1f %% of the queue baseline %.0f msgs/s; CPU per mail %.0f µs = %.1f %% efficiency against %.0f µs per baseline message",
		r.MailsPerSecond, 100*r.RatioToBaseline, r.BaselinePerSecond, r.CPUMicrosPerMail, 100*r.CPURatioToBaseline, r.BaselineCPUMicrosPerMsg)
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
		Title:  fmt.Sprintf("%d mails with a 2 KB attachment through the local runtime", n),
		XLabel: "seconds since the first enqueue", YLabel: "mails delivered",
		Series: []Series{{Name: fmt.Sprintf("%.0f mails/s", r.MailsPerSecond), Points: r.Delivered}},
	}); err != nil {
		b.Fatal(err)
	}
	if err := WriteChart(fmt.Sprintf("latency-N%d.svg", n), Chart{
		Title:  fmt.Sprintf("Enqueue-to-delivery latency, sorted (p50 %.0f ms, p99 %.0f ms)", r.P50Millis, r.P99Millis),
		XLabel: "percentile", YLabel: "latency (ms)",
		Series: []Series{{Name: "latency", Points: r.Latencies}},
	}); err != nil {
		b.Fatal(err)
	}
}

func runPipeline(b *testing.B, n int) ThroughputResult {
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
		events    int64
		histBytes int64
		errBytes  int64
		taskDur   = map[string]time.Duration{}
		taskCount = map[string]int{}
		other     int
	)
	type taskStart struct {
		task string
		at   time.Time
	}
	scheduled := map[string]string{}  // execution/event id → task
	started := map[string]taskStart{} // execution/event id → start
	var startedMu sync.Mutex
	cfg := localrt.Config{
		DataDir: b.TempDir(), Addr: "127.0.0.1:0",
		BatchSize: 10, BatchWindow: 20 * time.Millisecond,
		PipeConcurrency: pipeConc, MapConcurrency: mapConc,
		OnEvent: func(exec string, ev execstore.Event) {
			// History size per mail: what CloudWatch Logs stores at level
			// ALL with execution data (the details plus the envelope:
			// id, type, timestamps, execution ARN), and at ERROR (failure
			// events only).
			size := int64(len(ev.Details)) + 120 + int64(len(exec))
			startedMu.Lock()
			events++
			histBytes += size
			if strings.HasSuffix(ev.Type, "Failed") || strings.HasSuffix(ev.Type, "TimedOut") || strings.HasSuffix(ev.Type, "Aborted") {
				errBytes += size
			}
			startedMu.Unlock()
			// Task durations: TaskScheduled names the function,
			// TaskStarted follows it, TaskSucceeded or TaskFailed
			// follows the start.
			startedMu.Lock()
			defer startedMu.Unlock()
			switch ev.Type {
			case "TaskScheduled":
				scheduled[exec+"/"+strconv.FormatInt(ev.ID, 10)] = taskOfEvent(ev.Details)
			case "TaskStarted":
				key := exec + "/" + strconv.FormatInt(ev.PreviousID, 10)
				started[exec+"/"+strconv.FormatInt(ev.ID, 10)] = taskStart{task: scheduled[key], at: ev.Timestamp}
				delete(scheduled, key)
			case "TaskSucceeded", "TaskFailed":
				key := exec + "/" + strconv.FormatInt(ev.PreviousID, 10)
				if s, ok := started[key]; ok {
					delete(started, key)
					taskDur[s.task] += ev.Timestamp.Sub(s.at)
					taskCount[s.task]++
				}
			}
		},
		OnExecution: func(e execstore.Execution, items []execstore.Item) {
			now := time.Now()
			mu.Lock()
			defer mu.Unlock()
			inputs += int64(len(e.Input))
			for _, it := range items {
				i, err := strconv.Atoi(strings.TrimPrefix(it.MailID, "tp-"))
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
	rt, err := localrt.Start(ctx, cfg)
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
				if _, err := rt.Queues().Send(ctx, q, sqsstore.SendParams{Body: throughputBody(i)}); err != nil {
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
	if len(files) != n || other != 0 {
		b.Fatalf("%d .eml files and %d other outcomes for %d mails", len(files), other, n)
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
	tasks := map[string]float64{}
	for k, d := range taskDur {
		tasks[k] = float64(d.Microseconds()) / 1000 / float64(taskCount[k])
	}
	return ThroughputResult{
		N: n, AttachmentBytes: len(attachment),
		MailsPerSecond: float64(n) / elapsed.Seconds(),
		P50Millis:      pct(0.50), P99Millis: pct(0.99),
		PeakRSSBytes: rss, TaskMillis: tasks,
		CPUMicrosPerMail:  float64(cpu.Microseconds()) / float64(n),
		InputBytesPerMail: float64(inputs) / float64(n),
		LogBytesAll:       float64(histBytes) / float64(n), LogEventsAll: float64(events) / float64(n),
		LogBytesError: float64(errBytes) / float64(n),
		Latencies:     lat, Delivered: thin(delivered, 400),
		PipeConcurrency: pipeConc, MapConcurrency: mapConc,
	}
}

// taskOfEvent names the task of a Lambda event from its details (the
// function ARN's name), or "unknown".
func taskOfEvent(details []byte) string {
	for _, t := range []string{localrt.FunctionAcquireLock, localrt.FunctionFetchAttachments, localrt.FunctionSend, localrt.FunctionReleaseLock} {
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
			if _, err := st.Send(ctx, "baseline", sqsstore.SendParams{Body: throughputBody(i)}); err != nil {
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
