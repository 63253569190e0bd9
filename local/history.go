package local

import (
	"context"
	"slices"
	"strconv"

	"github.com/mailflow/mailflow/local/execstore"
)

// Names of the Config fields that bound the execution history.
const (
	FieldHistoryMaxAge   = "HistoryMaxAge"
	FieldHistoryMaxCount = "HistoryMaxCount"
)

// historyProblems checks the history's bounds; zero is the default unless
// the field is explicit (see Problems).
func (c Config) historyProblems(explicit []string) []Problem {
	var ps []Problem
	if c.HistoryMaxAge != 0 || slices.Contains(explicit, FieldHistoryMaxAge) {
		if rule := execstore.AgeProblem(c.HistoryMaxAge); rule != "" {
			ps = append(ps, Problem{Field: FieldHistoryMaxAge, Value: c.HistoryMaxAge.String(), Rule: rule})
		}
	}
	if c.HistoryMaxCount != 0 || slices.Contains(explicit, FieldHistoryMaxCount) {
		if rule := execstore.CountProblem(c.HistoryMaxCount); rule != "" {
			ps = append(ps, Problem{Field: FieldHistoryMaxCount, Value: strconv.Itoa(c.HistoryMaxCount), Rule: rule})
		}
	}
	return ps
}

// retention is the execution history's retention, defaults applied.
func (c Config) retention() execstore.Retention {
	return execstore.Retention{MaxAge: c.HistoryMaxAge, MaxCount: c.HistoryMaxCount}.OrDefaults()
}

// retainHistory bounds the execution store: a file written before the
// store returned space is pruned and rewritten once, here, before the pipe
// runs; then pruning runs in the background on the runtime's clock until
// the runtime closes.
func (r *Runtime) retainHistory(ctx context.Context) error {
	cfg := r.cfg
	ret := cfg.retention()
	if c, err := r.execs.Compact(ctx, cfg.Clock.Now(), ret); err != nil {
		return err
	} else if c.Vacuumed {
		cfg.Log.Info("execution store rewritten to return pruned space to the filesystem",
			"pruned", c.Executions, "bytes_before", c.Before, "bytes_after", c.After)
	}
	stop, err := r.execs.Retain(context.WithoutCancel(ctx), ret, cfg.Clock, func(p execstore.Pruned, err error) {
		if err != nil {
			cfg.Log.Error("pruning the execution history", "err", err)
			return
		}
		cfg.Log.Info("execution history pruned", "executions", p.Executions, "reclaimed_bytes", p.Reclaimed, "kept", ret.String())
	})
	if err != nil {
		return err
	}
	// Closed before the store: closers run last added first.
	r.closers = append(r.closers, closerFunc(func() error { stop(); return nil }))
	return nil
}
