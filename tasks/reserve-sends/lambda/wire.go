package main

import (
	"context"
	"errors"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/mailflow/mailflow/internal/awspacing"
	"github.com/mailflow/mailflow/internal/awsrun"
	"github.com/mailflow/mailflow/internal/taskkit"
	reservesends "github.com/mailflow/mailflow/tasks/reserve-sends"
)

// build reads LOCK_TABLE and the pacing variables (taskkit.PacingFromEnv)
// and wires the handler to the pacer the Send task uses (awspacing). With pacing off there is no pacer
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
		pc, err := awspacing.New(dynamodb.NewFromConfig(cfg), sesv2.NewFromConfig(cfg), table, pacing)
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
