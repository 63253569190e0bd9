package inspect

import (
	"context"
	"fmt"
	"strings"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
)

// CloudFormationAPI is the part of the CloudFormation client ReadStack uses.
type CloudFormationAPI interface {
	DescribeStacks(ctx context.Context, in *cloudformation.DescribeStacksInput, opts ...func(*cloudformation.Options)) (*cloudformation.DescribeStacksOutput, error)
	ListStackResources(ctx context.Context, in *cloudformation.ListStackResourcesInput, opts ...func(*cloudformation.Options)) (*cloudformation.ListStackResourcesOutput, error)
}

// StackInfo names the deployed pipeline's resources.
type StackInfo struct {
	QueueURL, DLQURL string
	Bucket           string // the attachment bucket (output BucketName)
	LogGroup         string // the state machine's log group
	// StateMachineARN is the state machine's ARN, which the task result
	// lines leave out of the executions they name.
	StateMachineARN string
	// TaskLogGroups are the log groups of the four tasks the state machine
	// invokes, whose result lines tell each mail's outcome.
	TaskLogGroups TaskLogGroups
	LockTable     string
	// DeliveryTable and SuppressionTable are the delivery feedback's tables,
	// "" when the stack has none.
	DeliveryTable, SuppressionTable string
}

// TaskLogGroups names the log group of each task the state machine invokes.
type TaskLogGroups struct {
	AcquireLock, FetchAttachments, Send, ReleaseLock string
}

// Map returns the groups by task name, for [TaskLogSource.Groups]; nil
// when any is unknown.
func (g TaskLogGroups) Map() map[string]string {
	if g.AcquireLock == "" || g.FetchAttachments == "" || g.Send == "" || g.ReleaseLock == "" {
		return nil
	}
	return map[string]string{TaskAcquireLock: g.AcquireLock, TaskFetchAttachments: g.FetchAttachments, TaskSend: g.Send, TaskReleaseLock: g.ReleaseLock}
}

// ReadStack finds the pipeline's resources in its CloudFormation stack: the
// queues from the outputs QueueUrl and DeadLetterQueueUrl, the attachment
// bucket from BucketName, the state
// machine's log group, the task log groups and the lock table from the
// stack's resources (the log group whose logical id names the state
// machine's logs, those whose logical ids name a task's logs
// ("<task>Logs", infra's construct ids), and the
// DynamoDB table; the delivery and suppression tables are those whose
// logical ids say so). api nil uses the default credential chain in region.
func ReadStack(ctx context.Context, api CloudFormationAPI, region, stack string) (StackInfo, error) {
	var info StackInfo
	if api == nil {
		var opts []func(*config.LoadOptions) error
		if region != "" {
			opts = append(opts, config.WithRegion(region))
		}
		cfg, err := config.LoadDefaultConfig(ctx, opts...)
		if err != nil {
			return info, fmt.Errorf("AWS configuration: %w", err)
		}
		api = cloudformation.NewFromConfig(cfg)
	}
	out, err := api.DescribeStacks(ctx, &cloudformation.DescribeStacksInput{StackName: aws.String(stack)})
	if err != nil {
		return info, fmt.Errorf("stack %s: %w", stack, err)
	}
	if len(out.Stacks) == 0 {
		return info, fmt.Errorf("stack %s: not found", stack)
	}
	for _, o := range out.Stacks[0].Outputs {
		switch aws.ToString(o.OutputKey) {
		case "QueueUrl":
			info.QueueURL = aws.ToString(o.OutputValue)
		case "DeadLetterQueueUrl":
			info.DLQURL = aws.ToString(o.OutputValue)
		case "BucketName":
			info.Bucket = aws.ToString(o.OutputValue)
		}
	}
	var tables []string
	in := &cloudformation.ListStackResourcesInput{StackName: aws.String(stack)}
	for {
		res, err := api.ListStackResources(ctx, in)
		if err != nil {
			return info, fmt.Errorf("resources of stack %s: %w", stack, err)
		}
		for _, r := range res.StackResourceSummaries {
			logical, physical := aws.ToString(r.LogicalResourceId), aws.ToString(r.PhysicalResourceId)
			switch aws.ToString(r.ResourceType) {
			case "AWS::StepFunctions::StateMachine":
				info.StateMachineARN = physical
			case "AWS::Logs::LogGroup":
				switch {
				case strings.Contains(logical, "StateMachineLogs"):
					info.LogGroup = physical
				case strings.Contains(logical, TaskAcquireLock+"Logs"):
					info.TaskLogGroups.AcquireLock = physical
				case strings.Contains(logical, TaskFetchAttachments+"Logs"):
					info.TaskLogGroups.FetchAttachments = physical
				case strings.Contains(logical, TaskSend+"Logs"):
					info.TaskLogGroups.Send = physical
				case strings.Contains(logical, TaskReleaseLock+"Logs"):
					info.TaskLogGroups.ReleaseLock = physical
				}
			case "AWS::DynamoDB::Table", "AWS::DynamoDB::GlobalTable":
				switch l := strings.ToLower(logical); {
				case strings.Contains(l, "suppression"):
					info.SuppressionTable = physical
				case strings.Contains(l, "delivery"):
					info.DeliveryTable = physical
				case strings.Contains(l, "lock"):
					tables = append([]string{physical}, tables...)
				default:
					tables = append(tables, physical)
				}
			}
		}
		if res.NextToken == nil || *res.NextToken == "" {
			break
		}
		in.NextToken = res.NextToken
	}
	if len(tables) > 0 {
		info.LockTable = tables[0]
	}
	return info, nil
}
