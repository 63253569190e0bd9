package local

import (
	"context"
	"strconv"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs/types"

	"github.com/mailflow/mailflow/inspect"
	"github.com/mailflow/mailflow/local/sqsstore"
)

// deadLetterStore is inspect's DeadLetterStore over the queue store: it
// reads the dead-letter queue with Peek, so a listing receives nothing.
type deadLetterStore struct {
	store *sqsstore.Store
	queue string
}

var _ inspect.DeadLetterStore = deadLetterStore{}

func (d deadLetterStore) PeekDeadLetters(ctx context.Context, after string, limit int) ([]types.Message, bool, error) {
	msgs, more, err := d.store.Peek(ctx, d.queue, after, limit)
	if err != nil {
		return nil, false, err
	}
	out := make([]types.Message, len(msgs))
	for i := range msgs {
		out[i] = sdkMessage(&msgs[i])
	}
	return out, more, nil
}

func (d deadLetterStore) DeleteDeadLetter(ctx context.Context, messageID string) (bool, error) {
	return d.store.DeleteByID(ctx, d.queue, messageID)
}

// sdkMessage is the message as ReceiveMessage would give it, with all its
// attributes (and no receipt handle: nothing was received).
func sdkMessage(m *sqsstore.Message) types.Message {
	out := types.Message{MessageId: aws.String(m.MessageID), Body: aws.String(m.Body), MD5OfBody: aws.String(m.MD5OfBody),
		Attributes: m.SystemAttributes()}
	if m.ApproximateFirstReceiveTimestamp.IsZero() {
		out.Attributes[string(types.MessageSystemAttributeNameApproximateFirstReceiveTimestamp)] = strconv.Itoa(0)
	}
	if len(m.Attributes) > 0 {
		out.MessageAttributes = make(map[string]types.MessageAttributeValue, len(m.Attributes))
		for k, v := range m.Attributes {
			a := types.MessageAttributeValue{DataType: aws.String(v.DataType), BinaryValue: v.BinaryValue}
			if v.BinaryValue == nil {
				a.StringValue = aws.String(v.StringValue)
			}
			out.MessageAttributes[k] = a
		}
	}
	return out
}
