package infra

import (
	"regexp"
	"strings"

	"github.com/aws/jsii-runtime-go"
	"github.com/cdklabs/cdk-nag-go/cdknag/v2"
)

// Reasons of the cdk-nag (AwsSolutions) suppressions. Each names why the
// finding is accepted; the tests list every suppression and check that no
// other finding remains.
const (
	reasonBucketAccessLogs = "The bucket holds only short-lived attachments and staged messages that the pipeline's own roles read and write; " +
		"requests are auditable with CloudTrail S3 data events when a team needs it, without a second, itself unlogged, log bucket."
	reasonXRay = "X-Ray PutTraceSegments and PutTelemetryRecords do not support resource-level permissions (AWS requires Resource *); " +
		"they are the only actions on * in this role, which the infra tests check."
	reasonXRayAndSESAccount = "X-Ray PutTraceSegments and PutTelemetryRecords, and SES GetAccount (the send pacer reads the account's sending quota), " +
		"do not support resource-level permissions (AWS requires Resource *); they are the only actions on * in this role, which the infra tests check. " +
		"Setting ses.maxSendRate (or ses.pacing off) removes GetAccount."
	reasonStagingObjects = "The task may only touch objects under its configured key prefix of the pipeline's own bucket; " +
		"the trailing * is the object key within that prefix, the narrowest scope S3 offers."
	reasonProducerObjects = "Producers may only put objects under the attachment prefix of the pipeline's own bucket; " +
		"the trailing * is the attachment's key within that prefix, which each producer chooses."
	reasonStateMachineLogsAndTracing = "Step Functions log delivery (logs:CreateLogDelivery and related) and X-Ray tracing actions do not support " +
		"resource-level permissions (AWS requires Resource *); task invocation and the dead-letter queue are scoped to their ARNs."
)

// suppress records a suppression on construct and its children; callers
// pass the narrowest construct that has the finding.
func suppress(construct any, id, reason string, appliesTo ...any) {
	s := &cdknag.NagPackSuppression{Id: jsii.String(id), Reason: jsii.String(reason)}
	if len(appliesTo) > 0 {
		s.AppliesTo = &appliesTo
	}
	cdknag.NagSuppressions_AddResourceSuppressions(construct, &[]*cdknag.NagPackSuppression{s}, jsii.Bool(true))
}

// objectsUnder matches cdk-nag's finding for a bucket ARN followed by the
// key prefix and "*".
func objectsUnder(prefix string) any {
	escaped := strings.ReplaceAll(regexp.QuoteMeta(prefix+"*"), "/", `\/`)
	return &cdknag.RegexAppliesTo{Regex: jsii.String(`/^Resource::<[A-Za-z0-9]+\.Arn>\/` + escaped + `$/`)}
}

func (p *mailPipeline) addNagSuppressions() {
	cfg := p.cfg
	suppress(p.bucket.Node().DefaultChild(), "AwsSolutions-S1", reasonBucketAccessLogs)
	suppress(p.producers, "AwsSolutions-IAM5", reasonProducerObjects, objectsUnder(cfg.Storage.AttachmentPrefix))
	for _, spec := range taskSpecs {
		if spec.sharesWith != "" {
			continue // the role of the task's first function
		}
		role := p.functions[spec.function()].Role().Node().FindChild(jsii.String("DefaultPolicy"))
		if (spec.name == TaskSend || spec.name == TaskReserveSends) && cfg.SES.ReadsSendQuota() {
			suppress(role, "AwsSolutions-IAM5", reasonXRayAndSESAccount, "Resource::*")
		} else {
			suppress(role, "AwsSolutions-IAM5", reasonXRay, "Resource::*")
		}
		switch spec.name {
		case TaskFetchAttachments:
			suppress(role, "AwsSolutions-IAM5", reasonStagingObjects,
				objectsUnder(cfg.Storage.AttachmentPrefix), objectsUnder(cfg.Storage.StagingPrefix))
		case TaskSend:
			suppress(role, "AwsSolutions-IAM5", reasonStagingObjects, objectsUnder(cfg.Storage.StagingPrefix))

		}
	}
	suppress(p.stateMachine.Role().Node().FindChild(jsii.String("DefaultPolicy")), "AwsSolutions-IAM5", reasonStateMachineLogsAndTracing, "Resource::*")
	if cfg.Workflow.LogLevel != "ALL" {
		suppress(p.stateMachine.Node().DefaultChild(), "AwsSolutions-SF1", reasonLogLevel(cfg.Workflow.LogLevel))
	}
}

// reasonLogLevel explains a state machine logged below ALL: the deployer
// chose it in the configuration.
func reasonLogLevel(level string) string {
	return "The configuration (workflow.logLevel) sets the execution log level to " + level +
		" to lower the CloudWatch Logs cost; executions are then only recorded as far as that level reaches (not at all at OFF)."
}
