package infra

import (
	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsses"
	"github.com/aws/jsii-runtime-go"
)

// The delivery and suppression tables' keys (delivery/, suppression/).
const (
	DeliveryKey          = "mailId"
	DeliveryTTLAttribute = "expiresAt"
	SuppressionKey       = "address"
	// The delivery table's sparse dead-letter index
	// (delivery/dynamodelivery): only the records of mails whose latest
	// state is dead-lettered carry its keys.
	DeadLetterIndexName     = "deadLettered"
	DeadLetterIndexShardKey = "deadLetterShard"
	DeadLetterIndexSortKey  = "deadLetterKey"
)

// Outcome events on the outcome bus: what a producer's rule matches.
const (
	OutcomeSource     = "mailflow"
	OutcomeDetailType = "mailflow.outcome"
)

// SESEventTypes are the SES events the configuration set publishes to
// EventBridge: every one record-event turns into a delivery state.
var SESEventTypes = []string{"SEND", "DELIVERY", "BOUNCE", "COMPLAINT", "REJECT", "DELIVERY_DELAY", "RENDERING_FAILURE"}

// The event source mapping of record-event on the events queue.
const (
	recordEventBatchSize      = 10
	recordEventWindowSeconds  = 1
	recordEventMaxConcurrency = 5
	// AWS advises a queue visibility timeout of at least six times the
	// timeout of the function an SQS trigger invokes, so that a batch
	// retried after throttling is not redelivered while still running.
	eventsVisibilityFactor = 6
)

// The EventBridge rule's delivery to the events queue: EventBridge retries
// a failed delivery for up to a day, then dead-letters the event.
const (
	ruleRetryAttempts      = 185
	ruleMaxEventAgeSeconds = 86400
	eventsRuleTargetID     = "EventsQueue"
)

func (p *mailPipeline) newTable(id, key, ttl string) awsdynamodb.Table {
	props := &awsdynamodb.TableProps{
		PartitionKey: &awsdynamodb.Attribute{Name: jsii.String(key), Type: awsdynamodb.AttributeType_STRING},
		BillingMode:  awsdynamodb.BillingMode_PAY_PER_REQUEST,
		PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
			PointInTimeRecoveryEnabled: jsii.Bool(true),
		},
		RemovalPolicy: p.removalPolicy(),
	}
	if ttl != "" {
		props.TimeToLiveAttribute = jsii.String(ttl)
	}
	return awsdynamodb.NewTable(p.Construct, jsii.String(id), props)
}

// buildFeedback adds what follows a mail past SES: the configuration set
// (unless the configuration names an existing one) and its EventBridge
// event destination, the rule from the default bus to the events queue,
// and the bus record-event publishes outcomes to.
func (p *mailPipeline) buildFeedback() {
	cfg := p.cfg
	stack := awscdk.Stack_Of(p.Construct)
	if cfg.SES.ConfigurationSet != "" {
		p.configSetName = jsii.String(cfg.SES.ConfigurationSet)
	} else {
		set := awsses.NewCfnConfigurationSet(p.Construct, jsii.String("ConfigurationSet"), &awsses.CfnConfigurationSetProps{
			Name: jsii.String(p.name),
			// SES keeps addresses that bounced permanently or complained
			// from being sent to again, on top of mailflow's own list.
			SuppressionOptions: &awsses.CfnConfigurationSet_SuppressionOptionsProperty{
				SuppressedReasons: jsii.Strings("BOUNCE", "COMPLAINT"),
			},
			ReputationOptions: &awsses.CfnConfigurationSet_ReputationOptionsProperty{ReputationMetricsEnabled: jsii.Bool(true)},
			SendingOptions:    &awsses.CfnConfigurationSet_SendingOptionsProperty{SendingEnabled: jsii.Bool(true)},
		})
		p.configSetName = set.Ref()
	}
	// SES publishes to the account's default bus only; the rule below
	// picks this configuration set's events from it.
	defaultBus := stack.FormatArn(&awscdk.ArnComponents{
		Service: jsii.String("events"), Resource: jsii.String("event-bus"),
		ResourceName: jsii.String("default"), ArnFormat: awscdk.ArnFormat_SLASH_RESOURCE_NAME,
	})
	awsses.NewCfnConfigurationSetEventDestination(p.Construct, jsii.String("ConfigurationSetEvents"), &awsses.CfnConfigurationSetEventDestinationProps{
		ConfigurationSetName: p.configSetName,
		EventDestination: &awsses.CfnConfigurationSetEventDestination_EventDestinationProperty{
			Enabled:                jsii.Bool(true),
			MatchingEventTypes:     jsii.Strings(SESEventTypes...),
			EventBridgeDestination: &awsses.CfnConfigurationSetEventDestination_EventBridgeDestinationProperty{EventBusArn: defaultBus},
		},
	})

	p.eventsRule = awsevents.NewCfnRule(p.Construct, jsii.String("SESEventsRule"), &awsevents.CfnRuleProps{
		Description: jsii.String("mailflow: SES events of the configuration set to the events queue"),
		State:       jsii.String("ENABLED"),
		EventPattern: map[string]any{
			"source": []any{"aws.ses"},
			"detail": map[string]any{"mail": map[string]any{"tags": map[string]any{
				"ses:configuration-set": []any{p.configSetName},
			}}},
		},
		Targets: []any{&awsevents.CfnRule_TargetProperty{
			Id:               jsii.String(eventsRuleTargetID),
			Arn:              p.events.QueueArn(),
			DeadLetterConfig: &awsevents.CfnRule_DeadLetterConfigProperty{Arn: p.eventsDLQ.QueueArn()},
			RetryPolicy: &awsevents.CfnRule_RetryPolicyProperty{
				MaximumRetryAttempts:     jsii.Number(ruleRetryAttempts),
				MaximumEventAgeInSeconds: jsii.Number(ruleMaxEventAgeSeconds),
			},
		}},
	})
	// EventBridge sends to the queue, and to the dead-letter queue what it
	// could not deliver, for this rule only.
	fromRule := map[string]any{"ArnEquals": map[string]any{"aws:SourceArn": p.eventsRule.AttrArn()}}
	events := awsiam.NewServicePrincipal(jsii.String("events.amazonaws.com"), nil)
	for _, q := range []struct {
		sid   string
		queue interface {
			QueueArn() *string
			AddToResourcePolicy(awsiam.PolicyStatement) *awsiam.AddToResourcePolicyResult
		}
	}{{"SESEventsRuleDelivers", p.events}, {"SESEventsRuleDeadLetters", p.eventsDLQ}} {
		q.queue.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
			Sid:        jsii.String(q.sid),
			Principals: &[]awsiam.IPrincipal{events},
			Actions:    jsii.Strings("sqs:SendMessage"),
			Resources:  &[]*string{q.queue.QueueArn()},
			Conditions: &fromRule,
		}))
	}

	p.outcomeBus = awsevents.NewEventBus(p.Construct, jsii.String("OutcomeBus"), &awsevents.EventBusProps{
		EventBusName: jsii.String(p.name + "-outcomes"),
		Description:  jsii.String("mailflow: outcome events of each mail (source " + OutcomeSource + ", detail-type " + OutcomeDetailType + ")"),
	})
}

// buildEventSource makes record-event consume the events queue: batches of
// up to 10, each failed record returned alone (ReportBatchItemFailures), a
// few concurrent batches at most so a burst of SES events does not take
// the account's Lambda concurrency or the tables' throughput.
func (p *mailPipeline) buildEventSource() {
	fn := p.functions[TaskRecordEvent]
	esm := awslambda.NewEventSourceMapping(p.Construct, jsii.String("RecordEventSource"), &awslambda.EventSourceMappingProps{
		Target:                  fn,
		EventSourceArn:          p.events.QueueArn(),
		BatchSize:               jsii.Number(recordEventBatchSize),
		MaxBatchingWindow:       awscdk.Duration_Seconds(jsii.Number(recordEventWindowSeconds)),
		ReportBatchItemFailures: jsii.Bool(true),
		MaxConcurrency:          jsii.Number(recordEventMaxConcurrency),
	})
	// Lambda checks the role's access to the queue when the mapping is
	// created: create the policy first.
	esm.Node().AddDependency(fn.Role())
}
