package perf

import (
	"fmt"
	"os"
	"path/filepath"
)

// AWS call latencies the local run cannot measure (the local stores answer
// in microseconds): typical in-region figures, added to each task's
// measured local duration to estimate its billed Lambda duration.
const (
	dynamoMs = 6  // one DynamoDB write
	s3GetMs  = 20 // one S3 GET of a small object
	s3PutMs  = 30 // one S3 PUT of a small object
	sesMs    = 60 // one SES v2 SendEmail (raw)
	invokeMs = 20 // Step Functions → Lambda invoke overhead per task
	// record-event, not measured (assumed): a DynamoDB read, and one
	// PutEvents call for a batch's outcome events.
	dynamoReadMs = 4
	putEventsMs  = 20
)

// feedbackRecordsPerMail are the records a delivered mail puts on the
// events queue: the state machine's accepted record, then SES's Send and
// Delivery events. Bounces, complaints and delays are rare next to them.
const feedbackRecordsPerMail = 3

// FeedbackInputs is what one record on the events queue uses, assumed
// rather than measured: full batches of 10 (the mapping's batch size,
// under load), each record read from the delivery table (strongly
// consistent: 1 read unit) and written back (1 write unit of an item
// under 1 KB), with one lock read (the Send and Delivery events resolve
// an outcome-unknown lock; the accepted record reads none, which the
// model rounds up), the records of a batch handled one after another,
// and one outcome event per record in one PutEvents per batch. At 256 MB,
// arm64, as deployed (infra/tasks.go). Suppression writes follow only
// permanent bounces and complaints and are left out.
func FeedbackInputs() EventsUsage {
	const batch = 10
	return EventsUsage{
		BatchSize:     batch,
		BilledMsBatch: batch*(2*dynamoReadMs+dynamoMs) + putEventsMs,
		MemoryMB:      256,
		DynamoWrites:  1, DynamoReads: 2,
		OutcomeEvents: 1, TracedFraction: 1,
	}
}

// Per-invocation log sizes the local run cannot measure. Lambda adds the
// requestId attribute to each result line on AWS (the local logger has
// none). At system log level INFO Lambda also writes platform.start and
// platform.report for every invocation, JSON records of about 150 and
// 330 bytes with a request id, metrics and the trace id.
const (
	requestIDAttrBytes = 50
	platformLogBytes   = 480
)

// resultLineBytesBefore is how much longer a task's result line was before
// it dropped "time", the execution ARN's known prefix and empty attributes:
// 107 bytes per invocation in the throughput run (366.7 B before, 259.8 B
// after, N = 200), as TestTaskLogLineBytes (internal/taskkit) measures per
// task for a typical mail (107, 116 and 107 B for AcquireLock,
// FetchAttachments and Send).
const resultLineBytesBefore = 107

// sendLockWrites are the Send task's DynamoDB calls per mail besides the
// pacer: at first, a lease renewal and the recorded send attempt, then the
// SENT mark; then one conditional write renewed the lease and recorded the
// attempt; now that write also takes the lock, and AcquireLock only reads
// it (tasks/send and tasks/acquire-lock; the counts are checked by their
// tests). acquireLockWritesBefore is AcquireLock's conditional put of the
// designs before.
const (
	sendLockWritesBefore    = 3
	sendLockWrites          = 2
	acquireLockWritesBefore = 1
	pacerWrites             = 1
)

// CostInputs turns a throughput run's measurements into the model's usage
// of the current design: what the run measured (task durations, the state
// machine's input and history, the tasks' log lines, the messages staged)
// with the AWS latencies above. Memory sizes are the deployed functions'
// (infra/tasks.go, TaskMemoryMiB: sized from the peaks in
// results/task-memory.json).
//
// A task's billed duration is the larger of its measured local duration
// and its CPU time stretched to the CPU share Lambda gives its size, plus
// the AWS latencies: Lambda allocates CPU in proportion to memory, one
// vCPU at VCPUMiB, so a handler that needs c ms of CPU (measured at
// GOMAXPROCS=1 for the typical mail, BenchmarkTaskCPU, recorded in
// results/task-memory.json) takes at least c × VCPUMiB / size ms at a
// smaller size. The local durations ran on a whole machine and do not
// show that, so without it a smaller size would look free of any slowdown.
func CostInputs(r ThroughputResult) Usage { return costInputs(r, deployedSizes, current) }

// design is which of the later levers a priced design has: the batch's
// send tokens reserved in one write, FetchAttachments writing a line only
// when it fails.
type design struct{ reserved, quietFetch bool }

var current = design{reserved: true, quietFetch: true}

// taskSizes are the memory sizes (MiB) of the three tasks a sent mail
// runs, the Send task's two functions apart (staged and inline messages).
type taskSizes struct{ reserve, acquire, fetch, send, sendInline float64 }

var (
	deployedSizes = taskSizes{reserveSendsMiB, acquireLockMiB, fetchAttachmentsMiB, sendMiB, sendInlineMiB}
	earlierSizes  = taskSizes{reserveSendsMiB, acquireLockMiBBefore, fetchAttachmentsMiBBefore, sendMiBBefore, sendMiBBefore}
	// sizedOneSend is the sizing from measured peaks while one Send
	// function sent every message.
	sizedOneSend = taskSizes{reserveSendsMiB, acquireLockMiB, fetchAttachmentsMiB, sendMiB, sendMiB}
)

// sendMillis is the Send task's local duration in a run: its inline
// function's where the run passed its messages inline, else its own.
func sendMillis(r ThroughputResult) float64 {
	if ms, ok := r.TaskMillis["mailflow-send-inline"]; ok && r.StagedPerMail < 0.5 {
		return ms
	}
	return r.TaskMillis["mailflow-send"]
}

// billedMs is a task's billed duration at sizeMiB (see CostInputs): the
// larger of its local duration and its CPU time at that size's CPU share,
// plus awsMs of AWS calls.
func billedMs(task string, localMs, sizeMiB, awsMs float64) float64 {
	return max(localMs, recordedCPUMs(task)*VCPUMiB/min(sizeMiB, VCPUMiB)) + awsMs
}

// pacing is the pacer's bucket writes per mail, and how many of them are
// Send's own takes, in batches of batch: with the batch's reservation
// (reserved) one per batch, as the run measured it, and the takes of the
// sends it measured without a usable grant; without, one take per send. A
// run that did not pace counts as without.
func pacing(r ThroughputResult, batch float64, reserved bool) (writes, takes float64) {
	if !reserved || r.PacerReservationsPerExecution == 0 {
		return pacerWrites, pacerWrites
	}
	return r.PacerReservationsPerExecution/batch + r.PacerTakesPerMail, r.PacerTakesPerMail
}

// batchSize is the deployment's default batch (infra/config: seven records
// of up to 16 KiB fit the execution input at worst).
const batchSize = 7.0

func costInputs(r ThroughputResult, sz taskSizes, d design) Usage {
	if in := r.Inline; in != nil {
		r.StagedPerMail, r.TaskMillis, r.TaskLogBytes = in.StagedPerMail, in.TaskMillis, in.TaskLogBytes
		r.PacerReservationsPerExecution, r.PacerTakesPerMail, r.PacerExpiredPerMail = in.PacerReservationsPerExecution, in.PacerTakesPerMail, in.PacerExpiredPerMail
	}
	ms := func(fn string) float64 { return r.TaskMillis[fn] }
	staged := r.StagedPerMail
	pacerW, takes := pacing(r, batchSize, d.reserved)
	sendAWS := (sendLockWrites+takes)*dynamoMs + sesMs
	var tasks []Task
	var chain float64 // one execution's duration but for its fixed part
	if d.reserved {
		// One pacer write per batch; no result line unless it fails. It
		// runs once, before the records.
		reserve := Task{Name: "ReserveSends", MemoryMB: sz.reserve, BilledMs: billedMs("ReserveSends", ms("mailflow-reserve-sends"), sz.reserve, dynamoMs),
			Invocations: 1 / batchSize, Silent: true}
		tasks = append(tasks, reserve)
		chain += reserve.BilledMs + invokeMs
	}
	record := []Task{
		// One consistent read of the lock.
		{Name: "AcquireLock", MemoryMB: sz.acquire, BilledMs: billedMs("AcquireLock", ms("mailflow-acquire-lock"), sz.acquire, dynamoReadMs), Invocations: 1},
		// The attachment's GET, and the PUT of a message that is staged.
		{Name: "FetchAttachments", MemoryMB: sz.fetch, BilledMs: billedMs("FetchAttachments", ms("mailflow-fetch-attachments"), sz.fetch, s3GetMs+staged*s3PutMs), Invocations: 1, Silent: d.quietFetch},
		// The lock writes, the pacer's take when the send has no grant,
		// the staged message's GET and SES; an inline message is sent by
		// the small function.
		{Name: "Send", MemoryMB: sz.send, BilledMs: billedMs("Send", sendMillis(r), sz.send, sendAWS+s3GetMs), Invocations: staged},
		{Name: "SendInline", MemoryMB: sz.sendInline, BilledMs: billedMs("SendInline", sendMillis(r), sz.sendInline, sendAWS), Invocations: 1 - staged},
	}
	for _, t := range record {
		// A record's chain runs one of the Send functions.
		chain += t.Invocations*t.BilledMs + invokeMs*min(t.Invocations, 1)
	}
	tasks = append(tasks, record...)
	return Usage{
		BatchSize: batchSize, InputBytesMail: r.InputBytesPerMail,
		// The Map runs the batch's chains side by side.
		ExecutionMs: chain + 50,
		Tasks:       tasks,
		// The Send task's writes (the attempt that takes the lock, the
		// SENT mark) and the pacer; AcquireLock's read of an item under
		// 4 KB, eventually consistent (half a read unit; a refusal is read
		// again consistently, which the mails it concerns are too few to
		// count).
		DynamoWrites: sendLockWrites + pacerW, DynamoReads: 0.5,
		// The attachment's GET; a staged message's PUT and GET.
		S3Puts: staged, S3Gets: 1 + staged,
		HistoryBytesMail: r.LogBytesAll, ErrorBytesMail: r.LogBytesError,
		AttachmentBytes: float64(r.AttachmentBytes),
		// The stack's sampling rule (infra/config Tracing.SampleRate).
		TracedFraction: 0.05,
		TaskLogBytes:   r.TaskLogBytes + requestIDAttrBytes, PlatformLogBytes: 0,
		FeedbackRecords: feedbackRecordsPerMail, Feedback: feedbackTracedNone(),
	}
}

// CostInputsAt is CostInputs for an execution log level: at ALL with
// execution data the deployment stages every message (an inline one would
// be logged whole), so that column prices the staged message's PUT and
// GET and the staged design's history.
func CostInputsAt(r ThroughputResult, level string) Usage {
	if level != "ALL" {
		return CostInputs(r)
	}
	staged := r
	staged.StagedPerMail, staged.Inline = 1, nil
	return CostInputs(staged)
}

func feedbackTracedNone() EventsUsage {
	f := FeedbackInputs()
	f.TracedFraction = 0 // record-event passes through (infra: tracingMode)
	return f
}

// Lever is one change of the design, priced with every lever before it.
type Lever struct {
	Name      string
	LogLevel  string
	Breakdown Breakdown
}

// Levers prices the earlier design and then each change that led to the
// current one, in order, each on top of the ones before: the earlier
// design stages every message in S3 (a PUT and a GET), writes the lock
// three times in Send after AcquireLock's put, traces every execution and record-event
// invocation, logs Lambda's platform records and the executions at ALL
// with data, and sizes the functions by guess (256, 1024 and 512 MiB).
// The last lever is the current design, [CostInputs].
func Levers(r ThroughputResult) []Lever {
	now, before := CostInputs(r), costInputs(r, earlierSizes, design{})
	u := before
	u.HistoryBytesMail = CostInputsAt(r, "ALL").HistoryBytesMail
	ms := func(fn string) float64 { return r.TaskMillis[fn] }
	sz := earlierSizes
	u.Tasks = []Task{
		{Name: "AcquireLock", MemoryMB: sz.acquire, BilledMs: billedMs("AcquireLock", ms("mailflow-acquire-lock"), sz.acquire, dynamoMs), Invocations: 1},
		{Name: "FetchAttachments", MemoryMB: sz.fetch, BilledMs: billedMs("FetchAttachments", ms("mailflow-fetch-attachments"), sz.fetch, s3GetMs+s3PutMs), Invocations: 1},
		{Name: "Send", MemoryMB: sz.send, BilledMs: billedMs("Send", sendMillis(r), sz.send, (sendLockWritesBefore+1)*dynamoMs+s3GetMs+sesMs), Invocations: 1},
	}
	u.S3Puts, u.S3Gets = 1, 2
	u.DynamoWrites, u.DynamoReads = acquireLockWritesBefore+sendLockWritesBefore+pacerWrites, 0
	u.TracedFraction, u.Feedback = 1, FeedbackInputs()
	u.PlatformLogBytes = platformLogBytes
	u.TaskLogBytes = now.TaskLogBytes + resultLineBytesBefore
	var out []Lever
	step := func(name, level string, change func()) {
		change()
		out = append(out, Lever{Name: name, LogLevel: level, Breakdown: Model(u, level, ListPrices)})
	}
	step("earlier default (ALL + data, staged, 5 writes, all traced)", "ALL", func() {})
	step("executions logged at ERROR", "ERROR", func() {})
	step("small messages inline", "ERROR", func() {
		u.Tasks[1].BilledMs, u.Tasks[2].BilledMs = before.Tasks[1].BilledMs, u.Tasks[2].BilledMs-(1-now.S3Puts)*s3GetMs
		u.S3Puts, u.S3Gets = now.S3Puts, now.S3Gets
	})
	step("lease and send attempt in one write", "ERROR", func() {
		u.Tasks[2].BilledMs, u.DynamoWrites = before.Tasks[3].BilledMs, acquireLockWritesBefore+sendLockWrites+pacerWrites
	})
	step("X-Ray sampled at 5 %", "ERROR", func() { u.TracedFraction, u.Feedback = now.TracedFraction, now.Feedback })
	step("Lambda platform records off", "ERROR", func() { u.PlatformLogBytes = now.PlatformLogBytes })
	step("lock taken by the send attempt (AcquireLock reads)", "ERROR", func() {
		u.Tasks[0], u.DynamoWrites, u.DynamoReads = before.Tasks[0], sendLockWrites+pacerWrites, 1
	})
	step("the lock read eventually consistent", "ERROR", func() { u.DynamoReads = now.DynamoReads })
	step("shorter task result lines", "ERROR", func() { u.TaskLogBytes = now.TaskLogBytes })
	// Smaller functions bill fewer GB-seconds; their smaller CPU share may
	// lengthen the tasks (and so the execution) a little.
	sized, split := costInputs(r, sizedOneSend, design{}), costInputs(r, deployedSizes, design{})
	reserved := costInputs(r, deployedSizes, design{reserved: true})
	step("Lambda memory sized from measured peaks", "ERROR", func() { u.Tasks, u.ExecutionMs = sized.Tasks, sized.ExecutionMs })
	step("inline messages sent by a 128 MB function", "ERROR", func() { u.Tasks, u.ExecutionMs = split.Tasks, split.ExecutionMs })
	step("a batch's send tokens reserved in one write", "ERROR", func() {
		u.Tasks, u.ExecutionMs, u.DynamoWrites = reserved.Tasks, reserved.ExecutionMs, reserved.DynamoWrites
	})
	step("FetchAttachments writes a line only when it fails", "ERROR", func() { u.Tasks = now.Tasks })
	return out
}

// DefaultLogLevel is the deployment's default execution log level
// (infra/config Default).
const DefaultLogLevel = "ERROR"

// Headline is the default deployment's modelled cost per million mails,
// SES aside. Total is the pipeline from the producer's SendMessage to
// SES's acceptance, the figure the seed design (Seed) is compared with;
// Feedback is what following each mail to its outcome adds (the events
// queue, record-event, one outcome event per state change: accepted, sent,
// delivered), and TotalWithFeedback the two together, what the default
// stack runs.
type Headline struct {
	LogLevel          string  `json:"logLevel"`
	Total             float64 `json:"total"`
	Feedback          float64 `json:"feedback"`
	TotalWithFeedback float64 `json:"totalWithFeedback"`
	Seed              float64 `json:"seed"`
}

// WriteCost prices a million mails at each log level beside the seed
// design, and each lever that moved the default, and writes
// results/cost.md and cost.json (with the headline under "default").
func WriteCost(r ThroughputResult) ([]Breakdown, error) {
	u := CostInputs(r)
	cols := []Breakdown{Model(CostInputsAt(r, "ALL"), "ALL", ListPrices), Model(u, "ERROR", ListPrices), Model(u, "OFF", ListPrices), SeedModel(u, ListPrices)}
	names := []string{"logs ALL + data (staged)", "logs ERROR (default)", "logs OFF", "seed design"}
	def := cols[1]
	fb := def.Feedback()
	head := Headline{LogLevel: DefaultLogLevel, Total: def.Total - fb, Feedback: fb, TotalWithFeedback: def.Total, Seed: cols[3].Total}
	md := fmt.Sprintf("Inputs (measured with N=%d): task durations %v ms locally, %.2f task invocations per mail, %.0f B per task result line, %.2f messages staged per mail, input %.0f B/mail, history %.0f B/mail (%.1f events) at ALL, %.0f B at ERROR.\n\n",
		r.N, roundMap(r.TaskMillis), r.TaskInvocations, r.TaskLogBytes, r.StagedPerMail, r.InputBytesPerMail, r.LogBytesAll, r.LogEventsAll, r.LogBytesError)
	if in := r.Inline; in != nil {
		md += fmt.Sprintf("Those runs stage every message, as the local runtime does; a run of %d mails with messages inline, as deployed at ERROR: task durations %v ms, %.2f messages staged per mail, %.0f B per task result line (history at ALL would be %.0f B/mail with the messages in it, which is why the deployment stages at ALL).\n\n",
			in.N, roundMap(in.TaskMillis), in.StagedPerMail, in.TaskLogBytes, in.LogBytesAll)
	}
	md += fmt.Sprintf("Default deployment (logs %s): **$%.2f** per million mails to send besides SES (seed design $%.2f), and $%.2f for delivery feedback: $%.2f in all.\n\n",
		head.LogLevel, head.Total, head.Seed, head.Feedback, head.TotalWithFeedback)
	md += Markdown(cols, names)
	levers := Levers(r)
	md += "\nEach lever on top of the ones before it (per million mails, USD, SES aside):\n\n| lever | logs | sending | feedback | total | change |\n|---|---|---:|---:|---:|---:|\n"
	prev := 0.0
	for i, l := range levers {
		lfb := l.Breakdown.Feedback()
		change := "–"
		if i > 0 {
			change = fmt.Sprintf("%+.2f", l.Breakdown.Total-prev)
		}
		md += fmt.Sprintf("| %s | %s | %.2f | %.2f | %.2f | %s |\n", l.Name, l.LogLevel, l.Breakdown.Total-lfb, lfb, l.Breakdown.Total, change)
		prev = l.Breakdown.Total
	}
	events := EventsModel(u.Feedback, ListPrices)
	md += fmt.Sprintf("\nDelivery feedback, assumed (FeedbackInputs): batches of %.0f, %.0f ms billed per batch at %.0f MB, %.0f read and %.0f write units and %.0f outcome event per record; %d records per delivered mail.\n\n",
		u.Feedback.BatchSize, u.Feedback.BilledMsBatch, u.Feedback.MemoryMB, u.Feedback.DynamoReads, u.Feedback.DynamoWrites, u.Feedback.OutcomeEvents, feedbackRecordsPerMail)
	md += MarkdownPer("SES events", []Breakdown{events}, []string{"record-event"})
	if err := os.MkdirAll(ResultsDir(), 0o755); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(ResultsDir(), "cost.md"), []byte(md), 0o644); err != nil {
		return nil, err
	}
	return cols, WriteResult("cost.json", map[string]any{"default": head, "usage": u, "breakdowns": cols, "levers": levers, "feedback": events})
}

func roundMap(m map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range m {
		out[k] = float64(int(v*100)) / 100
	}
	return out
}
