package inspect

import (
	"context"
	"errors"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
)

// fakeStack answers as CloudFormation does for a deployed mailflow stack,
// its resources in pages of two.
type fakeStack struct{ resources []types.StackResourceSummary }

func (f fakeStack) DescribeStacks(_ context.Context, in *cloudformation.DescribeStacksInput, _ ...func(*cloudformation.Options)) (*cloudformation.DescribeStacksOutput, error) {
	if aws.ToString(in.StackName) != "mailflow" {
		return nil, errors.New("ValidationError: Stack with id " + aws.ToString(in.StackName) + " does not exist")
	}
	return &cloudformation.DescribeStacksOutput{Stacks: []types.Stack{{StackName: in.StackName, Outputs: []types.Output{
		{OutputKey: aws.String("QueueUrl"), OutputValue: aws.String("https://sqs.eu-west-1.amazonaws.com/1/mailflow-MailQueue")},
		{OutputKey: aws.String("DeadLetterQueueUrl"), OutputValue: aws.String("https://sqs.eu-west-1.amazonaws.com/1/mailflow-MailDLQ")},
		{OutputKey: aws.String("BucketName"), OutputValue: aws.String("bucket")},
	}}}}, nil
}

func (f fakeStack) ListStackResources(_ context.Context, in *cloudformation.ListStackResourcesInput, _ ...func(*cloudformation.Options)) (*cloudformation.ListStackResourcesOutput, error) {
	start := 0
	if in.NextToken != nil {
		start = int(aws.ToString(in.NextToken)[0] - '0')
	}
	end := min(start+2, len(f.resources))
	out := &cloudformation.ListStackResourcesOutput{StackResourceSummaries: f.resources[start:end]}
	if end < len(f.resources) {
		out.NextToken = aws.String(string(rune('0' + end)))
	}
	return out, nil
}

func res(typ, logical, physical string) types.StackResourceSummary {
	return types.StackResourceSummary{ResourceType: aws.String(typ), LogicalResourceId: aws.String(logical), PhysicalResourceId: aws.String(physical)}
}

func TestReadStack(t *testing.T) {
	t.Parallel()
	api := fakeStack{resources: []types.StackResourceSummary{
		res("AWS::Logs::LogGroup", "MailSendLogsA1B2", "/aws/lambda/mailflow-send"),
		res("AWS::Logs::LogGroup", "MailAcquireLockLogs11AA", "/aws/lambda/mailflow-acquirelock"),
		res("AWS::Logs::LogGroup", "MailFetchAttachmentsLogs22BB", "/aws/lambda/mailflow-fetch"),
		res("AWS::Logs::LogGroup", "MailReleaseLockLogs33CC", "/aws/lambda/mailflow-release"),
		res("AWS::Logs::LogGroup", "MailRecordEventLogs44DD", "/aws/lambda/mailflow-record"),
		res("AWS::SQS::Queue", "MailQueue1234", "https://sqs/1/q"),
		res("AWS::Logs::LogGroup", "MailStateMachineLogs5F6E", "/aws/vendedlogs/states/mailflow-mail-x1y2"),
		res("AWS::Logs::LogGroup", "MailPipeLogs9A8B", "/aws/vendedlogs/pipes/mailflow-mail-x1y2"),
		res("AWS::StepFunctions::StateMachine", "MailStateMachine0E1F", "arn:aws:states:eu-west-1:1:stateMachine:mailflow-mail-x1y2"),
		res("AWS::DynamoDB::Table", "MailDeliveryTable1A2B", "mailflow-MailDeliveryTable-ABC"),
		res("AWS::DynamoDB::Table", "MailLockTable7C8D", "mailflow-MailLockTable-XYZ"),
		res("AWS::DynamoDB::Table", "MailSuppressionTable3C4D", "mailflow-MailSuppressionTable-DEF"),
	}}
	info, err := ReadStack(context.Background(), api, "", "mailflow")
	if err != nil {
		t.Fatal(err)
	}
	want := StackInfo{QueueURL: "https://sqs.eu-west-1.amazonaws.com/1/mailflow-MailQueue", DLQURL: "https://sqs.eu-west-1.amazonaws.com/1/mailflow-MailDLQ", Bucket: "bucket",
		LogGroup: "/aws/vendedlogs/states/mailflow-mail-x1y2", StateMachineARN: "arn:aws:states:eu-west-1:1:stateMachine:mailflow-mail-x1y2",
		TaskLogGroups: TaskLogGroups{AcquireLock: "/aws/lambda/mailflow-acquirelock", FetchAttachments: "/aws/lambda/mailflow-fetch",
			Send: "/aws/lambda/mailflow-send", ReleaseLock: "/aws/lambda/mailflow-release"},
		LockTable:     "mailflow-MailLockTable-XYZ",
		DeliveryTable: "mailflow-MailDeliveryTable-ABC", SuppressionTable: "mailflow-MailSuppressionTable-DEF"}
	if info != want {
		t.Fatalf("got %+v\nwant %+v", info, want)
	}
	if _, err := ReadStack(context.Background(), api, "", "other"); err == nil {
		t.Fatal("an unknown stack was read")
	}
}
