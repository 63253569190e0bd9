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
//     point-in-time recovery. The delivery table (mailId, TTL expiresAt) and
//     the suppression table (address) are the same, the latter without TTL.
//     The delivery table also has the sparse global secondary index
//     deadLettered (partition deadLetterShard, sort deadLetterKey, all
//     attributes projected), which lists the dead-lettered mails without
//     receiving from the DLQ. The stack grants no operator role: whoever
//     runs `mailflow dlq --aws` needs dynamodb:Query on
//     <delivery table ARN>/index/deadLettered and GetItem/PutItem on the
//     table (show, and forgetting an entry), besides the SQS calls.
//   - Delivery feedback: the SES configuration set is the configured one
//     or, when none is, one the stack creates, named after the pipeline
//     ("mailflow-Mail"), with SES's suppression of BOUNCE and COMPLAINT,
//     reputation metrics and sending on. Its event destination publishes
//     Send, Delivery, Bounce, Complaint, Reject, DeliveryDelay and
//     RenderingFailure to the default bus (the only bus SES publishes to;
//     no policy is needed). An L1 rule on the default bus matches source
//     aws.ses and the set's ses:configuration-set tag and targets the
//     events queue with a retry policy (185 attempts over up to a day) and
//     its own dead-letter config, the events DLQ; both queue policies admit
//     events.amazonaws.com for sqs:SendMessage only with aws:SourceArn the
//     rule's ARN (the L2 target would also grant GetQueueAttributes and
//     GetQueueUrl). record-event consumes the events queue through an event
//     source mapping (batches of 10, a 1 s window, ReportBatchItemFailures,
//     at most 5 concurrent batches, so a burst of events cannot take the
//     account's concurrency); the queue's visibility timeout is six times
//     the function's, as AWS advises for SQS triggers. Outcome events go to
//     a bus of their own, "<pipeline>-outcomes", which producers subscribe
//     to with an ordinary rule (stack output OutcomeBusArn). The created
//     set and the bus are named after the pipeline, not the stack alone, so
//     two pipelines in one stack do not collide; a name SES would refuse
//     (over 64 characters) is reported before anything is built.
//   - Five functions (provided.al2023, arm64, active X-Ray tracing, JSON
//     logs into their own log group with the configured retention). Each has
//     its own role with only what it calls: acquire-lock PutItem/GetItem on
//     the table and BatchGetItem on the suppression table; fetch-attachments GetObject under the attachment prefix,
//     PutObject under the staging prefix and ListBucket on the bucket (so a
//     missing attachment is a 404, Mail.AttachmentMissing, not a 403 that
//     reads as Mail.AttachmentForbidden); send GetObject under the staging
//     prefix, SES SendEmail/SendRawEmail on every identity a send can be
//     authorized against ([SendIdentities]: each allowed address and its
//     domain, since SES checks the most specific verified identity; the
//     configured identities; for a sandbox account, ses.sandboxRecipients,
//     which SES checks there too) and the configuration set, with an
//     ses:FromAddress condition listing the allowed senders, and UpdateItem/GetItem on the table; release-lock
//     DeleteItem/GetItem on the table; record-event ReceiveMessage,
//     DeleteMessage and GetQueueAttributes on the events queue (what AWS
//     documents for an SQS event source), SendMessage on the events DLQ,
//     GetItem/UpdateItem on the lock table, GetItem/PutItem/UpdateItem on
//     the delivery table, PutItem/GetItem on the suppression table and
//     PutEvents on the outcome bus. The timeouts stay below the
//     definition's TimeoutSeconds for the state, so the Lambda ends first
//     and its error, not States.Timeout, is what the Catch sees. The four
//     tasks of the state machine get the same environment, named by
//     internal/taskkit (LOCK_TABLE, ATTACHMENT_BUCKET, the prefixes, the
//     allowed senders, LOCK_LEASE, LOCK_RETENTION, SES_CONFIGURATION_SET,
//     ...) and [EnvSuppressionTable], plus [EnvMaxSendRate] when a quota is
//     configured; record-event gets LOCK_TABLE, LOCK_RETENTION and the
//     delivery-feedback variables ([EnvDeliveryTable] and the rest).
//   - The Express state machine is the embedded workflow/mail.asl.json:
//     rendered by workflow.Render (which applies the Map concurrency and
//     insists every placeholder is bound), the Mail.Throttled retriers set
//     to the configured retry budget, then given to CDK with
//     DefinitionBody_FromString and DefinitionSubstitutions for the function
//     ARNs, the DLQ URL and the events queue URL. Tracing is on; logs go to a log group under
//     /aws/vendedlogs/states/ (the prefix AWS recommends, which avoids the
//     log resource-policy size limit) at the configured level, default ALL
//     with execution data, because an Express execution has no history API
//     and its log is the only record of it. Its role may invoke exactly the
//     four functions and send to the DLQ and the events queue; CDK adds the log-delivery and
//     X-Ray statements, whose actions AWS only grants on "*".
//   - Concurrency: CfnPipe offers no parallelism limit for an SQS source
//     (its SQS parameters are the batch size and window only), so the
//     bound is each function's reserved concurrency: the four state-machine
//     tasks take concurrency.reservedPerTask, derived when omitted from the
//     send rate (two seconds of sends at ses.maxSendRate, or SES's starting
//     14/s, never below workflow.mapConcurrency); record-event takes its
//     mapping's maximum concurrency, 5. A throttled task is retried by the
//     definition (Lambda.TooManyRequestsException).
//   - Every log group is encrypted with one customer-managed key (rotation
//     on) whose policy admits logs.<region>.amazonaws.com only with the
//     encryption context kms:EncryptionContext:aws:logs:arn of a log group
//     of the stack's account and region, and keeps logs.retentionDays.
//     What each level logs is in docs/DEPLOY.md ("Logs and personal
//     data"). The execution log is at ERROR by default: caught failures
//     with their error and cause, no inputs; inspection reads each mail's
//     steps and outcome from the tasks' result lines. At ALL with data it
//     carries recipients, subjects and bodies. Either way its log group has
//     a data protection policy that masks EmailAddress (audit and
//     de-identify), so only principals with logs:Unmask read addresses.
//   - X-Ray: the stack's own sampling rule samples the state machine's
//     executions (tracing.sampleRate, default 5 %, no reservoir), and the
//     four tasks it invokes follow that decision (active tracing);
//     record-event passes through (Lambda's own sampling of a function
//     cannot be configured below one a second plus 5 %). Lambda's platform
//     records (start, report) are off at the default system log level WARN.
//   - Producers: a managed policy (output ProducerPolicyArn) with
//     sqs:SendMessage on the queue and s3:PutObject under the attachment
//     prefix, attached to nothing: the stack does not know the producers.
//   - Region: a stack pinned to a region without EventBridge Pipes, SES v2
//     or Express Step Functions (or Chatbot, when configured) fails before
//     synthesis, naming the service ([PipelineRegions], [ChatbotRegions]);
//     an environment-agnostic stack carries a template Rules assertion, so
//     CloudFormation refuses such a region before it creates anything.
//   - The pipe is an L1 awspipes.CfnPipe (the L2 is alpha): SQS source with
//     the batch size and window, Step Functions target with invocation type
//     REQUEST_RESPONSE (StartSyncExecution; FIRE_AND_FORGET would delete the
//     batch as soon as the execution starts). Its role, assumable only by
//     pipes.amazonaws.com for this account, may receive, delete, change the
//     visibility of and read the attributes of messages on the source queue,
//     StartSyncExecution on the machine, and write its own log group when
//     pipe logging is on.
//   - Alarms: DLQ has messages; age of the oldest message, over
//     [config.Config.OldestMessageAlarmSeconds] (derived from the
//     processing time: the visibility timeout plus two rounds of batch
//     window and execution, so one ordinary retry does not fire it); the
//     events DLQ has any message; age of the oldest event
//     ([EventsOldestMessageAlarmSeconds], likewise from record-event's
//     timing); AWS/States ExecutionsFailed, ExecutionsTimedOut and
//     ExecutionThrottled; AWS/EventBridge/Pipes ExecutionFailed,
//     ExecutionThrottled, ExecutionTimeout and TargetStageFailed (dimension
//     PipeName, at one per period); each task's errors and throttles
//     (record-event's too), and the SES account's bounce and complaint
//     rates (Maximum over an hour, missing data not breaching). They notify (alarm and OK) an SNS topic
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
//     configured, AWS Chatbot subscribes to the topic, in a configuration
//     named "<stack>-<region>-alarms" (Chatbot's names are unique in the
//     account across regions); its guardrail is
//     CloudWatchReadOnlyAccess (CloudFormation's default guardrail would be
//     AdministratorAccess). The tests walk every alarm action to its topic,
//     topic policy and key policy with a small IAM evaluator
//     (TestServiceAccessWalk), and the same for every other service that
//     acts on the stack: the pipe, the state machine, the functions' log
//     groups, Chatbot's topics, every EventBridge rule with its dead-letter
//     queue, SES's event destinations, and every event source mapping with
//     what its consumer does with each resource its environment names.
//   - A CloudWatch dashboard shows the queues, the pipe, the executions,
//     the tasks and SES.
//   - With retainOnDelete (the default) the queues, bucket, tables, key and
//     log groups survive `cdk destroy`; otherwise they are deleted (the
//     bucket only when empty).
//
// The templates pass cfn-lint with no error and no warning (TestCfnLint,
// which `make test` runs with MAILFLOW_REQUIRE_CFNLINT=1, so a missing
// cfn-lint fails rather than skips). W3005, a DependsOn that a GetAtt
// already enforces, is fixed: the functions, the state machine and the
// pipe depend on their role's default policy only, the role being
// referenced already. I3013 (the events queue's retention) is fixed by
// writing it out. The remaining informational finding, I1022 ("prefer
// Fn::Sub over Fn::Join with an empty delimiter"), is accepted: CDK renders
// every concatenation of tokens (ARNs from FormatArn and ArnForObjects, the
// dashboard body) as Fn::Join, which CloudFormation evaluates exactly as
// the Fn::Sub would; rewriting CDK's output would buy nothing but style.
//
// Lambda code comes from the props ([MailPipelineProps.Code]), one
// awslambda.Code per task (all five), so the construct does not care how it was
// built: the app uses the zips `make lambdas` writes ([ZipCode]), tests use a
// small asset directory. Synthesis makes no AWS call and needs no
// credentials: the stack is environment-agnostic unless the configuration
// names an account and region, and nothing is looked up.
package infra
