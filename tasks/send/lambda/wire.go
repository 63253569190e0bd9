package main

import (
	"context"
	"errors"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/aws-sdk-go-v2/service/sesv2"

	"github.com/mailflow/mailflow/internal/awsrun"
	"github.com/mailflow/mailflow/internal/taskkit"
	"github.com/mailflow/mailflow/lock/dynamolock"
	"github.com/mailflow/mailflow/sender/sessender"
	"github.com/mailflow/mailflow/store/s3store"
	"github.com/mailflow/mailflow/tasks/send"
)

// build reads LOCK_TABLE, ATTACHMENT_BUCKET, S3_USE_PATH_STYLE and the
// task's variables (see send.ConfigFromEnv) and wires the handler to
// DynamoDB, S3 and SES v2.
//
// The SES client makes one attempt per call: SendEmail has no idempotency
// token, so an SDK retry after a lost answer could send twice. Retries are
// the state machine's, after the handler has renewed its lease.
func build(_ context.Context, env taskkit.Env, cfg aws.Config, log *slog.Logger) (awsrun.Handler[send.In, send.Out], error) {
	var p taskkit.Problems
	table := taskkit.Required(env, &p, taskkit.EnvLockTable)
	bucket := taskkit.Bucket(env, &p)
	pathStyle := taskkit.Bool(env, &p, taskkit.EnvS3PathStyle)
	c, cerr := send.ConfigFromEnv(env)
	if err := errors.Join(p.Err(), cerr); err != nil {
		return nil, err
	}
	locks, err := dynamolock.New(dynamodb.NewFromConfig(cfg), table)
	if err != nil {
		return nil, err
	}
	st, err := s3store.New(s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = pathStyle }), bucket)
	if err != nil {
		return nil, err
	}
	ses, err := sessender.New(sesv2.NewFromConfig(cfg, func(o *sesv2.Options) { o.RetryMaxAttempts = 1 }))
	if err != nil {
		return nil, err
	}
	h, err := send.New(c, send.Deps{Locks: locks, Store: st, Sender: ses, Log: log})
	if err != nil {
		return nil, err
	}
	return h.Handle, nil
}
