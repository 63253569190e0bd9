// Package inspecttest has test doubles for package inspect's AWS source.
package inspecttest

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs/types"
)

// FakeLogs serves log events as CloudWatch Logs' FilterLogEvents does:
// oldest first, within [StartTime, EndTime], in pages of PageSize with a
// NextToken, matching the two filter pattern forms the log source sends (a
// JSON pattern on $.type, and a quoted term).
type FakeLogs struct {
	PageSize int // default 50
	// MaskEmails masks e-mail addresses with asterisks in what a search
	// returns unless it asks for Unmask, as a log group's data protection
	// policy for EmailAddress does.
	MaskEmails bool
	// Unmasked counts the searches that asked for Unmask.
	Unmasked int

	mu       sync.Mutex
	events   []types.FilteredLogEvent
	patterns []string
}

// Add adds one log event message; its timestamp is its event_timestamp.
func (f *FakeLogs) Add(message string) {
	var m struct {
		TS string `json:"event_timestamp"`
	}
	_ = json.Unmarshal([]byte(message), &m)
	ts, _ := strconv.ParseInt(m.TS, 10, 64)
	if ts == 0 {
		ts = 1795600000000
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.events = append(f.events, types.FilteredLogEvent{Message: aws.String(message), Timestamp: aws.Int64(ts), LogStreamName: aws.String("states/mailflow/2026-11-25/0")})
}

// LoadFile adds the messages of a file, one per line.
func (f *FakeLogs) LoadFile(path string) error {
	file, err := os.Open(path)
	if err != nil {
		return err
	}
	defer file.Close()
	sc := bufio.NewScanner(file)
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		f.Add(sc.Text())
	}
	return sc.Err()
}

// Patterns are the filter patterns asked for so far.
func (f *FakeLogs) Patterns() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	return append([]string(nil), f.patterns...)
}

var typeTerm = regexp.MustCompile(`\$\.type = "([^"]+)"`)

func match(pattern, msg string) bool {
	switch {
	case pattern == "":
		return true
	case strings.HasPrefix(pattern, "{"):
		var m struct {
			Type string `json:"type"`
		}
		if json.Unmarshal([]byte(msg), &m) != nil {
			return false
		}
		for _, sub := range typeTerm.FindAllStringSubmatch(pattern, -1) {
			if sub[1] == m.Type {
				return true
			}
		}
		return false
	default:
		term, err := strconv.Unquote(pattern)
		return err == nil && strings.Contains(msg, term)
	}
}

// FilterLogEvents implements inspect.LogsAPI.
func (f *FakeLogs) FilterLogEvents(_ context.Context, in *cloudwatchlogs.FilterLogEventsInput, _ ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.FilterLogEventsOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	pattern := aws.ToString(in.FilterPattern)
	f.patterns = append(f.patterns, pattern)
	if in.Unmask {
		f.Unmasked++
	}
	var hits []types.FilteredLogEvent
	for _, e := range f.events {
		ts := aws.ToInt64(e.Timestamp)
		if in.StartTime != nil && ts < *in.StartTime || in.EndTime != nil && ts > *in.EndTime {
			continue
		}
		if match(pattern, aws.ToString(e.Message)) {
			hits = append(hits, e)
		}
	}
	size := f.PageSize
	if size <= 0 {
		size = 50
	}
	start := 0
	if in.NextToken != nil {
		start, _ = strconv.Atoi(*in.NextToken)
	}
	start = min(start, len(hits))
	end := min(start+size, len(hits))
	page := hits[start:end]
	if f.MaskEmails && !in.Unmask {
		page = make([]types.FilteredLogEvent, len(hits[start:end]))
		for i, e := range hits[start:end] {
			e.Message = aws.String(emailAddress.ReplaceAllStringFunc(aws.ToString(e.Message), func(a string) string { return strings.Repeat("*", len(a)) }))
			page[i] = e
		}
	}
	out := &cloudwatchlogs.FilterLogEventsOutput{Events: page}
	if end < len(hits) {
		out.NextToken = aws.String(strconv.Itoa(end))
	}
	return out, nil
}

// emailAddress is roughly what the EmailAddress data identifier matches.
var emailAddress = regexp.MustCompile(`[A-Za-z0-9._%+-]+@[A-Za-z0-9.-]+\.[A-Za-z]{2,}`)

// LoadEventsFile adds the events of a file holding one FilterLogEvents
// event a line, as CloudWatch Logs returns them ({"timestamp", "message",
// "logStreamName", "ingestionTime", "eventId"}).
func (f *FakeLogs) LoadEventsFile(path string) error {
	data, err := os.ReadFile(path)
	if err != nil {
		return err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	for i, line := range strings.Split(strings.TrimSpace(string(data)), "\n") {
		if line == "" {
			continue
		}
		var e struct {
			Timestamp     int64  `json:"timestamp"`
			Message       string `json:"message"`
			LogStreamName string `json:"logStreamName"`
			IngestionTime int64  `json:"ingestionTime"`
			EventID       string `json:"eventId"`
		}
		if err := json.Unmarshal([]byte(line), &e); err != nil {
			return fmt.Errorf("%s:%d: %w", path, i+1, err)
		}
		f.events = append(f.events, types.FilteredLogEvent{Timestamp: aws.Int64(e.Timestamp), Message: aws.String(e.Message),
			LogStreamName: aws.String(e.LogStreamName), IngestionTime: aws.Int64(e.IngestionTime), EventId: aws.String(e.EventID)})
	}
	return nil
}

// LogGroups serves several log groups, each from its own FakeLogs, by the
// LogGroupName a search names; an unknown group is an error, as in AWS.
type LogGroups map[string]*FakeLogs

// FilterLogEvents implements inspect.LogsAPI.
func (g LogGroups) FilterLogEvents(ctx context.Context, in *cloudwatchlogs.FilterLogEventsInput, opts ...func(*cloudwatchlogs.Options)) (*cloudwatchlogs.FilterLogEventsOutput, error) {
	f, ok := g[aws.ToString(in.LogGroupName)]
	if !ok {
		return nil, fmt.Errorf("ResourceNotFoundException: The specified log group does not exist: %s", aws.ToString(in.LogGroupName))
	}
	return f.FilterLogEvents(ctx, in, opts...)
}
