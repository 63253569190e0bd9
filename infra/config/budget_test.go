package config_test

import (
	"bytes"
	"encoding/json"
	"errors"
	"strconv"
	"strings"
	"testing"

	"github.com/mailflow/mailflow/infra/config"
	"github.com/mailflow/mailflow/workflow"
)

// worstRecord is the largest record a pipe can build from an SQS message of
// size bytes: every counted byte is a '"' (two bytes as a JSON string), ten
// message attributes, and the longest envelope fields AWS sends.
func worstRecord(size int) workflow.Record {
	attrs := map[string]workflow.MessageAttribute{}
	for i := range 10 {
		// SQS counts each name, data type and value.
		name, value := `"`+strconv.Itoa(i), `"`
		size -= len(name) + len("String") + len(value)
		attrs[name] = workflow.MessageAttribute{StringValue: &value, StringListValues: []string{}, BinaryListValues: [][]byte{}, DataType: "String"}
	}
	return workflow.Record{
		MessageID:     "8f3c2a1e-0000-4000-8000-000000000000",
		ReceiptHandle: strings.Repeat("R", 1024),
		Body:          strings.Repeat(`"`, max(size, 0)),
		Attributes: map[string]string{
			workflow.AttrApproximateReceiveCount:          "1000",
			workflow.AttrSentTimestamp:                    "1700000000000",
			workflow.AttrSenderID:                         "AROAXXXXXXXXXXXXXXXXX:" + strings.Repeat("s", 64),
			workflow.AttrApproximateFirstReceiveTimestamp: "1700000000000",
			workflow.AttrAWSTraceHeader:                   "Root=1-5759e988-bd862e3fe1be46a994272793;Parent=53995c3f42cd8ad8;Sampled=1;Lineage=" + strings.Repeat("l", 64),
		},
		MessageAttributes: attrs,
		MD5OfBody:         strings.Repeat("m", 32),
		EventSource:       workflow.EventSourceSQS,
		EventSourceARN:    "arn:aws-us-gov:sqs:ap-southeast-100:123456789012:" + strings.Repeat("q", 80),
		AWSRegion:         "ap-southeast-100",
	}
}

// encodedInput is the execution input of n records, encoded as the pipe
// does (no HTML escaping).
func encodedInput(t *testing.T, rec workflow.Record, n int) []byte {
	t.Helper()
	batch := make(workflow.Batch, n)
	for i := range batch {
		batch[i] = rec
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(batch); err != nil {
		t.Fatal(err)
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
}

// TestRecordEnvelopeBound: what a record adds around the bytes SQS counts
// stays within RecordEnvelopeBytes, and a message of nothing but quotes
// reaches the growth factor.
func TestRecordEnvelopeBound(t *testing.T) {
	const size = 10_000
	rec := encodedInput(t, worstRecord(size), 1)
	envelope := len(rec) - 2 - config.EncodedGrowthFactor*size
	if envelope > config.RecordEnvelopeBytes {
		t.Fatalf("the envelope of the worst record is %d bytes, over RecordEnvelopeBytes %d", envelope, config.RecordEnvelopeBytes)
	}
	// Each counted byte more takes two bytes more: the factor is reached.
	if more := len(encodedInput(t, worstRecord(2*size), 1)) - len(rec); more != config.EncodedGrowthFactor*size {
		t.Fatalf("%d counted bytes more took %d bytes more, want %d", size, more, config.EncodedGrowthFactor*size)
	}
	t.Logf("worst envelope %d bytes (RecordEnvelopeBytes %d)", envelope, config.RecordEnvelopeBytes)
}

func validated(maxMessage, batch int) error {
	c := config.Default()
	c.SES.Identities, c.SES.AllowedFrom = []string{"example.com"}, []string{"billing@example.com"}
	c.Queue.MaxMessageSizeBytes, c.Pipe.BatchSize = maxMessage, batch
	return c.Validate()
}

func problemOf(t *testing.T, err error, field string) string {
	t.Helper()
	var ce *config.Error
	if !errors.As(err, &ce) {
		t.Fatalf("error %v, want a problem on %s", err, field)
	}
	for _, p := range ce.Problems {
		if p.Field == field {
			return p.Message
		}
	}
	t.Fatalf("no problem on %s in %v", field, err)
	return ""
}

// TestBatchBudgetCountsEncodedGrowth: the budget accepts exactly the
// configurations whose worst batch, as the pipe encodes it, fits the
// execution input, and names the sizes when it refuses one.
func TestBatchBudgetCountsEncodedGrowth(t *testing.T) {
	// Without growth, ten 16 KiB messages looked like 184,320 bytes; with
	// it they can take 358,411.
	msg := problemOf(t, validated(16*1024, 10), "pipe.batchSize")
	for _, want := range []string{"10 records", "16384 bytes", "358411 bytes", "262144", "at most 7"} {
		if !strings.Contains(msg, want) {
			t.Errorf("pipe.batchSize problem %q does not name %q", msg, want)
		}
	}
	if err := validated(16*1024, 7); err != nil {
		t.Errorf("7 records of 16 KiB: %v", err)
	}

	limit := config.MaxMessageSizeThatFits()
	if err := validated(limit, 1); err != nil {
		t.Errorf("one message of %d bytes: %v", limit, err)
	}
	msg = problemOf(t, validated(limit+1, 1), "queue.maxMessageSizeBytes")
	for _, want := range []string{strconv.Itoa(limit + 1), strconv.Itoa(2*(limit+1) + config.RecordEnvelopeBytes + 2), "262144", "at most " + strconv.Itoa(limit)} {
		if !strings.Contains(msg, want) {
			t.Errorf("queue.maxMessageSizeBytes problem %q does not name %q", msg, want)
		}
	}

	// What the rules accept really fits, at the worst.
	for _, c := range []struct{ maxMessage, batch int }{
		{limit, 1},
		{16 * 1024, config.MaxBatchSizeThatFits(16 * 1024)},
		{1024, config.MaxBatchSizeThatFits(1024)},
		{config.Default().Queue.MaxMessageSizeBytes, config.Default().Pipe.BatchSize},
	} {
		if err := validated(c.maxMessage, c.batch); err != nil {
			t.Errorf("%d × %d bytes: %v", c.batch, c.maxMessage, err)
			continue
		}
		if n := len(encodedInput(t, worstRecord(c.maxMessage), c.batch)); n > config.PipePayloadBytes {
			t.Errorf("%d × %d bytes passed the budget, yet the worst input is %d bytes", c.batch, c.maxMessage, n)
		}
		if err := validated(c.maxMessage, c.batch+1); err == nil {
			t.Errorf("%d × %d bytes passed the budget: it is not the largest batch that fits", c.batch+1, c.maxMessage)
		}
	}
}
