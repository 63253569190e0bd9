// Package awsrun starts a mail task as a Lambda function: JSON logs on
// stdout, the AWS SDK configuration from the environment with X-Ray
// instrumentation, the task built and its configuration validated once at
// start-up, and errors handed to aws-lambda-go so that the function's
// errorType is exactly the mail error name Step Functions matches on.
//
// A configuration error stops the process at start-up with a log line
// naming every offending variable; Lambda reports it as an init failure.
package awsrun

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"

	"github.com/mailflow/mailflow/internal/taskkit"
	"github.com/mailflow/mailflow/internal/tracing"
	"github.com/mailflow/mailflow/workflow"
)

// Handler is a task's handler shape.
type Handler[In, Out any] func(context.Context, In) (Out, error)

// Build constructs a task from its environment and AWS configuration.
type Build[In, Out any] func(ctx context.Context, env taskkit.Env, cfg aws.Config, log *slog.Logger) (Handler[In, Out], error)

// Start builds the task and runs the Lambda loop; it does not return.
func Start[In, Out any](build Build[In, Out]) {
	log := slog.New(slog.NewJSONHandler(os.Stdout, nil))
	slog.SetDefault(log)
	h, err := Setup(context.Background(), os.Getenv, log, build)
	if err != nil {
		log.Error("start-up failed: check the configuration", slog.String("error", err.Error()))
		os.Exit(1)
	}
	lambda.Start(h)
}

// Setup loads the AWS configuration, instruments it and builds the task,
// returning the handler wrapped for aws-lambda-go.
func Setup[In, Out any](ctx context.Context, env taskkit.Env, log *slog.Logger, build Build[In, Out]) (func(context.Context, In) (Out, error), error) {
	cfg, err := config.LoadDefaultConfig(ctx)
	if err != nil {
		return nil, fmt.Errorf("AWS configuration: %w", err)
	}
	tracing.InstrumentAWS(&cfg)
	h, err := build(ctx, env, cfg, log)
	if err != nil {
		return nil, err
	}
	return Wrap(h), nil
}

// Wrap converts the handler's errors with workflow.LambdaError.
func Wrap[In, Out any](h Handler[In, Out]) func(context.Context, In) (Out, error) {
	return func(ctx context.Context, in In) (Out, error) {
		out, err := h(ctx, in)
		return out, workflow.LambdaError(err)
	}
}
