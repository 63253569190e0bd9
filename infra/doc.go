// Package infra deploys mailflow to AWS with the CDK: [NewMailPipeline] is a
// reusable construct that a team can add to its own CDK app, and
// [NewMailflowStack] is the thin stack the repository's app (infra/app)
// builds from a configuration file (package infra/config).
//
// What the construct builds, and the decisions behind it:
//
//   - Source queue and dead-letter queue: SSE with SQS-managed keys, so the
//     pipe, the state machine and producers need no KMS permissions; TLS
//     only. The source queue redrives to the DLQ after maxReceiveCount
//     receives; the DLQ keeps messages 14 days, the SQS maximum.
//   - Attachment bucket: all public access blocked, TLS only (1.2+), SSE-S3,
//     bucket-owner-enforced ownership, lifecycle expiry for the attachment
//     prefix and for the staging prefix, and incomplete multipart uploads
//     aborted after a day. Server access logging is not enabled (see the
//     cdk-nag suppression): the bucket holds short-lived mail parts and
//     access is already attributable through the task roles.
//   - Lock table: on-demand, partition key mailId, TTL on expiresAt,
//     point-in-time recovery.
//   - Four functions (provided.al2023, arm64, active X-Ray tracing, JSON
//     logs into their own log group with the configured retention). Each has
//     its own role with only what it calls: acquire-lock PutItem/GetItem on
//     the table; fetch-attachments GetObject under the attachment prefix,
//     PutObject under the staging prefix and ListBucket on the bucket (so a
//     missing attachment is a 404, Mail.AttachmentMissing, not a 403 that
//     reads as Mail.AttachmentForbidden); send GetObject under the staging
//     prefix, SES SendEmail/SendRawEmail on the configured identities and
//     configuration set with an ses:FromAddress condition listing the
//     allowed senders, and UpdateItem/GetItem on the table; release-lock
//     DeleteItem/GetItem on the table. The timeouts stay below the
//     definition's TimeoutSeconds for the state, so the Lambda ends first
//     and its error, not States.Timeout, is what the Catch sees. Every task
//     gets the same environment, named by internal/taskkit (LOCK_TABLE,
//     ATTACHMENT_BUCKET, the prefixes, the allowed senders, LOCK_LEASE,
//     LOCK_RETENTION, ...) plus [EnvMaxSendRate] when a quota is configured.
//   - The Express state machine is the embedded workflow/mail.asl.json:
//     rendered by workflow.Render (which applies the Map concurrency and
//     insists every placeholder is bound), the Mail.Throttled retriers set
//     to the configured retry budget, then given to CDK with
//     DefinitionBody_FromString and DefinitionSubstitutions for the function
//     ARNs and the DLQ URL. Tracing is on; logs go to a log group under
//     /aws/vendedlogs/states/ (the prefix AWS recommends, which avoids the
//     log resource-policy size limit) at the configured level, default ALL
//     with execution data, because an Express execution has no history API
//     and its log is the only record of it. Its role may invoke exactly the
//     four functions and send to the DLQ; CDK adds the log-delivery and
//     X-Ray statements, whose actions AWS only grants on "*".
//   - The pipe is an L1 awspipes.CfnPipe (the L2 is alpha): SQS source with
//     the batch size and window, Step Functions target with invocation type
//     REQUEST_RESPONSE (StartSyncExecution; FIRE_AND_FORGET would delete the
//     batch as soon as the execution starts). Its role, assumable only by
//     pipes.amazonaws.com for this account, may receive, delete, change the
//     visibility of and read the attributes of messages on the source queue,
//     StartSyncExecution on the machine, and write its own log group when
//     pipe logging is on.
//   - Alarms: DLQ has messages, age of the oldest message, executions failed
//     and timed out, each task's errors and throttles, and the SES account's
//     bounce and complaint rates. They notify (alarm and OK) an SNS topic
//     encrypted with a customer-managed KMS key, because CloudWatch cannot
//     publish to a topic under the AWS-managed SNS key. Every alarm is named
//     <stack name>-<construct path>-<what> ("mailflow-Mail-DeadLetter"), a
//     prefix unique in the account and region, so that the policies can
//     name these alarms and no others. The topic policy denies publishing
//     without TLS and allows cloudwatch.amazonaws.com to publish when
//     aws:SourceAccount is the stack's account and aws:SourceArn is an
//     alarm ARN of the stack's region and account under the prefix; a
//     topic policy replaces SNS's default policy, so without that Allow
//     nothing could publish. The key policy grants CloudWatch
//     kms:GenerateDataKey* and kms:Decrypt under the same conditions, as
//     SNS's guide to AWS services publishing to encrypted topics shows
//     (EventBridge is the documented exception, whose KMS requests carry no
//     source keys: a grant for it must not copy them). With a Slack channel
//     configured, AWS Chatbot subscribes to the topic; its guardrail is
//     CloudWatchReadOnlyAccess (CloudFormation's default guardrail would be
//     AdministratorAccess). The tests walk every alarm action to its topic,
//     topic policy and key policy with a small IAM evaluator
//     (TestServiceAccessWalk), and the same for every other service that
//     acts on the stack: the pipe, the state machine, the functions' log
//     groups, Chatbot's topics and any EventBridge rule.
//   - A CloudWatch dashboard shows the queues, the pipe, the executions,
//     the tasks and SES.
//   - With retainOnDelete (the default) the queues, bucket, table, key and
//     log groups survive `cdk destroy`; otherwise they are deleted (the
//     bucket only when empty).
//
// Lambda code comes from the props ([MailPipelineProps.Code]), one
// awslambda.Code per task, so the construct does not care how it was
// built: the app uses the zips `make lambdas` writes ([ZipCode]), tests use a
// small asset directory. Synthesis makes no AWS call and needs no
// credentials: the stack is environment-agnostic unless the configuration
// names an account and region, and nothing is looked up.
package infra
