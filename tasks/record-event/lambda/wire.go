package main

import (
	"context"
	"log/slog"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	awseb "github.com/aws/aws-sdk-go-v2/service/eventbridge"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/mailflow/mailflow/delivery/dynamodelivery"
	"github.com/mailflow/mailflow/internal/awsrun"
	"github.com/mailflow/mailflow/internal/taskkit"
	"github.com/mailflow/mailflow/lock/dynamolock"
	"github.com/mailflow/mailflow/notify/eventbridge"
	"github.com/mailflow/mailflow/suppression/dynamosuppression"
	recordevent "github.com/mailflow/mailflow/tasks/record-event"
)

// build reads LOCK_TABLE, DELIVERY_TABLE, SUPPRESSION_TABLE, OUTCOME_BUS
// and EVENTS_DLQ_URL and wires the handler to DynamoDB, EventBridge and SQS.
func build(_ context.Context, env taskkit.Env, cfg aws.Config, log *slog.Logger) (awsrun.Handler[events.SQSEvent, events.SQSEventResponse], error) {
	var p taskkit.Problems
	lockTable := taskkit.Required(env, &p, taskkit.EnvLockTable)
	deliveryTable := taskkit.Required(env, &p, taskkit.EnvDeliveryTable)
	suppressionTable := taskkit.Required(env, &p, taskkit.EnvSuppressionTable)
	bus := taskkit.Required(env, &p, taskkit.EnvOutcomeBus)
	dlq := taskkit.Required(env, &p, taskkit.EnvEventsDeadLetterQueue)
	if err := p.Err(); err != nil {
		return nil, err
	}
	ddb := dynamodb.NewFromConfig(cfg)
	locks, err := dynamolock.New(ddb, lockTable)
	if err != nil {
		return nil, err
	}
	deliveries, err := dynamodelivery.New(ddb, deliveryTable)
	if err != nil {
		return nil, err
	}
	suppressions, err := dynamosuppression.New(ddb, suppressionTable)
	if err != nil {
		return nil, err
	}
	publisher, err := eventbridge.New(awseb.NewFromConfig(cfg), bus)
	if err != nil {
		return nil, err
	}
	h, err := recordevent.New(recordevent.Config{}, recordevent.Deps{
		Deliveries: deliveries, Suppressions: suppressions, Locks: locks, Publisher: publisher, Log: log,
	})
	if err != nil {
		return nil, err
	}
	b := &batch{rec: h, sqs: sqs.NewFromConfig(cfg), dlqURL: dlq, log: log}
	return b.Handle, nil
}
