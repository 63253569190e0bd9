package infra

import (
	"errors"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/jsii-runtime-go"

	"github.com/mailflow/mailflow/internal/taskkit"
	"github.com/mailflow/mailflow/workflow"
)

// The tasks, named as their directories under tasks/ and their zips under
// build/lambda/.
const (
	// TaskReserveSends reserves a batch's send tokens with the pacer, once
	// per execution, before its records run.
	TaskReserveSends     = "reserve-sends"
	TaskAcquireLock      = "acquire-lock"
	TaskFetchAttachments = "fetch-attachments"
	TaskSend             = "send"
	TaskReleaseLock      = "release-lock"
	// TaskRecordEvent consumes the events queue: SES's events and the
	// state machine's records. The state machine does not invoke it.
	TaskRecordEvent = "record-event"
)

// FunctionSendInline is the Send task's second function, for inline
// messages (see taskSpec); Function and the other function-keyed lookups
// take it beside the task names.
const FunctionSendInline = "send-inline"

// Functions lists the task functions by name: each task's, in Tasks'
// order, with the Send task's inline function after its own.
func Functions() []string {
	var out []string
	for _, spec := range taskSpecs {
		out = append(out, spec.function())
	}
	return out
}

// TaskOf is the task whose code a function runs ("" for an unknown one).
func TaskOf(function string) string {
	spec, _ := specOf(function)
	return spec.name
}

// Tasks lists the task names: the five the state machine runs, in pipeline
// order, then record-event.
func Tasks() []string {
	return []string{TaskReserveSends, TaskAcquireLock, TaskFetchAttachments, TaskSend, TaskReleaseLock, TaskRecordEvent}
}

// EnvMaxSendRate (mails per second) is set on every task function only when
// ses.maxSendRate is configured: the quota the send task paces itself to.
// The other variables are the tasks' own (internal/taskkit), so the names
// cannot drift apart.
const EnvMaxSendRate = taskkit.EnvMaxSendRate

// The delivery-feedback variables: the delivery and suppression tables'
// names, the outcome bus's name and the events dead-letter queue's URL.
// acquire-lock reads EnvSuppressionTable and EnvEventsQueue (the events
// queue it tells of each accepted mail); record-event reads the others.
const (
	EnvDeliveryTable         = taskkit.EnvDeliveryTable
	EnvSuppressionTable      = taskkit.EnvSuppressionTable
	EnvOutcomeBus            = taskkit.EnvOutcomeBus
	EnvEventsDeadLetterQueue = taskkit.EnvEventsDeadLetterQueue
	EnvEventsQueue           = taskkit.EnvEventsQueue
)

// taskSpec is how one task function is sized. Timeouts of the state
// machine's tasks stay below the state's TimeoutSeconds in the definition
// (30, 120, 60, 30 s); record-event has no state, and its events queue's
// visibility timeout is a multiple of its timeout.
//
// Memory: Lambda bills GB-seconds, so each of the state machine's tasks
// takes the smallest size in 128-MiB steps with 1.5 times the peak
// resident memory measured on its worst-case input (perf
// BenchmarkTaskMemory, perf/results/task-memory.json; the guard test
// holds these sizes to that file). Each function runs with GOMEMLIMIT at
// 80 % of its size (goMemLimit).
//
// The Send task has two functions of the same code: the state machine
// sends a staged message, up to SES's 40 MB, through the task's own
// function and an inline one (at most the inline bound, 64 KiB by default)
// through SendInline, a small function, so the common small mail does not
// pay for the memory a rare large one needs. The two share one role and
// one log group.
type taskSpec struct {
	name           string // the task: its code, environment and permissions
	id             string // construct id
	placeholder    string // its ARN's placeholder in the definition, "" for record-event
	memoryMiB      float64
	timeoutSeconds float64
	description    string
	sharesWith     string // the construct id of the function whose role and log group it shares, "" for none
	functionName   string // the function's name when it is not the task's
}

// function names the spec's function: the task's name, or its own.
func (s taskSpec) function() string {
	if s.functionName != "" {
		return s.functionName
	}
	return s.name
}

var taskSpecs = []taskSpec{
	// A batch's records are decoded for their recipients only: like
	// AcquireLock's largest body, far below its size.
	{TaskReserveSends, "ReserveSends", workflow.PlaceholderReserveSends, 128, 10,
		"mailflow: reserve a batch's send tokens with the pacer in one write", "", ""},
	// A largest queue body (what fits an execution input alone) with 50
	// recipients peaks at about 45 MiB, the process itself included.
	{TaskAcquireLock, "AcquireLock", workflow.PlaceholderAcquireLock, 128, 20,
		"mailflow: validate a queued mail and check its dedup lock", "", ""},
	// Attachments stream from S3 through the encoder and the message
	// spills to /tmp, so attachments summing to the 40 MiB limit peak at
	// about 45 MiB; the worst case is an offloaded body (textKey, htmlKey)
	// filling the limit, which is read into memory whole: about 160 MiB,
	// or 200 MiB in the processes where no collection runs between its
	// copies (about one in five).
	{TaskFetchAttachments, "FetchAttachments", workflow.PlaceholderFetchAttachments, 384, 100,
		"mailflow: fetch attachments, build the MIME message, stage it in S3", "", ""},
	// A staged 40 MiB message is held whole (SES v2 takes raw content
	// inline) and encoded again as base64 in the SDK's JSON request: about
	// 280 MiB at peak.
	{TaskSend, "Send", workflow.PlaceholderSend, 512, 45,
		"mailflow: take the dedup lock with the send attempt, send a staged message through SES v2, mark it sent", "", ""},
	// An inline message at the inline bound with a largest body and 50
	// recipients: about 45 MiB.
	{TaskSend, "SendInline", workflow.PlaceholderSendInline, 128, 45,
		"mailflow: take the dedup lock with the send attempt, send an inline message through SES v2, mark it sent", "Send", FunctionSendInline},
	// Like AcquireLock: the body is parsed for its mailId, about 45 MiB.
	{TaskReleaseLock, "ReleaseLock", workflow.PlaceholderReleaseLock, 128, 20,
		"mailflow: release the dedup lock of a mail that was not sent", "", ""},
	// One batch is at most 10 events, each a few DynamoDB requests and at
	// most one PutEvents: seconds, not minutes. Not measured: records are
	// at most 1 MiB each.
	{TaskRecordEvent, "RecordEvent", "", 256, recordEventTimeoutSeconds,
		"mailflow: record SES delivery events, suppress bounced addresses, publish outcomes", "", ""},
}

// specOf is the spec of a function, by its name (see Functions).
func specOf(function string) (taskSpec, bool) {
	for _, spec := range taskSpecs {
		if spec.function() == function {
			return spec, true
		}
	}
	return taskSpec{}, false
}

// EnvGoMemLimit is the Go runtime's soft memory limit, set on every task
// function.
const EnvGoMemLimit = "GOMEMLIMIT"

// goMemLimit is the GOMEMLIMIT of a function of memoryMiB: 80 % of it, so
// the collector works harder as the heap nears Lambda's limit and the
// runtime, stacks and buffers outside the heap keep the rest, instead of
// the default (no limit) that lets the heap double before a collection.
func goMemLimit(memoryMiB float64) string {
	return strconv.Itoa(int(memoryMiB*0.8)) + "MiB"
}

// recordEventTimeoutSeconds is record-event's timeout.
const recordEventTimeoutSeconds = 30

// invokedByStateMachine reports whether the state machine runs the task.
func (s taskSpec) invokedByStateMachine() bool { return s.placeholder != "" }

// ZipCode returns the code of every task from dir/<task>.zip, the arm64
// zips `make lambdas` builds into build/lambda. Missing zips are reported
// together, with the command that builds them.
func ZipCode(dir string) (map[string]awslambda.Code, error) {
	code := map[string]awslambda.Code{}
	var missing []string
	for _, task := range Tasks() {
		path := filepath.Join(dir, task+".zip")
		st, err := os.Stat(path)
		if err != nil || !st.Mode().IsRegular() {
			missing = append(missing, path)
			continue
		}
		code[task] = awslambda.Code_FromAsset(jsii.String(path), nil)
	}
	if len(missing) > 0 {
		return nil, fmt.Errorf("lambda code not found: %v; run `make lambdas` first to build the task zips", missing)
	}
	return code, nil
}

func validateCode(code map[string]awslambda.Code) error {
	var errs []error
	for _, task := range Tasks() {
		if code[task] == nil {
			errs = append(errs, fmt.Errorf("props.Code[%q] is missing", task))
		}
	}
	for _, task := range slices.Sorted(maps.Keys(code)) {
		if !slices.Contains(Tasks(), task) {
			errs = append(errs, fmt.Errorf("props.Code[%q] is not a task (want one of %v)", task, Tasks()))
		}
	}
	return errors.Join(errs...)
}

// PlaceholderOf returns the definition placeholder that the ARN of a
// function (a task's, or FunctionSendInline) fills, or "" for an unknown
// one and for record-event, which the state machine does not run.
func PlaceholderOf(task string) string {
	spec, _ := specOf(task)
	return spec.placeholder
}
