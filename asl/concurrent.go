package asl

import (
	"context"
	"errors"
	"sync"
)

// inlineMapLimit is AWS's effective concurrency of an inline Map whose
// MaxConcurrency is 0 (unbounded).
const inlineMapLimit = 40

// group runs n jobs on at most limit goroutines. The first job to fail
// cancels the others; its error is returned.
type group struct {
	mu       sync.Mutex
	firstErr error
	cancel   context.CancelFunc
}

func (g *group) fail(err error) {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.firstErr == nil {
		g.firstErr = err
		g.cancel()
	}
}

func runGroup(ctx context.Context, n int, limit int, job func(ctx context.Context, i int) error) error {
	if limit <= 0 || limit > inlineMapLimit {
		limit = inlineMapLimit
	}
	gctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g := &group{cancel: cancel}
	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		select {
		case sem <- struct{}{}:
		case <-gctx.Done():
		}
		if gctx.Err() != nil {
			break
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			defer func() { <-sem }()
			if err := job(gctx, i); err != nil {
				g.fail(err)
			}
		}(i)
	}
	wg.Wait()
	if ctx.Err() != nil {
		return &stopError{status: StatusAborted}
	}
	return g.firstErr
}

// mapConcurrent runs the iterations of an inline Map on goroutines; each
// iteration's events chain from MapStateStarted and interleave with the
// others' as they happen.
func (r *stateRun) mapConcurrent(ctx context.Context, eff any, arr []any, limit int64) (any, error) {
	st, ex, th := r.st, r.ex, r.th
	started := th.prev
	results := make([]any, len(arr))
	err := runGroup(ctx, len(arr), int(limit), func(gctx context.Context, i int) error {
		it := &thread{rec: th.rec, prev: started}
		idx := i
		it.emit(MapIterationStarted, func(e *Event) { e.Index, e.Name = &idx, st.name })
		in, itemSize, err := r.mapItemInput(eff, i, arr[i])
		if err != nil {
			return err
		}
		out, err := ex.runMachine(gctx, st.processor, in, it, newScope(r.sc), itemSize)
		if err != nil {
			if stoppedBySibling(ctx, gctx, err) {
				it.side(it.prev, MapIterationAborted, func(e *Event) { e.Index, e.Name = &idx, st.name })
				return nil
			}
			it.side(it.prev, MapIterationFailed, func(e *Event) { e.Index, e.Name = &idx, st.name })
			return err
		}
		it.side(it.prev, MapIterationSucceeded, func(e *Event) { e.Index, e.Name = &idx, st.name })
		results[i] = out
		return nil
	})
	th.prev = th.rec.lastID()
	if err != nil {
		return nil, err
	}
	th.side(th.prev, MapStateSucceeded, nil)
	return results, nil
}

// parallelConcurrent runs the branches of a Parallel state on goroutines.
func (r *stateRun) parallelConcurrent(ctx context.Context, eff any, started int64, branchSize int) (any, error) {
	st, ex, th := r.st, r.ex, r.th
	results := make([]any, len(st.branches))
	err := runGroup(ctx, len(st.branches), len(st.branches), func(gctx context.Context, i int) error {
		bt := &thread{rec: th.rec, prev: started, branch: true}
		out, err := ex.runMachine(gctx, st.branches[i], eff, bt, newScope(r.sc), branchSize)
		if err != nil {
			if stoppedBySibling(ctx, gctx, err) {
				return nil
			}
			return err
		}
		results[i] = out
		return nil
	})
	th.prev = th.rec.lastID()
	if err != nil {
		return nil, err
	}
	th.side(th.prev, ParallelStateSucceeded, nil)
	return results, nil
}

// stoppedBySibling reports a job that ended only because the group was
// cancelled after another job failed.
func stoppedBySibling(ctx, gctx context.Context, err error) bool {
	var stop *stopError
	return errors.As(err, &stop) && stop.status == StatusAborted && gctx.Err() != nil && ctx.Err() == nil
}
