package pipes

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/mailflow/mailflow/asl"
	"github.com/mailflow/mailflow/workflow"
)

// encoded is a received message with its record as it goes into the
// target input.
type encoded struct {
	msg  Message
	json []byte
}

func (p *Pipe) encode(m Message) (encoded, error) {
	b, err := encodeJSON(p.record(m))
	return encoded{msg: m, json: b}, err
}

// encodeJSON encodes v as the pipe sends it: standard JSON without Go's
// HTML escaping of '<', '>' and '&' (see the package doc).
func encodeJSON(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

// input joins encoded records into the JSON array a target is invoked with.
func input(recs []encoded) []byte {
	n := 1
	for _, r := range recs {
		n += len(r.json) + 1
	}
	out := make([]byte, 0, max(n, 2))
	out = append(out, '[')
	for i, r := range recs {
		if i > 0 {
			out = append(out, ',')
		}
		out = append(out, r.json...)
	}
	return append(out, ']')
}

// inputSize is the size of an input holding one record of n bytes.
func inputSize(n int) int { return n + 2 }

// failure is a dead-lettered record's reason, as the state machine's
// DeadLetter state writes it into mailflow.failure.
type failure struct {
	Error string `json:"Error"`
	Cause string `json:"Cause"`
}

// failureOf is the reason an execution failed as a whole. An execution
// without an error name is given the interpreter's name for its status, as
// SQS refuses an empty attribute value.
func failureOf(out Outcome) failure {
	f := failure{Error: out.Error, Cause: out.Cause}
	if f.Error == "" {
		f.Error = asl.ErrRuntime
		if out.Status == asl.StatusTimedOut {
			f.Error = asl.ErrTimeout
		}
	}
	if f.Cause == "" {
		f.Cause = "the execution ended " + string(out.Status) + " without a cause"
	}
	return f
}

// tooLarge dead-letters a record that no execution can take, then deletes
// it from the source.
func (p *Pipe) tooLarge(ctx context.Context, m Message, size int) {
	f := failure{
		Error: string(workflow.TooLarge),
		Cause: fmt.Sprintf("the record is %d bytes as encoded in the execution input, over the %d-byte limit of a Step Functions execution input", size, p.cfg.PayloadLimit),
	}
	report := BatchReport{Records: 1, Reason: f.Cause, Started: p.cfg.Clock.Now()}
	if p.deadLetter(ctx, m, f, "") {
		p.delete(ctx, []string{m.ReceiptHandle}, "after dead-lettering")
		report.DeadLettered = []string{m.MessageID}
	} else {
		report.Failed = []string{m.MessageID}
	}
	report.Duration = p.cfg.Clock.Now().Sub(report.Started)
	p.report(report)
}

// deadLetter sends m's body to the dead-letter queue with f as its reason
// and reports whether it is there.
func (p *Pipe) deadLetter(ctx context.Context, m Message, f failure, executionID string) bool {
	if p.cfg.DeadLetters == nil {
		return false
	}
	text, err := encodeJSON(f)
	if err != nil {
		p.fail(fmt.Errorf("pipes: dead-letter %s: %w", m.MessageID, err))
		return false
	}
	attrs := map[string]string{
		workflow.DLQAttrError:     f.Error,
		workflow.DLQAttrFailure:   string(text),
		workflow.DLQAttrMessageID: m.MessageID,
	}
	if executionID != "" {
		attrs[workflow.DLQAttrExecutionID] = executionID
	}
	dctx, cancel := context.WithTimeout(ctx, p.cfg.SettleDeadline)
	defer cancel()
	if err := p.cfg.DeadLetters.Send(dctx, m.Body, attrs); err != nil {
		// It stays on the source queue and is tried again when it reappears.
		p.fail(fmt.Errorf("pipes: dead-letter %s (%s): %w", m.MessageID, f.Error, err))
		return false
	}
	return true
}

// lastReceive reports whether m will not be received again: its receive
// count has reached the source queue's maxReceiveCount.
func (p *Pipe) lastReceive(m Message) bool {
	if p.cfg.MaxReceiveCount == 0 {
		return false
	}
	n, err := strconv.Atoi(m.Attributes[workflow.AttrApproximateReceiveCount])
	return err == nil && n >= p.cfg.MaxReceiveCount
}

func (p *Pipe) fail(err error) {
	if p.cfg.OnError != nil {
		p.cfg.OnError(err)
	}
}
