package asl

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-lambda-go/lambda/messages"
)

// TaskRequest is what a Task state hands to its resource handler.
type TaskRequest struct {
	Resource         string // the Resource field as written
	StateName        string
	Input            any   // effective input (after InputPath and Parameters); read-only
	TimeoutSeconds   int64 // 0 when unset
	HeartbeatSeconds int64 // 0 when unset
	Region           string
	AccountID        string
	ExecutionArn     string // $$.Execution.Id
	RetryCount       int    // $$.State.RetryCount: 0 on the first attempt
}

// TaskHandler runs a Task resource. A returned *Error keeps its name and
// cause (Retry and Catch match the name); any other error becomes
// States.TaskFailed. The result must not be modified after return.
type TaskHandler interface {
	Invoke(ctx context.Context, req *TaskRequest) (any, error)
}

// TaskHandlerFunc adapts a function to TaskHandler.
type TaskHandlerFunc func(ctx context.Context, req *TaskRequest) (any, error)

// Invoke calls f.
func (f TaskHandlerFunc) Invoke(ctx context.Context, req *TaskRequest) (any, error) {
	return f(ctx, req)
}

// LambdaHandler is the shape of aws-lambda-go's lambda.Handler: JSON in,
// JSON out. Bind one with lambda.NewHandler(fn) to get AWS's JSON handling.
type LambdaHandler interface {
	Invoke(ctx context.Context, payload []byte) ([]byte, error)
}

// LambdaHandlerFunc adapts a function to LambdaHandler.
type LambdaHandlerFunc func(ctx context.Context, payload []byte) ([]byte, error)

// Invoke calls f.
func (f LambdaHandlerFunc) Invoke(ctx context.Context, payload []byte) ([]byte, error) {
	return f(ctx, payload)
}

// Registry maps Task resources to handlers. Lambda functions are bound by
// name and serve both the plain function ARN and arn:aws:states:::lambda:invoke.
// A Registry is safe for concurrent use.
type Registry struct {
	mu       sync.RWMutex
	handlers map[string]TaskHandler
	lambdas  map[string]LambdaHandler
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{handlers: map[string]TaskHandler{}, lambdas: map[string]LambdaHandler{}}
}

// Register binds a resource ARN (e.g. "arn:aws:states:::sqs:sendMessage") to
// a handler. It takes precedence over the built-in Lambda semantics.
func (r *Registry) Register(resource string, h TaskHandler) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.handlers[resource] = h
}

// RegisterLambda binds a Lambda function by name (the NAME of
// arn:aws:lambda:REGION:ACCOUNT:function:NAME).
func (r *Registry) RegisterLambda(functionName string, h LambdaHandler) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.lambdas[functionName] = h
}

func (r *Registry) handler(resource string) TaskHandler {
	if r == nil {
		return nil
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.handlers[resource]
}

func (r *Registry) lambda(name string) LambdaHandler {
	if r == nil {
		return nil
	}
	r.mu.RLock()
	defer r.mu.RUnlock()
	return r.lambdas[name]
}

// Bound reports whether a resource can be served: a registered handler, or
// a Lambda integration whose function is registered (for lambda:invoke the
// function name comes from the input, so only the integration is checked).
func (r *Registry) Bound(resource string) bool {
	if r.handler(resource) != nil {
		return true
	}
	switch k := classifyResource(resource); k.kind {
	case resLambdaARN:
		return r.lambda(k.function) != nil
	case resService:
		return k.service == "lambda" && (k.action == "invoke")
	}
	return false
}

type resKind uint8

const (
	resUnknown resKind = iota
	resLambdaARN
	resService
	resActivity
)

type resourceInfo struct {
	kind     resKind
	function string // Lambda function name
	service  string // resourceType in history
	action   string // resource in history (e.g. "invoke", "sendMessage.sync")
}

// classifyResource splits a Resource ARN the way history reports it.
func classifyResource(arn string) resourceInfo {
	parts := strings.Split(arn, ":")
	if len(parts) >= 6 && parts[0] == "arn" && parts[2] == "states" && parts[3] == "" && parts[4] == "" {
		svc := parts[5]
		action := strings.Join(parts[6:], ":")
		if svc == "aws-sdk" && len(parts) >= 8 {
			// history reports aws-sdk:SERVICE as the type and the API action
			svc, action = "aws-sdk:"+parts[6], strings.Join(parts[7:], ":")
		}
		return resourceInfo{kind: resService, service: svc, action: action}
	}
	if len(parts) >= 7 && parts[0] == "arn" && parts[2] == "lambda" && parts[5] == "function" {
		return resourceInfo{kind: resLambdaARN, function: parts[6]}
	}
	if len(parts) >= 7 && parts[0] == "arn" && parts[2] == "states" && parts[5] == "activity" {
		return resourceInfo{kind: resActivity}
	}
	return resourceInfo{kind: resUnknown}
}

// functionName extracts the function name from a name, a partial ARN or a
// full ARN, and the qualifier if any.
func functionName(s string) (name, qualifier string) {
	parts := strings.Split(s, ":")
	switch {
	case len(parts) >= 7 && parts[0] == "arn":
		name = parts[6]
		if len(parts) > 7 {
			qualifier = parts[7]
		}
	case len(parts) >= 3 && parts[1] == "function": // ACCOUNT:function:NAME
		name = parts[2]
		if len(parts) > 3 {
			qualifier = parts[3]
		}
	case len(parts) == 2:
		name, qualifier = parts[0], parts[1]
	default:
		name = s
	}
	return name, qualifier
}

// lambdaError converts what a LambdaHandler returned into the error the
// Lambda service reports: errorType becomes the name, the JSON error
// document the cause.
func lambdaError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var ive messages.InvokeResponse_Error
	if errors.As(err, &ive) {
		return lambdaErrorDoc(&ive)
	}
	var pive *messages.InvokeResponse_Error
	if errors.As(err, &pive) {
		return lambdaErrorDoc(pive)
	}
	t := reflect.TypeOf(err)
	name := t.Name()
	if t.Kind() == reflect.Pointer {
		name = t.Elem().Name()
	}
	return lambdaErrorDoc(&messages.InvokeResponse_Error{Message: err.Error(), Type: name})
}

func lambdaErrorDoc(ive *messages.InvokeResponse_Error) *Error {
	b, _ := json.Marshal(ive)
	return NewError(ive.Type, string(b))
}

const payloadLimit = 256 * 1024

// invokeLambda runs a bound function with AWS's JSON handling: the payload
// is the JSON text of input, the answer is decoded with exact numbers.
func invokeLambda(ctx context.Context, h LambdaHandler, input any, resourceLabel string) (any, int, error) {
	payload, err := EncodeJSON(input)
	if err != nil {
		return nil, 0, NewError(ErrRuntime, err.Error())
	}
	out, err := h.Invoke(ctx, payload)
	if err != nil {
		if ctx.Err() != nil {
			return nil, 0, ctx.Err()
		}
		return nil, 0, lambdaError(err)
	}
	if len(out) > payloadLimit {
		return nil, 0, NewError(ErrDataLimitExceeded, fmt.Sprintf(
			"The state/task '%s' returned a result with a size exceeding the maximum number of bytes service limit.", resourceLabel))
	}
	if len(strings.TrimSpace(string(out))) == 0 {
		return nil, 0, nil
	}
	v, err := DecodeJSON(out)
	if err != nil {
		return nil, 0, NewError(ErrLambdaUnknown, "The function returned an invalid JSON response: "+err.Error())
	}
	return v, len(out), nil
}

// lambdaInvokeIntegration implements arn:aws:states:::lambda:invoke.
func (ex *execution) lambdaInvokeIntegration(ctx context.Context, req *TaskRequest) (any, error) {
	params, ok := req.Input.(map[string]any)
	if !ok {
		return nil, NewError(ErrRuntime, "The Parameters of lambda:invoke must be an object")
	}
	fnv, ok := params["FunctionName"].(string)
	if !ok {
		return nil, NewError("Lambda.InvalidParameterValueException", "FunctionName is required")
	}
	name, qualifier := functionName(fnv)
	h := ex.opts.Registry.lambda(name)
	if h == nil {
		if qualifier == "" {
			qualifier = "$LATEST"
		}
		region, account := req.Region, req.AccountID
		if parts := strings.Split(fnv, ":"); len(parts) >= 7 && parts[0] == "arn" {
			region, account = parts[3], parts[4]
		}
		return nil, NewError(ErrLambdaResourceNotFound, fmt.Sprintf(
			"Function not found: arn:aws:lambda:%s:%s:function:%s:%s (Service: AWSLambda; Status Code: 404; Error Code: ResourceNotFoundException; Request ID: %s; Proxy: null)",
			region, account, name, qualifier, ex.newUUID()))
	}
	payload, has := params["Payload"]
	if !has {
		payload = map[string]any{}
	}
	reqID := ex.newUUID()
	tail, err := logType(params, reqID)
	if err != nil {
		return nil, err
	}
	var log *lambdaLog
	var began time.Time
	if tail {
		log, began = &lambdaLog{}, ex.now()
		ctx = context.WithValue(ctx, lambdaLogKey{}, log)
	}
	v, n, err := invokeLambda(ctx, h, payload, "lambda")
	if err != nil {
		return nil, err
	}
	length := strconv.Itoa(n)
	res := map[string]any{
		"ExecutedVersion": "$LATEST",
		"Payload":         v,
		"SdkHttpMetadata": map[string]any{
			"AllHttpHeaders": map[string]any{
				"X-Amz-Executed-Version":         []any{"$LATEST"},
				"x-amzn-Remapped-Content-Length": []any{"0"},
				"Connection":                     []any{"keep-alive"},
				"x-amzn-RequestId":               []any{reqID},
				"Content-Length":                 []any{length},
				"Date":                           []any{ex.now().UTC().Format("Mon, 02 Jan 2006 15:04:05 GMT")},
				"X-Amzn-Trace-Id":                []any{"Root=" + ex.newUUID()},
				"Content-Type":                   []any{"application/json"},
			},
			"HttpHeaders": map[string]any{
				"Connection":                     "keep-alive",
				"Content-Length":                 length,
				"Content-Type":                   "application/json",
				"Date":                           ex.now().UTC().Format("Mon, 02 Jan 2006 15:04:05 GMT"),
				"X-Amz-Executed-Version":         "$LATEST",
				"x-amzn-Remapped-Content-Length": "0",
				"x-amzn-RequestId":               reqID,
				"X-Amzn-Trace-Id":                "Root=" + ex.newUUID(),
			},
			"HttpStatusCode": json.Number("200"),
		},
		"SdkResponseMetadata": map[string]any{"RequestId": reqID},
		"StatusCode":          json.Number("200"),
	}
	if tail {
		lr := logResult(log, reqID, ex.now().Sub(began))
		res["LogResult"] = lr
		md := res["SdkHttpMetadata"].(map[string]any)
		md["AllHttpHeaders"].(map[string]any)["X-Amz-Log-Result"] = []any{lr}
		md["HttpHeaders"].(map[string]any)["X-Amz-Log-Result"] = lr
	}
	return res, nil
}
