package perf

import (
	"fmt"
	"math"
	"slices"
	"strings"
)

// Prices are us-east-1 list prices in USD. Step Functions, Lambda, SES and
// Pipes come from the design notes (AWS-SEMANTICS.md); the others are the
// public price pages' standard rates, noted beside each.
type Prices struct {
	ExpressPerRequest  float64 // $1.00 per million executions
	ExpressPerGBSecond float64 // first 1,000 GB-hours; billed per 100 ms, memory in 64 MB steps
	LambdaPerRequest   float64 // $0.20 per million
	LambdaArmPerGBSec  float64 // arm64, billed per 1 ms
	PipesPerRequest    float64 // $0.40 per million, per 64 KB chunk
	SQSPerRequest      float64 // standard queue, $0.40 per million, per 64 KB chunk
	DynamoPerWrite     float64 // on-demand, $0.625 per million write request units
	DynamoPerRead      float64 // on-demand, $0.125 per million read request units
	S3PerPut           float64 // $0.005 per 1,000 PUT
	S3PerGet           float64 // $0.0004 per 1,000 GET
	LogsPerGBIngested  float64 // CloudWatch Logs standard ingestion, $0.50 per GB
	// CloudWatch Logs data protection, $0.12 per GB scanned: the execution
	// log group masks e-mail addresses, so everything it ingests is
	// scanned.
	LogsDataProtectionPerGB float64
	XRayPerTrace            float64 // $5.00 per million traces recorded
	SESPerMail              float64 // $0.10 per 1,000
	SESPerAttachmentGB      float64 // $0.12 per GB of attachments sent
	// EventBridge: AWS service events (SES's) on the default bus and their
	// delivery by a rule to a target of the same account cost nothing;
	// custom events put on a bus (the outcome events) $1.00 per million,
	// per 64 KB chunk.
	EventBridgeServiceEvent float64
	EventBridgePerPut       float64
	LambdaLogLineBytes      float64 // the seed design's log per invocation (START, one line, REPORT)
	ExpressBaseMemoryMB     float64 // Express bills ~50 MB + definition + payload
}

// ListPrices are the prices the model uses.
var ListPrices = Prices{
	ExpressPerRequest: 1.00 / 1e6, ExpressPerGBSecond: 0.00001667,
	LambdaPerRequest: 0.20 / 1e6, LambdaArmPerGBSec: 0.0000133334,
	PipesPerRequest: 0.40 / 1e6, SQSPerRequest: 0.40 / 1e6,
	DynamoPerWrite: 0.625 / 1e6, DynamoPerRead: 0.125 / 1e6,
	S3PerPut: 0.005 / 1000, S3PerGet: 0.0004 / 1000,
	LogsPerGBIngested: 0.50, LogsDataProtectionPerGB: 0.12, XRayPerTrace: 5.00 / 1e6,
	SESPerMail: 0.10 / 1000, SESPerAttachmentGB: 0.12,
	EventBridgeServiceEvent: 0, EventBridgePerPut: 1.00 / 1e6,
	LambdaLogLineBytes: 350, ExpressBaseMemoryMB: 50,
}

// Task is one Lambda task's share of a mail.
type Task struct {
	Name        string
	MemoryMB    float64
	BilledMs    float64 // per invocation on AWS
	Invocations float64 // per mail (retries included)
	// Silent tasks write no result line when they succeed.
	Silent bool `json:",omitempty"`
}

// Usage is what one mail uses, measured or assumed (each field says).
type Usage struct {
	BatchSize        float64 // records per pipe batch (one execution)
	InputBytesMail   float64 // state-machine input per mail (measured)
	ExecutionMs      float64 // one batch execution's duration on AWS
	Tasks            []Task
	DynamoWrites     float64 // write units per mail
	DynamoReads      float64
	S3Puts, S3Gets   float64
	HistoryBytesMail float64 // execution history per mail at ALL with data (measured)
	ErrorBytesMail   float64 // at ERROR (failure events only; measured)
	AttachmentBytes  float64 // attachment bytes sent per mail
	TracedFraction   float64 // executions recorded by X-Ray
	// TaskLogBytes is one task invocation's application log (its result
	// line), PlatformLogBytes Lambda's own records of it (0 at system log
	// level WARN).
	TaskLogBytes, PlatformLogBytes float64
	// FeedbackRecords is how many records per mail reach the events
	// queue (AcquireLock's accepted record, then SES's events),
	// each priced by [EventsModel] with Feedback; 0 leaves feedback out.
	FeedbackRecords float64
	Feedback        EventsUsage
}

// EventsUsage is what one record on the events queue costs to consume:
// record-event's batches, its DynamoDB requests and outcome events.
type EventsUsage struct {
	BatchSize      float64 // records per record-event invocation (the mapping's batch size)
	BilledMsBatch  float64 // one invocation's billed duration on AWS
	MemoryMB       float64
	DynamoWrites   float64 // write units per record
	DynamoReads    float64 // read units per record
	OutcomeEvents  float64 // outcome events put on the bus per record
	TracedFraction float64 // invocations recorded by X-Ray
}

// Line is one row of a cost breakdown, in USD per million mails.
type Line struct {
	Item string
	USD  float64
}

// Breakdown is the cost of a million mails at one log level.
type Breakdown struct {
	LogLevel string
	Lines    []Line
	Total    float64 // without SES
	SES      float64
}

const million = 1e6

// feedbackItem is the line delivery feedback adds to a mail's breakdown.
const feedbackItem = "Delivery feedback (events queue, record-event, outcome bus)"

// Feedback is the breakdown's delivery-feedback line, 0 without one.
func (b Breakdown) Feedback() float64 {
	for _, l := range b.Lines {
		if l.Item == feedbackItem {
			return l.USD
		}
	}
	return 0
}

// Model prices a million mails with the pipeline's design: one Pipes
// request and one Express execution per batch, the listed tasks, DynamoDB,
// S3, SQS (send, receive, delete), CloudWatch Logs at level (ALL with
// execution data, ERROR or OFF) and X-Ray.
func Model(u Usage, level string, p Prices) Breakdown {
	batches := million / u.BatchSize
	chunks := math.Ceil(u.InputBytesMail * u.BatchSize / 65536)
	b := Breakdown{LogLevel: level}
	add := func(item string, usd float64) { b.Lines = append(b.Lines, Line{item, usd}); b.Total += usd }

	add("EventBridge Pipes", batches*chunks*p.PipesPerRequest)
	// SendMessage per mail; Pipes receives and deletes in batches.
	add("SQS", (million+2*batches)*p.SQSPerRequest)
	memGB := math.Ceil((p.ExpressBaseMemoryMB+u.InputBytesMail*u.BatchSize/1e6*3)/64) * 64 / 1024
	billed := math.Ceil(u.ExecutionMs/100) * 0.1
	add("Step Functions Express (requests)", batches*p.ExpressPerRequest)
	add("Step Functions Express (duration)", batches*billed*memGB*p.ExpressPerGBSecond)
	var inv, lines, gbs float64
	for _, t := range u.Tasks {
		inv += t.Invocations
		if !t.Silent {
			lines += t.Invocations
		}
		gbs += t.Invocations * t.BilledMs / 1000 * t.MemoryMB / 1024
	}
	add("Lambda (requests)", million*inv*p.LambdaPerRequest)
	add("Lambda (duration, arm64)", million*gbs*p.LambdaArmPerGBSec)
	add("DynamoDB (on-demand)", million*(u.DynamoWrites*p.DynamoPerWrite+u.DynamoReads*p.DynamoPerRead))
	add("S3 (requests)", million*(u.S3Puts*p.S3PerPut+u.S3Gets*p.S3PerGet))
	var logBytes float64
	switch level {
	case "ALL":
		logBytes = u.HistoryBytesMail
	case "ERROR":
		logBytes = u.ErrorBytesMail
	}
	add("CloudWatch Logs (executions, "+level+")", million*logBytes/1e9*p.LogsPerGBIngested)
	add("CloudWatch Logs data protection (executions)", million*logBytes/1e9*p.LogsDataProtectionPerGB)
	add("CloudWatch Logs (Lambda)", million*(lines*u.TaskLogBytes+inv*u.PlatformLogBytes)/1e9*p.LogsPerGBIngested)
	add("X-Ray", batches*u.TracedFraction*p.XRayPerTrace)
	if u.FeedbackRecords > 0 {
		add(feedbackItem, u.FeedbackRecords*EventsModel(u.Feedback, p).Total)
	}
	b.SES = million*p.SESPerMail + million*u.AttachmentBytes/1e9*p.SESPerAttachmentGB
	return b
}

// EventsModel prices a million records on the events queue: SES's events
// reach it through the default bus and a rule for nothing but the SQS
// send (which the queue's owner pays, as for the state machine's own
// records); record-event receives and deletes them a batch at a time
// (DeleteMessageBatch), reads and writes DynamoDB per record, and puts
// the outcome events on the bus. The mapping's empty receives while the
// queue is idle are a fixed monthly cost, not per record, and are left
// out.
func EventsModel(u EventsUsage, p Prices) Breakdown {
	batches := million / u.BatchSize
	b := Breakdown{LogLevel: "n/a"}
	add := func(item string, usd float64) { b.Lines = append(b.Lines, Line{item, usd}); b.Total += usd }
	add("EventBridge (SES events on the default bus, rule to SQS)", million*p.EventBridgeServiceEvent)
	add("SQS", (million+2*batches)*p.SQSPerRequest)
	add("Lambda (requests)", batches*p.LambdaPerRequest)
	add("Lambda (duration, arm64)", batches*u.BilledMsBatch/1000*u.MemoryMB/1024*p.LambdaArmPerGBSec)
	add("DynamoDB (on-demand)", million*(u.DynamoWrites*p.DynamoPerWrite+u.DynamoReads*p.DynamoPerRead))
	add("EventBridge PutEvents (outcome events)", million*u.OutcomeEvents*p.EventBridgePerPut)
	add("CloudWatch Logs (Lambda, INFO)", batches*p.LambdaLogLineBytes/1e9*p.LogsPerGBIngested)
	add("X-Ray", batches*u.TracedFraction*p.XRayPerTrace)
	return b
}

// SeedModel prices the seed design on the same assumptions: one Lambda,
// 300 ms at 512 MB per 2 mails, the same queue, SES and logging of its
// Lambda; no state machine, no lock table, no staging.
func SeedModel(u Usage, p Prices) Breakdown {
	b := Breakdown{LogLevel: "n/a"}
	add := func(item string, usd float64) { b.Lines = append(b.Lines, Line{item, usd}); b.Total += usd }
	inv := million / 2
	add("SQS", (million+2*inv)*p.SQSPerRequest)
	add("Lambda (requests)", inv*p.LambdaPerRequest)
	add("Lambda (duration, arm64)", inv*0.3*0.5*p.LambdaArmPerGBSec)
	add("S3 (requests)", million*(u.S3Gets-u.S3Puts)*p.S3PerGet) // the attachments' GETs only
	add("CloudWatch Logs (Lambda)", inv*p.LambdaLogLineBytes/1e9*p.LogsPerGBIngested)
	b.SES = million*p.SESPerMail + million*u.AttachmentBytes/1e9*p.SESPerAttachmentGB
	return b
}

// Markdown renders breakdowns of a million mails side by side.
func Markdown(cols []Breakdown, names []string) string {
	return MarkdownPer("mails", cols, names)
}

// MarkdownPer renders breakdowns of a million of what side by side.
func MarkdownPer(what string, cols []Breakdown, names []string) string {
	var sb strings.Builder
	sb.WriteString("| per million " + what + " (USD) |")
	for _, n := range names {
		sb.WriteString(" " + n + " |")
	}
	sb.WriteString("\n|---|")
	for range names {
		sb.WriteString("---:|")
	}
	sb.WriteString("\n")
	var items []string
	seen := map[string]bool{}
	for _, c := range cols {
		for _, l := range c.Lines {
			key := l.Item
			if strings.HasPrefix(key, "CloudWatch Logs (executions") {
				key = "CloudWatch Logs (executions)"
			}
			if !seen[key] {
				seen[key] = true
				items = append(items, key)
			}
		}
	}
	for _, it := range items {
		sb.WriteString("| " + it + " |")
		for _, c := range cols {
			v, ok := 0.0, false
			for _, l := range c.Lines {
				if l.Item == it || (it == "CloudWatch Logs (executions)" && strings.HasPrefix(l.Item, it[:len(it)-1])) {
					v, ok = l.USD, true
				}
			}
			if ok {
				fmt.Fprintf(&sb, " %.2f |", v)
			} else {
				sb.WriteString(" – |")
			}
		}
		sb.WriteString("\n")
	}
	sb.WriteString("| **total without SES** |")
	for _, c := range cols {
		fmt.Fprintf(&sb, " **%.2f** |", c.Total)
	}
	sb.WriteString("\n")
	if slices.ContainsFunc(cols, func(c Breakdown) bool { return c.SES != 0 }) {
		sb.WriteString("| SES (separately) |")
		for _, c := range cols {
			fmt.Fprintf(&sb, " %.2f |", c.SES)
		}
		sb.WriteString("\n")
	}
	return sb.String()
}
