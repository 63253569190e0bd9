package cli

// This file is the CLI's wiring: the one place that decides which adapters
// the inspection commands read, the local data directory's (through
// package local) or AWS's (opened here), and hands them to package inspect
// as its ports.

import (
	"context"
	"errors"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudwatchlogs"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/sqs"

	"github.com/mailflow/mailflow/delivery"
	"github.com/mailflow/mailflow/delivery/dynamodelivery"
	"github.com/mailflow/mailflow/inspect"
	"github.com/mailflow/mailflow/local"
	"github.com/mailflow/mailflow/lock/dynamolock"
	"github.com/mailflow/mailflow/suppression"
	"github.com/mailflow/mailflow/suppression/dynamosuppression"
)

// readStack is replaced by tests.
var readStack = func(ctx context.Context, region, stack string) (inspect.StackInfo, error) {
	return inspect.ReadStack(ctx, nil, region, stack)
}

// openAWS is replaced by tests that point --aws at emulators.
var openAWS = openAWSBackend

// openLocal is replaced by tests that hand the commands in-memory stores.
var openLocal = openLocalInspection

// openLocalInspection opens the data directory's stores, saying first when
// there is no directory at all: the usual mistake is a command run before
// `mailflow dev`, or in another working directory.
func openLocalInspection(ctx context.Context, o local.InspectOptions) (*inspect.Backend, error) {
	if _, err := os.Stat(o.DataDir); errors.Is(err, os.ErrNotExist) {
		return nil, &userError{msg: fmt.Sprintf("no data directory at %s", o.DataDir),
			hint:  fmt.Sprintf("the local runtime creates it: run `mailflow dev --data %s`, or name the directory with --data; --aws reads the deployed pipeline instead", o.DataDir),
			cause: err}
	}
	return local.OpenInspection(ctx, o)
}

// open is where the inspection commands get their backend: the deployed
// pipeline with --aws, else the local data directory (opened by package
// local, the wiring root of the local side).
func (o *backendOptions) open(ctx context.Context, s Streams) (*inspect.Backend, error) {
	if o.useAWS && o.stack != "" {
		info, err := readStack(ctx, o.region, o.stack)
		if err != nil {
			return nil, err
		}
		for _, f := range []struct {
			dst *string
			v   string
		}{
			{&o.queueURL, info.QueueURL}, {&o.dlqURL, info.DLQURL}, {&o.logGroup, info.LogGroup}, {&o.lockTable, info.LockTable},
			{&o.deliveryTable, info.DeliveryTable}, {&o.suppressionTable, info.SuppressionTable},
		} {
			if *f.dst == "" {
				*f.dst = f.v
			}
		}
		o.taskLogGroups, o.stateMachineARN = info.TaskLogGroups, info.StateMachineARN
		if err := o.checkNames(o.stack); err != nil {
			return nil, err
		}
	}
	if o.useAWS {
		// Searching weeks of logs takes a while: say how far it got, on
		// stderr so that --json output stays clean.
		progress := func(n int) { fmt.Fprintf(s.Err, "reading %s: %d log events\n", o.logGroup, n) }
		return openAWS(ctx, awsOptions{Region: o.region, LogGroup: o.logGroup, QueueURL: o.queueURL, DLQURL: o.dlqURL,
			LockTable: o.lockTable, DeliveryTable: o.deliveryTable, SuppressionTable: o.suppressionTable,
			Lookback: o.lookback, Progress: progress, Unmask: o.unmask,
			TaskLogGroups: o.taskLogGroups, StateMachineARN: o.stateMachineARN, Warn: func(w string) { fmt.Fprintf(s.Err, "warning: %s\n", w) }})
	}
	return openLocal(ctx, local.InspectOptions{
		DataDir: o.data, Region: local.DefaultRegion, Account: local.DefaultAccount,
		SourceQueue: local.DefaultSourceQueue, DeadLetterQueue: local.DefaultDeadLetterQueue,
	})
}

// awsOptions name the deployed resources (the stack outputs and the state
// machine's log group).
type awsOptions struct {
	Region    string
	LogGroup  string
	QueueURL  string
	DLQURL    string
	LockTable string
	// DeliveryTable and SuppressionTable are the delivery feedback's
	// DynamoDB tables; "" leaves the backend without them.
	DeliveryTable, SuppressionTable string
	// Lookback bounds log searches without a time range (default 14 days).
	Lookback time.Duration
	// Progress is told how many log events a search has read.
	Progress func(events int)
	// TaskLogGroups, when all four are named, add the task result lines
	// to what the state machine's log holds (inspect.TaskLogSource).
	TaskLogGroups inspect.TaskLogGroups
	// StateMachineARN names the executions the task lines name after it.
	StateMachineARN string
	// Warn is told of task log lines skipped.
	Warn func(string)
	// Unmask reads the execution logs through their data protection
	// policy (replay: the bodies it re-enqueues must be the mails).
	Unmask bool
	// Config, when set, is used instead of the default credential chain
	// (tests point it at emulators).
	Config *aws.Config
	// Logs, SQS and Locks, when set, replace the clients made from the
	// configuration (tests point them at emulators).
	Logs  inspect.LogsAPI
	SQS   inspect.SQSAPI
	Locks inspect.LockReader
	// Deliveries and Suppressions, when set, replace the tables' adapters.
	Deliveries   delivery.Store
	Suppressions suppression.List
}

// openAWSBackend connects to the deployed pipeline: its log group, its
// queues and its DynamoDB lock table.
func openAWSBackend(ctx context.Context, o awsOptions) (*inspect.Backend, error) {
	var cfg aws.Config
	if o.Config != nil {
		cfg = *o.Config
	} else {
		var opts []func(*config.LoadOptions) error
		if o.Region != "" {
			opts = append(opts, config.WithRegion(o.Region))
		}
		var err error
		if cfg, err = config.LoadDefaultConfig(ctx, opts...); err != nil {
			return nil, fmt.Errorf("AWS configuration: %w", err)
		}
	}
	b := &inspect.Backend{Via: "aws"}
	logs := o.Logs
	if logs == nil {
		logs = cloudwatchlogs.NewFromConfig(cfg)
	}
	sm := &inspect.LogSource{API: logs, LogGroup: o.LogGroup, Lookback: o.Lookback, Progress: o.Progress, Unmask: o.Unmask}
	b.Source = sm
	if groups := o.TaskLogGroups.Map(); groups != nil {
		b.Source = &inspect.TaskLogSource{Logs: sm, Groups: groups, StateMachineARN: o.StateMachineARN, Warn: o.Warn}
	}
	var queues inspect.SQSAPI = sqs.NewFromConfig(cfg)
	if o.SQS != nil {
		queues = o.SQS
	}
	b.Queues = &inspect.Queues{API: queues, SourceURL: o.QueueURL, DLQURL: o.DLQURL}
	ddb := dynamodb.NewFromConfig(cfg)
	b.Locks, b.Deliveries, b.Suppressions = o.Locks, o.Deliveries, o.Suppressions
	var err error
	if b.Locks == nil && o.LockTable != "" {
		if b.Locks, err = dynamolock.New(ddb, o.LockTable); err != nil {
			return nil, err
		}
	}
	if b.Deliveries == nil && o.DeliveryTable != "" {
		if b.Deliveries, err = dynamodelivery.New(ddb, o.DeliveryTable); err != nil {
			return nil, err
		}
	}
	if b.Suppressions == nil && o.SuppressionTable != "" {
		if b.Suppressions, err = dynamosuppression.New(ddb, o.SuppressionTable); err != nil {
			return nil, err
		}
	}
	return b, nil
}
