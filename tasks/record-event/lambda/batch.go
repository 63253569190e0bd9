package main

import (
	"context"
	"log/slog"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/sqs"
	sqstypes "github.com/aws/aws-sdk-go-v2/service/sqs/types"

	recordevent "github.com/mailflow/mailflow/tasks/record-event"
	"github.com/mailflow/mailflow/workflow"
)

type recorder interface {
	HandleBatch(ctx context.Context, bodies [][]byte) ([]recordevent.Result, []error)
}

type deadLetterSender interface {
	SendMessage(ctx context.Context, in *sqs.SendMessageInput, opts ...func(*sqs.Options)) (*sqs.SendMessageOutput, error)
}

// batch handles one SQS batch of the events queue. A record that cannot be
// read goes to the events dead-letter queue with its reason and counts as
// handled, so it never blocks the queue; one that failed otherwise is
// reported as a batch item failure and only it is retried (the event
// source mapping has ReportBatchItemFailures), until the queue's redrive
// moves it to the same dead-letter queue.
type batch struct {
	rec    recorder
	sqs    deadLetterSender
	dlqURL string
	log    *slog.Logger
}

func (b *batch) Handle(ctx context.Context, ev events.SQSEvent) (events.SQSEventResponse, error) {
	var resp events.SQSEventResponse
	bodies := make([][]byte, len(ev.Records))
	for i, r := range ev.Records {
		bodies[i] = []byte(r.Body)
	}
	results, errs := b.rec.HandleBatch(ctx, bodies)
	unknown := 0
	for i, r := range ev.Records {
		err := errs[i]
		if err == nil {
			if results[i].Unknown {
				unknown++
			}
			continue
		}
		reason, bad := recordevent.Malformed(err)
		if !bad {
			b.log.WarnContext(ctx, "event not recorded; it will be retried", slog.String("messageId", r.MessageId), slog.String("error", err.Error()))
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
			continue
		}
		if err := b.deadLetter(ctx, r, reason); err != nil {
			b.log.ErrorContext(ctx, "malformed event not dead-lettered; it will be retried", slog.String("messageId", r.MessageId), slog.String("error", err.Error()))
			resp.BatchItemFailures = append(resp.BatchItemFailures, events.SQSBatchItemFailure{ItemIdentifier: r.MessageId})
			continue
		}
		b.log.WarnContext(ctx, "malformed event dead-lettered", slog.String("messageId", r.MessageId), slog.String("reason", reason))
	}
	if unknown > 0 {
		b.log.InfoContext(ctx, "events for no known mail", slog.Int("unknownEvents", unknown))
	}
	return resp, nil
}

func (b *batch) deadLetter(ctx context.Context, r events.SQSMessage, reason string) error {
	_, err := b.sqs.SendMessage(ctx, &sqs.SendMessageInput{
		QueueUrl:    aws.String(b.dlqURL),
		MessageBody: aws.String(validBody(r.Body)),
		MessageAttributes: map[string]sqstypes.MessageAttributeValue{
			workflow.DLQAttrReason:    {DataType: aws.String("String"), StringValue: aws.String(clip(reason, 1024))},
			workflow.DLQAttrMessageID: {DataType: aws.String("String"), StringValue: aws.String(r.MessageId)},
		},
	})
	return err
}

// validBody keeps a body SQS accepts: SQS took it once, but a body is
// never empty when it is sent again.
func validBody(s string) string {
	if s == "" {
		return "(empty)"
	}
	return s
}

func clip(s string, n int) string {
	for len(s) > n {
		_, size := utf8.DecodeLastRuneInString(s)
		s = s[:len(s)-size]
	}
	return s
}
