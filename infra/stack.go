package infra

import (
	"errors"
	"fmt"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/mailflow/mailflow/infra/config"
)

// MailflowStackProps configure [NewMailflowStack].
type MailflowStackProps struct {
	Config *config.Config
	// Code is passed to the pipeline; see [MailPipelineProps.Code].
	Code map[string]awslambda.Code
	// Synthesizer, when set, replaces the default stack synthesizer.
	Synthesizer awscdk.IStackSynthesizer
}

// NewMailflowStack builds the stack the mailflow app deploys: one
// [MailPipeline] named after the configuration, and outputs that tell
// producers where to send mail. The stack is environment-agnostic unless
// the configuration names an account or region.
func NewMailflowStack(scope constructs.Construct, props *MailflowStackProps) (awscdk.Stack, MailPipeline, error) {
	if props == nil || props.Config == nil {
		return nil, nil, errors.New("mailflow stack: a configuration is required")
	}
	cfg := props.Config
	// The pipeline's props are the stack's: check them all at once, before
	// anything is built.
	if err := (&MailPipelineProps{Config: cfg, Code: props.Code}).Validate(); err != nil {
		return nil, nil, fmt.Errorf("mailflow stack: %w", err)
	}
	var env *awscdk.Environment
	if cfg.Account != "" || cfg.Region != "" {
		env = &awscdk.Environment{}
		if cfg.Account != "" {
			env.Account = jsii.String(cfg.Account)
		}
		if cfg.Region != "" {
			env.Region = jsii.String(cfg.Region)
		}
	}
	stack := awscdk.NewStack(scope, jsii.String(cfg.StackName), &awscdk.StackProps{
		Env:         env,
		Description: jsii.String("mailflow: transactional e-mail pipeline (SQS, EventBridge Pipes, Step Functions Express, Lambda, SES)"),
		Synthesizer: props.Synthesizer,
	})
	pipeline, err := NewMailPipeline(stack, "Mail", &MailPipelineProps{Config: cfg, Code: props.Code})
	if err != nil {
		return nil, nil, err
	}
	output := func(id, description string, value *string) {
		awscdk.NewCfnOutput(stack, jsii.String(id), &awscdk.CfnOutputProps{Description: jsii.String(description), Value: value})
	}
	output("QueueUrl", "Send mail (JSON, schema v1) to this queue", pipeline.Queue().QueueUrl())
	output("DeadLetterQueueUrl", "Mail that could not be sent, with its reason in message attributes", pipeline.DeadLetterQueue().QueueUrl())
	output("BucketName", "Upload attachments under "+cfg.Storage.AttachmentPrefix+" in this bucket", pipeline.Bucket().BucketName())
	output("StateMachineArn", "The Express state machine", pipeline.StateMachine().StateMachineArn())
	output("OutcomeBusArn", "Outcome events of each mail: subscribe with a rule matching source "+`"`+OutcomeSource+`"`+" and detail-type "+`"`+OutcomeDetailType+`"`, pipeline.OutcomeBus().EventBusArn())
	output("OutcomeBusName", "The outcome bus's name, for a rule's EventBusName", pipeline.OutcomeBus().EventBusName())
	output("ConfigurationSetName", "The SES configuration set mail is sent with", pipeline.ConfigurationSetName())
	output("EventsDeadLetterQueueUrl", "Delivery events that could not be recorded", pipeline.EventsDeadLetterQueue().QueueUrl())
	output("ProducerPolicyArn", "Attach to a producer's role: sqs:SendMessage on the queue, s3:PutObject under "+cfg.Storage.AttachmentPrefix, pipeline.ProducerPolicy().ManagedPolicyArn())
	output("AlarmTopicArn", "Alarm notifications", pipeline.AlarmTopic().TopicArn())
	output("DashboardName", "CloudWatch dashboard of the pipeline", pipeline.Dashboard().DashboardName())
	return stack, pipeline, nil
}
