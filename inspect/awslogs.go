package inspect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"

	"github.com/mailflow/mailflow/asl"
	"github.com/mailflow/mailflow/clock"
)

// LogsAPI is the part of the CloudWatch Logs client the log source uses.
type LogsAPI interface {
	FilterLogEvents(ctx context.Context, in *cloudwatchlogs.FilterLogEventsInput, opts ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.FilterLogEventsOutput, error)
}

// LogSource reads Express executions back from the state machine's log
// group, at any logging level (ALL, ERROR, FATAL), with or without
// execution data.
type LogSource struct {
	API      LogsAPI
	LogGroup string
	// Lookback bounds searches that have no time range (Get, mail status,
	// a list without --since); default 14 days.
	Lookback time.Duration
	// Clock tells the time searches look back from (nil: clock.Wall).
	Clock clock.Clock
	// Progress, when set, is told how many log events a search has read
	// so far, after each page (a search over weeks of logs takes a while).
	Progress func(events int)
	// Unmask reads the events as logged, through the log group's data
	// protection policy (the stack masks e-mail addresses); it takes the
	// logs:Unmask permission. Replay needs it: a masked body is not the mail.
	Unmask bool
}

var _ Source = (*LogSource)(nil)

// LogEvent is one Step Functions log event as CloudWatch Logs stores it.
// Step Functions writes ids and timestamps as strings; numbers are accepted
// too.
type LogEvent struct {
	ID             int64
	Type           string
	PreviousID     int64
	EventTimestamp int64 // milliseconds; zero when unreadable
	ExecutionARN   string
	RedriveCount   int64
}

// parseFlexInt reads an integer written as a JSON string or number.
func parseFlexInt(b json.RawMessage) (int64, error) {
	s := strings.Trim(string(b), `"`)
	if s == "" || s == "null" {
		return 0, nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, fmt.Errorf("not an integer: %s", b)
	}
	return n, nil
}

// fieldReader decodes the fields of one JSON object one by one, so that a
// field that does not decode costs only itself: it is left zero and named
// in problems.
type fieldReader struct {
	prefix   string
	fields   map[string]json.RawMessage
	problems []string
}

func (r *fieldReader) read(name string, into any) bool {
	raw, ok := r.fields[name]
	if !ok || string(raw) == "null" {
		return false
	}
	if err := json.Unmarshal(raw, into); err != nil {
		field := r.prefix + name
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			field += "." + te.Field
		}
		r.problems = append(r.problems, fmt.Sprintf("%s: %s", field, unmarshalProblem(raw, err)))
		return false
	}
	return true
}

func (r *fieldReader) int(name string) int64 {
	raw, ok := r.fields[name]
	if !ok {
		return 0
	}
	n, err := parseFlexInt(raw)
	if err != nil {
		r.problems = append(r.problems, fmt.Sprintf("%s%s: %v", r.prefix, name, err))
	}
	return n
}

// unmarshalProblem says what is wrong with a value, quoting it.
func unmarshalProblem(raw json.RawMessage, err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		return fmt.Sprintf("want %s, got %s", kindName(te.Type), excerpt(string(raw)))
	}
	return fmt.Sprintf("%v: %s", err, excerpt(string(raw)))
}

// kindName names the JSON value a Go type decodes from.
func kindName(t reflect.Type) string {
	switch t.Kind() {
	case reflect.Map, reflect.Struct:
		return "an object"
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "true or false"
	case reflect.Int, reflect.Int64:
		return "an integer"
	}
	return t.String()
}

// excerpt cuts a quoted value short: a payload can be 256 KB.
func excerpt(v string) string {
	if len(v) > 60 {
		return v[:60] + "..."
	}
	return v
}

// ParseLogEvent parses the message of one log event. It fails only when
// the message is not a Step Functions log event (not a JSON object, or no
// readable execution_arn and type). Any other field that cannot be read is
// left zero and described in warnings, which name the event: the event is
// kept, so one bad field never hides the rest of it.
func ParseLogEvent(message string) (LogEvent, Event, []string, error) {
	var le LogEvent
	top := fieldReader{}
	if err := json.Unmarshal([]byte(message), &top.fields); err != nil {
		return le, Event{}, nil, fmt.Errorf("not a Step Functions log event: %w", err)
	}
	top.read("execution_arn", &le.ExecutionARN)
	top.read("type", &le.Type)
	if le.ExecutionARN == "" || le.Type == "" {
		return le, Event{}, nil, fmt.Errorf("not a Step Functions log event: no execution_arn or type (%s)", strings.Join(top.problems, "; "))
	}
	le.ID = top.int("id")
	le.PreviousID = top.int("previous_event_id")
	le.EventTimestamp = top.int("event_timestamp")
	le.RedriveCount = top.int("redrive_count")
	ev := Event{ID: le.ID, PreviousID: le.PreviousID, Type: le.Type}
	if le.EventTimestamp != 0 {
		ev.Timestamp = time.UnixMilli(le.EventTimestamp).UTC()
	}
	det := fieldReader{prefix: "details."}
	if raw, ok := top.fields["details"]; ok && string(raw) != "null" {
		if err := json.Unmarshal(raw, &det.fields); err != nil {
			top.problems = append(top.problems, "details: "+unmarshalProblem(raw, err))
		}
	}
	det.read("name", &ev.Name)
	var index int
	if det.read("index", &index) {
		ev.Index = &index
	}
	det.read("error", &ev.Error)
	det.read("cause", &ev.Cause)
	det.read("resource", &ev.Resource)
	det.read("resourceType", &ev.ResourceType)
	ev.Input, ev.InputText, ev.InputTruncated = det.payload("input")
	ev.Output, ev.OutputText, ev.OutputTruncated = det.payload("output")
	if raw, ok := det.fields["parameters"]; ok && string(raw) != "null" {
		var text string
		switch {
		case json.Unmarshal(raw, &text) != nil:
			ev.Parameters = raw // an object, as some writers log it
		case json.Valid([]byte(text)):
			ev.Parameters = json.RawMessage(text)
		default:
			det.problems = append(det.problems, "details.parameters: not JSON: "+excerpt(text))
		}
	}
	var warnings []string
	for _, p := range append(top.problems, det.problems...) {
		warnings = append(warnings, fmt.Sprintf("event %d (%s): %s", le.ID, le.Type, p))
	}
	return le, ev, warnings, nil
}

// payload reads a logged input or output (JSON text, possibly truncated)
// and its <name>Details.truncated flag: a JSON value when whole, else the
// text as logged. Text that is not JSON although not marked truncated is
// kept as text and reported.
func (r *fieldReader) payload(name string) (json.RawMessage, string, bool) {
	var text *string
	r.read(name, &text)
	var details struct {
		Truncated bool `json:"truncated"`
	}
	r.read(name+"Details", &details)
	if text == nil {
		return nil, "", false
	}
	if !details.Truncated && !json.Valid([]byte(*text)) {
		r.problems = append(r.problems, fmt.Sprintf("%s%s: not JSON and not marked truncated: %s", r.prefix, name, excerpt(*text)))
		return nil, *text, false
	}
	return payload(text, details.Truncated)
}

// payload turns a logged input or output (JSON text, possibly truncated)
// into a JSON value, or keeps the text when it is not whole.
func payload(text *string, truncated bool) (json.RawMessage, string, bool) {
	if text == nil {
		return nil, "", false
	}
	if !truncated && json.Valid([]byte(*text)) {
		return json.RawMessage(*text), "", false
	}
	return nil, *text, true
}

// Logging levels, and the event types each of ERROR and FATAL logs (ALL
// logs every type), as the Step Functions developer guide lists them.
const (
	LevelAll   = "ALL"
	LevelError = "ERROR"
	LevelFatal = "FATAL"
)

var fatalLevelTypes = setOf("ExecutionAborted", "ExecutionFailed", "ExecutionTimedOut")

var errorLevelTypes = setOf("ExecutionAborted", "ExecutionFailed", "ExecutionTimedOut",
	"FailStateEntered", "LambdaFunctionFailed", "LambdaFunctionScheduleFailed", "LambdaFunctionStartFailed",
	"LambdaFunctionTimedOut", "MapStateAborted", "MapStateFailed", "MapIterationAborted", "MapIterationFailed",
	"MapRunAborted", "MapRunFailed", "ParallelStateAborted", "ParallelStateFailed", "TaskFailed",
	"TaskStartFailed", "TaskStateAborted", "TaskSubmitFailed", "TaskTimedOut", "WaitStateAborted")

func setOf(types ...string) map[string]bool {
	m := make(map[string]bool, len(types))
	for _, t := range types {
		m[t] = true
	}
	return m
}

// logLevel is the lowest level that logs every one of events' types.
func logLevel(events []Event) string {
	level := LevelFatal
	for _, ev := range events {
		switch {
		case fatalLevelTypes[ev.Type]:
		case errorLevelTypes[ev.Type]:
			level = LevelError
		default:
			return LevelAll
		}
	}
	return level
}

// dataLogged reports whether any event carries execution data (an input
// or an output), which tells includeExecutionData was on.
func dataLogged(events []Event) bool {
	for _, ev := range events {
		if len(ev.Input) > 0 || len(ev.Output) > 0 || ev.InputText != "" || ev.OutputText != "" {
			return true
		}
	}
	return false
}

// BuildExecution assembles an execution from its log events (any order).
func BuildExecution(arn string, events []Event) *Execution {
	sort.Slice(events, func(i, j int) bool { return events[i].ID < events[j].ID })
	x := &Execution{ID: arn, Status: asl.StatusRunning, Events: events, Items: []Item{}, LogLevel: logLevel(events)}
	if parts := strings.Split(arn, ":"); len(parts) >= 8 {
		x.StateMachine, x.Name = parts[6], parts[7]
	}
	started := false
	for _, ev := range events {
		switch ev.Type {
		case "ExecutionStarted":
			started = true
			x.StartedAt = ev.Timestamp
			x.Input, x.InputTruncated = ev.Input, ev.InputTruncated
			x.InputMissing = len(ev.Input) == 0 && !ev.InputTruncated
		case "ExecutionSucceeded":
			x.Status, x.Output, x.OutputTruncated, x.StoppedAt = asl.StatusSucceeded, ev.Output, ev.OutputTruncated, ev.Timestamp
		case "ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted":
			x.Status = map[string]asl.Status{"ExecutionFailed": asl.StatusFailed, "ExecutionTimedOut": asl.StatusTimedOut, "ExecutionAborted": asl.StatusAborted}[ev.Type]
			x.Error, x.Cause, x.StoppedAt = ev.Error, ev.Cause, ev.Timestamp
		}
	}
	if !started && len(events) > 0 {
		// The start is unknown, not the first event read: at ERROR and
		// FATAL only failures are logged, and at ALL the start event can
		// be lost (best-effort delivery).
		x.StartMissing = true
		x.FirstLoggedAt = events[0].Timestamp
		for _, ev := range events {
			if !ev.Timestamp.IsZero() && (x.FirstLoggedAt.IsZero() || ev.Timestamp.Before(x.FirstLoggedAt)) {
				x.FirstLoggedAt = ev.Timestamp
			}
		}
		// The input is not logged at all at ERROR and FATAL, nor without
		// execution data; otherwise only its event is missing.
		x.InputMissing = x.LogLevel != LevelAll || !dataLogged(events)
	}
	x.Items = itemsFrom(x.Input, BuildTimeline(events), events)
	return x
}

// statusTypes are the events a listing needs: start, end, the Pass states
// whose output names a record's outcome, and the failures, which are all
// that log level ERROR keeps of an execution that succeeded.
var statusTypes = []string{"ExecutionStarted", "ExecutionSucceeded", "ExecutionFailed", "ExecutionTimedOut",
	"ExecutionAborted", "PassStateExited", "FailStateEntered", "TaskFailed", "TaskTimedOut", "LambdaFunctionFailed",
	"LambdaFunctionTimedOut", "MapIterationFailed", "MapStateFailed"}

func typePattern(types []string) string {
	parts := make([]string, len(types))
	for i, t := range types {
		parts[i] = fmt.Sprintf("$.type = %q", t)
	}
	return "{ " + strings.Join(parts, " || ") + " }"
}

// termPattern is a filter pattern matching events that contain s.
func termPattern(s string) string { return strconv.Quote(s) }

func (s *LogSource) now() time.Time { return clock.Or(s.Clock).Now() }

func (s *LogSource) lookback() time.Duration {
	if s.Lookback > 0 {
		return s.Lookback
	}
	return 14 * 24 * time.Hour
}

// logged is what a search read of one execution: its events, and the
// problems met reading them.
type logged struct {
	events   []Event
	warnings []string
}

// build assembles the execution from what was read.
func (l *logged) build(arn string) *Execution {
	x := BuildExecution(arn, l.events)
	x.Warnings = l.warnings
	return x
}

// fetch reads every log event matching pattern in [since, until) and groups
// them by execution. Messages that are not Step Functions events are
// skipped; an event with an unreadable field is kept, with a warning.
// keep, when set, filters the parsed events client-side: the service-side
// pattern only narrows what is transferred.
func (s *LogSource) fetch(ctx context.Context, pattern string, since, until time.Time, keep func(LogEvent) bool) (map[string]*logged, error) {
	if s.LogGroup == "" {
		return nil, errors.New("a log group is required")
	}
	in := &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String(s.LogGroup), Unmask: s.Unmask}
	if pattern != "" {
		in.FilterPattern = aws.String(pattern)
	}
	if !since.IsZero() {
		in.StartTime = aws.Int64(since.UnixMilli())
	}
	if !until.IsZero() {
		in.EndTime = aws.Int64(until.UnixMilli() - 1)
	}
	out := map[string]*logged{}
	seen := map[string]bool{}
	read := 0
	for {
		res, err := s.API.FilterLogEvents(ctx, in)
		if err != nil {
			return nil, fmt.Errorf("log group %s: %w", s.LogGroup, err)
		}
		read += len(res.Events)
		if s.Progress != nil {
			s.Progress(read)
		}
		for _, le := range res.Events {
			if le.Message == nil {
				continue
			}
			raw, ev, warnings, err := ParseLogEvent(*le.Message)
			if err != nil {
				continue
			}
			if keep != nil && !keep(raw) {
				continue
			}
			// An event whose id is unreadable is told apart by its text.
			key := raw.ExecutionARN + "#" + strconv.FormatInt(ev.ID, 10)
			if ev.ID == 0 {
				key = *le.Message
			}
			if seen[key] {
				continue
			}
			seen[key] = true
			if ev.Timestamp.IsZero() && le.Timestamp != nil {
				ev.Timestamp = time.UnixMilli(*le.Timestamp).UTC()
				warnings = append(warnings, fmt.Sprintf("event %d (%s): the time CloudWatch Logs recorded is shown for it", ev.ID, ev.Type))
			}
			l := out[raw.ExecutionARN]
			if l == nil {
				l = &logged{}
				out[raw.ExecutionARN] = l
			}
			l.events = append(l.events, ev)
			l.warnings = append(l.warnings, warnings...)
		}
		if res.NextToken == nil || *res.NextToken == "" || len(res.Events) == 0 && in.NextToken != nil && *in.NextToken == *res.NextToken {
			return out, nil
		}
		in.NextToken = res.NextToken
	}
}

// List implements Source.
func (s *LogSource) List(ctx context.Context, f Filter) (Page, error) {
	if err := f.Validate(); err != nil {
		return Page{}, err
	}
	limit := f.Limit
	if limit == 0 {
		limit = 20
	}
	since, until := f.Since, f.Until
	if since.IsZero() {
		since = s.now().Add(-s.lookback())
	}
	var only map[string]bool
	if f.MailID != "" {
		hits, err := s.fetch(ctx, termPattern(f.MailID), since, until, nil)
		if err != nil {
			return Page{}, err
		}
		only = map[string]bool{}
		for arn := range hits {
			only[arn] = true
		}
		if len(only) == 0 {
			return Page{Executions: []Execution{}}, nil
		}
	}
	types := map[string]bool{}
	for _, t := range statusTypes {
		types[t] = true
	}
	byARN, err := s.fetch(ctx, typePattern(statusTypes), since, until, func(le LogEvent) bool {
		return types[le.Type] && (only == nil || only[le.ExecutionARN])
	})
	if err != nil {
		return Page{}, err
	}
	var all []Execution
	for arn, l := range byARN {
		x := l.build(arn)
		x.Events = nil
		x.Input = nil
		for i := range x.Items {
			x.Items[i].Body = ""
		}
		if f.matches(x) {
			all = append(all, *x)
		}
	}
	return paginate(all, f.Cursor, limit)
}

// Get implements Source. id is the execution ARN or its name.
func (s *LogSource) Get(ctx context.Context, id string) (*Execution, error) {
	if id == "" {
		return nil, fmt.Errorf("%w: empty id", ErrNotFound)
	}
	name := nameOf(id)
	byARN, err := s.fetch(ctx, termPattern(name), s.now().Add(-s.lookback()), time.Time{}, func(le LogEvent) bool {
		if strings.HasPrefix(id, "arn:") {
			return le.ExecutionARN == id
		}
		return strings.Count(le.ExecutionARN, ":") >= 7 && nameOf(le.ExecutionARN) == name
	})
	if err != nil {
		return nil, err
	}
	switch len(byARN) {
	case 0:
		return nil, fmt.Errorf("%w: %s (in log group %s over the last %s)", ErrNotFound, id, s.LogGroup, s.lookback())
	case 1:
		for arn, l := range byARN {
			return l.build(arn), nil
		}
	}
	return nil, fmt.Errorf("%q names more than one execution; give its ARN", id)
}

// MailExecutions implements Source.
func (s *LogSource) MailExecutions(ctx context.Context, mailID string) ([]MailExecution, error) {
	page, err := s.List(ctx, Filter{MailID: mailID, Limit: 1000})
	if err != nil {
		return nil, err
	}
	return itemsOfMail(page.Executions, mailID, func(x *Execution) time.Time { return x.StartedAt }), nil
}

// itemsOfMail is every item of mailID in execs, each with its execution
// and the time started says it started.
func itemsOfMail(execs []Execution, mailID string, started func(*Execution) time.Time) []MailExecution {
	out := []MailExecution{}
	for i := range execs {
		x := &execs[i]
		for _, it := range x.Items {
			if it.MailID == mailID {
				out = append(out, MailExecution{ExecutionID: x.ID, StartedAt: started(x), Item: it})
			}
		}
	}
	return out
}

func encodeCursor(ms int64, id string) string { return fmt.Sprintf("%d~%s", ms, id) }

func decodeCursor(c string) (int64, string, error) {
	i := strings.IndexByte(c, '~')
	if i < 0 {
		return 0, "", fmt.Errorf("malformed cursor %q", c)
	}
	ms, err := strconv.ParseInt(c[:i], 10, 64)
	if err != nil {
		return 0, "", fmt.Errorf("malformed cursor %q", c)
	}
	return ms, c[i+1:], nil
}
