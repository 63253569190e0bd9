package infra

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsdynamodb"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsiam"
	"github.com/aws/aws-cdk-go/awscdk/v2/awskms"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslogs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awspipes"
	"github.com/aws/aws-cdk-go/awscdk/v2/awss3"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssns"
	"github.com/aws/aws-cdk-go/awscdk/v2/awssqs"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsstepfunctions"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsxray"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/mailflow/mailflow/infra/config"
	"github.com/mailflow/mailflow/internal/taskkit"
	"github.com/mailflow/mailflow/workflow"
)

// LockKey and LockTTLAttribute are the lock table's partition key and TTL
// attribute (see lock/dynamolock).
const (
	LockKey          = "mailId"
	LockTTLAttribute = "expiresAt"
)

// DeadLetterRetentionDays is the dead-letter queue's retention.
const DeadLetterRetentionDays = config.DeadLetterRetentionDays

// EventsMaxMessageBytes is the events queues' largest message: the SQS maximum.
const EventsMaxMessageBytes = 1024 * 1024

// MailPipeline is the deployed pipeline: its resources, for a team that
// wants to grant its producers access or add its own alarms.
type MailPipeline interface {
	constructs.Construct
	// Queue is the source queue producers send mail to.
	Queue() awssqs.IQueue
	DeadLetterQueue() awssqs.IQueue
	// Bucket holds attachments (under the attachment prefix) and staged
	// MIME messages (under the staging prefix).
	Bucket() awss3.IBucket
	LockTable() awsdynamodb.ITable
	// EventsQueue receives SES's events of the configuration set (through
	// an EventBridge rule) and the state machine's records; record-event
	// consumes it. EventsDeadLetterQueue holds what could not be recorded
	// and what EventBridge could not deliver.
	EventsQueue() awssqs.IQueue
	EventsDeadLetterQueue() awssqs.IQueue
	// DeliveryTable holds each mail's delivery state, SuppressionTable the
	// addresses mail is no longer sent to.
	DeliveryTable() awsdynamodb.ITable
	SuppressionTable() awsdynamodb.ITable
	// OutcomeBus carries the outcome events producers subscribe to with
	// a rule (source "mailflow", detail-type "mailflow.outcome").
	OutcomeBus() awsevents.IEventBus
	// ProducerPolicy grants what a producer needs and nothing else:
	// sqs:SendMessage on the queue and s3:PutObject under the attachment
	// prefix. Attach it to the producers' roles.
	ProducerPolicy() awsiam.IManagedPolicy
	// LogKey encrypts every log group of the pipeline.
	LogKey() awskms.IKey
	// ConfigurationSetName is the SES configuration set mail is sent
	// with: the configured one, or the one the pipeline creates.
	ConfigurationSetName() *string
	// Function returns a task function by name (see [Functions]: a task's
	// name, or FunctionSendInline), nil for an unknown name.
	Function(name string) awslambda.IFunction
	StateMachine() awsstepfunctions.IStateMachine
	Pipe() awspipes.CfnPipe
	// AlarmTopic is the topic the alarms notify. Its policies admit
	// CloudWatch only for alarms named under AlarmNamePrefix: name an alarm
	// of your own under it to notify this topic.
	AlarmTopic() awssns.ITopic
	// AlarmNamePrefix starts the name of every alarm of the pipeline:
	// "<stack name>-<construct path>-", e.g. "mailflow-Mail-".
	AlarmNamePrefix() string
	Alarms() []awscloudwatch.IAlarm
	Dashboard() awscloudwatch.Dashboard
}

// MailPipelineProps configure a [MailPipeline].
type MailPipelineProps struct {
	// Config is the deployment configuration; it is validated again before
	// anything is built.
	Config *config.Config
	// Code is the code of each task function, keyed by task name
	// ([TaskAcquireLock], ...): all of [Tasks], nothing else. See [ZipCode].
	Code map[string]awslambda.Code
}

// Validate checks the props, reporting every problem.
func (p *MailPipelineProps) Validate() error {
	if p == nil {
		return errors.New("props are required")
	}
	var errs []error
	if p.Config == nil {
		errs = append(errs, errors.New("props.Config is required"))
	} else if err := p.Config.Validate(); err != nil {
		errs = append(errs, err)
	}
	if err := validateCode(p.Code); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

type mailPipeline struct {
	constructs.Construct
	// name is "<stack name>-<construct path>" ("mailflow-Mail"): unique in
	// the account and region, it names what must be unique there.
	name         string
	cfg          *config.Config
	queue        awssqs.Queue
	dlq          awssqs.Queue
	events       awssqs.Queue // delivery feedback: SES's events and the pipeline's
	eventsDLQ    awssqs.Queue
	bucket       awss3.Bucket
	table        awsdynamodb.Table
	deliveries   awsdynamodb.Table
	suppressions awsdynamodb.Table
	outcomeBus   awsevents.EventBus
	eventsRule   awsevents.CfnRule
	// configSetName is the configured set's name or the created set's Ref.
	configSetName *string
	functions     map[string]awslambda.Function
	stateMachine  awsstepfunctions.StateMachine
	pipe          awspipes.CfnPipe
	logKey        awskms.Key
	producers     awsiam.ManagedPolicy
	topic         awssns.Topic
	alarmPrefix   string
	alarms        []awscloudwatch.IAlarm
	dashboard     awscloudwatch.Dashboard
}

func (p *mailPipeline) Queue() awssqs.IQueue                         { return p.queue }
func (p *mailPipeline) DeadLetterQueue() awssqs.IQueue               { return p.dlq }
func (p *mailPipeline) Bucket() awss3.IBucket                        { return p.bucket }
func (p *mailPipeline) LockTable() awsdynamodb.ITable                { return p.table }
func (p *mailPipeline) EventsQueue() awssqs.IQueue                   { return p.events }
func (p *mailPipeline) EventsDeadLetterQueue() awssqs.IQueue         { return p.eventsDLQ }
func (p *mailPipeline) DeliveryTable() awsdynamodb.ITable            { return p.deliveries }
func (p *mailPipeline) SuppressionTable() awsdynamodb.ITable         { return p.suppressions }
func (p *mailPipeline) OutcomeBus() awsevents.IEventBus              { return p.outcomeBus }
func (p *mailPipeline) ConfigurationSetName() *string                { return p.configSetName }
func (p *mailPipeline) StateMachine() awsstepfunctions.IStateMachine { return p.stateMachine }
func (p *mailPipeline) Pipe() awspipes.CfnPipe                       { return p.pipe }
func (p *mailPipeline) ProducerPolicy() awsiam.IManagedPolicy        { return p.producers }
func (p *mailPipeline) LogKey() awskms.IKey                          { return p.logKey }
func (p *mailPipeline) AlarmTopic() awssns.ITopic                    { return p.topic }
func (p *mailPipeline) Alarms() []awscloudwatch.IAlarm               { return p.alarms }
func (p *mailPipeline) AlarmNamePrefix() string                      { return p.alarmPrefix }
func (p *mailPipeline) Dashboard() awscloudwatch.Dashboard           { return p.dashboard }

func (p *mailPipeline) Function(name string) awslambda.IFunction {
	if fn, ok := p.functions[name]; ok {
		return fn
	}
	return nil
}

// NewMailPipeline validates props and, only when they are valid, adds the
// pipeline to scope.
func NewMailPipeline(scope constructs.Construct, id string, props *MailPipelineProps) (MailPipeline, error) {
	if err := props.Validate(); err != nil {
		return nil, fmt.Errorf("MailPipeline %s: %w", id, err)
	}
	definition, err := renderDefinition(props.Config)
	if err != nil {
		return nil, fmt.Errorf("MailPipeline %s: %w", id, err)
	}
	name := pipelineName(scope, id)
	if props.Config.SES.ConfigurationSet == "" && !configSetName.MatchString(name) {
		return nil, fmt.Errorf("MailPipeline %s: the configuration set it would create is named %q (stack name and construct path), "+
			"which SES refuses (1-64 letters, digits, '_' or '-'): shorten the stack name or set ses.configurationSet", id, name)
	}
	if err := checkRegion(awscdk.Stack_Of(scope), props.Config.Chatbot != nil); err != nil {
		return nil, fmt.Errorf("MailPipeline %s: %w", id, err)
	}
	p := &mailPipeline{
		Construct: constructs.NewConstruct(scope, jsii.String(id)),
		name:      name,
		cfg:       props.Config,
		functions: map[string]awslambda.Function{},
	}
	p.buildLogKey()
	p.buildStorage()
	p.buildProducerPolicy()
	p.buildFeedback()
	p.buildFunctions(props.Code)
	p.buildEventSource()
	p.buildStateMachine(definition)
	p.buildPipe()
	p.buildAlarms()
	p.buildDashboard()
	p.addNagSuppressions()
	p.addRegionRule()
	return p, nil
}

// configSetName is what SES accepts as a configuration set's name.
var configSetName = regexp.MustCompile(`^[A-Za-z0-9_-]{1,64}$`)

// pipelineName is "<stack name>-<construct path>" of the pipeline that id
// names in scope, with "/" written "-".
func pipelineName(scope constructs.Construct, id string) string {
	stack := awscdk.Stack_Of(scope)
	path := strings.TrimPrefix(*scope.Node().Path()+"/"+id, *stack.Node().Path()+"/")
	return *stack.StackName() + "-" + strings.ReplaceAll(path, "/", "-")
}

func (p *mailPipeline) removalPolicy() awscdk.RemovalPolicy {
	if p.cfg.RetainOnDelete {
		return awscdk.RemovalPolicy_RETAIN
	}
	return awscdk.RemovalPolicy_DESTROY
}

func (p *mailPipeline) buildStorage() {
	cfg := p.cfg
	p.dlq = awssqs.NewQueue(p.Construct, jsii.String("DeadLetterQueue"), &awssqs.QueueProps{
		Encryption:      awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:      jsii.Bool(true),
		RetentionPeriod: awscdk.Duration_Days(jsii.Number(DeadLetterRetentionDays)),
		RemovalPolicy:   p.removalPolicy(),
	})
	p.eventsDLQ = awssqs.NewQueue(p.Construct, jsii.String("EventsDeadLetterQueue"), &awssqs.QueueProps{
		Encryption:          awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:          jsii.Bool(true),
		RetentionPeriod:     awscdk.Duration_Days(jsii.Number(DeadLetterRetentionDays)),
		MaxMessageSizeBytes: jsii.Number(EventsMaxMessageBytes),
		RemovalPolicy:       p.removalPolicy(),
	})
	// A dead-lettered record carries the queue body it is about, so the
	// events queue takes the largest message SQS takes.
	p.events = awssqs.NewQueue(p.Construct, jsii.String("EventsQueue"), &awssqs.QueueProps{
		Encryption:          awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:          jsii.Bool(true),
		VisibilityTimeout:   awscdk.Duration_Seconds(jsii.Number(eventsVisibilityFactor * recordEventTimeoutSeconds)),
		MaxMessageSizeBytes: jsii.Number(EventsMaxMessageBytes),
		// SQS's default, written out: an event is recorded in seconds or
		// dead-lettered after five receives long before.
		RetentionPeriod: awscdk.Duration_Days(jsii.Number(4)),
		DeadLetterQueue: &awssqs.DeadLetterQueue{Queue: p.eventsDLQ, MaxReceiveCount: jsii.Number(5)},
		RemovalPolicy:   p.removalPolicy(),
	})
	p.queue = awssqs.NewQueue(p.Construct, jsii.String("Queue"), &awssqs.QueueProps{
		Encryption:          awssqs.QueueEncryption_SQS_MANAGED,
		EnforceSSL:          jsii.Bool(true),
		VisibilityTimeout:   awscdk.Duration_Seconds(jsii.Number(cfg.Queue.VisibilityTimeoutSeconds)),
		RetentionPeriod:     awscdk.Duration_Days(jsii.Number(cfg.Queue.RetentionDays)),
		MaxMessageSizeBytes: jsii.Number(cfg.Queue.MaxMessageSizeBytes),
		DeadLetterQueue: &awssqs.DeadLetterQueue{
			Queue:           p.dlq,
			MaxReceiveCount: jsii.Number(cfg.Queue.MaxReceiveCount),
		},
		RemovalPolicy: p.removalPolicy(),
	})

	p.bucket = awss3.NewBucket(p.Construct, jsii.String("Bucket"), &awss3.BucketProps{
		BlockPublicAccess: awss3.BlockPublicAccess_BLOCK_ALL(),
		EnforceSSL:        jsii.Bool(true),
		MinimumTLSVersion: jsii.Number(1.2),
		Encryption:        awss3.BucketEncryption_S3_MANAGED,
		ObjectOwnership:   awss3.ObjectOwnership_BUCKET_OWNER_ENFORCED,
		Versioned:         jsii.Bool(false),
		LifecycleRules: &[]*awss3.LifecycleRule{
			{
				Id:         jsii.String("expire-attachments"),
				Prefix:     jsii.String(cfg.Storage.AttachmentPrefix),
				Expiration: awscdk.Duration_Days(jsii.Number(cfg.Storage.AttachmentRetentionDays)),
			},
			{
				Id:         jsii.String("expire-staging"),
				Prefix:     jsii.String(cfg.Storage.StagingPrefix),
				Expiration: awscdk.Duration_Days(jsii.Number(cfg.Storage.StagingRetentionDays)),
			},
			{
				Id:                                  jsii.String("abort-incomplete-uploads"),
				AbortIncompleteMultipartUploadAfter: awscdk.Duration_Days(jsii.Number(1)),
			},
		},
		RemovalPolicy: p.removalPolicy(),
	})

	p.table = awsdynamodb.NewTable(p.Construct, jsii.String("LockTable"), &awsdynamodb.TableProps{
		PartitionKey:        &awsdynamodb.Attribute{Name: jsii.String(LockKey), Type: awsdynamodb.AttributeType_STRING},
		BillingMode:         awsdynamodb.BillingMode_PAY_PER_REQUEST,
		TimeToLiveAttribute: jsii.String(LockTTLAttribute),
		PointInTimeRecoverySpecification: &awsdynamodb.PointInTimeRecoverySpecification{
			PointInTimeRecoveryEnabled: jsii.Bool(true),
		},
		RemovalPolicy: p.removalPolicy(),
	})
	p.deliveries = p.newTable("DeliveryTable", DeliveryKey, DeliveryTTLAttribute)
	// `dlq list --aws` Queries it instead of receiving from the queue. It
	// projects the whole record, so a page needs no GetItem per mail; its
	// writes need no permission of the role that writes the table.
	p.deliveries.AddGlobalSecondaryIndex(&awsdynamodb.GlobalSecondaryIndexProps{
		IndexName:      jsii.String(DeadLetterIndexName),
		PartitionKey:   &awsdynamodb.Attribute{Name: jsii.String(DeadLetterIndexShardKey), Type: awsdynamodb.AttributeType_STRING},
		SortKey:        &awsdynamodb.Attribute{Name: jsii.String(DeadLetterIndexSortKey), Type: awsdynamodb.AttributeType_STRING},
		ProjectionType: awsdynamodb.ProjectionType_ALL,
	})
	p.suppressions = p.newTable("SuppressionTable", SuppressionKey, "")
}

// buildProducerPolicy is the managed policy producers attach: enqueue
// mail and upload its attachments, nothing else (the queue's SQS-managed
// encryption needs no KMS permission).
func (p *mailPipeline) buildProducerPolicy() {
	p.producers = awsiam.NewManagedPolicy(p.Construct, jsii.String("ProducerPolicy"), &awsiam.ManagedPolicyProps{
		Description: jsii.String("mailflow producer: send mail to the queue, upload attachments"),
		Statements: &[]awsiam.PolicyStatement{
			statement("SendMail", []string{"sqs:SendMessage"}, []*string{p.queue.QueueArn()}, nil),
			statement("UploadAttachments", []string{"s3:PutObject"},
				[]*string{p.bucket.ArnForObjects(jsii.String(p.cfg.Storage.AttachmentPrefix + "*"))}, nil),
		},
	})
}

// environment is what each task function is configured with: the same
// variables for the four the state machine runs (each reads what it needs,
// and they share one loader, internal/taskkit); record-event gets its own.
func (p *mailPipeline) environment(task string) map[string]*string {
	cfg := p.cfg
	lease := time.Duration(cfg.Lock.LeaseSeconds) * time.Second
	retention := time.Duration(cfg.Lock.RetentionDays) * 24 * time.Hour
	if task == TaskReserveSends {
		// The pacer item is in the lock table; the rate as Send paces to.
		env := map[string]*string{taskkit.EnvLockTable: p.table.TableName()}
		p.pacingEnvironment(env)
		return env
	}
	if task == TaskRecordEvent {
		return map[string]*string{
			taskkit.EnvLockTable:     p.table.TableName(),
			EnvDeliveryTable:         p.deliveries.TableName(),
			EnvSuppressionTable:      p.suppressions.TableName(),
			EnvOutcomeBus:            p.outcomeBus.EventBusName(),
			EnvEventsDeadLetterQueue: p.eventsDLQ.QueueUrl(),
			taskkit.EnvRetention:     jsii.String(retention.String()),
		}
	}
	env := map[string]*string{
		taskkit.EnvLockTable:        p.table.TableName(),
		EnvSuppressionTable:         p.suppressions.TableName(),
		EnvEventsQueue:              p.events.QueueUrl(),
		taskkit.EnvLease:            jsii.String(lease.String()),
		taskkit.EnvRetention:        jsii.String(retention.String()),
		taskkit.EnvBucket:           p.bucket.BucketName(),
		taskkit.EnvAttachmentPrefix: jsii.String(cfg.Storage.AttachmentPrefix),
		taskkit.EnvStagingPrefix:    jsii.String(cfg.Storage.StagingPrefix),
		taskkit.EnvMaxBodyBytes:     jsii.String(strconv.Itoa(cfg.Queue.MaxMessageSizeBytes)),
		taskkit.EnvAllowedSenders:   jsii.String(strings.Join(cfg.SES.AllowedFrom, ",")),
	}
	if cfg.SES.DefaultFrom != "" {
		env[taskkit.EnvDefaultSender] = jsii.String(cfg.SES.DefaultFrom)
	}
	env[taskkit.EnvConfigurationSet] = p.configSetName
	p.pacingEnvironment(env)
	if task == TaskFetchAttachments && cfg.Workflow.LogLevel == "ALL" && cfg.Workflow.IncludeExecutionData {
		// Every state's input is logged at ALL with data: an inline
		// message would be logged whole, base64-encoded where the data
		// protection policy cannot find its addresses, at twice the log
		// bytes. Staged, only its key is logged.
		env[taskkit.EnvInlineMaxBytes] = jsii.String("0")
	}
	return env
}

// pacingEnvironment adds the pacer's settings: the configured send rate
// (otherwise the pacer reads SES's quota) and pacing off.
func (p *mailPipeline) pacingEnvironment(env map[string]*string) {
	if p.cfg.SES.MaxSendRate > 0 {
		env[EnvMaxSendRate] = jsii.String(strconv.FormatFloat(p.cfg.SES.MaxSendRate, 'f', -1, 64))
	}
	if p.cfg.SES.Pacing == "off" {
		env[taskkit.EnvPacing] = jsii.String("off")
	}
}

func (p *mailPipeline) buildFunctions(code map[string]awslambda.Code) {
	// A function that shares an earlier one's (spec.sharesWith) takes its log
	// group and role; every other one gets its own.
	type owned struct {
		logs awslogs.LogGroup
		role awsiam.Role
	}
	byID := map[string]owned{}
	for _, spec := range taskSpecs {
		env := p.environment(spec.name)
		env[EnvGoMemLimit] = jsii.String(goMemLimit(spec.memoryMiB))
		own, ok := byID[spec.sharesWith]
		if !ok {
			own.logs = p.logGroup(spec.id+"Logs", nil, nil)
			own.role = awsiam.NewRole(p.Construct, jsii.String(spec.id+"Role"), &awsiam.RoleProps{
				AssumedBy:   awsiam.NewServicePrincipal(jsii.String("lambda.amazonaws.com"), nil),
				Description: jsii.String("mailflow " + spec.name + " task"),
			})
			own.logs.GrantWrite(own.role)
			for _, st := range p.taskStatements(spec.name) {
				own.role.AddToPrincipalPolicy(st)
			}
			byID[spec.id] = own
		}
		logs, role := own.logs, own.role
		fn := awslambda.NewFunction(p.Construct, jsii.String(spec.id), &awslambda.FunctionProps{
			Description:                  jsii.String(spec.description),
			Runtime:                      awslambda.Runtime_PROVIDED_AL2023(),
			Architecture:                 awslambda.Architecture_ARM_64(),
			Handler:                      jsii.String("bootstrap"),
			Code:                         code[spec.name],
			MemorySize:                   jsii.Number(spec.memoryMiB),
			Timeout:                      awscdk.Duration_Seconds(jsii.Number(spec.timeoutSeconds)),
			Tracing:                      tracingMode(spec),
			LoggingFormat:                awslambda.LoggingFormat_JSON,
			ApplicationLogLevelV2:        awslambda.ApplicationLogLevel(p.cfg.Logs.LambdaLevel),
			SystemLogLevelV2:             awslambda.SystemLogLevel(p.cfg.Logs.LambdaSystemLevel),
			LogGroup:                     logs,
			Role:                         role,
			Environment:                  &env,
			ReservedConcurrentExecutions: p.reservedConcurrency(spec),
		})
		dependOnPolicyOnly(fn.Node().DefaultChild(), role)
		p.functions[spec.function()] = fn
	}
}

// tracingMode is Active for the state machine's tasks, which then follow
// the execution's sampling decision (the stack's sampling rule), and
// PassThrough for record-event: Lambda samples a function's own
// invocations at one a second plus 5 % whatever the rules say, so it
// joins a trace only when its record arrives sampled.
func tracingMode(spec taskSpec) awslambda.Tracing {
	if spec.invokedByStateMachine() {
		return awslambda.Tracing_ACTIVE
	}
	return awslambda.Tracing_PASS_THROUGH
}

// reservedConcurrency bounds a task: the state machine's four take the
// configured (or derived) reservation; record-event takes its event source
// mapping's maximum concurrency, as AWS advises, so its batches are never
// throttled. With the reservation off (0), none is reserved.
func (p *mailPipeline) reservedConcurrency(spec taskSpec) *float64 {
	n := p.cfg.ReservedConcurrency()
	if n == 0 {
		return nil
	}
	if !spec.invokedByStateMachine() {
		n = recordEventMaxConcurrency
	}
	return jsii.Number(n)
}

// dependOnPolicyOnly leaves a resource depending on its role's default
// policy alone: CDK also lists the role, which the resource's Role
// attribute already references (cfn-lint W3005).
func dependOnPolicyOnly(resource constructs.IConstruct, role awsiam.Role) {
	policy := role.Node().FindChild(jsii.String("DefaultPolicy")).Node().DefaultChild().(awscdk.CfnElement)
	resource.(awscdk.CfnResource).AddOverride(jsii.String("DependsOn"), []any{awscdk.Stack_Of(resource).GetLogicalId(policy)})
}

// taskStatements are the permissions of one task, beyond writing its own
// log group and X-Ray (which CDK adds for active tracing).
func (p *mailPipeline) taskStatements(task string) []awsiam.PolicyStatement {
	cfg := p.cfg
	table := []*string{p.table.TableArn()}
	switch task {
	case TaskAcquireLock:
		return []awsiam.PolicyStatement{
			statement("LockAcquire", []string{"dynamodb:PutItem", "dynamodb:GetItem"}, table, nil),
			// A batch's recipients are looked up in one request.
			statement("SuppressionLookup", []string{"dynamodb:BatchGetItem"}, []*string{p.suppressions.TableArn()}, nil),
			// The accepted record of each mail it takes the lock for.
			statement("TellAccepted", []string{"sqs:SendMessage"}, []*string{p.events.QueueArn()}, nil),
		}
	case TaskFetchAttachments:
		return []awsiam.PolicyStatement{
			// Without s3:ListBucket S3 answers a missing key with 403,
			// which the task would have to report as forbidden rather
			// than missing. It reveals key names, not contents.
			statement("TellMissingAttachments", []string{"s3:ListBucket"}, []*string{p.bucket.BucketArn()}, nil),
			statement("ReadAttachments", []string{"s3:GetObject"},
				[]*string{p.bucket.ArnForObjects(jsii.String(cfg.Storage.AttachmentPrefix + "*"))}, nil),
			statement("WriteStaging", []string{"s3:PutObject"},
				[]*string{p.bucket.ArnForObjects(jsii.String(cfg.Storage.StagingPrefix + "*"))}, nil),
		}
	case TaskSend:
		var ses []*string
		stack := awscdk.Stack_Of(p.Construct)
		for _, id := range SendIdentities(cfg) {
			ses = append(ses, stack.FormatArn(&awscdk.ArnComponents{
				Service: jsii.String("ses"), Resource: jsii.String("identity"),
				ResourceName: jsii.String(id), ArnFormat: awscdk.ArnFormat_SLASH_RESOURCE_NAME,
			}))
		}
		// SES v2 authorises sending on the configuration set too.
		ses = append(ses, stack.FormatArn(&awscdk.ArnComponents{
			Service: jsii.String("ses"), Resource: jsii.String("configuration-set"),
			ResourceName: p.configSetName, ArnFormat: awscdk.ArnFormat_SLASH_RESOURCE_NAME,
		}))
		sts := []awsiam.PolicyStatement{
			statement("ReadStaging", []string{"s3:GetObject"},
				[]*string{p.bucket.ArnForObjects(jsii.String(cfg.Storage.StagingPrefix + "*"))}, nil),
			statement("SendMail", []string{"ses:SendEmail", "ses:SendRawEmail"}, ses, map[string]any{
				"StringLike": map[string]any{"ses:FromAddress": fromAddressPatterns(cfg.SES.AllowedFrom)},
			}),
			// Renew and mark-sent on the lock records, and the pacer's
			// token bucket, one item of the same table (pacer/dynamopacer).
			statement("LockMarkSentAndPacer", []string{"dynamodb:UpdateItem", "dynamodb:GetItem"}, table, nil),
		}
		if cfg.SES.ReadsSendQuota() {
			// GetAccount has no resource: AWS only grants it on "*".
			sts = append(sts, statement("ReadSendQuota", []string{"ses:GetAccount"}, []*string{jsii.String("*")}, nil))
		}
		return sts
	case TaskReserveSends:
		sts := []awsiam.PolicyStatement{
			// The pacer's token bucket, an item of the lock table
			// (pacer/dynamopacer), as for Send.
			statement("PacerReserve", []string{"dynamodb:UpdateItem", "dynamodb:GetItem"}, table, nil),
		}
		if cfg.SES.ReadsSendQuota() {
			sts = append(sts, statement("ReadSendQuota", []string{"ses:GetAccount"}, []*string{jsii.String("*")}, nil))
		}
		return sts
	case TaskReleaseLock:
		return []awsiam.PolicyStatement{
			statement("LockRelease", []string{"dynamodb:DeleteItem", "dynamodb:GetItem"}, table, nil),
		}
	case TaskRecordEvent:
		return []awsiam.PolicyStatement{
			// What AWS documents for an SQS event source mapping.
			statement("ConsumeEvents", []string{"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"},
				[]*string{p.events.QueueArn()}, nil),
			statement("DeadLetterEvents", []string{"sqs:SendMessage"}, []*string{p.eventsDLQ.QueueArn()}, nil),
			// Resolve an outcome-unknown lock once SES reports the mail.
			statement("LockResolve", []string{"dynamodb:GetItem", "dynamodb:UpdateItem"}, table, nil),
			statement("RecordDelivery", []string{"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"},
				[]*string{p.deliveries.TableArn()}, nil),
			statement("Suppress", []string{"dynamodb:PutItem", "dynamodb:GetItem"}, []*string{p.suppressions.TableArn()}, nil),
			statement("PublishOutcomes", []string{"events:PutEvents"}, []*string{p.outcomeBus.EventBusArn()}, nil),
		}
	}
	panic("infra: no permissions for task " + task)
}

// SendIdentities are the SES identities a send can be authorized against,
// lower-cased, each once: SES checks the most specific verified identity of
// the From address, so each allowed address and its domain; the configured
// identities (a parent domain may be the verified one); and, for a sandbox
// account, the recipient identities, which SES checks there too.
func SendIdentities(cfg *config.Config) []string {
	var out []string
	add := func(id string) {
		if id = strings.ToLower(id); !slices.Contains(out, id) {
			out = append(out, id)
		}
	}
	for _, from := range cfg.SES.AllowedFrom {
		add(from)
		if _, domain, ok := strings.Cut(from, "@"); ok {
			add(domain)
		}
	}
	for _, id := range cfg.SES.Identities {
		add(id)
	}
	for _, id := range cfg.SES.SandboxRecipients {
		add(id)
	}
	return out
}

// fromAddressPatterns turns allowed senders into ses:FromAddress patterns:
// an address as itself, a domain as any address at it. IAM's StringLike is
// case-sensitive, so they are lower-cased like the addresses the tasks send
// from.
func fromAddressPatterns(allowed []string) []*string {
	var out []*string
	for _, a := range allowed {
		a = strings.ToLower(a)
		if !strings.Contains(a, "@") {
			a = "*@" + a
		}
		out = append(out, jsii.String(a))
	}
	return out
}

func statement(sid string, actions []string, resources []*string, conditions map[string]any) awsiam.PolicyStatement {
	props := &awsiam.PolicyStatementProps{
		Sid:       jsii.String(sid),
		Effect:    awsiam.Effect_ALLOW,
		Actions:   jsii.Strings(actions...),
		Resources: &resources,
	}
	if conditions != nil {
		props.Conditions = &conditions
	}
	return awsiam.NewPolicyStatement(props)
}

// logGroup creates a log group with the configured retention, encrypted
// with the pipeline's log key; name, when given, is its name, and
// protection, when given, its data protection policy.
func (p *mailPipeline) logGroup(id string, name *string, protection awslogs.DataProtectionPolicy) awslogs.LogGroup {
	return awslogs.NewLogGroup(p.Construct, jsii.String(id), &awslogs.LogGroupProps{
		LogGroupName:         name,
		Retention:            retentionDays[p.cfg.Logs.RetentionDays],
		EncryptionKey:        p.logKey,
		DataProtectionPolicy: protection,
		RemovalPolicy:        p.removalPolicy(),
	})
}

// maskEmailAddresses is the state machine log's data protection policy:
// at level ALL its events carry each mail's recipients, which CloudWatch
// Logs then shows masked to anyone without logs:Unmask.
func maskEmailAddresses() awslogs.DataProtectionPolicy {
	return awslogs.NewDataProtectionPolicy(&awslogs.DataProtectionPolicyProps{
		Name:        jsii.String("mailflow-mask-email-addresses"),
		Description: jsii.String("Mask e-mail addresses in execution logs"),
		Identifiers: &[]awslogs.DataIdentifier{awslogs.DataIdentifier_EMAILADDRESS()},
	})
}

// buildLogKey is the customer-managed key of every log group: CloudWatch
// Logs of this region may use it only for log groups of this account and
// region (the encryption context CloudWatch Logs sends names the group).
func (p *mailPipeline) buildLogKey() {
	stack := awscdk.Stack_Of(p.Construct)
	p.logKey = awskms.NewKey(p.Construct, jsii.String("LogKey"), &awskms.KeyProps{
		Description:       jsii.String("mailflow log groups"),
		EnableKeyRotation: jsii.Bool(true),
		RemovalPolicy:     p.removalPolicy(),
		PendingWindow:     awscdk.Duration_Days(jsii.Number(7)),
	})
	p.logKey.AddToResourcePolicy(awsiam.NewPolicyStatement(&awsiam.PolicyStatementProps{
		Sid:        jsii.String("CloudWatchLogsEncrypt"),
		Principals: &[]awsiam.IPrincipal{awsiam.NewServicePrincipal(awscdk.Fn_Sub(jsii.String("logs.${AWS::Region}.amazonaws.com"), nil), nil)},
		Actions:    jsii.Strings("kms:Encrypt*", "kms:Decrypt*", "kms:ReEncrypt*", "kms:GenerateDataKey*", "kms:Describe*"),
		Resources:  jsii.Strings("*"),
		Conditions: &map[string]any{"ArnLike": map[string]any{
			"kms:EncryptionContext:aws:logs:arn": stack.FormatArn(&awscdk.ArnComponents{
				Service: jsii.String("logs"), Resource: jsii.String("log-group"), ResourceName: jsii.String("*"),
				ArnFormat: awscdk.ArnFormat_COLON_RESOURCE_NAME,
			}),
		}},
	}), nil)
}

// vendedLogGroupName is a name under /aws/vendedlogs/<service>/ that is new
// for every stack created (it ends with the stack id's GUID), so a log
// group retained from a deleted stack never blocks a new one.
func vendedLogGroupName(service, suffix string) *string {
	guid := awscdk.Fn_Select(jsii.Number(2), awscdk.Fn_Split(jsii.String("/"), awscdk.Aws_STACK_ID(), nil))
	return awscdk.Fn_Join(jsii.String(""), &[]*string{
		jsii.String("/aws/vendedlogs/" + service + "/"), awscdk.Aws_STACK_NAME(), jsii.String("-" + suffix + "-"), guid,
	})
}

func (p *mailPipeline) buildStateMachine(definition string) {
	cfg := p.cfg
	role := awsiam.NewRole(p.Construct, jsii.String("StateMachineRole"), &awsiam.RoleProps{
		AssumedBy:   awsiam.NewServicePrincipal(jsii.String("states.amazonaws.com"), nil),
		Description: jsii.String("mailflow state machine"),
	})
	var fnArns []*string
	subs := map[string]*string{
		workflow.PlaceholderDeadLetterQueue: p.dlq.QueueUrl(),
		workflow.PlaceholderEventsQueue:     p.events.QueueUrl(),
	}
	for _, spec := range taskSpecs {
		if !spec.invokedByStateMachine() {
			continue
		}
		arn := p.functions[spec.function()].FunctionArn()
		fnArns = append(fnArns, arn)
		subs[spec.placeholder] = arn
	}
	role.AddToPrincipalPolicy(statement("InvokeTasks", []string{"lambda:InvokeFunction"}, fnArns, nil))
	role.AddToPrincipalPolicy(statement("DeadLetter", []string{"sqs:SendMessage"}, []*string{p.dlq.QueueArn()}, nil))
	role.AddToPrincipalPolicy(statement("RecordEvents", []string{"sqs:SendMessage"}, []*string{p.events.QueueArn()}, nil))

	var logs *awsstepfunctions.LogOptions
	if cfg.Workflow.LogLevel != "OFF" {
		logs = &awsstepfunctions.LogOptions{
			Destination:          p.logGroup("StateMachineLogs", vendedLogGroupName("states", "mail"), maskEmailAddresses()),
			Level:                awsstepfunctions.LogLevel(cfg.Workflow.LogLevel),
			IncludeExecutionData: jsii.Bool(cfg.Workflow.IncludeExecutionData),
		}
	}
	p.stateMachine = awsstepfunctions.NewStateMachine(p.Construct, jsii.String("StateMachine"), &awsstepfunctions.StateMachineProps{
		StateMachineType:        awsstepfunctions.StateMachineType_EXPRESS,
		DefinitionBody:          awsstepfunctions.DefinitionBody_FromString(jsii.String(definition)),
		DefinitionSubstitutions: &subs,
		TracingEnabled:          jsii.Bool(true),
		Logs:                    logs,
		Role:                    role,
		RemovalPolicy:           awscdk.RemovalPolicy_DESTROY,
	})
	dependOnPolicyOnly(p.stateMachine.Node().DefaultChild(), role)
	p.buildSamplingRule()
}

// buildSamplingRule samples the state machine's executions for X-Ray at
// tracing.sampleRate after tracing.reservoirPerSecond a second (X-Ray's
// default rule traces one a second and 5 % of the rest, so a pipeline below
// a batch a second would have every execution traced and billed). Step
// Functions matches a rule by the state machine's name and its service
// type; an execution started with a sampled trace header (a producer's
// traced SendMessage through Pipes) keeps that decision.
func (p *mailPipeline) buildSamplingRule() {
	t := p.cfg.Tracing
	awsxray.NewCfnSamplingRule(p.Construct, jsii.String("SamplingRule"), &awsxray.CfnSamplingRuleProps{
		SamplingRule: &awsxray.CfnSamplingRule_SamplingRuleProperty{
			RuleName:      jsii.String(samplingRuleName(p.cfg.StackName)),
			Priority:      jsii.Number(1000),
			FixedRate:     jsii.Number(t.SampleRate),
			ReservoirSize: jsii.Number(float64(t.ReservoirPerSecond)),
			ServiceName:   p.stateMachine.StateMachineName(),
			ServiceType:   jsii.String("AWS::StepFunctions::StateMachine"),
			ResourceArn:   jsii.String("*"),
			Host:          jsii.String("*"),
			HttpMethod:    jsii.String("*"),
			UrlPath:       jsii.String("*"),
			Version:       jsii.Number(1),
		},
	})
}

// samplingRuleName is unique per stack within the account and region and
// at most 32 characters, X-Ray's limit.
func samplingRuleName(stack string) string {
	name := "mailflow-" + stack
	if len(name) <= 32 {
		return name
	}
	sum := sha256.Sum256([]byte(stack))
	return name[:23] + "-" + hex.EncodeToString(sum[:4])
}

func (p *mailPipeline) buildPipe() {
	cfg := p.cfg
	role := awsiam.NewRole(p.Construct, jsii.String("PipeRole"), &awsiam.RoleProps{
		AssumedBy: awsiam.NewPrincipalWithConditions(
			awsiam.NewServicePrincipal(jsii.String("pipes.amazonaws.com"), nil),
			&map[string]any{"StringEquals": map[string]any{"aws:SourceAccount": awscdk.Aws_ACCOUNT_ID()}},
		),
		Description: jsii.String("mailflow pipe: source queue to state machine"),
	})
	role.AddToPrincipalPolicy(statement("ConsumeSourceQueue", []string{
		"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes",
	}, []*string{p.queue.QueueArn()}, nil))
	role.AddToPrincipalPolicy(statement("StartExecution", []string{"states:StartSyncExecution"},
		[]*string{p.stateMachine.StateMachineArn()}, nil))

	var logConfig *awspipes.CfnPipe_PipeLogConfigurationProperty
	if cfg.Pipe.LogLevel != "OFF" {
		logs := p.logGroup("PipeLogs", vendedLogGroupName("pipes", "mail"), nil)
		logs.GrantWrite(role)
		logConfig = &awspipes.CfnPipe_PipeLogConfigurationProperty{
			Level: jsii.String(cfg.Pipe.LogLevel),
			CloudwatchLogsLogDestination: &awspipes.CfnPipe_CloudwatchLogsLogDestinationProperty{
				LogGroupArn: logs.LogGroupArn(),
			},
		}
	}
	p.pipe = awspipes.NewCfnPipe(p.Construct, jsii.String("Pipe"), &awspipes.CfnPipeProps{
		Description:  jsii.String("mailflow: SQS mail batches to the Express state machine, synchronously"),
		DesiredState: jsii.String("RUNNING"), //contract:unrelated the pipe's desired state, not an execution status
		RoleArn:      role.RoleArn(),
		Source:       p.queue.QueueArn(),
		SourceParameters: &awspipes.CfnPipe_PipeSourceParametersProperty{
			SqsQueueParameters: &awspipes.CfnPipe_PipeSourceSqsQueueParametersProperty{
				BatchSize:                      jsii.Number(cfg.Pipe.BatchSize),
				MaximumBatchingWindowInSeconds: jsii.Number(cfg.Pipe.BatchWindowSeconds),
			},
		},
		Target: p.stateMachine.StateMachineArn(),
		TargetParameters: &awspipes.CfnPipe_PipeTargetParametersProperty{
			StepFunctionStateMachineParameters: &awspipes.CfnPipe_PipeTargetStateMachineParametersProperty{
				InvocationType: jsii.String("REQUEST_RESPONSE"),
			},
		},
		LogConfiguration: logConfig,
	})
	// The pipe checks its role's access when it is created: create the
	// policy first (the role it references already is).
	dependOnPolicyOnly(p.pipe, role)
}

// retentionDays maps the values config accepts to CDK's enum.
var retentionDays = map[int]awslogs.RetentionDays{
	1: awslogs.RetentionDays_ONE_DAY, 3: awslogs.RetentionDays_THREE_DAYS, 5: awslogs.RetentionDays_FIVE_DAYS,
	7: awslogs.RetentionDays_ONE_WEEK, 14: awslogs.RetentionDays_TWO_WEEKS, 30: awslogs.RetentionDays_ONE_MONTH,
	60: awslogs.RetentionDays_TWO_MONTHS, 90: awslogs.RetentionDays_THREE_MONTHS, 120: awslogs.RetentionDays_FOUR_MONTHS,
	150: awslogs.RetentionDays_FIVE_MONTHS, 180: awslogs.RetentionDays_SIX_MONTHS, 365: awslogs.RetentionDays_ONE_YEAR,
	400: awslogs.RetentionDays_THIRTEEN_MONTHS, 545: awslogs.RetentionDays_EIGHTEEN_MONTHS, 731: awslogs.RetentionDays_TWO_YEARS,
	1096: awslogs.RetentionDays_THREE_YEARS, 1827: awslogs.RetentionDays_FIVE_YEARS, 2192: awslogs.RetentionDays_SIX_YEARS,
	2557: awslogs.RetentionDays_SEVEN_YEARS, 2922: awslogs.RetentionDays_EIGHT_YEARS, 3288: awslogs.RetentionDays_NINE_YEARS,
	3653: awslogs.RetentionDays_TEN_YEARS,
}
