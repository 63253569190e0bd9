package main

import (
	"context"
	"errors"
	"log/slog"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"

	"github.com/mailflow/mailflow/internal/awsrun"
	"github.com/mailflow/mailflow/internal/taskkit"
	"github.com/mailflow/mailflow/store/s3store"
	fetchattachments "github.com/mailflow/mailflow/tasks/fetch-attachments"
)

// build reads ATTACHMENT_BUCKET, S3_USE_PATH_STYLE and the task's variables
// (see fetchattachments.ConfigFromEnv) and wires the handler to S3.
func build(_ context.Context, env taskkit.Env, cfg aws.Config, log *slog.Logger) (awsrun.Handler[fetchattachments.In, fetchattachments.Out], error) {
	var p taskkit.Problems
	bucket := taskkit.Bucket(env, &p)
	pathStyle := taskkit.Bool(env, &p, taskkit.EnvS3PathStyle)
	c, cerr := fetchattachments.ConfigFromEnv(env)
	if err := errors.Join(p.Err(), cerr); err != nil {
		return nil, err
	}
	st, err := s3store.New(s3.NewFromConfig(cfg, func(o *s3.Options) { o.UsePathStyle = pathStyle }), bucket)
	if err != nil {
		return nil, err
	}
	h, err := fetchattachments.New(c, fetchattachments.Deps{Store: st, Log: log})
	if err != nil {
		return nil, err
	}
	return h.Handle, nil
}
