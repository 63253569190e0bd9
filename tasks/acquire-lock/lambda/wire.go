package main

import (
	"context"
	"errors"
	"log/slog"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/mailflow/mailflow/eventqueue/sqsqueue"
	"github.com/mailflow/mailflow/internal/awsrun"
	"github.com/mailflow/mailflow/internal/taskkit"
	"github.com/mailflow/mailflow/lock/dynamolock"
	"github.com/mailflow/mailflow/suppression/dynamosuppression"
	acquirelock "github.com/mailflow/mailflow/tasks/acquire-lock"
)

// build reads LOCK_TABLE, SUPPRESSION_TABLE, EVENTS_QUEUE_URL and the
// task's variables (see acquirelock.ConfigFromEnv) and wires the handler
// to DynamoDB and SQS. Without SUPPRESSION_TABLE or EVENTS_QUEUE_URL (a
// stack from before delivery feedback) nothing is checked against a
// suppression list or told to the events queue; the stack sets both.
func build(_ context.Context, env taskkit.Env, cfg aws.Config, log *slog.Logger) (awsrun.Handler[acquirelock.In, acquirelock.Out], error) {
	var p taskkit.Problems
	table := taskkit.Required(env, &p, taskkit.EnvLockTable)
	c, cerr := acquirelock.ConfigFromEnv(env)
	if err := errors.Join(p.Err(), cerr); err != nil {
		return nil, err
	}
	ddb := dynamodb.NewFromConfig(cfg)
	locks, err := dynamolock.New(ddb, table)
	if err != nil {
		return nil, err
	}
	deps := acquirelock.Deps{Locks: locks, Log: log}
	if name := strings.TrimSpace(env(taskkit.EnvSuppressionTable)); name != "" {
		if deps.Suppressions, err = dynamosuppression.New(ddb, name); err != nil {
			return nil, err
		}
	}
	if url := strings.TrimSpace(env(taskkit.EnvEventsQueue)); url != "" {
		if deps.Events, err = sqsqueue.New(sqs.NewFromConfig(cfg), url); err != nil {
			return nil, err
		}
	}
	h, err := acquirelock.New(c, deps)
	if err != nil {
		return nil, err
	}
	return h.Handle, nil
}
