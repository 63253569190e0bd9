package asl

import (
	"context"
	"encoding/base64"
	"fmt"
	"io"
	"math"
	"strings"
	"sync"
	"time"
)

// logTailBytes is how much of the log Lambda returns with LogType Tail.
const logTailBytes = 4 * 1024

// LambdaLog returns the writer a Lambda handler writes its log to, as a
// function writes to CloudWatch Logs. When a lambda:invoke Task asks for
// LogType "Tail", the end of what was written (with Lambda's START, END
// and REPORT lines around it) comes back base64-encoded as LogResult and
// the X-Amz-Log-Result header; otherwise, and outside a Lambda
// invocation, writes are discarded. Safe for concurrent use.
func LambdaLog(ctx context.Context) io.Writer {
	if l, ok := ctx.Value(lambdaLogKey{}).(*lambdaLog); ok {
		return l
	}
	return io.Discard
}

type lambdaLogKey struct{}

// lambdaLog keeps the tail of a function's log; older text is dropped,
// so a chatty function costs a bounded buffer.
type lambdaLog struct {
	mu  sync.Mutex
	buf []byte
}

func (l *lambdaLog) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.buf = append(l.buf, p...)
	if len(l.buf) > 16*logTailBytes {
		l.buf = append(l.buf[:0], l.buf[len(l.buf)-logTailBytes:]...)
	}
	return len(p), nil
}

func (l *lambdaLog) text() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return string(l.buf)
}

// logType reads the LogType parameter of lambda:invoke: absent or "None"
// asks for no log, "Tail" for the log tail; Lambda refuses anything else.
func logType(params map[string]any, reqID string) (tail bool, err error) {
	v, ok := params["LogType"]
	if !ok {
		return false, nil
	}
	if s, isStr := v.(string); isStr && (s == "None" || s == "Tail") {
		return s == "Tail", nil
	}
	return false, NewError("Lambda.ValidationException", fmt.Sprintf(
		"1 validation error detected: Value '%s' at 'logType' failed to satisfy constraint: Member must satisfy enum value set: [Tail, None] (Service: AWSLambda; Status Code: 400; Error Code: ValidationException; Request ID: %s; Proxy: null)",
		nodeText(v), reqID))
}

// logResult is what Lambda returns as LogResult: the last 4 KB of the
// invocation's log, base64-encoded. The REPORT line carries the measured
// duration; the memory figures Lambda adds are not known here and are
// left out.
func logResult(l *lambdaLog, reqID string, took time.Duration) string {
	var b strings.Builder
	fmt.Fprintf(&b, "START RequestId: %s Version: $LATEST\n", reqID)
	body := l.text()
	b.WriteString(body)
	if body != "" && !strings.HasSuffix(body, "\n") {
		b.WriteByte('\n')
	}
	ms := float64(took) / float64(time.Millisecond)
	fmt.Fprintf(&b, "END RequestId: %s\nREPORT RequestId: %s\tDuration: %.2f ms\tBilled Duration: %d ms\t\n",
		reqID, reqID, ms, int64(math.Max(1, math.Ceil(ms))))
	s := b.String()
	if len(s) > logTailBytes {
		s = s[len(s)-logTailBytes:]
	}
	return base64.StdEncoding.EncodeToString([]byte(s))
}
