package main

import (
	"context"
	"errors"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/mailflow/mailflow/internal/awsrun"
	"github.com/mailflow/mailflow/internal/taskkit"
	"github.com/mailflow/mailflow/pacer"
	"github.com/mailflow/mailflow/pacer/dynamopacer"
	"github.com/mailflow/mailflow/pacer/sesquota"
	reservesends "github.com/mailflow/mailflow/tasks/reserve-sends"
)

// build reads LOCK_TABLE and the pacing variables (taskkit.PacingFromEnv)
// and wires the handler to the pacer the Send task uses: the pacer item in
// the lock table (dynamopacer) and, unless SES_MAX_SEND_RATE fixes the
// rate, the quota from SES GetAccount. With pacing off there is no pacer
// and every grant is 0; LOCK_TABLE is required either way, as the stack
// always sets it.
func build(_ context.Context, env taskkit.Env, cfg aws.Config, log *slog.Logger) (awsrun.Handler[reservesends.In, reservesends.Out], error) {
	var p taskkit.Problems
	table := taskkit.Required(env, &p, taskkit.EnvLockTable)
	pacing, perr := taskkit.PacingFromEnv(env)
	if err := errors.Join(p.Err(), perr); err != nil {
		return nil, err
	}
	deps := reservesends.Deps{Log: log}
	if pacing.Enabled {
		bucket, err := dynamopacer.New(dynamodb.NewFromConfig(cfg), table, dynamopacer.Options{})
		if err != nil {
			return nil, err
		}
		// A configured rate needs no GetAccount (nor its IAM grant).
		var account pacer.AccountFunc
		if pacing.Rate == 0 {
			if account, err = sesquota.Account(sesv2.NewFromConfig(cfg)); err != nil {
				return nil, err
			}
		}
		pc, err := pacer.New(bucket, pacer.Config{Rate: pacing.Rate, Account: account, MaxWait: pacing.MaxWait})
		if err != nil {
			return nil, err
		}
		deps.Pacer = pc
	}
	h, err := reservesends.New(deps)
	if err != nil {
		return nil, err
	}
	return h.Handle, nil
}
