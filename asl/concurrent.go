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

// runGroup runs jobs 0..n-1, at most limit at a time (all when limit is
// 0), in index order.
// start (may be nil) is called on the calling goroutine before job i is
// launched; the first min(limit, n) starts all come before any job runs,
// so a Map records every iteration it starts at once before any of them
// proceeds. A job that was started after a sibling failed still runs, on
// a cancelled context, so that it can record how it ended.
func runGroup(ctx context.Context, n int, limit int, start func(i int), job func(ctx context.Context, i int) error) error {
	if limit <= 0 || limit > n {
		limit = n
	}
	gctx, cancel := context.WithCancel(ctx)
	defer cancel()
	g := &group{cancel: cancel}
	sem := make(chan struct{}, limit)
	first := min(limit, n)
	if start != nil {
		for i := 0; i < first; i++ {
			start(i)
		}
	}
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		if i >= first {
			select {
			case sem <- struct{}{}:
			case <-gctx.Done():
			}
			if gctx.Err() != nil {
				break
			}
			if start != nil {
				start(i)
			}
		} else {
			sem <- struct{}{}
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

// mapConcurrent runs the iterations of an inline Map on goroutines, up to
// limit at once. The MapIterationStarted events of the iterations started
// together come first, in index order, each chained to MapStateStarted;
// then each iteration's events chain from its own start and interleave
// with the others' as they happen. When one iteration fails the others
// are cancelled and recorded as MapIterationAborted; iterations not yet
// started never start.
func (r *stateRun) mapConcurrent(ctx context.Context, eff any, arr []any, limit int64) (any, error) {
	st, ex, th := r.st, r.ex, r.th
	if limit <= 0 || limit > inlineMapLimit {
		limit = inlineMapLimit
	}
	started := th.prev
	results := make([]any, len(arr))
	starts := make([]int64, len(arr))
	begin := func(i int) {
		idx := i
		starts[i] = th.side(started, MapIterationStarted, func(e *Event) { e.Index, e.Name = &idx, st.name })
	}
	err := runGroup(ctx, len(arr), int(limit), begin, func(gctx context.Context, i int) error {
		it := &thread{rec: th.rec, prev: starts[i]}
		idx := i
		end := func(typ EventType) { it.side(it.prev, typ, func(e *Event) { e.Index, e.Name = &idx, st.name }) }
		if gctx.Err() != nil && ctx.Err() == nil {
			// started together with a sibling that has failed already
			end(MapIterationAborted)
			return nil
		}
		in, itemSize, err := r.mapItemInput(eff, i, arr[i])
		if err != nil {
			return err
		}
		out, err := ex.runMachine(gctx, st.processor, in, it, newScope(r.sc), itemSize)
		if err != nil {
			if stoppedBySibling(ctx, gctx, err) {
				end(MapIterationAborted)
				return nil
			}
			if _, stop := err.(*stopError); !stop {
				end(MapIterationFailed)
			}
			return err
		}
		end(MapIterationSucceeded)
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
	err := runGroup(ctx, len(st.branches), len(st.branches), nil, func(gctx context.Context, i int) error {
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
