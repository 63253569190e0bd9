package workflow

import (
	"bytes"
	_ "embed"
	"encoding/json"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"sort"
)

// definitionJSON is the mail state machine, JSONPath query language. AWS
// (through CDK's DefinitionSubstitutions) and the local runtime run this
// same text.
//
//go:embed mail.asl.json
var definitionJSON []byte

// Placeholders that a deployment must substitute in the definition.
const (
	PlaceholderAcquireLock      = "AcquireLockFunctionArn"
	PlaceholderFetchAttachments = "FetchAttachmentsFunctionArn"
	PlaceholderSend             = "SendFunctionArn"
	// PlaceholderSendInline is the Send task's function for inline
	// messages: the same code as PlaceholderSend's, sized for the small
	// messages that travel in the state, where that one is sized for a
	// staged message at the size limit.
	PlaceholderSendInline  = "SendInlineFunctionArn"
	PlaceholderReleaseLock = "ReleaseLockFunctionArn"
	// PlaceholderReserveSends is the function that reserves a batch's send
	// tokens with the pacer before its records run.
	PlaceholderReserveSends    = "ReserveSendsFunctionArn"
	PlaceholderDeadLetterQueue = "DeadLetterQueueUrl"
	// PlaceholderEventsQueue is the delivery-feedback queue, which the
	// state machine tells of each mail it accepts and dead-letters.
	PlaceholderEventsQueue = "EventsQueueUrl"
)

// Definition returns a copy of the state-machine definition with its
// ${Placeholder} substitutions left in place, as CDK expects it.
func Definition() []byte { return bytes.Clone(definitionJSON) }

var placeholderPattern = regexp.MustCompile(`\$\{([A-Za-z0-9_]+)\}`)

// Placeholders lists the ${...} names the definition uses, sorted.
func Placeholders() []string {
	var names []string
	for _, m := range placeholderPattern.FindAllSubmatch(definitionJSON, -1) {
		names = append(names, string(m[1]))
	}
	slices.Sort(names)
	return slices.Compact(names)
}

// Settings tune the definition for one deployment.
type Settings struct {
	// Substitutions maps every placeholder to its value (ARN or URL).
	Substitutions map[string]string
	// MapConcurrency bounds how many records of a batch run at once;
	// 0 keeps the definition's default (10).
	MapConcurrency int
	// MaxReceiveCount is the source queue's redrive maxReceiveCount: on that
	// receive a record that would go back to the queue is dead-lettered by
	// the state machine instead, with its error as the reason, rather than
	// moved by SQS without one. 0 keeps the definition's default (5).
	MaxReceiveCount int
	// ThrottleRetry, when set, replaces the in-execution retry budget of
	// Mail.Throttled (the definition's default: 6 attempts, delays capped at
	// 8 seconds).
	ThrottleRetry *RetryBudget
}

// RetryBudget bounds the declarative retries of one error; the interval (1 s),
// backoff rate (2) and full jitter stay as the definition has them.
type RetryBudget struct {
	MaxAttempts     int
	MaxDelaySeconds int
}

// MaxMapConcurrency bounds Settings.MapConcurrency: more parallel sends per
// batch than this only adds throttling.
const MaxMapConcurrency = 1000

// Render returns the definition with every placeholder substituted and the
// settings applied. Unknown or missing substitutions are errors, so a typo
// cannot reach a deployment.
func Render(s Settings) ([]byte, error) {
	var errs []error
	want := Placeholders()
	for _, name := range want {
		if v, ok := s.Substitutions[name]; !ok || v == "" {
			errs = append(errs, fmt.Errorf("substitution %q is missing", name))
		}
	}
	extra := make([]string, 0)
	for name := range s.Substitutions {
		if !slices.Contains(want, name) {
			extra = append(extra, name)
		}
	}
	sort.Strings(extra)
	for _, name := range extra {
		errs = append(errs, fmt.Errorf("substitution %q is not used by the definition", name))
	}
	if s.MapConcurrency < 0 || s.MapConcurrency > MaxMapConcurrency {
		errs = append(errs, fmt.Errorf("MapConcurrency %d is outside 0..%d", s.MapConcurrency, MaxMapConcurrency))
	}
	if s.MaxReceiveCount < 0 || s.MaxReceiveCount > 1000 {
		errs = append(errs, fmt.Errorf("MaxReceiveCount %d is outside 0..1000", s.MaxReceiveCount))
	}
	if b := s.ThrottleRetry; b != nil {
		if b.MaxAttempts < 0 || b.MaxAttempts > 100 {
			errs = append(errs, fmt.Errorf("ThrottleRetry.MaxAttempts %d is outside 0..100", b.MaxAttempts))
		}
		if b.MaxDelaySeconds < 1 || b.MaxDelaySeconds > 300 {
			errs = append(errs, fmt.Errorf("ThrottleRetry.MaxDelaySeconds %d is outside 1..300 (an Express execution lasts 5 minutes)", b.MaxDelaySeconds))
		}
	}
	if len(errs) > 0 {
		return nil, errors.Join(errs...)
	}

	var def map[string]any
	dec := json.NewDecoder(bytes.NewReader(definitionJSON))
	dec.UseNumber()
	if err := dec.Decode(&def); err != nil {
		return nil, fmt.Errorf("embedded definition: %w", err)
	}
	if s.MapConcurrency > 0 {
		m, ok := mapState(def)
		if !ok {
			return nil, errors.New("embedded definition: no top-level Map state")
		}
		m["MaxConcurrency"] = s.MapConcurrency
	}
	if s.MaxReceiveCount > 0 {
		m, _ := mapState(def)
		inner, _ := m["ItemProcessor"].(map[string]any)
		states, _ := inner["States"].(map[string]any)
		giveUp, _ := states[GiveUpStateName].(map[string]any)
		choices, _ := giveUp["Choices"].([]any)
		if len(choices) != 1 {
			return nil, fmt.Errorf("embedded definition: no %s choice", GiveUpStateName)
		}
		choices[0].(map[string]any)["NumericGreaterThanEquals"] = s.MaxReceiveCount
	}
	if b := s.ThrottleRetry; b != nil {
		if n := applyRetryBudget(def, Throttled, *b); n == 0 {
			return nil, fmt.Errorf("embedded definition: no retrier for %s", Throttled)
		}
	}
	substitute(def, s.Substitutions)
	var out bytes.Buffer
	enc := json.NewEncoder(&out)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(def); err != nil {
		return nil, err
	}
	return out.Bytes(), nil
}

// MapStateName is the state that fans the batch out per record.
const MapStateName = "ProcessRecords"

// GiveUpStateName is the Choice that dead-letters a record on its last
// receive instead of returning it to the queue.
const GiveUpStateName = "GiveUp?"

func mapState(def map[string]any) (map[string]any, bool) {
	states, _ := def["States"].(map[string]any)
	m, ok := states[MapStateName].(map[string]any)
	return m, ok
}

// substitute replaces ${Name} in every string value, as CDK's
// DefinitionSubstitutions does.
func substitute(v any, subs map[string]string) any {
	switch x := v.(type) {
	case map[string]any:
		for k, e := range x {
			x[k] = substitute(e, subs)
		}
	case []any:
		for i, e := range x {
			x[i] = substitute(e, subs)
		}
	case string:
		return placeholderPattern.ReplaceAllStringFunc(x, func(m string) string {
			return subs[m[2:len(m)-1]]
		})
	}
	return v
}

// applyRetryBudget sets MaxAttempts and MaxDelaySeconds of every retrier
// that lists errorName, and returns how many it changed.
func applyRetryBudget(v any, errorName ErrorName, b RetryBudget) int {
	n := 0
	switch x := v.(type) {
	case map[string]any:
		if retry, ok := x["Retry"].([]any); ok {
			for _, r := range retry {
				rm, ok := r.(map[string]any)
				if !ok {
					continue
				}
				if names, _ := rm["ErrorEquals"].([]any); slices.Contains(names, any(string(errorName))) {
					rm["MaxAttempts"] = b.MaxAttempts
					rm["MaxDelaySeconds"] = b.MaxDelaySeconds
					n++
				}
			}
		}
		for _, e := range x {
			n += applyRetryBudget(e, errorName, b)
		}
	case []any:
		for _, e := range x {
			n += applyRetryBudget(e, errorName, b)
		}
	}
	return n
}
