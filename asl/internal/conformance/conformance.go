// Package conformance runs the AWS-recorded ASL conformance corpus
// (definition, input, recorded Lambda answers, expected result and history)
// against the asl interpreter and compares the outcome with the corpus
// rules: semantic JSON, numbers by value, wildcards for redacted values,
// Parallel normalisation. It backs the conformance test and the aslconf
// command.
package conformance

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/mailflow/mailflow/asl"
)

// Meta is the part of meta.json the runner uses.
type Meta struct {
	ID                 string   `json:"id"`
	StateMachineType   string   `json:"state_machine_type"`
	Start              string   `json:"start"`
	Features           []string `json:"features"`
	Wildcards          []string `json:"wildcards"`
	ParallelNormalised bool     `json:"parallel_normalised"`
}

// HasFeature reports whether the case carries a feature tag.
func (m *Meta) HasFeature(f string) bool { return slices.Contains(m.Features, f) }

// Case is one scenario directory.
type Case struct {
	ID   string
	Dir  string
	Meta Meta
}

// LoadCases lists the scenarios under dir/cases (or dir itself when it holds
// case folders directly), sorted by id.
func LoadCases(dir string) ([]*Case, error) {
	root := filepath.Join(dir, "cases")
	if st, err := os.Stat(root); err != nil || !st.IsDir() {
		root = dir
	}
	ents, err := os.ReadDir(root)
	if err != nil {
		return nil, err
	}
	var out []*Case
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		cd := filepath.Join(root, e.Name())
		if _, err := os.Stat(filepath.Join(cd, "definition.json")); err != nil {
			continue
		}
		c := &Case{ID: e.Name(), Dir: cd}
		if b, err := os.ReadFile(filepath.Join(cd, "meta.json")); err == nil {
			if err := json.Unmarshal(b, &c.Meta); err != nil {
				return nil, fmt.Errorf("%s: meta.json: %w", c.ID, err)
			}
		}
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].ID < out[j].ID })
	return out, nil
}

// Outcome is the result of running one case or row.
type Outcome struct {
	Pass bool
	Diff string // first difference when !Pass
}

func readJSON(path string) (any, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return asl.DecodeJSON(b)
}

type expected struct {
	Status asl.Status
	Output any
	HasOut bool
	Error  any
	HasErr bool
	Cause  any
	HasCau bool
	Events []any
	NoHist bool
}

func parseExpected(v any) expected {
	m, _ := v.(map[string]any)
	e := expected{}
	status, _ := m["status"].(string)
	e.Status = asl.Status(status)
	e.Output, e.HasOut = m["output"]
	e.Error, e.HasErr = m["error"]
	e.Cause, e.HasCau = m["cause"]
	ev, ok := m["events"]
	if !ok || ev == nil {
		e.NoHist = true
	} else {
		e.Events, _ = ev.([]any)
	}
	return e
}

// Run executes the case on the default engine (Map iterations up to
// MaxConcurrency at once, Parallel branches at once) and compares it at
// level C (status, output, error, cause and the full history).
func (c *Case) Run() Outcome { return c.run(false) }

// RunSequential executes the case with Options.Sequential (iterations and
// branches one after the other) and compares it at level C.
func (c *Case) RunSequential() Outcome { return c.run(true) }

func (c *Case) run(sequential bool) Outcome {
	defB, err := os.ReadFile(filepath.Join(c.Dir, "definition.json"))
	if err != nil {
		return Outcome{Diff: err.Error()}
	}
	input, err := readJSON(filepath.Join(c.Dir, "input.json"))
	if err != nil {
		return Outcome{Diff: "input: " + err.Error()}
	}
	expV, err := readJSON(filepath.Join(c.Dir, "expected.json"))
	if err != nil {
		return Outcome{Diff: "expected: " + err.Error()}
	}
	exp := parseExpected(expV)
	stubs, _ := readJSON(filepath.Join(c.Dir, "stubs.json"))
	d, err := asl.Parse(defB)
	if err != nil {
		return Outcome{Diff: "parse: " + err.Error()}
	}
	if is := asl.Validate(d, asl.WithType(c.Meta.StateMachineType)).Err(); is != nil {
		return Outcome{Diff: "validate: " + is.Error()}
	}
	reg := asl.NewRegistry()
	bindStubs(reg, stubs)
	var events []*asl.Event
	opts := NewOptions(reg)
	opts.StateMachineType = c.Meta.StateMachineType
	opts.Sequential = sequential
	var mu sync.Mutex
	opts.Observer = asl.ObserverFunc(func(e *asl.Event) {
		mu.Lock()
		events = append(events, e)
		mu.Unlock()
	})
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	res, err := asl.Execute(ctx, d, input, opts)
	if err != nil {
		return Outcome{Diff: "execute: " + err.Error()}
	}
	w := newWildcards(c.Meta.Wildcards)
	if diff := compareResult(exp, res, w); diff != "" {
		return Outcome{Diff: diff}
	}
	if exp.NoHist {
		return Outcome{Pass: true}
	}
	got := make([]any, len(events))
	for i, e := range events {
		got[i] = flatten(e)
	}
	if c.Meta.ParallelNormalised {
		got = normaliseParallel(got)
	}
	if diff := compareEvents(exp.Events, got, w); diff != "" {
		return Outcome{Diff: diff}
	}
	return Outcome{Pass: true}
}

// NewOptions returns deterministic execution options on a virtual clock,
// with the account and region the corpus uses.
func NewOptions(reg *asl.Registry) asl.Options {
	clock := &virtualClock{t: time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)}
	// safe for concurrent use: Map iterations and Parallel branches run on goroutines
	var n atomic.Int64
	var mu sync.Mutex
	seed := uint64(42)
	return asl.Options{
		Registry: reg,
		Clock:    clock,
		Random: func() float64 {
			mu.Lock()
			defer mu.Unlock()
			seed = seed*6364136223846793005 + 1442695040888963407
			return float64(seed>>11) / (1 << 53)
		},
		UUID:             func() string { return fmt.Sprintf("00000000-0000-4000-8000-%012d", n.Add(1)) },
		Region:           "us-east-1",
		AccountID:        "111111111111",
		StateMachineName: "conformance",
		ExecutionName:    "exec-1",
		RoleArn:          "arn:aws:iam::111111111111:role/conformance",
	}
}

// virtualClock is virtual time that Wait states and Retry delays move on
// instantly.
type virtualClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *virtualClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Sleep moves the time on by d at once.
func (c *virtualClock) Sleep(ctx context.Context, d time.Duration) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
	return nil
}

// Timer fires after d of real time, moving the virtual time to its
// deadline. The recorded stubs answer at once (a recorded task timeout is
// returned as the error), so only a stub without a recorded result, which
// blocks until its context ends, meets a task deadline; it then takes as
// long as it did on a wall-clock deadline.
func (c *virtualClock) Timer(d time.Duration) (<-chan time.Time, func()) {
	ch := make(chan time.Time, 1)
	at := c.Now().Add(d)
	t := time.AfterFunc(d, func() {
		c.mu.Lock()
		if c.t.Before(at) {
			c.t = at
		}
		c.mu.Unlock()
		ch <- at
	})
	return ch, func() { t.Stop() }
}

func flatten(e *asl.Event) any {
	m := e.Flatten()
	out := make(map[string]any, len(m))
	for k, v := range m {
		switch x := v.(type) {
		case int64:
			out[k] = json.Number(fmt.Sprint(x))
		case int:
			out[k] = json.Number(fmt.Sprint(x))
		default:
			out[k] = x
		}
	}
	// JSON-text fields are compared after a round trip, as AWS returns text
	for _, k := range []string{"input", "output", "parameters"} {
		if v, ok := out[k]; ok {
			out[k] = roundTrip(v)
		}
	}
	if av, ok := out["assignedVariables"].(map[string]any); ok {
		m := make(map[string]any, len(av))
		for k, v := range av {
			m[k] = roundTrip(v)
		}
		out["assignedVariables"] = m
	}
	return out
}

func roundTrip(v any) any {
	b, err := asl.EncodeJSON(v)
	if err != nil {
		return v
	}
	r, err := asl.DecodeJSON(b)
	if err != nil {
		return v
	}
	return r
}

func compareResult(exp expected, res *asl.Result, w *wildcards) string {
	if exp.Status != res.Status {
		detail := ""
		if res.HasError || res.HasCause {
			detail = fmt.Sprintf(" (error %q cause %q)", res.Error, trunc(res.Cause))
		}
		return fmt.Sprintf("status: want %s, got %s%s", exp.Status, res.Status, detail)
	}
	if exp.Status == asl.StatusSucceeded {
		if exp.HasOut {
			if d := w.diff("output", exp.Output, roundTrip(res.Output)); d != "" {
				return d
			}
		}
		return ""
	}
	if exp.HasErr != res.HasError || (exp.HasErr && !w.match(exp.Error, res.Error)) {
		return fmt.Sprintf("error: want %v, got %q (has=%v)", exp.Error, res.Error, res.HasError)
	}
	if exp.HasCau && exp.Cause != nil {
		if !res.HasCause {
			return "cause: missing"
		}
		if d := w.diffCause(exp.Cause, res.Cause); d != "" {
			return d
		}
	} else if res.HasCause && res.Cause != "" && exp.HasCau {
		return fmt.Sprintf("cause: want none, got %q", trunc(res.Cause))
	}
	return ""
}

func trunc(s string) string {
	if len(s) > 300 {
		return s[:300] + "..."
	}
	return s
}

func compareEvents(exp, got []any, w *wildcards) string {
	n := min(len(exp), len(got))
	i := 0
	for i < n {
		em, _ := exp[i].(map[string]any)
		if em["id"] == nil {
			// unordered run of normalised Parallel events
			j := i
			for j < len(exp) {
				m, _ := exp[j].(map[string]any)
				if m["id"] != nil {
					break
				}
				j++
			}
			if j > len(got) {
				return fmt.Sprintf("events: history too short (%d events, want %d)", len(got), len(exp))
			}
			if d := w.diffMultiset(exp[i:j], got[i:j]); d != "" {
				return fmt.Sprintf("events[%d..%d]: %s", i, j, d)
			}
			i = j
			continue
		}
		if d := w.diff(fmt.Sprintf("events[%d] (%v)", i, em["type"]), exp[i], got[i]); d != "" {
			return d
		}
		i++
	}
	if len(exp) != len(got) {
		extra := ""
		if len(got) > len(exp) {
			gm, _ := got[len(exp)].(map[string]any)
			extra = fmt.Sprintf("; first extra: %v", gm["type"])
		} else {
			em, _ := exp[len(got)].(map[string]any)
			extra = fmt.Sprintf("; first missing: %v", em["type"])
		}
		return fmt.Sprintf("events: want %d, got %d%s", len(exp), len(got), extra)
	}
	return ""
}

// normaliseParallel applies the corpus rewrite of Parallel regions (rule 8),
// quirks included: start stays set after a closing event, so an Exited that
// follows a Succeeded drops it, and the walk goes on at the next original
// position.
func normaliseParallel(events []any) []any {
	out := append([]any(nil), events...)
	start := -1
	open := false
	var pending []any
	for i := 0; i < len(out); i++ {
		m, _ := out[i].(map[string]any)
		t, _ := m["type"].(string)
		switch t {
		case "ParallelStateStarted":
			open, start, pending = true, i+1, nil
		case "ParallelStateSucceeded", "ParallelStateFailed", "ParallelStateAborted", "ParallelStateExited":
			if start >= 0 {
				rest := append([]any(nil), out[i:]...)
				out = append(append(out[:start:start], pending...), rest...)
				open = false
			}
		default:
			if open {
				c := make(map[string]any, len(m))
				for k, v := range m {
					c[k] = v
				}
				c["id"], c["previousEventId"] = nil, nil
				pending = append(pending, c)
			}
		}
	}
	return out
}

// Summary is the per-feature tally printed by the test and the command.
type Summary struct {
	Pass, Fail map[string]int
}

// FeatureTable renders pass counts per feature tag.
func FeatureTable(cases []*Case, passed map[string]bool) string {
	pass, total := map[string]int{}, map[string]int{}
	for _, c := range cases {
		for _, f := range c.Meta.Features {
			total[f]++
			if passed[c.ID] {
				pass[f]++
			}
		}
	}
	keys := make([]string, 0, len(total))
	for k := range total {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	var b strings.Builder
	fmt.Fprintf(&b, "%-36s %5s %5s\n", "feature", "pass", "total")
	for _, k := range keys {
		fmt.Fprintf(&b, "%-36s %5d %5d\n", k, pass[k], total[k])
	}
	return b.String()
}
