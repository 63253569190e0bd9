package inspect

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"

	"github.com/mailflow/mailflow/asl"
	"github.com/mailflow/mailflow/inspect/model"
	"github.com/mailflow/mailflow/internal/taskkit"
	"github.com/mailflow/mailflow/workflow"
)

// Step is one task invocation of an item, read from its result line.
type Step = model.Step

// The four tasks whose log groups a TaskLogSource reads, by the name their
// result lines carry in "task".
const (
	TaskAcquireLock      = "AcquireLock"
	TaskFetchAttachments = "FetchAttachments"
	TaskSend             = "Send"
	TaskReleaseLock      = "ReleaseLock"
)

// Tasks lists the tasks in the order the state machine runs them.
var Tasks = []string{TaskAcquireLock, TaskFetchAttachments, TaskSend, TaskReleaseLock}

// OutcomeUnknown is the outcome of an item whose result lines do not tell
// how the state machine routed it.
const OutcomeUnknown workflow.Outcome = "unknown"

// Result line messages (internal/taskkit.LogResult).
const (
	lineDone   = "done"
	lineFailed = "failed"
)

// TaskLogSource is the executions of the state machine as the task result
// lines in the four task log groups tell them, merged with what the state
// machine's own log holds (Logs): at the default level ERROR that log has
// only the failures, and a successful execution logs nothing.
type TaskLogSource struct {
	// Logs reads the state machine's log group; its Lookback and Clock
	// bound the task log searches too.
	Logs *LogSource
	// API reads the task log groups (nil: Logs.API).
	API LogsAPI
	// Groups names each task's log group by task name.
	Groups map[string]string
	// StateMachineARN is the state machine whose executions the task lines
	// name without it (taskkit.KeyExecution). "" learns it from an execution ARN
	// the state machine's log or the caller names; until then such an
	// execution is known by its "NAME:ID" alone.
	StateMachineARN string
	// Warn, when set, is told of each line of a task log group that is not
	// a result line and names no execution (a platform line is skipped
	// without a word).
	Warn func(string)
}

var _ Source = (*TaskLogSource)(nil)

// TaskLine is one task result line.
type TaskLine struct {
	Task, MessageID, MailID, RequestID string
	// ExecutionID is the execution's ARN as the line names it; a line that
	// names its execution without the state machine's ARN leaves it "" and
	// sets Execution to the rest ("NAME:ID").
	ExecutionID, Execution string
	// Time is the line's "time" or, for a line without one (Lambda's: the
	// log event's timestamp is its time), the event's timestamp.
	Time                          time.Time
	Failed                        bool
	Error, Cause                  string
	Outcome, Reason, SESMessageID string
}

// ParseTaskLine reads the message of one log event of a task log group.
// ok is false for a line that is not a task result line: a platform line
// (LogFormat JSON writes "type": "platform.*" lines into the same group),
// a task's other log lines, or a foreign line; err says why a line that
// is not a platform line nor a task line was skipped. warnings name fields
// of a result line that do not read.
func ParseTaskLine(message string) (line TaskLine, ok bool, warnings []string, err error) {
	r := fieldReader{}
	if err := json.Unmarshal([]byte(message), &r.fields); err != nil {
		return line, false, nil, fmt.Errorf("not a JSON log line: %s", excerpt(strings.TrimSpace(message)))
	}
	var typ, msg string
	if r.read("type", &typ) && strings.HasPrefix(typ, "platform.") {
		return line, false, nil, nil
	}
	r.read("task", &line.Task)
	r.read("msg", &msg)
	if line.Task == "" {
		return line, false, nil, fmt.Errorf("no task in log line: %s", excerpt(message))
	}
	if msg != lineDone && msg != lineFailed {
		return line, false, nil, nil
	}
	line.Failed = msg == lineFailed
	r.read("messageId", &line.MessageID)
	if !r.read(taskkit.KeyExecutionID, &line.ExecutionID) {
		r.read(taskkit.KeyExecution, &line.Execution)
	}
	if line.ExecutionID == "" && line.Execution == "" {
		return line, false, nil, fmt.Errorf("%s result line without %s or %s: %s", line.Task, taskkit.KeyExecutionID, taskkit.KeyExecution, excerpt(message))
	}
	r.read("mailId", &line.MailID)
	r.read("requestId", &line.RequestID)
	r.read("error", &line.Error)
	r.read("cause", &line.Cause)
	if line.Error != "" {
		// Older lines repeat the name at the start of the cause.
		line.Cause = strings.TrimPrefix(line.Cause, line.Error+": ")
	}
	r.read("outcome", &line.Outcome)
	r.read("reason", &line.Reason)
	r.read("sesMessageId", &line.SESMessageID)
	var ts string
	if r.read("time", &ts) {
		t, perr := time.Parse(time.RFC3339Nano, ts)
		if perr != nil {
			r.problems = append(r.problems, "time: not an RFC 3339 time: "+excerpt(ts))
		} else {
			line.Time = t.UTC()
		}
	}
	if !contains(Tasks, line.Task) {
		r.problems = append(r.problems, "task: not one of "+strings.Join(Tasks, ", ")+": "+excerpt(line.Task))
	}
	for _, p := range r.problems {
		warnings = append(warnings, fmt.Sprintf("%s line of %s: %s", line.Task, line.MessageID, p))
	}
	return line, true, warnings, nil
}

// taskLogged is what the task lines say of one execution.
type taskLogged struct {
	lines    []TaskLine
	warnings []string
}

func (s *TaskLogSource) api() LogsAPI {
	if s.API != nil {
		return s.API
	}
	return s.Logs.API
}

// fetchTasks reads the result lines of every task log group in
// [since, until), grouped by execution ARN (by "NAME:ID" for a line of
// the short form while the state machine is unknown: see resolve).
func (s *TaskLogSource) fetchTasks(ctx context.Context, since, until time.Time) (map[string]*taskLogged, error) {
	if len(s.Groups) == 0 {
		return nil, errors.New("no task log group")
	}
	prefix := ""
	if s.StateMachineARN != "" {
		var ok bool
		if prefix, ok = expressPrefix(s.StateMachineARN); !ok {
			return nil, fmt.Errorf("state machine %q: not a state machine ARN (arn:PARTITION:states:REGION:ACCOUNT:stateMachine:NAME)", s.StateMachineARN)
		}
	}
	out := map[string]*taskLogged{}
	for _, task := range Tasks {
		group := s.Groups[task]
		if group == "" {
			return nil, fmt.Errorf("the %s log group is required", task)
		}
		in := &cloudwatchlogs.FilterLogEventsInput{LogGroupName: aws.String(group), Unmask: s.Logs.Unmask}
		if !since.IsZero() {
			in.StartTime = aws.Int64(since.UnixMilli())
		}
		if !until.IsZero() {
			in.EndTime = aws.Int64(until.UnixMilli() - 1)
		}
		seen := map[string]bool{}
		for {
			res, err := s.api().FilterLogEvents(ctx, in)
			if err != nil {
				return nil, fmt.Errorf("log group %s: %w", group, err)
			}
			for _, le := range res.Events {
				if le.Message == nil {
					continue
				}
				key := aws.ToString(le.EventId)
				if key == "" {
					key = *le.Message
				}
				if seen[key] {
					continue
				}
				seen[key] = true
				line, ok, warnings, err := ParseTaskLine(*le.Message)
				if err != nil && s.Warn != nil {
					s.Warn(fmt.Sprintf("log group %s, stream %s: skipped: %v", group, aws.ToString(le.LogStreamName), err))
				}
				if !ok {
					continue
				}
				if line.Time.IsZero() && le.Timestamp != nil {
					line.Time = time.UnixMilli(*le.Timestamp).UTC()
				}
				if line.ExecutionID == "" && prefix != "" {
					line.ExecutionID = prefix + line.Execution
				}
				exec := line.ExecutionID
				if exec == "" {
					exec = line.Execution
				}
				l := out[exec]
				if l == nil {
					l = &taskLogged{}
					out[exec] = l
				}
				l.lines = append(l.lines, line)
				l.warnings = append(l.warnings, warnings...)
			}
			if res.NextToken == nil || *res.NextToken == "" || len(res.Events) == 0 && in.NextToken != nil && *in.NextToken == *res.NextToken {
				break
			}
			in.NextToken = res.NextToken
		}
	}
	return out, nil
}

// deadLetterErrors are the errors the state machine routes to the dead-letter
// queue, by the task that raised them (workflow/mail.asl.json's Catch).
var deadLetterErrors = map[string][]workflow.ErrorName{
	TaskAcquireLock:      {workflow.InvalidMessage, workflow.IdempotencyConflict, workflow.OutcomeUnknown, workflow.Suppressed},
	TaskFetchAttachments: {workflow.AttachmentMissing, workflow.AttachmentForbidden, workflow.TooLarge, workflow.InvalidMessage},
	TaskSend:             {workflow.OutcomeUnknown, workflow.IdempotencyConflict, workflow.Rejected, workflow.InvalidMessage, workflow.TooLarge},
}

// itemsFromLines derives each item's steps and outcome from its lines,
// routing as the state machine does. A task that failed with an error its
// Catch sends on to LastReceive? (a transient error, retries exhausted)
// leaves the outcome unknown: retry-later, or dead-lettered at the fifth
// receive, and the lines do not carry the receive count.
func itemsFromLines(lines []TaskLine) []Item {
	byMsg := map[string][]TaskLine{}
	var order []string
	for _, l := range lines {
		if _, ok := byMsg[l.MessageID]; !ok {
			order = append(order, l.MessageID)
		}
		byMsg[l.MessageID] = append(byMsg[l.MessageID], l)
	}
	sort.SliceStable(order, func(i, j int) bool { return byMsg[order[i]][0].Time.Before(byMsg[order[j]][0].Time) })
	items := make([]Item, 0, len(order))
	for i, id := range order {
		ls := byMsg[id]
		sort.SliceStable(ls, func(a, b int) bool { return ls[a].Time.Before(ls[b].Time) })
		it := Item{Index: i, MessageID: id, Outcome: OutcomeUnknown}
		for _, l := range ls {
			st := Step{Task: l.Task, Time: l.Time, Error: l.Error, Cause: l.Cause}
			if !l.Failed {
				st.Result = lineDone
				switch {
				case l.Outcome != "":
					st.Result = l.Outcome
				case l.Reason != "":
					st.Result = l.Reason
				}
			}
			it.Steps = append(it.Steps, st)
			if it.MailID == "" {
				it.MailID = l.MailID
			}
			if l.SESMessageID != "" {
				it.SESMessageID = l.SESMessageID
			}
		}
		it.Outcome, it.Error, it.Cause = routeLines(ls)
		items = append(items, it)
	}
	return items
}

// routeLines follows the state machine's routing over an item's result
// lines. The last failed line of a task (its retries spent) decides the
// route; a later success of the same task means a retry succeeded. A task
// that writes no line when it succeeds (FetchAttachments) passed when a
// later task of the chain wrote one.
func routeLines(ls []TaskLine) (workflow.Outcome, string, string) {
	last := map[string]TaskLine{}
	for _, l := range ls {
		last[l.Task] = l
	}
	chain := []string{TaskAcquireLock, TaskFetchAttachments, TaskSend}
	for i, task := range chain {
		l, ok := last[task]
		if !ok && task == TaskFetchAttachments {
			if _, sent := last[chain[i+1]]; sent {
				continue
			}
		}
		if !ok {
			return OutcomeUnknown, "", ""
		}
		if l.Failed {
			for _, name := range deadLetterErrors[task] {
				if workflow.ErrorName(l.Error) == name {
					return workflow.OutcomeDeadLettered, l.Error, l.Cause
				}
			}
			return OutcomeUnknown, l.Error, l.Cause
		}
		// AcquireLock found the mail sent, or the Send task's attempt
		// found another execution had sent it.
		if (task == TaskAcquireLock || task == TaskSend) && l.Outcome == string(workflow.OutcomeAlreadySent) {
			return workflow.OutcomeAlreadySent, "", ""
		}
	}
	return workflow.OutcomeSent, "", ""
}

// fromLines builds an execution from its task lines alone.
func fromLines(arn string, l *taskLogged) *Execution {
	x := &Execution{ID: arn, Name: nameOf(arn), InputMissing: true, Items: itemsFromLines(l.lines), Warnings: l.warnings}
	x.Status = asl.StatusSucceeded
	first := l.lines[0].Time
	for _, ln := range l.lines {
		if ln.Time.Before(first) {
			first = ln.Time
		}
	}
	x.FirstLoggedAt = first
	x.StartMissing = true
	return x
}

// nameOf is an execution ARN's name, or the name of a short execution
// ("NAME:ID"); a name is returned as it is (names hold no colon).
func nameOf(arn string) string {
	if parts := strings.Split(arn, ":"); len(parts) >= 8 {
		return parts[7]
	}
	if name, _, ok := strings.Cut(arn, ":"); ok && name != "arn" {
		return name
	}
	return arn
}

// expressPrefix is what an Express execution's ARN holds before "NAME:ID"
// for the state machine arn:P:states:R:A:stateMachine:SM (that is
// arn:P:states:R:A:express:SM:).
func expressPrefix(stateMachine string) (string, bool) {
	parts := strings.Split(stateMachine, ":")
	if len(parts) != 7 || parts[0] != "arn" || parts[2] != "states" || parts[5] != "stateMachine" || parts[6] == "" {
		return "", false
	}
	parts[5] = "express"
	return strings.Join(parts, ":") + ":", true
}

// splitExpress cuts an Express execution's ARN into its state machine's
// part (with the trailing colon) and "NAME:ID" (taskkit.ShortExecution).
func splitExpress(arn string) (prefix, short string, ok bool) {
	short, ok = taskkit.ShortExecution(arn)
	return strings.TrimSuffix(arn, short), short, ok
}

// resolve files the executions of short-form lines that fetchTasks could
// not name (no StateMachineARN) under the state machine of the first of
// arns that is an Express execution ARN, else of an old line's execution:
// the task functions serve one state machine.
func resolve(lines map[string]*taskLogged, arns ...string) {
	var named []string
	for key := range lines {
		if strings.HasPrefix(key, "arn:") {
			named = append(named, key)
		}
	}
	sort.Strings(named)
	prefix := ""
	for _, a := range append(arns, named...) {
		if p, _, ok := splitExpress(a); ok {
			prefix = p
			break
		}
	}
	if prefix == "" {
		return
	}
	for key, l := range lines {
		if strings.HasPrefix(key, "arn:") {
			continue
		}
		delete(lines, key)
		full := prefix + key
		if have := lines[full]; have != nil {
			have.lines = append(have.lines, l.lines...)
			have.warnings = append(have.warnings, l.warnings...)
			continue
		}
		lines[full] = l
	}
}

// merge completes an execution read from the state machine's log with the
// task lines: each item's steps, mail id and SES id, and the outcome of an
// item the log leaves unknown or has not seen.
func merge(x *Execution, l *taskLogged) {
	if l == nil {
		return
	}
	fromTasks := itemsFromLines(l.lines)
	byMsg := map[string]int{}
	for i, it := range x.Items {
		if it.MessageID != "" {
			byMsg[it.MessageID] = i
		}
	}
	for _, t := range fromTasks {
		i, ok := byMsg[t.MessageID]
		if !ok {
			t.Index = len(x.Items)
			x.Items = append(x.Items, t)
			continue
		}
		it := &x.Items[i]
		it.Steps, it.SESMessageID = t.Steps, t.SESMessageID
		if it.MailID == "" {
			it.MailID = t.MailID
		}
		if it.Outcome == "" || it.Outcome == OutcomeUnknown {
			it.Outcome, it.Error, it.Cause = t.Outcome, t.Error, t.Cause
		}
	}
	x.Warnings = append(x.Warnings, l.warnings...)
}

// List implements Source: the executions the state machine's log names,
// and those only the task lines name (the successful ones at ERROR).
func (s *TaskLogSource) List(ctx context.Context, f Filter) (Page, error) {
	if err := f.Validate(); err != nil {
		return Page{}, err
	}
	limit := f.Limit
	if limit == 0 {
		limit = 20
	}
	since := f.Since
	if since.IsZero() {
		since = s.Logs.now().Add(-s.Logs.lookback())
	}
	lines, err := s.fetchTasks(ctx, since, f.Until)
	if err != nil {
		return Page{}, err
	}
	sm, err := s.Logs.List(ctx, Filter{Since: since, Until: f.Until, Limit: 1000})
	if err != nil {
		return Page{}, err
	}
	if s.StateMachineARN == "" {
		ids := make([]string, len(sm.Executions))
		for i, x := range sm.Executions {
			ids[i] = x.ID
		}
		resolve(lines, ids...)
	}
	var all []Execution
	inLog := map[string]bool{}
	for i := range sm.Executions {
		x := &sm.Executions[i]
		inLog[x.ID] = true
		merge(x, lines[x.ID])
		if f.matches(x) {
			all = append(all, *x)
		}
	}
	for arn, l := range lines {
		if inLog[arn] {
			continue
		}
		x := fromLines(arn, l)
		if f.matches(x) {
			all = append(all, *x)
		}
	}
	return paginate(all, f.Cursor, limit)
}

// paginate orders executions newest first and cuts the page at cursor.
func paginate(all []Execution, cursor string, limit int) (Page, error) {
	sort.Slice(all, func(i, j int) bool {
		if ti, tj := all[i].OrderTime(), all[j].OrderTime(); !ti.Equal(tj) {
			return ti.After(tj)
		}
		return all[i].ID > all[j].ID
	})
	if cursor != "" {
		ms, id, err := decodeCursor(cursor)
		if err != nil {
			return Page{}, err
		}
		i := sort.Search(len(all), func(i int) bool {
			t := all[i].OrderTime().UnixMilli()
			return t < ms || t == ms && all[i].ID < id
		})
		all = all[i:]
	}
	page := Page{Executions: all}
	if len(all) > limit {
		page.Executions = all[:limit]
		last := all[limit-1]
		page.NextCursor = encodeCursor(last.OrderTime().UnixMilli(), last.ID)
	}
	if page.Executions == nil {
		page.Executions = []Execution{}
	}
	return page, nil
}

// Get implements Source.
func (s *TaskLogSource) Get(ctx context.Context, id string) (*Execution, error) {
	x, err := s.Logs.Get(ctx, id)
	if err != nil && !errors.Is(err, ErrNotFound) {
		return nil, err
	}
	lines, ferr := s.fetchTasks(ctx, s.Logs.now().Add(-s.Logs.lookback()), time.Time{})
	if ferr != nil {
		return nil, ferr
	}
	if s.StateMachineARN == "" {
		if x != nil {
			resolve(lines, x.ID)
		} else {
			resolve(lines, id)
		}
	}
	if x != nil {
		merge(x, lines[x.ID])
		return x, nil
	}
	var hits []string
	for arn := range lines {
		if arn == id || nameOf(arn) == id {
			hits = append(hits, arn)
		}
	}
	switch len(hits) {
	case 0:
		return nil, err
	case 1:
		return fromLines(hits[0], lines[hits[0]]), nil
	}
	return nil, fmt.Errorf("%q names more than one execution; give its ARN", id)
}

// MailExecutions implements Source.
func (s *TaskLogSource) MailExecutions(ctx context.Context, mailID string) ([]MailExecution, error) {
	page, err := s.List(ctx, Filter{MailID: mailID, Limit: 1000})
	if err != nil {
		return nil, err
	}
	return itemsOfMail(page.Executions, mailID, (*Execution).OrderTime), nil
}
