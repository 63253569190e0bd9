package infra

import (
	"fmt"
	"strings"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awschatbot"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatchactions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/interfaces/interfacesawscloudwatch"
	"github.com/aws/jsii-runtime-go"
)

// sesReputationPeriodSeconds is the period of the SES reputation alarms:
// the bounce and complaint rates are account-wide ratios SES publishes
// every few minutes at most, so a shorter period only adds missing data.
const sesReputationPeriodSeconds = 3600

func (p *mailPipeline) buildAlarms() {
	cfg := p.cfg
	stack := awscdk.Stack_Of(p.Construct)
	// The stack's name and the construct's path ("mailflow-Mail-"), unique
	// in the account and region as stack names are, so that policies can
	// name these alarms and no others: the topic and key policies admit
	// CloudWatch only for alarms under it.
	p.alarmPrefix = p.name + "-"
	prefix := p.alarmPrefix
	// CloudWatch publishes for an alarm of this account whose name starts
	// with the prefix: these alarms, and no other account's or stack's.
	fromOurAlarms := map[string]any{
		"StringEquals": map[string]any{"aws:SourceAccount": stack.Account()},
		"ArnLike": map[string]any{"aws:SourceArn": stack.FormatArn(&awscdk.ArnComponents{
			Service: jsii.String("cloudwatch"), Resource: jsii.String("alarm"),
			ResourceName: jsii.String(prefix + "*"), ArnFormat: awscdk.ArnFormat_COLON_RESOURCE_NAME,
		})},
	}
	cloudwatch := awsiam.NewServicePrincipal(jsii.String("cloudwatch.amazonaws.com"), nil)
	key := awskms.NewKey(p.Construct, jsii.String("AlarmTopicKey"), &awskms.KeyProps{
		Description:       jsii.String("mailflow alarm topic"),
		EnableKeyRotation: jsii.Bool(true),
		RemovalPolicy:     p.removalPolicy(),
		PendingWindow:     awscdk.Duration_Days(jsii.Number(7)),
	})
	// The publisher of an encrypted topic needs the key: the statement SNS
	// documents for AWS services publishing to an encrypted topic, with
	// its source conditions, the same as the topic policy's. (EventBridge,
	// whose KMS requests carry no source keys, is the exception.)
	key.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("CloudWatchAlarmsPublish"),
		Principals: &[]awsiam.IPrincipal{cloudwatch},
		Actions:    jsii.Strings("kms:Decrypt", "kms:GenerateDataKey*"),
		Resources:  jsii.Strings("*"),
		Conditions: &fromOurAlarms,
	}), nil)
	p.topic = awssns.NewTopic(p.Construct, jsii.String("AlarmTopic"), &awssns.TopicProps{
		DisplayName: jsii.String("mailflow alarms"),
		MasterKey:   key,
		EnforceSSL:  jsii.Bool(true),
	})
	// A topic policy replaces SNS's default one: with only the TLS Deny
	// that EnforceSSL writes, no AWS service may publish, so CloudWatch
	// must be allowed by name.
	p.topic.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("CloudWatchAlarmsPublish"),
		Principals: &[]awsiam.IPrincipal{cloudwatch},
		Actions:    jsii.Strings("sns:Publish"),
		Resources:  &[]*string{p.topic.TopicArn()},
		Conditions: &fromOurAlarms,
	}))
	action := awscloudwatchactions.NewSnsAction(p.topic)
	period := awscdk.Duration_Seconds(jsii.Number(cfg.Alarms.PeriodSeconds))

	add := func(id, description string, metric awscloudwatch.IMetric, threshold float64, periods float64) {
		alarm := awscloudwatch.NewAlarm(p.Construct, jsii.String(id), &awscloudwatch.AlarmProps{
			AlarmName:          jsii.String(prefix + strings.TrimSuffix(id, "Alarm")),
			AlarmDescription:   jsii.String(description),
			Metric:             metric,
			Threshold:          jsii.Number(threshold),
			EvaluationPeriods:  jsii.Number(periods),
			ComparisonOperator: awscloudwatch.ComparisonOperator_GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
			TreatMissingData:   awscloudwatch.TreatMissingData_NOT_BREACHING,
		})
		alarm.AddAlarmAction(action)
		alarm.AddOkAction(action)
		p.alarms = append(p.alarms, alarm)
	}
	maxOver := &awscloudwatch.MetricOptions{Period: period, Statistic: jsii.String("Maximum")}
	sumOver := &awscloudwatch.MetricOptions{Period: period, Statistic: jsii.String("Sum")}

	add("DeadLetterAlarm", "Mail was dead-lettered: inspect the DLQ messages' mailflow.error attributes.",
		p.dlq.MetricApproximateNumberOfMessagesVisible(maxOver), float64(cfg.Alarms.DeadLetterMessages), 1)
	age := cfg.OldestMessageAlarmSeconds()
	add("OldestMessageAlarm", fmt.Sprintf("The oldest queued mail waited %d s or more, longer than one ordinary retry takes: the pipe is stalled, sending is throttled or mail is retried repeatedly.", age),
		p.queue.MetricApproximateAgeOfOldestMessage(maxOver), float64(age), 1)
	add("EventsDeadLetterAlarm", "Delivery events could not be recorded or delivered: inspect the events DLQ's messages.",
		p.eventsDLQ.MetricApproximateNumberOfMessagesVisible(maxOver), 1, 1)
	add("EventsOldestMessageAlarm", fmt.Sprintf("The oldest delivery event waited %d s or more: record-event is failing, throttled or capped by its maximum concurrency.", EventsOldestMessageAlarmSeconds),
		p.events.MetricApproximateAgeOfOldestMessage(maxOver), EventsOldestMessageAlarmSeconds, 1)
	add("ExecutionsFailedAlarm", "Executions failed: the whole batch returns to the queue.",
		p.stateMachine.MetricFailed(sumOver), float64(cfg.Alarms.ExecutionsFailed), 1)
	add("ExecutionsTimedOutAlarm", "Executions timed out: the whole batch returns to the queue.",
		p.stateMachine.MetricTimedOut(sumOver), float64(cfg.Alarms.ExecutionsTimedOut), 1)
	add("ExecutionsThrottledAlarm", "Step Functions throttled starting executions: the account's StartSyncExecution quota is reached; the batch returns to the queue.",
		p.stateMachine.MetricThrottled(sumOver), 1, 1)
	for _, m := range pipeAlarmMetrics {
		add("Pipe"+m.metric+"Alarm", m.description, p.pipeMetric(m.metric, sumOver), 1, 1)
	}
	for _, spec := range taskSpecs {
		fn := p.functions[spec.function()]
		add(spec.id+"ErrorsAlarm", "The "+spec.name+" task returned errors (mail errors included: a burst means something systematic).",
			fn.MetricErrors(sumOver), float64(cfg.Alarms.TaskErrors), 1)
		add(spec.id+"ThrottlesAlarm", "The "+spec.name+" task was throttled by Lambda.",
			fn.MetricThrottles(sumOver), float64(cfg.Alarms.TaskThrottles), 1)
	}
	add("BounceRateAlarm", "The SES account's bounce rate is high: SES reviews accounts at 5% and may pause sending at 10%.",
		sesMetric("Reputation.BounceRate"), cfg.Alarms.BounceRate, 1)
	add("ComplaintRateAlarm", "The SES account's complaint rate is high: SES reviews accounts at 0.1% and may pause sending at 0.5%.",
		sesMetric("Reputation.ComplaintRate"), cfg.Alarms.ComplaintRate, 1)

	if cfg.Chatbot != nil {
		awschatbot.NewSlackChannelConfiguration(p.Construct, jsii.String("Slack"), &awschatbot.SlackChannelConfigurationProps{
			// Chatbot's configuration names are unique in the account across
			// regions: the region keeps a second region's stack apart.
			SlackChannelConfigurationName: awscdk.Fn_Join(jsii.String("-"), &[]*string{awscdk.Aws_STACK_NAME(), awscdk.Aws_REGION(), jsii.String("alarms")}),
			SlackWorkspaceId:              jsii.String(cfg.Chatbot.SlackWorkspaceID),
			SlackChannelId:                jsii.String(cfg.Chatbot.SlackChannelID),
			NotificationTopics:            &[]awssns.ITopic{p.topic},
			GuardrailPolicies: &[]awsiam.IManagedPolicy{
				awsiam.ManagedPolicy_FromAwsManagedPolicyName(jsii.String("CloudWatchReadOnlyAccess")),
			},
		})
	}
}

// EventsOldestMessageAlarmSeconds is the age of the oldest delivery event
// that alarms: two rounds of the events queue's visibility timeout plus a
// batch window and record-event's timeout each, rounded up to the minute.
const EventsOldestMessageAlarmSeconds = (eventsVisibilityFactor*recordEventTimeoutSeconds + 2*(recordEventWindowSeconds+recordEventTimeoutSeconds) + 59) / 60 * 60

// PipeAlarmMetrics are the AWS/EventBridge/Pipes metrics (dimension
// PipeName) that alarm at one occurrence per period.
func PipeAlarmMetrics() []string {
	out := make([]string, len(pipeAlarmMetrics))
	for i, m := range pipeAlarmMetrics {
		out[i] = m.metric
	}
	return out
}

var pipeAlarmMetrics = []struct{ metric, description string }{
	{"ExecutionFailed", "Pipe executions failed: the pipe could not start the state machine (permissions, a deleted target); the batch returns to the queue."},
	{"ExecutionThrottled", "Pipe executions were throttled: the pipe's own quota was reached; mail waits in the queue."},
	{"ExecutionTimeout", "Pipe executions timed out before the state machine answered; the batch returns to the queue."},
	{"TargetStageFailed", "The pipe's target stage failed: StartSyncExecution was refused or the execution failed; the batch returns to the queue."},
}

// pipeMetric is one of the pipe's metrics; its Ref is the pipe's name.
func (p *mailPipeline) pipeMetric(name string, opts *awscloudwatch.MetricOptions) awscloudwatch.IMetric {
	return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
		Namespace: jsii.String("AWS/EventBridge/Pipes"), MetricName: jsii.String(name),
		DimensionsMap: &map[string]*string{"PipeName": p.pipe.Ref()},
		Period:        opts.Period, Statistic: opts.Statistic,
	})
}

func sesMetric(name string) awscloudwatch.IMetric {
	return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
		Namespace:  jsii.String("AWS/SES"),
		MetricName: jsii.String(name),
		Statistic:  jsii.String("Maximum"),
		Period:     awscdk.Duration_Seconds(jsii.Number(sesReputationPeriodSeconds)),
	})
}

func (p *mailPipeline) buildDashboard() {
	period := awscdk.Duration_Minutes(jsii.Number(1))
	sum := &awscloudwatch.MetricOptions{Period: period, Statistic: jsii.String("Sum")}
	maxOf := &awscloudwatch.MetricOptions{Period: period, Statistic: jsii.String("Maximum")}
	p99 := &awscloudwatch.MetricOptions{Period: period, Statistic: jsii.String("p99")}
	graph := func(title string, left []awscloudwatch.IMetric, right []awscloudwatch.IMetric) awscloudwatch.IWidget {
		props := &awscloudwatch.GraphWidgetProps{Title: jsii.String(title), Width: jsii.Number(8), Height: jsii.Number(6), Left: &left}
		if right != nil {
			props.Right = &right
		}
		return awscloudwatch.NewGraphWidget(props)
	}
	pipeMetric := func(name string) awscloudwatch.IMetric { return p.pipeMetric(name, sum) }
	sesSum := func(name string) awscloudwatch.IMetric {
		return awscloudwatch.NewMetric(&awscloudwatch.MetricProps{
			Namespace: jsii.String("AWS/SES"), MetricName: jsii.String(name), Period: period, Statistic: jsii.String("Sum"),
		})
	}
	var invocations, errs, throttles, durations []awscloudwatch.IMetric
	for _, spec := range taskSpecs {
		fn := p.functions[spec.function()]
		label := &awscloudwatch.MetricOptions{Period: period, Statistic: jsii.String("Sum"), Label: jsii.String(spec.id)}
		invocations = append(invocations, fn.MetricInvocations(label))
		errs = append(errs, fn.MetricErrors(label))
		throttles = append(throttles, fn.MetricThrottles(label))
		durations = append(durations, fn.MetricDuration(&awscloudwatch.MetricOptions{Period: period, Statistic: jsii.String("p99"), Label: jsii.String(spec.id + " p99")}))
	}
	alarmRefs := make([]interfacesawscloudwatch.IAlarmRef, len(p.alarms))
	for i, a := range p.alarms {
		alarmRefs[i] = a
	}
	p.dashboard = awscloudwatch.NewDashboard(p.Construct, jsii.String("Dashboard"), &awscloudwatch.DashboardProps{
		DefaultInterval: awscdk.Duration_Hours(jsii.Number(3)),
		Widgets: &[]*[]awscloudwatch.IWidget{
			{
				awscloudwatch.NewAlarmStatusWidget(&awscloudwatch.AlarmStatusWidgetProps{
					Title: jsii.String("mailflow alarms"), Alarms: &alarmRefs, Width: jsii.Number(24), Height: jsii.Number(4),
				}),
			},
			{
				graph("Source queue", []awscloudwatch.IMetric{
					p.queue.MetricNumberOfMessagesSent(sum), p.queue.MetricNumberOfMessagesDeleted(sum),
					p.queue.MetricApproximateNumberOfMessagesVisible(maxOf),
				}, []awscloudwatch.IMetric{p.queue.MetricApproximateAgeOfOldestMessage(maxOf)}),
				graph("Dead-letter queue", []awscloudwatch.IMetric{
					p.dlq.MetricApproximateNumberOfMessagesVisible(maxOf), p.dlq.MetricNumberOfMessagesSent(sum),
				}, nil),
				graph("Events queues", []awscloudwatch.IMetric{
					p.events.MetricNumberOfMessagesSent(sum), p.events.MetricNumberOfMessagesDeleted(sum),
					p.eventsDLQ.MetricApproximateNumberOfMessagesVisible(maxOf),
				}, []awscloudwatch.IMetric{p.events.MetricApproximateAgeOfOldestMessage(maxOf)}),
				graph("Pipe", []awscloudwatch.IMetric{
					pipeMetric("Invocations"), pipeMetric("ExecutionFailed"), pipeMetric("TargetStageFailed"),
				}, nil),
			},
			{
				graph("Executions", []awscloudwatch.IMetric{
					p.stateMachine.MetricStarted(sum), p.stateMachine.MetricSucceeded(sum),
					p.stateMachine.MetricFailed(sum), p.stateMachine.MetricTimedOut(sum),
				}, []awscloudwatch.IMetric{p.stateMachine.MetricTime(p99)}),
				graph("Task invocations and errors", invocations, errs),
				graph("Task duration p99 and throttles", durations, throttles),
			},
			{
				graph("SES sending", []awscloudwatch.IMetric{
					sesSum("Send"), sesSum("Delivery"), sesSum("Bounce"), sesSum("Complaint"), sesSum("Reject"),
				}, nil),
				graph("SES reputation", []awscloudwatch.IMetric{
					sesMetric("Reputation.BounceRate"), sesMetric("Reputation.ComplaintRate"),
				}, nil),
			},
		},
	})
}
