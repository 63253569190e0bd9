package inspect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
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
// group (logging level ALL; with or without execution data).
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
}

var _ Source = (*LogSource)(nil)

// LogEvent is one Step Functions log event as CloudWatch Logs stores it.
// Step Functions writes ids and timestamps as strings; numbers are accepted
// too.
type LogEvent struct {
	ID             flexInt         `json:"id"`
	Type           string          `json:"type"`
	Details        json.RawMessage `json:"details"`
	PreviousID     flexInt         `json:"previous_event_id"`
	EventTimestamp flexInt         `json:"event_timestamp"`
	ExecutionARN   string          `json:"execution_arn"`
	RedriveCount   flexInt         `json:"redrive_count"`
}

type flexInt int64

func (f *flexInt) UnmarshalJSON(b []byte) error {
	s := strings.Trim(string(b), `"`)
	if s == "" || s == "null" {
		*f = 0
		return nil
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return fmt.Errorf("not an integer: %s", b)
	}
	*f = flexInt(n)
	return nil
}

type payloadDetails struct {
	Truncated bool `json:"truncated"`
}

// ParseLogEvent parses the message of one log event.
func ParseLogEvent(message string) (LogEvent, Event, error) {
	var le LogEvent
	if err := json.Unmarshal([]byte(message), &le); err != nil {
		return le, Event{}, fmt.Errorf("not a Step Functions log event: %w", err)
	}
	if le.ExecutionARN == "" || le.Type == "" {
		return le, Event{}, errors.New("not a Step Functions log event: no execution_arn or type")
	}
	ev := Event{ID: int64(le.ID), PreviousID: int64(le.PreviousID), Type: le.Type, Timestamp: time.UnixMilli(int64(le.EventTimestamp)).UTC()}
	var d struct {
		Name          string          `json:"name"`
		Index         *int            `json:"index"`
		Input         *string         `json:"input"`
		InputDetails  payloadDetails  `json:"inputDetails"`
		Output        *string         `json:"output"`
		OutputDetails payloadDetails  `json:"outputDetails"`
		Parameters    json.RawMessage `json:"parameters"`
		Error         string          `json:"error"`
		Cause         string          `json:"cause"`
		Resource      string          `json:"resource"`
		ResourceType  string          `json:"resourceType"`
	}
	if len(le.Details) > 0 && string(le.Details) != "null" {
		if err := json.Unmarshal(le.Details, &d); err != nil {
			return le, Event{}, fmt.Errorf("event %d of %s: details: %w", le.ID, le.ExecutionARN, err)
		}
	}
	ev.Name, ev.Index, ev.Error, ev.Cause, ev.Resource, ev.ResourceType = d.Name, d.Index, d.Error, d.Cause, d.Resource, d.ResourceType
	ev.Input, ev.InputText, ev.InputTruncated = payload(d.Input, d.InputDetails.Truncated)
	ev.Output, ev.OutputText, ev.OutputTruncated = payload(d.Output, d.OutputDetails.Truncated)
	if len(d.Parameters) > 0 {
		var text string
		if json.Unmarshal(d.Parameters, &text) == nil {
			if json.Valid([]byte(text)) {
				ev.Parameters = json.RawMessage(text)
			}
		} else {
			ev.Parameters = d.Parameters
		}
	}
	return le, ev, nil
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

// BuildExecution assembles an execution from its log events (any order).
func BuildExecution(arn string, events []Event) *Execution {
	sort.Slice(events, func(i, j int) bool { return events[i].ID < events[j].ID })
	x := &Execution{ID: arn, Status: asl.StatusRunning, Events: events, Items: []Item{}}
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
			x.Status, x.Output, x.StoppedAt = asl.StatusSucceeded, ev.Output, ev.Timestamp
		case "ExecutionFailed", "ExecutionTimedOut", "ExecutionAborted":
			x.Status = map[string]asl.Status{"ExecutionFailed": asl.StatusFailed, "ExecutionTimedOut": asl.StatusTimedOut, "ExecutionAborted": asl.StatusAborted}[ev.Type]
			x.Error, x.Cause, x.StoppedAt = ev.Error, ev.Cause, ev.Timestamp
		}
	}
	if !started && len(events) > 0 {
		x.StartedAt = events[0].Timestamp
		x.InputMissing = true
	}
	x.Items = itemsFrom(x.Input, BuildTimeline(events), events)
	return x
}

// statusTypes are the events a listing needs: start, end, and the Pass
// states whose output names a record's outcome.
var statusTypes = []string{"ExecutionStarted", "ExecutionSucceeded", "ExecutionFailed", "ExecutionTimedOut",
	"ExecutionAborted", "PassStateExited"}

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

// fetch reads every log event matching pattern in [since, until) and groups
// them by execution. Events that are not Step Functions events are skipped.
// keep, when set, filters the parsed events client-side: the service-side
// pattern only narrows what is transferred.
func (s *LogSource) fetch(ctx context.Context, pattern string, since, until time.Time, keep func(LogEvent) bool) (map[string][]Event, error) {
	if s.LogGroup == "" {
		return nil, errors.New("a log group is required")
	}
	in := &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String(s.LogGroup)}
	if pattern != "" {
		in.FilterPattern = aws.String(pattern)
	}
	if !since.IsZero() {
		in.StartTime = aws.Int64(since.UnixMilli())
	}
	if !until.IsZero() {
		in.EndTime = aws.Int64(until.UnixMilli() - 1)
	}
	out := map[string][]Event{}
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
			raw, ev, err := ParseLogEvent(*le.Message)
			if err != nil {
				continue
			}
			if keep != nil && !keep(raw) {
				continue
			}
			key := raw.ExecutionARN + "#" + strconv.FormatInt(ev.ID, 10)
			if seen[key] {
				continue
			}
			seen[key] = true
			out[raw.ExecutionARN] = append(out[raw.ExecutionARN], ev)
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
	for arn, evs := range byARN {
		x := BuildExecution(arn, evs)
		x.Events = nil
		x.Input = nil
		for i := range x.Items {
			x.Items[i].Body = ""
		}
		if f.matches(x) {
			all = append(all, *x)
		}
	}
	sort.Slice(all, func(i, j int) bool {
		if !all[i].StartedAt.Equal(all[j].StartedAt) {
			return all[i].StartedAt.After(all[j].StartedAt)
		}
		return all[i].ID > all[j].ID
	})
	if f.Cursor != "" {
		ms, id, err := decodeCursor(f.Cursor)
		if err != nil {
			return Page{}, err
		}
		i := sort.Search(len(all), func(i int) bool {
			t := all[i].StartedAt.UnixMilli()
			return t < ms || t == ms && all[i].ID < id
		})
		all = all[i:]
	}
	page := Page{Executions: all}
	if len(all) > limit {
		page.Executions = all[:limit]
		last := all[limit-1]
		page.NextCursor = encodeCursor(last.StartedAt.UnixMilli(), last.ID)
	}
	if page.Executions == nil {
		page.Executions = []Execution{}
	}
	return page, nil
}

// Get implements Source. id is the execution ARN or its name.
func (s *LogSource) Get(ctx context.Context, id string) (*Execution, error) {
	if id == "" {
		return nil, fmt.Errorf("%w: empty id", ErrNotFound)
	}
	name := id
	if strings.HasPrefix(id, "arn:") {
		if parts := strings.Split(id, ":"); len(parts) >= 8 {
			name = parts[7]
		}
	}
	byARN, err := s.fetch(ctx, termPattern(name), s.now().Add(-s.lookback()), time.Time{}, func(le LogEvent) bool {
		if strings.HasPrefix(id, "arn:") {
			return le.ExecutionARN == id
		}
		parts := strings.Split(le.ExecutionARN, ":")
		return len(parts) >= 8 && parts[7] == name
	})
	if err != nil {
		return nil, err
	}
	switch len(byARN) {
	case 0:
		return nil, fmt.Errorf("%w: %s (in log group %s over the last %s)", ErrNotFound, id, s.LogGroup, s.lookback())
	case 1:
		for arn, evs := range byARN {
			return BuildExecution(arn, evs), nil
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
	out := []MailExecution{}
	for _, x := range page.Executions {
		for _, it := range x.Items {
			if it.MailID == mailID {
				out = append(out, MailExecution{ExecutionID: x.ID, StartedAt: x.StartedAt, Item: it})
			}
		}
	}
	return out, nil
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
