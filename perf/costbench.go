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

// CostInputs turns a throughput run's measurements into the model's usage.
// Memory sizes are the deployed functions' (infra/tasks.go).
func CostInputs(r ThroughputResult) Usage {
	ms := func(fn string) float64 { return r.TaskMillis[fn] }
	tasks := []Task{
		{Name: "AcquireLock", MemoryMB: 256, BilledMs: ms("mailflow-acquire-lock") + dynamoMs, Invocations: 1},
		{Name: "FetchAttachments", MemoryMB: 1024, BilledMs: ms("mailflow-fetch-attachments") + s3GetMs + s3PutMs, Invocations: 1},
		// Renew, pacer, the recorded attempt, SES, mark-sent.
		{Name: "Send", MemoryMB: 512, BilledMs: ms("mailflow-send") + 4*dynamoMs + s3GetMs + sesMs, Invocations: 1},
	}
	var chain float64
	for _, t := range tasks {
		chain += t.BilledMs + invokeMs
	}
	return Usage{
		// The deployment's default batch (infra/config: seven records of up
		// to 16 KiB fit the execution input at worst).
		BatchSize: 7, InputBytesMail: r.InputBytesPerMail,
		// The Map runs the batch's chains side by side.
		ExecutionMs:  chain + 50,
		Tasks:        tasks,
		DynamoWrites: 5,            // acquire, renew, pacer, start-attempt, mark-sent
		S3Puts:       1, S3Gets: 2, // stage; read the attachment and the staged message
		HistoryBytesMail: r.LogBytesAll, ErrorBytesMail: r.LogBytesError,
		AttachmentBytes: float64(r.AttachmentBytes), TracedFraction: 1,
		FeedbackRecords: feedbackRecordsPerMail, Feedback: FeedbackInputs(),
	}
}

// WriteCost prices a million mails at each log level beside the seed
// design and writes results/cost.md and cost.json.
func WriteCost(r ThroughputResult) ([]Breakdown, error) {
	u := CostInputs(r)
	cols := []Breakdown{Model(u, "ALL", ListPrices), Model(u, "ERROR", ListPrices), Model(u, "OFF", ListPrices), SeedModel(u, ListPrices)}
	names := []string{"logs ALL + data", "logs ERROR", "logs OFF", "seed design"}
	md := fmt.Sprintf("Inputs (measured with N=%d): task durations %v ms locally, input %.0f B/mail, history %.0f B/mail (%.1f events) at ALL, %.0f B at ERROR.\n\n",
		r.N, roundMap(r.TaskMillis), r.InputBytesPerMail, r.LogBytesAll, r.LogEventsAll, r.LogBytesError)
	md += Markdown(cols, names)
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
	return cols, WriteResult("cost.json", map[string]any{"usage": u, "breakdowns": cols, "feedback": events})
}

func roundMap(m map[string]float64) map[string]float64 {
	out := map[string]float64{}
	for k, v := range m {
		out[k] = float64(int(v*100)) / 100
	}
	return out
}
