// Package reservesends is the ReserveSends task: once per execution, before
// the batch's records run, it reserves the send tokens of the whole batch
// with the shared pacer in one bucket write (pacer.Pacer.Reserve) and
// returns each record's grant, so each Send uses its grant
// (pacer.Pacer.TakeReserved) instead of a bucket write of its own.
//
// Input: {"records": [...]}, the batch's Pipes SQS records, of which only
// "messageId" and "body" are read; output: {"grants": [...]}, one number per
// record in the same order: the Unix microseconds at which its send may go,
// or 0 when nothing was reserved for it (its send takes its own tokens, as
// without this task). The only error is Mail.InvalidMessage for an input of
// more than MaxRecords records.
//
// Reservation is an optimisation, never a condition: whatever goes wrong
// with the pacer, the task answers zeros for every record and no error, so
// the batch runs as it would without it.
//
// Decisions where the architecture is silent:
//   - A record's recipients are counted from its body leniently: the
//     strings in its "to", "cc" and "bcc" arrays, capped at
//     workflow.MaxRecipients. The full contract (workflow.Parse) is not
//     checked here: AcquireLock checks it later and refuses a bad mail,
//     and a token reserved for a mail refused later is only lost capacity.
//     A body that is not a JSON object, or has no recipients, gets 0.
//   - Grants are microseconds, not nanoseconds: Step Functions carries JSON
//     numbers, which stay exact only below 2^53. A grant is rounded up to
//     the next microsecond, so a send never goes before its tokens.
//   - The pacer is given ReserveTimeout: a slow bucket or quota read makes
//     every send take its own tokens rather than hold the batch.
//   - A pacer error is logged as one WARN line; a success logs nothing at
//     all (no inspection reads this task's lines, and every line is
//     CloudWatch Logs bytes).
//   - No pacer (pacing off) answers zeros: the sends run unpaced, as they
//     would without this task.
package reservesends

import (
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"time"

	"github.com/mailflow/mailflow/internal/taskkit"
	"github.com/mailflow/mailflow/pacer"
	"github.com/mailflow/mailflow/workflow"
)

// TaskName is the name the task's log lines carry in "task".
const TaskName = "ReserveSends"

// MaxRecords bounds the input: far beyond a Pipes batch (at most 10
// records), so only a broken input reaches it.
const MaxRecords = 10000

// ReserveTimeout bounds the pacer's reservation (its bucket write and, when
// the rate comes from SES, its quota read).
const ReserveTimeout = 2 * time.Second

// In is the task input.
type In struct {
	Records []Record `json:"records"`
}

// Record is the part of a Pipes SQS record the task reads (the rest is ignored).
type Record struct {
	MessageID string `json:"messageId"`
	Body      string `json:"body"`
}

// Out holds one grant per record, in order: Unix microseconds at which that
// record's send may go (0: none reserved; its send takes its own tokens).
// Microseconds, not nanoseconds: Step Functions carries JSON numbers, which
// must stay exact below 2^53.
type Out struct {
	Grants []int64 `json:"grants"`
}

// Pacer reserves a batch's tokens (see pacer.Pacer.Reserve): one time per
// entry of recipients, the zero time for none.
type Pacer interface {
	Reserve(ctx context.Context, recipients []int) ([]time.Time, error)
}

// Deps are what the handler uses.
type Deps struct {
	// Pacer reserves the tokens; nil: pacing off, every grant 0.
	Pacer Pacer
	Log   *slog.Logger // default slog.Default()
}

// Handler is the ReserveSends task.
type Handler struct{ deps Deps }

// New returns the handler. The task has no configuration of its own.
func New(deps Deps) (*Handler, error) {
	if p, ok := deps.Pacer.(*pacer.Pacer); ok && p == nil {
		deps.Pacer = nil // a nil *pacer.Pacer is pacing off, not a pacer
	}
	return &Handler{deps: deps}, nil
}

// Handle runs the task.
func (h *Handler) Handle(ctx context.Context, in In) (Out, error) {
	n := len(in.Records)
	if n > MaxRecords {
		err := workflow.Errorf(workflow.InvalidMessage, "records: %d records, more than %d", n, MaxRecords)
		taskkit.LogResult(h.logger(ctx), err, slog.Int("records", n))
		return Out{}, err
	}
	out := Out{Grants: make([]int64, n)}
	if h.deps.Pacer == nil {
		return out, nil
	}
	recipients := make([]int, n)
	some := false
	for i, r := range in.Records {
		recipients[i] = Recipients(r.Body)
		some = some || recipients[i] > 0
	}
	if !some {
		return out, nil // nothing to reserve: no bucket write, no quota read
	}
	rctx, cancel := context.WithTimeout(ctx, ReserveTimeout)
	defer cancel()
	grants, err := h.deps.Pacer.Reserve(rctx, recipients)
	if err == nil && len(grants) != n {
		err = fmt.Errorf("reservesends: the pacer answered %d grants for %d records", len(grants), n)
	}
	if err != nil {
		h.logger(ctx).Warn("no sends reserved: each send takes its own tokens",
			slog.Int("records", n), slog.String("error", err.Error()))
		return Out{Grants: make([]int64, n)}, nil
	}
	for i, g := range grants {
		out.Grants[i] = Micros(g)
	}
	return out, nil
}

func (h *Handler) logger(ctx context.Context) *slog.Logger {
	return taskkit.Logger(ctx, h.deps.Log, TaskName, "", "", "")
}

// Micros is t in Unix microseconds, rounded up (0 for the zero time).
func Micros(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	us := t.UnixMicro()
	if t.Nanosecond()%1000 != 0 {
		us++
	}
	return us
}

// Recipients counts the recipients of a queue body without validating it:
// the strings in its "to", "cc" and "bcc" arrays, at most
// workflow.MaxRecipients; 0 for a body that is not a JSON object.
func Recipients(body string) int {
	var fields map[string]json.RawMessage
	if json.Unmarshal([]byte(body), &fields) != nil {
		return 0
	}
	count := 0
	for _, name := range []string{"to", "cc", "bcc"} {
		var values []any
		if json.Unmarshal(fields[name], &values) != nil {
			continue // absent, null or not an array: no recipients there
		}
		for _, v := range values {
			if _, ok := v.(string); ok {
				count++
			}
		}
	}
	return min(count, workflow.MaxRecipients)
}
