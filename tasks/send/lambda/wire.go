package main

import (
	"context"
	"errors"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/mailflow/mailflow/internal/awspacing"
	"github.com/mailflow/mailflow/internal/awsrun"
	"github.com/mailflow/mailflow/internal/taskkit"
	"github.com/mailflow/mailflow/lock/dynamolock"
	"github.com/mailflow/mailflow/sender/sessender"
	"github.com/mailflow/mailflow/store/s3store"
	"github.com/mailflow/mailflow/tasks/send"
)

// build reads LOCK_TABLE, ATTACHMENT_BUCKET, S3_USE_PATH_STYLE, the
// task's variables (see send.ConfigFromEnv) and the pacing ones
// (taskkit.PacingFromEnv), and wires the handler to DynamoDB, S3 and SES
// v2. With pacing on, the shared bucket is the pacer item in the lock table
// (dynamopacer) and, unless SES_MAX_SEND_RATE fixes the rate, the quota
// comes from SES GetAccount.
//
// The SES client makes one attempt per call: SendEmail has no idempotency
// token, so an SDK retry after a lost answer could send twice. Retries are
// the state machine's, each one a new attempt on the lock.
func build(_ context.Context, env taskkit.Env, cfg aws.Config, log *slog.Logger) (awsrun.Handler[send.In, send.Out], error) {
	var p taskkit.Problems
	table := taskkit.Required(env, &p, taskkit.EnvLockTable)
	bucket := taskkit.Bucket(env, &p)
	pathStyle := taskkit.Bool(env, &p, taskkit.EnvS3PathStyle)
	c, cerr := send.ConfigFromEnv(env)
	pacing, perr := taskkit.PacingFromEnv(env)
	if err := errors.Join(p.Err(), cerr, perr); err != nil {
		return nil, err
	}
	ddb := dynamodb.NewFromConfig(cfg)
	locks, err := dynamolock.New(ddb, table)
	if err != nil {
		return nil, err
	}
	st, err := s3store.New(s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = pathStyle }), bucket)
	if err != nil {
		return nil, err
	}
	sesClient := sesv2.NewFromConfig(cfg, func(o *sesv2.Options) { o.RetryMaxAttempts = 1 })
	ses, err := sessender.New(sesClient)
	if err != nil {
		return nil, err
	}
	deps := send.Deps{Locks: locks, Store: st, Sender: ses, Log: log}
	if pacing.Enabled {
		if deps.Pacer, err = awspacing.New(ddb, sesClient, table, pacing); err != nil {
			return nil, err
		}
	}
	h, err := send.New(c, deps)
	if err != nil {
		return nil, err
	}
	return h.Handle, nil
}
