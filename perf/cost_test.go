package perf

import (
	"math"
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
