// Package asl is an interpreter for the Amazon States Language, in both
// query languages (JSONPath and JSONata, per definition or per state), that
// behaves like AWS Step Functions, proven against executions recorded on
// AWS (see the conformance test). It knows nothing
// about mail; the local runtime uses it to run the same definition that AWS
// runs.
//
// # Stages
//
//	d, err := asl.Parse(definitionJSON)            // decode and compile once
//	issues := asl.Validate(d, asl.WithType("EXPRESS"), asl.WithBoundResources(reg))
//	res, err := asl.Execute(ctx, d, inputJSON, asl.Options{Registry: reg, Observer: obs})
//
// Parse compiles every path, payload template, choice rule and intrinsic
// call; a *Definition is immutable and safe for concurrent executions. All
// per-execution state (retry counters, variables, history, clock) lives in
// the execution. Validate returns every issue with a JSON-pointer location
// and AWS's diagnostic code; Execute refuses definitions Validate rejects.
//
// # Task resources
//
// A Registry maps resources to handlers. Register binds a resource ARN
// (e.g. "arn:aws:states:::sqs:sendMessage") to a TaskHandler; RegisterLambda
// binds a Lambda function by name to a LambdaHandler, the shape of
// aws-lambda-go's lambda.Handler (lambda.NewHandler(fn) fits). Bound functions
// serve both the plain function ARN (LambdaFunction* history events, bare
// payload) and arn:aws:states:::lambda:invoke (Task* events, FunctionName and
// Payload parameters, the {Payload, StatusCode, ExecutedVersion,
// SdkHttpMetadata, SdkResponseMetadata} result). A function error becomes an
// ASL error named after errorType with the JSON error document as cause, as
// the Lambda service reports it; a handler may return *Error to set name and
// cause exactly. A handler writes its log to LambdaLog(ctx), as a function
// writes to CloudWatch Logs; with the lambda:invoke parameter LogType "Tail"
// the last 4 KB of it, between Lambda's START, END and REPORT lines (the
// REPORT line gives the measured duration, not the memory figures, which
// are unknown here), is added base64-encoded as LogResult and as the
// X-Amz-Log-Result header. LogType "None" or absent adds nothing; another
// value fails with Lambda.ValidationException, Lambda's enum message.
//
// # Error positions
//
// An *Error the interpreter raises while evaluating a field of the
// definition carries where in Pos: State, Field (the definition field, such
// as Parameters, ResultSelector, InputPath, ItemsPath, Variable, Arguments,
// Output or Condition), Expr (the expression) and Offset, the byte offset
// in Expr of the JSONPath step or intrinsic call that failed (-1 when
// nothing narrower than the expression is known; the JSONata base library
// reports no positions at run time). It is data only: the error's name,
// cause and Error() text are AWS's, unchanged. Pos is a pointer so that
// errors without one (task failures, retried and caught by the thousand)
// stay as small as they were. Result.Err is the error that failed an
// execution. Validation issues carry a JSON pointer; Issue.State and
// Issue.Field read the state and field from it.
//
// # History
//
// Options.Observer receives events as they happen, with the types, ids,
// previousEventId and details of GetExecutionHistory. Without an observer no
// event is built (ids are still counted, since error causes cite them).
//
// # Time and randomness
//
// Options.Clock, Options.Random and Options.UUID are injected. Wait
// states, retry delays, the execution timeout and task TimeoutSeconds and
// HeartbeatSeconds (literal, from a path or from JSONata) all run on the
// Clock, so tests use a virtual clock: a task whose TimeoutSeconds passes
// on it has its context cancelled and fails with States.Timeout though no
// real time has passed. A handler calls Heartbeat(ctx) to restart the
// HeartbeatSeconds deadline. Cancelling the context aborts the execution
// (status ABORTED).
//
// Clock is declared here, with the method set of the module's clock.Clock,
// because asl imports nothing else from the module; those clocks satisfy it
// as they are. On the default wall clock the task deadlines are
// context.WithTimeout and time.AfterFunc, as cheap as before and visible as
// the context's deadline; on another clock each deadline is a Timer watched
// by one goroutine for the task's duration.
//
// # JSON codecs
//
// Each JSON reader and writer in this package tree exists for a reason:
//
//   - internal/jsonvalue reads and writes value trees (definitions,
//     execution input, every task result and task input, history details,
//     States.StringToJson, $parse). It is the hot path: several times
//     faster than encoding/json with the same results (exact number text,
//     U+FFFD for invalid UTF-8, sorted keys, no HTML escaping). Validate
//     also uses it to find duplicate keys, which a value tree cannot show.
//   - internal/intrinsic/jsontext.go writes what AWS's Java runtime writes
//     for States.JsonToString, States.Format and the other intrinsics:
//     Jackson's escapes (upper-case \u00XX, no \u2028 escape, a raw U+FFFD)
//     and numbers as Java's Double.toString prints them. The texts differ
//     from jsonvalue's on purpose and are pinned by the recorded results.
//   - encoding/json stays where reflection is needed (a handler result that
//     is a Go struct or typed map is normalised by a JSON round trip; the
//     Lambda error document, the cause of a Lambda failure, is a struct) and
//     in two message texts (the Jayway "Current context is" value and the
//     value quoted in SecondsPath and TimestampPath errors), which carry
//     encoding/json's HTML escaping and so stay byte-identical. Its
//     streaming Decoder is no longer used: duplicate keys come from
//     jsonvalue, on the same decoder that reads the definition.
//   - internal/conformance/pyjson.go writes as Python's json.dumps did in
//     the recorded Lambda functions, so the Content-Length of replayed
//     lambda:invoke answers matches; tests only.
//   - The conformance harness and cmd/anchorcmp decode their own files
//     into structs with encoding/json; that is not execution data.
//
// github.com/go-json-experiment/json is not used here. Two small scanners
// remain that are not codecs: validate.go words an unrecognised leading
// token as Jackson does, and internal/jsonata removes JSONata comments.
//
// # Decisions where AWS's documentation is silent
//
// These follow what the recorded AWS executions show; where nothing was
// recorded the choice is the one that keeps AWS-valid definitions working.
//
//   - JSONPath is evaluated like Jayway JsonPath: definite paths fail with
//     Jayway's "No results for path" / "Missing property in path" wording,
//     indefinite paths yield a list, empty when nothing matches. Quoted
//     bracket names keep backslash escapes as written.
//   - States.Runtime errors (bad paths, invalid Wait/MaxConcurrency values)
//     are never retried or caught, as AWS shows even with an explicit
//     ErrorEquals. States.ALL matches every other error, including
//     States.DataLimitExceeded reported by a task (AWS's recording shows it
//     caught); States.TaskFailed matches task errors except timeouts.
//   - The Catch output ignores OutputPath, as AWS shows.
//   - A Map starts up to MaxConcurrency iterations at once (0 means AWS's
//     inline limit, 40), in index order, each on its own goroutine; a
//     Parallel runs all its branches at once. The MapIterationStarted
//     events of the iterations started together are recorded first, each
//     chained to MapStateStarted, before any of them proceeds; later
//     events interleave as they happen, as in AWS. The first failure
//     cancels the siblings: their in-flight state is recorded as aborted
//     (TaskStateAborted, ...), each iteration as MapIterationAborted, and
//     iterations not yet started never start; then MapStateFailed.
//   - With MaxConcurrency 1, a single item or Options.Sequential, the
//     iterations run one after the other on the execution's goroutine (no
//     goroutine is started) and the history is the one AWS records:
//     iteration n+1 starts from the last event of iteration n. Every
//     recorded Map in the conformance corpus runs this way, so histories
//     match AWS id for id. A state failing in a Parallel branch is
//     recorded as aborted, as AWS records it.
//   - A value quoted in a MaxConcurrencyPath error is rendered as AWS
//     renders a JSON node there: a string by its text (value "NoNumber"),
//     anything else as JSON text (value "{}").
//   - Variables assigned inside a Map iteration or Parallel branch stay in
//     that scope; outer variables are readable.
//   - $$.Execution.RedriveCount is present for STANDARD executions (as in
//     current AWS recordings) and absent for EXPRESS.
//   - The 256 KiB limit is enforced on the execution input, on every task
//     result (a task failure States.ALL catches, as AWS's recording shows)
//     and on the output of states that can grow data (Pass with Result or
//     Parameters, Task, Map, Parallel), which ends the execution and is not
//     caught by States.ALL. The size is measured on the value tree without
//     serialising it.
//   - Object key order is not preserved (values are map[string]any); JSON
//     output has sorted keys. Numbers keep their exact text (json.Number).
//
// # JSONata
//
// A state is JSONata when its QueryLanguage, or the definition's, says so.
// Any string of the form "{% expression %}", at any depth of Arguments,
// Output, Assign, Items, ItemSelector and of a catcher's Output and Assign,
// and as the whole value of Condition, TimeoutSeconds, HeartbeatSeconds,
// MaxConcurrency, Wait Seconds/Timestamp and Fail Error/Cause, is an
// expression; other strings are literals. Expressions are compiled by
// Parse (internal/jsonata, on github.com/blues/jsonata-go; its package
// documentation says why that library and what was added); it is the only
// code that reads JSONata text, and Validate's syntax messages come from it
// too. They read $states.input, $states.result (Task, Map and Parallel Output and Assign),
// $states.errorOutput (catchers), $states.context (the context object) and
// the variables. Decisions where AWS is silent or unrecorded:
//
//   - Assign and Output of a state are evaluated against the variables as
//     they were when the state was entered; the assignments become visible
//     to the next state. Map iterations and Parallel branches read the outer
//     variables and assign in their own scope, as in JSONPath.
//   - Output defaults to the state input (Pass, Wait, Choice, Succeed), the
//     result (Task, Map, Parallel) or the error output (catchers). A Task's
//     Arguments default to the state input; for arn:aws:states:::lambda:invoke
//     the result is the Invoke response wrapper, as in JSONPath.
//   - An expression whose value is or holds a function ($sum, a lambda,
//     a function inside an object or array) has no JSON value: the field
//     fails with States.QueryEvaluationError "returned an unsupported
//     result type.". No recorded AWS execution shows this case; the wording
//     is LocalStack's (which records its tests against AWS, though not this
//     one), and failing on a nested function too is what independent
//     reimplementations observed on AWS.
//   - An expression that yields nothing fails the state with
//     States.QueryEvaluationError ("returned nothing (undefined)"), wherever
//     it is; a wrong result type ("returned an unexpected result type.
//     Expected 'array', but was ...") likewise. The EvaluationFailed event
//     chains to the event before the state's entered event unless something
//     happened in between (a Wait state chains to its entered event), as the
//     recordings show. The error is catchable and retriable like a task
//     error.
//   - Expressions read data only through $states and variables: Validate
//     refuses a path that starts with a field name at the top level
//     ("phone" for "$states.input.phone") and "$$" with AWS's
//     UNSUPPORTED_JSONATA_EXPRESSION, and an expression that does not parse
//     with INVALID_JSONATA_EXPRESSION. A bare "$" is undefined. $eval is
//     not bound and fails with T1006, as an unknown function does.
//   - A path that ends on an empty array yields it when the path is plain
//     ($states.input.items); deeper in an expression the base library
//     treats an empty array as no result, where JSONata 2 keeps it.
package asl
