package main

import (
	"context"
	"errors"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/mailflow/mailflow/internal/awsrun"
	"github.com/mailflow/mailflow/internal/taskkit"
	"github.com/mailflow/mailflow/lock/dynamolock"
	acquirelock "github.com/mailflow/mailflow/tasks/acquire-lock"
)

// build reads LOCK_TABLE and the task's variables (see
// acquirelock.ConfigFromEnv) and wires the handler to DynamoDB.
func build(_ context.Context, env taskkit.Env, cfg aws.Config, log *slog.Logger) (awsrun.Handler[acquirelock.In, acquirelock.Out], error) {
	var p taskkit.Problems
	table := taskkit.Required(env, &p, taskkit.EnvLockTable)
	c, cerr := acquirelock.ConfigFromEnv(env)
	if err := errors.Join(p.Err(), cerr); err != nil {
		return nil, err
	}
	locks, err := dynamolock.New(dynamodb.NewFromConfig(cfg), table)
	if err != nil {
		return nil, err
	}
	h, err := acquirelock.New(c, acquirelock.Deps{Locks: locks, Log: log})
	if err != nil {
		return nil, err
	}
	return h.Handle, nil
}
