package main

import (
	"context"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"

	"github.com/mailflow/mailflow/internal/awsrun"
	"github.com/mailflow/mailflow/internal/taskkit"
	"github.com/mailflow/mailflow/lock/dynamolock"
	releaselock "github.com/mailflow/mailflow/tasks/release-lock"
)

// build reads LOCK_TABLE and wires the handler to DynamoDB.
func build(_ context.Context, env taskkit.Env, cfg aws.Config, log *slog.Logger) (awsrun.Handler[releaselock.In, releaselock.Out], error) {
	var p taskkit.Problems
	table := taskkit.Required(env, &p, taskkit.EnvLockTable)
	if err := p.Err(); err != nil {
		return nil, err
	}
	locks, err := dynamolock.New(dynamodb.NewFromConfig(cfg), table)
	if err != nil {
		return nil, err
	}
	h, err := releaselock.New(releaselock.Deps{Locks: locks, Log: log})
	if err != nil {
		return nil, err
	}
	return h.Handle, nil
}
