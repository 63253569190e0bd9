package asl

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// task invokes the state's resource once and records the task events.
func (r *stateRun) task(ctx context.Context, eff any) (any, error) {
	st, ex := r.st, r.ex
	params := eff
	timeout := st.timeoutSeconds
	heartbeat := st.heartbeatSeconds
	if st.jsonata {
		p, t, h, err := r.jtaskArgs(eff)
		if err != nil {
			return nil, err
		}
		params, timeout, heartbeat = p, t, h
	}
	if st.parameters != nil {
		v, e := r.evalTemplate("Parameters", st.parameters, eff)
		if e != nil {
			return nil, e
		}
		params = v
	}
	env := r.env(eff)
	if st.timeoutPath != nil {
		v, err := st.timeoutPath.eval(env)
		n, ok := longText(v)
		if err != nil || !ok || n < 1 {
			return nil, r.runtimeErrAt("TimeoutSecondsPath", st.timeoutPath, fmt.Sprintf("The TimeoutSecondsPath parameter does not reference a valid positive integer: %s", st.timeoutPath.src))
		}
		timeout = n
	}
	if st.heartbeatPath != nil {
		v, err := st.heartbeatPath.eval(env)
		n, ok := longText(v)
		if err != nil || !ok || n < 1 {
			return nil, r.runtimeErrAt("HeartbeatSecondsPath", st.heartbeatPath, fmt.Sprintf("The HeartbeatSecondsPath parameter does not reference a valid positive integer: %s", st.heartbeatPath.src))
		}
		heartbeat = n
	}
	info := st.resInfo
	custom := ex.opts.Registry.handler(st.resource)
	// a function ARN records LambdaFunction* events whoever serves it
	legacy := info.kind == resLambdaARN
	th := r.th
	var timeoutPtr, heartbeatPtr *int64
	if timeout > 0 {
		t := timeout
		timeoutPtr = &t
	}
	if heartbeat > 0 {
		h := heartbeat
		heartbeatPtr = &h
	}
	if legacy {
		th.emit(LambdaFunctionScheduled, func(e *Event) {
			e.HasInput, e.Input = true, params
			e.Resource = st.resource
			e.TimeoutInSeconds = timeoutPtr
		})
		th.emit(LambdaFunctionStarted, nil)
	} else {
		th.emit(TaskScheduled, func(e *Event) {
			e.HasParams, e.Parameters = true, params
			e.Region = ex.opts.Region
			e.Resource, e.ResourceType = info.action, info.service
			e.TimeoutInSeconds = timeoutPtr
			e.HeartbeatInSeconds = heartbeatPtr
		})
		th.emit(TaskStarted, func(e *Event) {
			e.Resource, e.ResourceType = info.action, info.service
		})
	}
	req := &TaskRequest{
		Resource: st.resource, StateName: st.name, Input: params,
		TimeoutSeconds: timeout, HeartbeatSeconds: heartbeat,
		Region: ex.opts.Region, AccountID: ex.opts.AccountID,
		RetryCount: r.frame.retryCount,
	}
	if custom != nil {
		execObj, _ := ex.contextObjects()
		req.ExecutionArn, _ = execObj["Id"].(string)
	}
	// HeartbeatSeconds bounds the time between heartbeats (Heartbeat(ctx)
	// from the handler), reported as States.HeartbeatTimeout.
	// Both run on the execution's clock.
	tctx := ctx
	if timeout > 0 {
		c, cancel := withTimeout(tctx, ex.opts.Clock, time.Duration(timeout)*time.Second, errTaskTimeout)
		defer cancel()
		tctx = c
	}
	if heartbeat > 0 {
		c, cancel := context.WithCancelCause(tctx)
		timer := newDeadman(ex.opts.Clock, time.Duration(heartbeat)*time.Second, func() { cancel(errHeartbeatTimeout) })
		defer func() {
			timer.stop()
			cancel(nil)
		}()
		tctx = context.WithValue(c, heartbeatKey{}, timer.reset)
	}
	var result any
	var err error
	switch {
	case custom != nil:
		result, err = custom.Invoke(tctx, req)
		if err == nil {
			result, err = normalize(result)
		}
		if limit := ex.opts.MaxPayloadBytes; err == nil && jsonSize(result, limit) > limit {
			label := info.service
			if legacy {
				label = st.resource
			}
			err = NewError(ErrDataLimitExceeded, fmt.Sprintf(
				"The state/task '%s' returned a result with a size exceeding the maximum number of bytes service limit.", label))
		}
	case legacy:
		h := ex.opts.Registry.lambda(info.function)
		if h == nil {
			err = NewError(ErrLambdaResourceNotFound, fmt.Sprintf(
				"Function not found: %s (Service: AWSLambda; Status Code: 404; Error Code: ResourceNotFoundException; Request ID: %s; Proxy: null)",
				st.resource, ex.newUUID()))
		} else {
			result, _, err = invokeLambda(tctx, h, params, st.resource)
		}
	case info.kind == resService && info.service == "lambda" && info.action == "invoke":
		result, err = ex.lambdaInvokeIntegration(tctx, req)
	default:
		err = NewError(ErrRuntime, stateErrPrefix(st.name, r.enteredID)+
			fmt.Sprintf("No handler is registered for the resource '%s'", st.resource))
	}
	if err != nil {
		if ctx.Err() != nil {
			return nil, &stopError{status: StatusAborted}
		}
		var te *Error
		switch {
		case tctx.Err() != nil && context.Cause(tctx) == errHeartbeatTimeout:
			te = &Error{Name: ErrHeartbeatTimeout, HasName: true}
		case tctx.Err() != nil:
			te = &Error{Name: ErrTimeout, HasName: true}
		default:
			te = AsError(err)
		}
		if te.Name == ErrRuntime && !te.fromTask {
			return nil, te
		}
		te = &Error{Name: te.Name, Cause: te.Cause, HasName: te.HasName, HasCause: te.HasCause, fromTask: true}
		timedOut := te.Name == ErrTimeout || te.Name == ErrHeartbeatTimeout
		switch {
		case legacy && timedOut:
			th.emit(LambdaFunctionTimedOut, func(e *Event) { fillErr(e, te) })
		case legacy:
			th.emit(LambdaFunctionFailed, func(e *Event) { fillErr(e, te) })
		case timedOut:
			th.emit(TaskTimedOut, func(e *Event) {
				fillErr(e, te)
				e.Resource, e.ResourceType = info.action, info.service
			})
		default:
			th.emit(TaskFailed, func(e *Event) {
				fillErr(e, te)
				e.Resource, e.ResourceType = info.action, info.service
			})
		}
		return nil, te
	}
	if legacy {
		th.emit(LambdaFunctionSucceeded, func(e *Event) { e.HasOutput, e.Output = true, result })
	} else {
		th.emit(TaskSucceeded, func(e *Event) {
			e.HasOutput, e.Output = true, result
			e.Resource, e.ResourceType = info.action, info.service
		})
	}
	return result, nil
}

type heartbeatKey struct{}

// Heartbeat tells the interpreter that the task handler running under ctx
// is alive, like SendTaskHeartbeat: the HeartbeatSeconds deadline starts
// again. It does nothing when the task has no HeartbeatSeconds.
func Heartbeat(ctx context.Context) {
	if f, ok := ctx.Value(heartbeatKey{}).(func()); ok {
		f()
	}
}

var (
	errTaskTimeout      = errors.New("task timed out")
	errHeartbeatTimeout = errors.New("task heartbeat timed out")
)

func fillErr(e *Event, err *Error) {
	e.Error, e.HasError = err.Name, err.HasName
	e.Cause, e.HasCause = err.Cause, err.HasCause
}
