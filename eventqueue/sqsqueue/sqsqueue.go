// Package sqsqueue sends pipeline records to the events queue with SQS
// SendMessage, the body being the record's JSON.
package sqsqueue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/mailflow/mailflow/eventqueue"
	"github.com/mailflow/mailflow/workflow"
)

// API is the part of the SQS client the adapter uses.
type API interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, opts ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

// Queue is one events queue.
type Queue struct {
	api API
	url string
}

var _ eventqueue.Queue = (*Queue)(nil)

// New returns the adapter for the queue at url.
func New(api API, url string) (*Queue, error) {
	if api == nil {
		return nil, errors.New("sqsqueue: no client")
	}
	if !strings.HasPrefix(url, "https://") && !strings.HasPrefix(url, "http://") {
		return nil, fmt.Errorf("sqsqueue: queue URL %q is not an http(s) URL", url)
	}
	return &Queue{api: api, url: url}, nil
}

// Send sends the record.
func (q *Queue) Send(ctx context.Context, e workflow.PipelineEvent) error {
	body, err := json.Marshal(e)
	if err != nil {
		return fmt.Errorf("sqsqueue: %w", err)
	}
	if _, err := q.api.SendMessage(ctx, &sqs.SendMessageInput{QueueUrl: aws.String(q.url), MessageBody: aws.String(string(body))}); err != nil {
		return fmt.Errorf("sqsqueue: send to %s: %w", q.url, err)
	}
	return nil
}
