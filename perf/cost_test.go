package perf

import (
	"encoding/json"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9*max(1, math.Abs(b)) }

func line(t *testing.T, b Breakdown, prefix string) float64 {
	t.Helper()
	for _, l := range b.Lines {
		if strings.HasPrefix(l.Item, prefix) {
			return l.USD
		}
	}
	t.Fatalf("no line %q in %+v", prefix, b.Lines)
	return 0
}

// TestModelArithmetic checks the model against hand-computed figures.
func TestModelArithmetic(t *testing.T) {
	u := Usage{
		BatchSize: 10, InputBytesMail: 800, ExecutionMs: 250,
		Tasks:        []Task{{Name: "a", MemoryMB: 1024, BilledMs: 100, Invocations: 1}, {Name: "b", MemoryMB: 512, BilledMs: 50, Invocations: 2}},
		DynamoWrites: 4, DynamoReads: 0, S3Puts: 1, S3Gets: 2,
		HistoryBytesMail: 20000, ErrorBytesMail: 0, AttachmentBytes: 0, TracedFraction: 1,
		TaskLogBytes: 300, PlatformLogBytes: 200,
	}
	all := Model(u, "ALL", ListPrices)
	// 100,000 batches of 8 KB: one Pipes chunk each.
	if v := line(t, all, "EventBridge Pipes"); !near(v, 0.04) {
		t.Errorf("pipes %v, want 0.04", v)
	}
	// 1,000,000 sends + 200,000 receives and deletes.
	if v := line(t, all, "SQS"); !near(v, 0.48) {
		t.Errorf("sqs %v, want 0.48", v)
	}
	if v := line(t, all, "Step Functions Express (requests)"); !near(v, 0.10) {
		t.Errorf("express requests %v", v)
	}
	// 250 ms billed as 300 ms at 64 MB: 100,000 × 0.3 s × 0.0625 GB × price.
	if v := line(t, all, "Step Functions Express (duration)"); !near(v, 100000*0.3*0.0625*0.00001667) {
		t.Errorf("express duration %v", v)
	}
	// 3 invocations per mail.
	if v := line(t, all, "Lambda (requests)"); !near(v, 0.60) {
		t.Errorf("lambda requests %v", v)
	}
	// (0.1 s × 1 GB + 2 × 0.05 s × 0.5 GB) per mail.
	if v := line(t, all, "Lambda (duration"); !near(v, 1e6*0.15*0.0000133334) {
		t.Errorf("lambda duration %v", v)
	}
	if v := line(t, all, "DynamoDB"); !near(v, 2.5) {
		t.Errorf("dynamodb %v, want 2.5", v)
	}
	if v := line(t, all, "S3"); !near(v, 5+0.8) {
		t.Errorf("s3 %v, want 5.8", v)
	}
	// 20 KB per mail: 20 GB per million at $0.50.
	if v := line(t, all, "CloudWatch Logs (executions"); !near(v, 10) {
		t.Errorf("logs ALL %v, want 10", v)
	}
	if v := line(t, Model(u, "OFF", ListPrices), "CloudWatch Logs (executions"); v != 0 {
		t.Errorf("logs OFF %v", v)
	}
	// The same 20 GB scanned for addresses at $0.12.
	if v := line(t, all, "CloudWatch Logs data protection"); !near(v, 2.4) {
		t.Errorf("data protection %v, want 2.4", v)
	}
	// 3 invocations × 500 bytes per mail: 1.5 GB per million at $0.50.
	if v := line(t, all, "CloudWatch Logs (Lambda)"); !near(v, 0.75) {
		t.Errorf("lambda logs %v, want 0.75", v)
	}
	if v := line(t, all, "X-Ray"); !near(v, 0.5) {
		t.Errorf("x-ray %v, want 0.5", v)
	}
	if !near(all.SES, 100) {
		t.Errorf("ses %v, want 100", all.SES)
	}
	var sum float64
	for _, l := range all.Lines {
		sum += l.USD
	}
	if !near(sum, all.Total) {
		t.Errorf("total %v is not the sum %v", all.Total, sum)
	}
}

// TestSeedModel: 500,000 invocations of 300 ms at 512 MB.
func TestSeedModel(t *testing.T) {
	s := SeedModel(Usage{}, ListPrices)
	if v := line(t, s, "Lambda (requests)"); !near(v, 0.10) {
		t.Errorf("requests %v", v)
	}
	if v := line(t, s, "Lambda (duration"); !near(v, 500000*0.3*0.5*0.0000133334) {
		t.Errorf("duration %v", v)
	}
	md := Markdown([]Breakdown{s, s}, []string{"a", "b"})
	if !strings.Contains(md, "| Lambda (requests) | 0.10 | 0.10 |") || !strings.Contains(md, "**total without SES**") {
		t.Errorf("markdown:\n%s", md)
	}
}

// TestEventsModel checks the delivery-feedback model against hand-computed
// figures for a million records with the assumed inputs.
func TestEventsModel(t *testing.T) {
	u := FeedbackInputs()
	if u.BilledMsBatch != 160 || u.BatchSize != 10 || u.MemoryMB != 256 {
		t.Fatalf("inputs %+v: want 10 × (2 reads of 4 ms + a write of 6 ms) + 20 ms PutEvents = 160 ms per batch of 10 at 256 MB", u)
	}
	e := EventsModel(u, ListPrices)
	for prefix, want := range map[string]float64{
		// SES's events on the default bus and the rule's delivery are free.
		"EventBridge (SES events": 0,
		// EventBridge's 1,000,000 sends, 100,000 receives and 100,000
		// batch deletes.
		"SQS":                      0.48,
		"Lambda (requests)":        0.02,
		"Lambda (duration":         100000 * 0.16 * 0.25 * 0.0000133334,
		"DynamoDB":                 0.625 + 2*0.125,
		"EventBridge PutEvents":    1.00,
		"CloudWatch Logs (Lambda,": 100000 * 350 / 1e9 * 0.5,
		"X-Ray":                    0.5,
	} {
		if v := line(t, e, prefix); !near(v, want) {
			t.Errorf("%s: %v, want %v", prefix, v, want)
		}
	}
	if !near(e.Total, 2.9458336) {
		t.Errorf("total %v, want 2.9458336 per million records", e.Total)
	}

	// Per mail: the accepted record and SES's Send and Delivery events.
	mail := Usage{BatchSize: 7, InputBytesMail: 800, ExecutionMs: 100, TracedFraction: 1, FeedbackRecords: 3, Feedback: u}
	if v := line(t, Model(mail, "OFF", ListPrices), "Delivery feedback"); !near(v, 3*2.9458336) {
		t.Errorf("feedback per million mails %v, want %v", v, 3*2.9458336)
	}
	mail.FeedbackRecords = 0
	for _, l := range Model(mail, "OFF", ListPrices).Lines {
		if strings.HasPrefix(l.Item, "Delivery feedback") {
			t.Errorf("feedback priced although no record reaches the events queue: %+v", l)
		}
	}
	md := MarkdownPer("SES events", []Breakdown{e}, []string{"record-event"})
	if !strings.Contains(md, "| per million SES events (USD) | record-event |") || !strings.Contains(md, "| EventBridge PutEvents (outcome events) | 1.00 |") ||
		!strings.Contains(md, "**2.95**") || strings.Contains(md, "SES (separately)") {
		t.Errorf("markdown:\n%s", md)
	}
}

// TestLevers: the levers start from the earlier design at ALL, each lowers
// the total, and the last is the current design at the default level.
func TestLevers(t *testing.T) {
	r := ThroughputResult{
		N: 100, AttachmentBytes: 2000, InputBytesPerMail: 800, LogBytesAll: 24000, LogBytesError: 0,
		TaskMillis:      map[string]float64{"mailflow-acquire-lock": 5, "mailflow-fetch-attachments": 1, "mailflow-send": 8},
		TaskInvocations: 3, TaskLogBytes: 250, StagedPerMail: 0,
		// Paced: each batch reserves once; a tenth of the sends take
		// their own tokens.
		PacerReservationsPerExecution: 1, PacerTakesPerMail: 0.1,
	}
	levers := Levers(r)
	if len(levers) < 2 || levers[0].LogLevel != "ALL" {
		t.Fatalf("levers %+v", levers)
	}
	for i := 1; i < len(levers); i++ {
		if !(levers[i].Breakdown.Total < levers[i-1].Breakdown.Total) {
			t.Errorf("lever %q does not lower the total: %.4f after %.4f", levers[i].Name, levers[i].Breakdown.Total, levers[i-1].Breakdown.Total)
		}
	}
	last := levers[len(levers)-1]
	if want := Model(CostInputs(r), DefaultLogLevel, ListPrices); last.LogLevel != DefaultLogLevel || !near(last.Breakdown.Total, want.Total) {
		t.Errorf("last lever %s $%.4f, want the current design at %s, $%.4f", last.LogLevel, last.Breakdown.Total, DefaultLogLevel, want.Total)
	}
	// The staged share prices its PUT and GET.
	r.StagedPerMail = 1
	if s := line(t, Model(CostInputs(r), "ERROR", ListPrices), "S3"); !near(s, 5+0.8) {
		t.Errorf("every message staged: S3 %v, want 5.80", s)
	}
	for _, l := range levers {
		t.Logf("%-60s %6.2f", l.Name, l.Breakdown.Total)
	}
	// A run that did not pace prices one take per send, reservation or not.
	r.StagedPerMail, r.PacerReservationsPerExecution, r.PacerTakesPerMail = 0, 0, 0
	if got := CostInputs(r).DynamoWrites; got != sendLockWrites+pacerWrites {
		t.Errorf("unpaced run: %v writes per mail, want %v", got, sendLockWrites+pacerWrites)
	}
	// Paced, the batch's one write and the sends' own takes.
	r.PacerReservationsPerExecution, r.PacerTakesPerMail = 1, 0.1
	if got, want := CostInputs(r).DynamoWrites, sendLockWrites+1.0/batchSize+0.1; !near(got, want) {
		t.Errorf("paced run: %v writes per mail, want %v", got, want)
	}
	// ReserveSends runs once per batch and writes no line when it works.
	found := false
	for _, task := range CostInputs(r).Tasks {
		if task.Name == "ReserveSends" {
			found = true
			if !near(task.Invocations, 1.0/7) || !task.Silent || task.BilledMs <= 0 {
				t.Errorf("ReserveSends priced %+v, want a seventh of an invocation per mail, silent", task)
			}
		}
	}
	if !found {
		t.Error("ReserveSends is not priced")
	}
}

// TestCostJSONHeadline: cost.json carries the default deployment's figures
// under "default", machine-readable, and they agree with the breakdown at
// the default level.
func TestCostJSONHeadline(t *testing.T) {
	t.Setenv("BENCH_OUT", t.TempDir())
	r := ThroughputResult{
		N: 100, AttachmentBytes: 2000, InputBytesPerMail: 800, LogBytesAll: 24000,
		TaskMillis:      map[string]float64{"mailflow-acquire-lock": 5, "mailflow-fetch-attachments": 1, "mailflow-send": 8},
		TaskInvocations: 3, TaskLogBytes: 250,
	}
	cols, err := WriteCost(r)
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(filepath.Join(ResultsDir(), "cost.json"))
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Default Headline `json:"default"`
		Levers  []Lever  `json:"levers"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	h := doc.Default
	def := Model(CostInputs(r), DefaultLogLevel, ListPrices)
	if h.LogLevel != DefaultLogLevel || !near(h.TotalWithFeedback, def.Total) || !near(h.Total+h.Feedback, h.TotalWithFeedback) ||
		!near(h.Feedback, line(t, def, "Delivery feedback")) || h.Feedback <= 0 || !near(h.Seed, cols[3].Total) {
		t.Errorf("headline %+v, breakdown total %.4f", h, def.Total)
	}
	if len(doc.Levers) == 0 || !near(doc.Levers[len(doc.Levers)-1].Breakdown.Total, def.Total) {
		t.Errorf("levers %+v do not end at the default", doc.Levers)
	}
}
