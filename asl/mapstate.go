package asl

import (
	"context"
	"fmt"
)

// mapState runs an inline Map: one child execution of the item processor per
// item, each with its own variable scope, up to MaxConcurrency at once
// (see mapConcurrent). One at a time (MaxConcurrency 1, a single item or
// Options.Sequential) the history is AWS's recorded one: iteration n+1
// starts from the last event of iteration n.
func (r *stateRun) mapState(ctx context.Context, eff any) (any, error) {
	st := r.st
	if st.jsonata {
		arr, maxConc, err := r.jmapItems(eff)
		if err != nil {
			return nil, err
		}
		return r.mapRun(ctx, eff, arr, maxConc)
	}
	env := r.env(eff)
	items := eff
	if ip := st.itemsPath; ip.expr != nil && !(ip.expr.kind == exprInput && ip.expr.path.IsRoot()) {
		v, err := ip.expr.eval(env)
		if err != nil {
			return nil, r.pathErr("ItemsPath", ip.expr, err)
		}
		items = v
	}
	maxConc := st.maxConcurrency
	if st.maxConcurrencyPath != nil {
		v, err := st.maxConcurrencyPath.eval(env)
		if err != nil {
			return nil, r.pathErr("MaxConcurrencyPath", st.maxConcurrencyPath, err)
		}
		n, ok := longText(v)
		maxConc = n
		if !ok || n < 0 {
			return nil, r.runtimeErrAt("MaxConcurrencyPath", st.maxConcurrencyPath, fmt.Sprintf("The MaxConcurrencyPath field refers to value \"%s\" which is not a valid integer: %s",
				nodeText(v), st.maxConcurrencyPath.src))
		}
	}
	arr, ok := items.([]any)
	if !ok {
		return nil, r.runtimeErrAt("ItemsPath", st.itemsPath.expr, fmt.Sprintf("Map state input must be an array but was: %s", mustJSONString(items)))
	}
	return r.mapRun(ctx, eff, arr, maxConc)
}

// mapItemInput is the input of iteration i (the item, or what the
// ItemSelector makes of it) and a bound of its JSON size.
func (r *stateRun) mapItemInput(eff any, i int, item any) (any, int, error) {
	st := r.st
	// an item is part of the state input, so the input's bound holds
	if st.jsonata {
		if st.ja.itemSelector == nil {
			return item, r.inSize, nil
		}
		v, err := r.jmapItem(eff, i, item)
		if err != nil {
			return nil, 0, err
		}
		return v, jsonSize(v, r.ex.opts.MaxPayloadBytes), nil
	}
	if st.itemSelector == nil {
		return item, r.inSize, nil
	}
	f := r.frame
	f.inMapItem, f.mapIndex, f.mapValue = true, i, item
	v, err := st.itemSelector.eval(f.env(eff, r.sc))
	if err != nil {
		return nil, 0, r.templateErr(st.itemSelectorField, err, eff)
	}
	return v, jsonSize(v, r.ex.opts.MaxPayloadBytes), nil
}

// mapRun runs the iterations of an inline Map over arr.
func (r *stateRun) mapRun(ctx context.Context, eff any, arr []any, maxConc int64) (any, error) {
	st, ex := r.st, r.ex
	th := r.th
	th.emit(MapStateStarted, func(e *Event) {
		n := len(arr)
		e.Length = &n
	})
	if !ex.opts.Sequential && len(arr) > 1 && maxConc != 1 {
		return r.mapConcurrent(ctx, eff, arr, maxConc)
	}
	results := make([]any, len(arr))
	cursor := th.prev
	lastDone := th.prev
	it := &thread{rec: th.rec}
	for i, item := range arr {
		it.prev = cursor
		idx := i
		it.emit(MapIterationStarted, func(e *Event) { e.Index, e.Name = &idx, st.name })
		in, itemSize, err := r.mapItemInput(eff, i, item)
		if err != nil {
			return nil, err
		}
		out, err := ex.runMachine(ctx, st.processor, in, it, newScope(r.sc), itemSize)
		if err != nil {
			if _, stop := err.(*stopError); !stop {
				it.side(it.prev, MapIterationFailed, func(e *Event) { e.Index, e.Name = &idx, st.name })
			}
			th.prev = it.prev
			return nil, err
		}
		lastDone = it.side(it.prev, MapIterationSucceeded, func(e *Event) { e.Index, e.Name = &idx, st.name })
		cursor = it.prev
		results[i] = out
	}
	th.prev = lastDone
	th.side(th.prev, MapStateSucceeded, nil)
	return results, nil
}

// parallel runs the branches one after the other on the same input; each
// branch has its own variable scope and starts from ParallelStateStarted.
func (r *stateRun) parallel(ctx context.Context, eff any) (any, error) {
	st, ex := r.st, r.ex
	th := r.th
	branchSize := r.inSize
	if st.jsonata && st.ja.arguments != nil {
		v, err := r.jeval(st.ja.arguments, r.jenv(eff))
		if err != nil {
			return nil, err
		}
		eff = v
		branchSize = jsonSize(eff, ex.opts.MaxPayloadBytes)
	}
	if st.parameters != nil {
		v, e := r.evalTemplate("Parameters", st.parameters, eff)
		if e != nil {
			return nil, e
		}
		eff = v
		branchSize = jsonSize(eff, ex.opts.MaxPayloadBytes)
	}
	started := th.emit(ParallelStateStarted, nil)
	if !ex.opts.Sequential && len(st.branches) > 1 {
		return r.parallelConcurrent(ctx, eff, started, branchSize)
	}
	results := make([]any, len(st.branches))
	for i, b := range st.branches {
		bt := &thread{rec: th.rec, prev: started, branch: true}
		out, err := ex.runMachine(ctx, b, eff, bt, newScope(r.sc), branchSize)
		if err != nil {
			// the Parallel fails with the branch's error
			th.prev = th.rec.lastID()
			return nil, err
		}
		results[i] = out
	}
	th.prev = th.rec.lastID()
	th.side(th.prev, ParallelStateSucceeded, nil)
	return results, nil
}
