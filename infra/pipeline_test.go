package infra_test

import (
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2/assertions"
	"github.com/aws/jsii-runtime-go"

	"github.com/mailflow/mailflow/infra"
	"github.com/mailflow/mailflow/internal/taskkit"
	"github.com/mailflow/mailflow/workflow"
)

// mainConfig is the example configuration with every optional part on.
const mainConfig = `{
  "stackName": "mailflow",
  "ses": {
    "identities": ["example.com", "alerts@example.org"],
    "allowedFrom": ["billing@example.com", "Example.com", "alerts@example.org"],
    "defaultFrom": "Example Shop <billing@example.com>",
    "configurationSet": "transactional",
    "maxSendRate": 14
  },
  "chatbot": {"slackWorkspaceId": "T0123ABCD", "slackChannelId": "C0123ABCD"}
}`

// variantConfig turns the optional parts off and moves every number away
// from its default.
const variantConfig = `{
  "stackName": "mailflow-dev",
  "account": "123456789012",
  "region": "eu-west-1",
  "ses": {"identities": ["example.net"], "allowedFrom": ["example.net"], "sandboxRecipients": ["qa@example.org"]},
  "queue": {"visibilityTimeoutSeconds": 1200, "maxReceiveCount": 8, "maxMessageSizeBytes": 8192, "retentionDays": 2},
  "pipe": {"batchSize": 12, "batchWindowSeconds": 5, "logLevel": "OFF"},
  "workflow": {"mapConcurrency": 25, "logLevel": "OFF", "includeExecutionData": false,
               "throttleRetry": {"maxAttempts": 3, "maxDelaySeconds": 5}},
  "lock": {"leaseSeconds": 900, "retentionDays": 21},
  "storage": {"attachmentPrefix": "mail/in/", "stagingPrefix": "mail/out/",
              "attachmentRetentionDays": 7, "stagingRetentionDays": 2},
  "logs": {"retentionDays": 7, "lambdaLevel": "DEBUG"},
  "alarms": {"periodSeconds": 60, "deadLetterMessages": 3, "oldestMessageAgeSeconds": 1600,
             "executionsFailed": 2, "executionsTimedOut": 4, "taskErrors": 20, "taskThrottles": 6,
             "bounceRate": 0.04, "complaintRate": 0.0008},
  "retainOnDelete": false
}`

// assertOK runs a CDK assertion, which panics through jsii on failure, and
// turns the panic into a test error.
func assertOK(t *testing.T, what string, fn func()) {
	t.Helper()
	defer func() {
		if r := recover(); r != nil {
			t.Errorf("%s: %v", what, r)
		}
	}()
	fn()
}

// one returns the only resource of a type.
func (s *synthesized) one(t *testing.T, typ string) (string, map[string]any) {
	t.Helper()
	rs := s.resources(typ)
	if len(rs) != 1 {
		t.Fatalf("%d resources of type %s, want 1", len(rs), typ)
	}
	for id, r := range rs {
		return id, r
	}
	return "", nil
}

func props(r map[string]any) map[string]any {
	p, _ := r["Properties"].(map[string]any)
	return p
}

// at walks a decoded JSON value along keys (strings) and indices (ints).
func at(v any, path ...any) any {
	for _, k := range path {
		switch k := k.(type) {
		case string:
			m, _ := v.(map[string]any)
			v = m[k]
		case int:
			a, _ := v.([]any)
			if k >= len(a) {
				return nil
			}
			v = a[k]
		}
	}
	return v
}

func equalJSON(t *testing.T, what string, got, want any) {
	t.Helper()
	if g, w := normalize(got), normalize(want); !reflect.DeepEqual(g, w) {
		t.Errorf("%s:\n got  %s\n want %s", what, mustJSON(g), mustJSON(w))
	}
}

// normalize round-trips a value through JSON, so Go literals compare equal
// to the decoded template.
func normalize(v any) any {
	var out any
	if err := json.Unmarshal([]byte(mustJSON(v)), &out); err != nil {
		panic(err)
	}
	return out
}

func getAtt(id, attr string) map[string]any { return map[string]any{"Fn::GetAtt": []any{id, attr}} }
func ref(id string) map[string]any          { return map[string]any{"Ref": id} }

// flatten renders a CloudFormation string expression as text, with each
// reference written as <Ref> or <Id.Attr>.
func flatten(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case map[string]any:
		if r, ok := x["Ref"].(string); ok {
			return "<" + r + ">"
		}
		if ga, ok := x["Fn::GetAtt"].([]any); ok {
			return fmt.Sprintf("<%v.%v>", ga[0], ga[1])
		}
		if j, ok := x["Fn::Join"].([]any); ok {
			sep, _ := j[0].(string)
			var parts []string
			for _, p := range j[1].([]any) {
				parts = append(parts, flatten(p))
			}
			return strings.Join(parts, sep)
		}
	}
	return mustJSON(v)
}

// ids are the logical ids of the pipeline's resources in one synthesis.
type ids struct {
	queue, dlq, bucket, table, stateMachine, topic string
	events, eventsDLQ, deliveries, suppressions    string
	bus, rule                                      string
	fn, fnRole, fnLogs                             map[string]string
	// configSet is the SES configuration set's name as the template
	// writes it: the configured name, or the created set's Ref.
	configSet any
}

func (s *synthesized) ids(t *testing.T) ids {
	t.Helper()
	p := s.pipeline
	out := ids{
		queue:        logicalID(t, s.resolve(p.Queue().QueueArn())),
		dlq:          logicalID(t, s.resolve(p.DeadLetterQueue().QueueArn())),
		bucket:       logicalID(t, s.resolve(p.Bucket().BucketArn())),
		table:        logicalID(t, s.resolve(p.LockTable().TableArn())),
		stateMachine: logicalID(t, s.resolve(p.StateMachine().StateMachineArn())),
		topic:        logicalID(t, s.resolve(p.AlarmTopic().TopicArn())),
		events:       logicalID(t, s.resolve(p.EventsQueue().QueueArn())),
		eventsDLQ:    logicalID(t, s.resolve(p.EventsDeadLetterQueue().QueueArn())),
		deliveries:   logicalID(t, s.resolve(p.DeliveryTable().TableArn())),
		suppressions: logicalID(t, s.resolve(p.SuppressionTable().TableArn())),
		bus:          logicalID(t, s.resolve(p.OutcomeBus().EventBusArn())),
		configSet:    s.resolve(p.ConfigurationSetName()),
		fn:           map[string]string{}, fnRole: map[string]string{}, fnLogs: map[string]string{},
	}
	for _, name := range infra.Functions() {
		fn := p.Function(name)
		if fn == nil {
			t.Fatalf("Function(%q) is nil", name)
		}
		out.fn[name] = logicalID(t, s.resolve(fn.FunctionArn()))
		out.fnRole[name] = logicalID(t, s.resolve(fn.Role().RoleArn()))
		r := s.resources("AWS::Lambda::Function")[out.fn[name]]
		out.fnLogs[name] = logicalID(t, at(props(r), "LoggingConfig", "LogGroup"))
	}
	if p.Function("nope") != nil {
		t.Error("Function of an unknown task is not nil")
	}
	rule, _ := s.one(t, "AWS::Events::Rule")
	out.rule = rule
	return out
}

// stateMachineFunctions are the functions the state machine runs: all but
// record-event's.
func stateMachineFunctions() []string {
	var out []string
	for _, name := range infra.Functions() {
		if infra.PlaceholderOf(name) != "" {
			out = append(out, name)
		}
	}
	return out
}

func TestMailPipeline(t *testing.T) {
	s := synth(t, "main", mainConfig)
	id := s.ids(t)
	cfg := s.cfg

	t.Run("queues", func(t *testing.T) {
		qs := s.resources("AWS::SQS::Queue")
		if len(qs) != 4 {
			t.Fatalf("%d queues, want the source, events and their dead-letter queues", len(qs))
		}
		equalJSON(t, "source queue", props(qs[id.queue]), map[string]any{
			"SqsManagedSseEnabled":   true,
			"VisibilityTimeout":      900,
			"MessageRetentionPeriod": 4 * 86400,
			"MaximumMessageSize":     16384,
			"RedrivePolicy":          map[string]any{"deadLetterTargetArn": getAtt(id.dlq, "Arn"), "maxReceiveCount": 5},
		})
		equalJSON(t, "dead-letter queue", props(qs[id.dlq]), map[string]any{
			"SqsManagedSseEnabled":   true,
			"MessageRetentionPeriod": 14 * 86400,
		})
		// Six times record-event's timeout, as AWS advises for an SQS
		// trigger; a record of a dead-lettered mail carries its body.
		equalJSON(t, "events queue", props(qs[id.events]), map[string]any{
			"SqsManagedSseEnabled":   true,
			"MessageRetentionPeriod": 4 * 86400,
			"VisibilityTimeout":      180,
			"MaximumMessageSize":     1048576,
			"RedrivePolicy":          map[string]any{"deadLetterTargetArn": getAtt(id.eventsDLQ, "Arn"), "maxReceiveCount": 5},
		})
		equalJSON(t, "events dead-letter queue", props(qs[id.eventsDLQ]), map[string]any{
			"SqsManagedSseEnabled":   true,
			"MessageRetentionPeriod": 14 * 86400,
			"MaximumMessageSize":     1048576,
		})
		for _, q := range []string{id.queue, id.dlq, id.events, id.eventsDLQ} {
			if qs[q]["DeletionPolicy"] != "Retain" || qs[q]["UpdateReplacePolicy"] != "Retain" {
				t.Errorf("queue %s is not retained: %v", q, qs[q]["DeletionPolicy"])
			}
			assertOK(t, "TLS-only policy on "+q, func() {
				s.template.HasResourceProperties(jsii.String("AWS::SQS::QueuePolicy"), map[string]any{
					"Queues": []any{ref(q)},
					"PolicyDocument": map[string]any{"Statement": assertions.Match_ArrayWith(&[]any{
						assertions.Match_ObjectLike(&map[string]any{
							"Effect":    "Deny",
							"Action":    "sqs:*",
							"Condition": map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}},
						}),
					})},
				})
			})
		}
	})

	t.Run("bucket", func(t *testing.T) {
		b := s.resources("AWS::S3::Bucket")[id.bucket]
		equalJSON(t, "bucket", props(b), map[string]any{
			"BucketEncryption": map[string]any{"ServerSideEncryptionConfiguration": []any{
				map[string]any{"ServerSideEncryptionByDefault": map[string]any{"SSEAlgorithm": "AES256"}},
			}},
			"PublicAccessBlockConfiguration": map[string]any{
				"BlockPublicAcls": true, "BlockPublicPolicy": true, "IgnorePublicAcls": true, "RestrictPublicBuckets": true,
			},
			"OwnershipControls": map[string]any{"Rules": []any{map[string]any{"ObjectOwnership": "BucketOwnerEnforced"}}},
			"LifecycleConfiguration": map[string]any{"Rules": []any{
				map[string]any{"Id": "expire-attachments", "Prefix": "attachments/", "ExpirationInDays": 30, "Status": "Enabled"},
				map[string]any{"Id": "expire-staging", "Prefix": "staging/", "ExpirationInDays": 1, "Status": "Enabled"},
				map[string]any{"Id": "abort-incomplete-uploads", "AbortIncompleteMultipartUpload": map[string]any{"DaysAfterInitiation": 1}, "Status": "Enabled"},
			}},
		})
		if b["DeletionPolicy"] != "Retain" {
			t.Errorf("bucket DeletionPolicy = %v", b["DeletionPolicy"])
		}
		assertOK(t, "bucket policy denies plain HTTP and TLS < 1.2", func() {
			s.template.HasResourceProperties(jsii.String("AWS::S3::BucketPolicy"), map[string]any{
				"Bucket": ref(id.bucket),
				"PolicyDocument": map[string]any{"Statement": assertions.Match_ArrayWith(&[]any{
					assertions.Match_ObjectLike(&map[string]any{
						"Effect": "Deny", "Action": "s3:*",
						"Condition": map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}},
					}),
					assertions.Match_ObjectLike(&map[string]any{
						"Effect": "Deny", "Action": "s3:*",
						"Condition": map[string]any{"NumericLessThan": map[string]any{"s3:TlsVersion": 1.2}},
					}),
				})},
			})
		})
	})

	t.Run("lock table", func(t *testing.T) {
		tb := s.resources("AWS::DynamoDB::Table")[id.table]
		equalJSON(t, "table", props(tb), map[string]any{
			"KeySchema":                        []any{map[string]any{"AttributeName": "mailId", "KeyType": "HASH"}},
			"AttributeDefinitions":             []any{map[string]any{"AttributeName": "mailId", "AttributeType": "S"}},
			"BillingMode":                      "PAY_PER_REQUEST",
			"TimeToLiveSpecification":          map[string]any{"AttributeName": "expiresAt", "Enabled": true},
			"PointInTimeRecoverySpecification": map[string]any{"PointInTimeRecoveryEnabled": true},
		})
		if tb["DeletionPolicy"] != "Retain" {
			t.Errorf("table DeletionPolicy = %v", tb["DeletionPolicy"])
		}
	})

	t.Run("delivery and suppression tables", func(t *testing.T) {
		tables := s.resources("AWS::DynamoDB::Table")
		if len(tables) != 3 {
			t.Errorf("%d tables, want the lock, delivery and suppression tables", len(tables))
		}
		equalJSON(t, "delivery table", props(tables[id.deliveries]), map[string]any{
			"KeySchema": []any{map[string]any{"AttributeName": "mailId", "KeyType": "HASH"}},
			"AttributeDefinitions": []any{
				map[string]any{"AttributeName": "mailId", "AttributeType": "S"},
				map[string]any{"AttributeName": "deadLetterShard", "AttributeType": "S"},
				map[string]any{"AttributeName": "deadLetterKey", "AttributeType": "S"},
			},
			"GlobalSecondaryIndexes": []any{map[string]any{
				"IndexName": "deadLettered",
				"KeySchema": []any{
					map[string]any{"AttributeName": "deadLetterShard", "KeyType": "HASH"},
					map[string]any{"AttributeName": "deadLetterKey", "KeyType": "RANGE"},
				},
				"Projection": map[string]any{"ProjectionType": "ALL"},
			}},
			"BillingMode":                      "PAY_PER_REQUEST",
			"TimeToLiveSpecification":          map[string]any{"AttributeName": "expiresAt", "Enabled": true},
			"PointInTimeRecoverySpecification": map[string]any{"PointInTimeRecoveryEnabled": true},
		})
		equalJSON(t, "suppression table", props(tables[id.suppressions]), map[string]any{
			"KeySchema":                        []any{map[string]any{"AttributeName": "address", "KeyType": "HASH"}},
			"AttributeDefinitions":             []any{map[string]any{"AttributeName": "address", "AttributeType": "S"}},
			"BillingMode":                      "PAY_PER_REQUEST",
			"PointInTimeRecoverySpecification": map[string]any{"PointInTimeRecoveryEnabled": true},
		})
	})

	t.Run("delivery feedback", func(t *testing.T) {
		checkFeedback(t, s, id)
	})

	t.Run("functions", func(t *testing.T) {
		fns := s.resources("AWS::Lambda::Function")
		if len(fns) != len(infra.Functions()) || len(fns) != 7 {
			t.Fatalf("%d functions, want 7", len(fns))
		}
		// The Send task's two functions share its role and log group.
		if id.fnRole[infra.FunctionSendInline] != id.fnRole[infra.TaskSend] || id.fnLogs[infra.FunctionSendInline] != id.fnLogs[infra.TaskSend] {
			t.Errorf("send-inline: role %s and logs %s, send: %s and %s", id.fnRole[infra.FunctionSendInline], id.fnLogs[infra.FunctionSendInline], id.fnRole[infra.TaskSend], id.fnLogs[infra.TaskSend])
		}
		timeouts := stateTimeouts(t)
		env := map[string]any{
			taskkit.EnvLockTable:        ref(id.table),
			taskkit.EnvLease:            "10m0s",
			taskkit.EnvRetention:        "336h0m0s",
			taskkit.EnvBucket:           ref(id.bucket),
			taskkit.EnvAttachmentPrefix: "attachments/",
			taskkit.EnvStagingPrefix:    "staging/",
			taskkit.EnvMaxBodyBytes:     "16384",
			taskkit.EnvAllowedSenders:   "billing@example.com,Example.com,alerts@example.org",
			taskkit.EnvDefaultSender:    "Example Shop <billing@example.com>",
			taskkit.EnvConfigurationSet: "transactional",
			infra.EnvMaxSendRate:        "14",
			infra.EnvSuppressionTable:   ref(id.suppressions),
			infra.EnvEventsQueue:        ref(id.events),
		}
		recordEnv := map[string]any{
			taskkit.EnvLockTable:           ref(id.table),
			infra.EnvDeliveryTable:         ref(id.deliveries),
			infra.EnvSuppressionTable:      ref(id.suppressions),
			infra.EnvOutcomeBus:            ref(id.bus),
			infra.EnvEventsDeadLetterQueue: ref(id.eventsDLQ),
			taskkit.EnvRetention:           "336h0m0s",
		}
		reserveEnv := map[string]any{taskkit.EnvLockTable: ref(id.table), infra.EnvMaxSendRate: "14"}
		for _, name := range infra.Functions() {
			task := infra.TaskOf(name)
			p := props(fns[id.fn[name]])
			env, tracing := maps.Clone(env), "Active"
			switch task {
			case infra.TaskRecordEvent:
				env, tracing = maps.Clone(recordEnv), "PassThrough"
			case infra.TaskReserveSends:
				env = maps.Clone(reserveEnv)
			}
			// The Go runtime's soft limit: 80 % of the function's memory.
			mem, _ := p["MemorySize"].(float64)
			env[infra.EnvGoMemLimit] = fmt.Sprintf("%dMiB", int(mem*0.8))
			for k, want := range map[string]any{
				"Runtime":       "provided.al2023",
				"Architectures": []any{"arm64"},
				"Handler":       "bootstrap",
				"TracingConfig": map[string]any{"Mode": tracing},
				"LoggingConfig": map[string]any{
					"LogFormat": "JSON", "ApplicationLogLevel": "INFO", "SystemLogLevel": "WARN", "LogGroup": ref(id.fnLogs[name]),
				},
				"Role":        getAtt(id.fnRole[name], "Arn"),
				"Environment": map[string]any{"Variables": env},
			} {
				equalJSON(t, name+" "+k, p[k], want)
			}
			timeout, _ := p["Timeout"].(float64)
			if task == infra.TaskRecordEvent {
				visibility, _ := props(s.resources("AWS::SQS::Queue")[id.events])["VisibilityTimeout"].(float64)
				if timeout <= 0 || visibility < 6*timeout {
					t.Errorf("%s: events queue visibility timeout %v s is less than 6 times the Lambda timeout %v s", task, visibility, timeout)
				}
				if p["MemorySize"] != 256.0 {
					t.Errorf("%s: MemorySize %v, want 256", task, p["MemorySize"])
				}
			} else if limit := timeouts[name]; timeout <= 0 || timeout >= limit {
				t.Errorf("%s: Lambda timeout %v s is not below the state's TimeoutSeconds %v", name, timeout, limit)
			}
			if mem, _ := p["MemorySize"].(float64); mem < 128 {
				t.Errorf("%s: MemorySize %v", name, mem)
			}
			lg := s.resources("AWS::Logs::LogGroup")[id.fnLogs[name]]
			if at(lg, "Properties", "RetentionInDays") != 30.0 || lg["DeletionPolicy"] != "Retain" {
				t.Errorf("%s log group: %s", name, mustJSON(lg))
			}
			// The function runs the code given for its task.
			key, _ := at(p, "Code", "S3Key").(string)
			hash := strings.TrimSuffix(key, ".zip")
			b, err := os.ReadFile(filepath.Join(s.outdir, "asset."+hash, "bootstrap"))
			if err != nil || !strings.Contains(string(b), "# "+task+"\n") {
				t.Errorf("%s: code asset %q holds %q (%v)", task, key, b, err)
			}
		}
	})

	t.Run("task configuration", func(t *testing.T) {
		checkTaskEnvironment(t, s, id)
	})

	t.Run("state machine", func(t *testing.T) {
		_, sm := s.one(t, "AWS::StepFunctions::StateMachine")
		p := props(sm)
		if p["StateMachineType"] != "EXPRESS" {
			t.Errorf("StateMachineType = %v", p["StateMachineType"])
		}
		equalJSON(t, "TracingConfiguration", p["TracingConfiguration"], map[string]any{"Enabled": true})
		logGroup := logicalID(t, at(p, "LoggingConfiguration", "Destinations", 0, "CloudWatchLogsLogGroup", "LogGroupArn"))
		equalJSON(t, "LoggingConfiguration", p["LoggingConfiguration"], map[string]any{
			"Destinations":         []any{map[string]any{"CloudWatchLogsLogGroup": map[string]any{"LogGroupArn": getAtt(logGroup, "Arn")}}},
			"Level":                "ERROR",
			"IncludeExecutionData": true,
		})
		lg := s.resources("AWS::Logs::LogGroup")[logGroup]
		if name := flatten(at(lg, "Properties", "LogGroupName")); !strings.HasPrefix(name, "/aws/vendedlogs/states/<AWS::StackName>-mail-") {
			t.Errorf("state machine log group name %q", name)
		}
		if at(lg, "Properties", "RetentionInDays") != 30.0 {
			t.Errorf("state machine log retention: %s", mustJSON(lg))
		}
		subs := map[string]any{}
		for _, name := range stateMachineFunctions() {
			subs[infra.PlaceholderOf(name)] = getAtt(id.fn[name], "Arn")
		}
		subs[workflow.PlaceholderDeadLetterQueue] = ref(id.dlq)
		subs[workflow.PlaceholderEventsQueue] = ref(id.events)
		equalJSON(t, "DefinitionSubstitutions", p["DefinitionSubstitutions"], subs)
		if got := sortedKeys(p["DefinitionSubstitutions"].(map[string]any)); !slices.Equal(got, workflow.Placeholders()) {
			t.Errorf("substitution names %v, definition placeholders %v", got, workflow.Placeholders())
		}
		if role := logicalID(t, p["RoleArn"]); s.resources("AWS::IAM::Role")[role] == nil {
			t.Errorf("state machine role %s is not a role of the stack", role)
		}
	})

	t.Run("definition", func(t *testing.T) {
		def := checkDefinition(t, s)
		// With the default retry budget, AWS runs exactly what the local
		// runtime runs: workflow.Render's output.
		local, err := workflow.Render(workflow.Settings{Substitutions: sampleSubstitutions(), MapConcurrency: cfg.Workflow.MapConcurrency, MaxReceiveCount: cfg.Queue.MaxReceiveCount})
		if err != nil {
			t.Fatal(err)
		}
		var want any
		if err := json.Unmarshal(local, &want); err != nil {
			t.Fatal(err)
		}
		equalJSON(t, "definition against workflow.Render", def, want)
	})

	t.Run("pipe", func(t *testing.T) {
		pipeID, pipe := s.one(t, "AWS::Pipes::Pipe")
		p := props(pipe)
		role := logicalID(t, p["RoleArn"])
		logGroup := logicalID(t, at(p, "LogConfiguration", "CloudwatchLogsLogDestination", "LogGroupArn"))
		equalJSON(t, "pipe", p, map[string]any{
			"Description":  p["Description"],
			"DesiredState": "RUNNING",
			"RoleArn":      getAtt(role, "Arn"),
			"Source":       getAtt(id.queue, "Arn"),
			"SourceParameters": map[string]any{"SqsQueueParameters": map[string]any{
				"BatchSize": 7, "MaximumBatchingWindowInSeconds": 1,
			}},
			"Target": ref(id.stateMachine),
			"TargetParameters": map[string]any{"StepFunctionStateMachineParameters": map[string]any{
				"InvocationType": "REQUEST_RESPONSE",
			}},
			"LogConfiguration": map[string]any{
				"Level":                        "ERROR",
				"CloudwatchLogsLogDestination": map[string]any{"LogGroupArn": getAtt(logGroup, "Arn")},
			},
		})
		if p["Description"] == nil {
			t.Error("pipe has no description")
		}
		lg := s.resources("AWS::Logs::LogGroup")[logGroup]
		if name := flatten(at(lg, "Properties", "LogGroupName")); !strings.HasPrefix(name, "/aws/vendedlogs/pipes/<AWS::StackName>-mail-") {
			t.Errorf("pipe log group name %q", name)
		}
		// Created only after its role's policy, which it needs at once.
		deps := fmt.Sprint(pipe["DependsOn"])
		for polID := range s.policiesOf(role) {
			if !strings.Contains(deps, polID) {
				t.Errorf("pipe %s does not depend on its role policy %s (DependsOn %s)", pipeID, polID, deps)
			}
		}
	})

	t.Run("iam", func(t *testing.T) {
		checkIAM(t, s, id, true)
	})

	t.Run("alarms", func(t *testing.T) {
		checkAlarms(t, s, id, alarmExpectations{
			period: 300, dlq: 1, age: 1500, failed: 1, timedOut: 1, taskErrors: 5, taskThrottles: 1, bounce: 0.05, complaint: 0.001,
		})
	})

	t.Run("alarm topic and chatbot", func(t *testing.T) {
		topic := s.resources("AWS::SNS::Topic")[id.topic]
		key := logicalID(t, at(props(topic), "KmsMasterKeyId"))
		k := s.resources("AWS::KMS::Key")[key]
		if at(k, "Properties", "EnableKeyRotation") != true || k["DeletionPolicy"] != "Retain" {
			t.Errorf("topic key: %s", mustJSON(k))
		}
		assertOK(t, "key lets CloudWatch publish", func() {
			s.template.HasResourceProperties(jsii.String("AWS::KMS::Key"), map[string]any{
				"KeyPolicy": map[string]any{"Statement": assertions.Match_ArrayWith(&[]any{
					assertions.Match_ObjectLike(&map[string]any{
						"Principal": map[string]any{"Service": "cloudwatch.amazonaws.com"},
						"Action":    []any{"kms:Decrypt", "kms:GenerateDataKey*"},
						"Effect":    "Allow",
					}),
				})},
			})
		})
		assertOK(t, "topic is TLS only", func() {
			s.template.HasResourceProperties(jsii.String("AWS::SNS::TopicPolicy"), map[string]any{
				"Topics": []any{ref(id.topic)},
				"PolicyDocument": map[string]any{"Statement": assertions.Match_ArrayWith(&[]any{
					assertions.Match_ObjectLike(&map[string]any{
						"Effect": "Deny", "Condition": map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}},
					}),
				})},
			})
		})
		_, slack := s.one(t, "AWS::Chatbot::SlackChannelConfiguration")
		p := props(slack)
		for k, want := range map[string]any{
			"SlackWorkspaceId": "T0123ABCD",
			"SlackChannelId":   "C0123ABCD",
			"SnsTopicArns":     []any{ref(id.topic)},
		} {
			equalJSON(t, "chatbot "+k, p[k], want)
		}
		if g := flatten(at(p, "GuardrailPolicies", 0)); !strings.HasSuffix(g, ":iam::aws:policy/CloudWatchReadOnlyAccess") || len(p["GuardrailPolicies"].([]any)) != 1 {
			t.Errorf("chatbot guardrails %s", mustJSON(p["GuardrailPolicies"]))
		}
	})

	t.Run("dashboard", func(t *testing.T) {
		_, d := s.one(t, "AWS::CloudWatch::Dashboard")
		body := flatten(at(d, "Properties", "DashboardBody"))
		for _, want := range []string{
			"<" + id.stateMachine + ">", "ExecutionsFailed", "ExecutionsTimedOut", "ExecutionTime",
			"<" + id.queue + ".QueueName>", "<" + id.dlq + ".QueueName>", "ApproximateAgeOfOldestMessage",
			"AWS/EventBridge/Pipes", "AWS/SES", "Reputation.BounceRate", "Reputation.ComplaintRate", "alarms",
			"<" + id.events + ".QueueName>", "<" + id.eventsDLQ + ".QueueName>",
		} {
			if !strings.Contains(body, want) {
				t.Errorf("dashboard does not show %s", want)
			}
		}
		for _, task := range infra.Tasks() {
			if !strings.Contains(body, "<"+id.fn[task]+">") {
				t.Errorf("dashboard does not show the %s function", task)
			}
		}
	})

	t.Run("retained on delete", func(t *testing.T) {
		for _, typ := range []string{"AWS::SQS::Queue", "AWS::S3::Bucket", "AWS::DynamoDB::Table", "AWS::Logs::LogGroup", "AWS::KMS::Key"} {
			rs := s.resources(typ)
			if len(rs) == 0 {
				t.Errorf("no %s", typ)
			}
			for rid, r := range rs {
				if r["DeletionPolicy"] != "Retain" || r["UpdateReplacePolicy"] != "Retain" {
					t.Errorf("%s %s: DeletionPolicy %v, UpdateReplacePolicy %v", typ, rid, r["DeletionPolicy"], r["UpdateReplacePolicy"])
				}
			}
		}
		if n := len(s.resources("AWS::Logs::LogGroup")); n != 8 {
			t.Errorf("%d log groups, want the functions', the state machine's and the pipe's", n)
		}
	})

	t.Run("outputs", func(t *testing.T) {
		outputs, _ := s.doc["Outputs"].(map[string]any)
		for name, want := range map[string]any{
			"QueueUrl":                 ref(id.queue),
			"DeadLetterQueueUrl":       ref(id.dlq),
			"BucketName":               ref(id.bucket),
			"StateMachineArn":          ref(id.stateMachine),
			"AlarmTopicArn":            ref(id.topic),
			"OutcomeBusArn":            getAtt(id.bus, "Arn"),
			"OutcomeBusName":           ref(id.bus),
			"ConfigurationSetName":     "transactional",
			"EventsDeadLetterQueueUrl": ref(id.eventsDLQ),
		} {
			equalJSON(t, "output "+name, at(outputs, name, "Value"), want)
		}
	})

	t.Run("cdk-nag", func(t *testing.T) {
		checkNag(t, s, map[string]int{
			"AwsSolutions-S1 Bucket":                               1,
			"AwsSolutions-IAM5 ProducerPolicy":                     1,
			"AwsSolutions-IAM5 ReserveSendsRole/DefaultPolicy":     1,
			"AwsSolutions-IAM5 AcquireLockRole/DefaultPolicy":      1,
			"AwsSolutions-IAM5 FetchAttachmentsRole/DefaultPolicy": 3,
			"AwsSolutions-IAM5 SendRole/DefaultPolicy":             2,
			"AwsSolutions-IAM5 ReleaseLockRole/DefaultPolicy":      1,
			"AwsSolutions-IAM5 RecordEventRole/DefaultPolicy":      1,
			"AwsSolutions-IAM5 StateMachineRole/DefaultPolicy":     1,
			"AwsSolutions-SF1 StateMachine":                        1,
		})
	})
}

func TestMailPipelineVariant(t *testing.T) {
	s := synth(t, "variant", variantConfig)
	id := s.ids(t)

	t.Run("numbers", func(t *testing.T) {
		q := props(s.resources("AWS::SQS::Queue")[id.queue])
		equalJSON(t, "queue", q, map[string]any{
			"SqsManagedSseEnabled": true, "VisibilityTimeout": 1200, "MessageRetentionPeriod": 2 * 86400, "MaximumMessageSize": 8192,
			"RedrivePolicy": map[string]any{"deadLetterTargetArn": getAtt(id.dlq, "Arn"), "maxReceiveCount": 8},
		})
		equalJSON(t, "lifecycle", at(props(s.resources("AWS::S3::Bucket")[id.bucket]), "LifecycleConfiguration", "Rules"), []any{
			map[string]any{"Id": "expire-attachments", "Prefix": "mail/in/", "ExpirationInDays": 7, "Status": "Enabled"},
			map[string]any{"Id": "expire-staging", "Prefix": "mail/out/", "ExpirationInDays": 2, "Status": "Enabled"},
			map[string]any{"Id": "abort-incomplete-uploads", "AbortIncompleteMultipartUpload": map[string]any{"DaysAfterInitiation": 1}, "Status": "Enabled"},
		})
		_, pipe := s.one(t, "AWS::Pipes::Pipe")
		equalJSON(t, "batching", at(props(pipe), "SourceParameters"), map[string]any{"SqsQueueParameters": map[string]any{
			"BatchSize": 12, "MaximumBatchingWindowInSeconds": 5,
		}})
		for _, task := range infra.Tasks() {
			fn := props(s.resources("AWS::Lambda::Function")[id.fn[task]])
			equalJSON(t, task+" log level", at(fn, "LoggingConfig", "ApplicationLogLevel"), "DEBUG")
			lg := s.resources("AWS::Logs::LogGroup")[id.fnLogs[task]]
			if at(lg, "Properties", "RetentionInDays") != 7.0 {
				t.Errorf("%s log retention: %s", task, mustJSON(lg))
			}
			if task == infra.TaskRecordEvent || task == infra.TaskReserveSends {
				continue // their environments are their own
			}
			vars := at(fn, "Environment", "Variables").(map[string]any)
			for _, unset := range []string{taskkit.EnvDefaultSender, infra.EnvMaxSendRate} {
				if _, ok := vars[unset]; ok {
					t.Errorf("%s: %s is set although not configured", task, unset)
				}
			}
			// No configuration set is configured: the one the stack
			// creates is used.
			equalJSON(t, task+" configuration set", vars[taskkit.EnvConfigurationSet], id.configSet)
			for k, want := range map[string]string{
				taskkit.EnvLease: "15m0s", taskkit.EnvRetention: "504h0m0s", taskkit.EnvAttachmentPrefix: "mail/in/",
				taskkit.EnvStagingPrefix: "mail/out/", taskkit.EnvMaxBodyBytes: "8192", taskkit.EnvAllowedSenders: "example.net",
			} {
				if vars[k] != want {
					t.Errorf("%s: %s = %v, want %s", task, k, vars[k], want)
				}
			}
		}
	})

	t.Run("task configuration", func(t *testing.T) {
		checkTaskEnvironment(t, s, id)
	})

	t.Run("environment", func(t *testing.T) {
		m := s.stack.Environment()
		if m == nil || !strings.Contains(*m, "123456789012/eu-west-1") {
			t.Errorf("stack environment %v", m)
		}
	})

	t.Run("logging off", func(t *testing.T) {
		_, sm := s.one(t, "AWS::StepFunctions::StateMachine")
		if lc, ok := props(sm)["LoggingConfiguration"]; ok {
			t.Errorf("state machine logs although logLevel is OFF: %s", mustJSON(lc))
		}
		equalJSON(t, "tracing stays on", props(sm)["TracingConfiguration"], map[string]any{"Enabled": true})
		_, pipe := s.one(t, "AWS::Pipes::Pipe")
		if lc, ok := props(pipe)["LogConfiguration"]; ok {
			t.Errorf("pipe logs although logLevel is OFF: %s", mustJSON(lc))
		}
		if n := len(s.resources("AWS::Logs::LogGroup")); n != 6 {
			t.Errorf("%d log groups, want only the functions' six", n)
		}
		assertOK(t, "no chatbot", func() {
			s.template.ResourceCountIs(jsii.String("AWS::Chatbot::SlackChannelConfiguration"), jsii.Number(0))
		})
	})

	t.Run("removal", func(t *testing.T) {
		for _, typ := range []string{"AWS::SQS::Queue", "AWS::S3::Bucket", "AWS::DynamoDB::Table", "AWS::Logs::LogGroup", "AWS::KMS::Key"} {
			for rid, r := range s.resources(typ) {
				if r["DeletionPolicy"] != "Delete" {
					t.Errorf("%s %s: DeletionPolicy %v with retainOnDelete false", typ, rid, r["DeletionPolicy"])
				}
			}
		}
	})

	t.Run("definition", func(t *testing.T) {
		def := checkDefinition(t, s)
		// Only the Mail.Throttled retriers differ from the local runtime's
		// definition.
		local, err := workflow.Render(workflow.Settings{Substitutions: sampleSubstitutions(), MapConcurrency: 25, MaxReceiveCount: s.cfg.Queue.MaxReceiveCount})
		if err != nil {
			t.Fatal(err)
		}
		var want any
		if err := json.Unmarshal(local, &want); err != nil {
			t.Fatal(err)
		}
		forEachRetrier(want, func(r map[string]any) {
			if slices.Contains(r["ErrorEquals"].([]any), any(string(workflow.Throttled))) {
				r["MaxAttempts"], r["MaxDelaySeconds"] = 3.0, 5.0
			}
		})
		equalJSON(t, "definition against workflow.Render with the retry budget", def, want)
	})

	t.Run("iam", func(t *testing.T) {
		checkIAM(t, s, id, false)
	})

	t.Run("delivery feedback", func(t *testing.T) {
		checkFeedback(t, s, id)
	})

	t.Run("alarms", func(t *testing.T) {
		checkAlarms(t, s, id, alarmExpectations{
			period: 60, dlq: 3, age: 1600, failed: 2, timedOut: 4, taskErrors: 20, taskThrottles: 6, bounce: 0.04, complaint: 0.0008,
		})
	})

	t.Run("cdk-nag", func(t *testing.T) {
		checkNag(t, s, map[string]int{
			"AwsSolutions-S1 Bucket":                               1,
			"AwsSolutions-IAM5 ProducerPolicy":                     1,
			"AwsSolutions-IAM5 ReserveSendsRole/DefaultPolicy":     1,
			"AwsSolutions-IAM5 AcquireLockRole/DefaultPolicy":      1,
			"AwsSolutions-IAM5 FetchAttachmentsRole/DefaultPolicy": 3,
			"AwsSolutions-IAM5 SendRole/DefaultPolicy":             2,
			"AwsSolutions-IAM5 ReleaseLockRole/DefaultPolicy":      1,
			"AwsSolutions-IAM5 RecordEventRole/DefaultPolicy":      1,
			"AwsSolutions-IAM5 StateMachineRole/DefaultPolicy":     1,
			"AwsSolutions-SF1 StateMachine":                        1,
		})
	})
}

// stateTimeouts maps each task to the smallest TimeoutSeconds of the states
// that invoke it in the embedded definition.
func stateTimeouts(t *testing.T) map[string]float64 {
	t.Helper()
	var def any
	if err := json.Unmarshal(workflow.Definition(), &def); err != nil {
		t.Fatal(err)
	}
	out := map[string]float64{}
	var walk func(v any)
	walk = func(v any) {
		switch x := v.(type) {
		case map[string]any:
			if fn, ok := at(x, "Parameters", "FunctionName").(string); ok {
				for _, task := range stateMachineFunctions() {
					if fn == "${"+infra.PlaceholderOf(task)+"}" {
						ts, _ := x["TimeoutSeconds"].(float64)
						if cur, ok := out[task]; !ok || ts < cur {
							out[task] = ts
						}
					}
				}
			}
			for _, e := range x {
				walk(e)
			}
		case []any:
			for _, e := range x {
				walk(e)
			}
		}
	}
	walk(def)
	if len(out) != len(stateMachineFunctions()) {
		t.Fatalf("found the states of %d tasks in the definition: %v", len(out), out)
	}
	return out
}

func forEachRetrier(v any, fn func(map[string]any)) {
	switch x := v.(type) {
	case map[string]any:
		if rs, ok := x["Retry"].([]any); ok {
			for _, r := range rs {
				fn(r.(map[string]any))
			}
		}
		for _, e := range x {
			forEachRetrier(e, fn)
		}
	case []any:
		for _, e := range x {
			forEachRetrier(e, fn)
		}
	}
}

// sampleSubstitutions are deployed-looking values for every placeholder.
func sampleSubstitutions() map[string]string {
	subs := map[string]string{
		workflow.PlaceholderDeadLetterQueue: "https://sqs.eu-west-1.amazonaws.com/123456789012/mailflow-dlq",
		workflow.PlaceholderEventsQueue:     "https://sqs.eu-west-1.amazonaws.com/123456789012/mailflow-events",
	}
	for _, task := range stateMachineFunctions() {
		subs[infra.PlaceholderOf(task)] = "arn:aws:lambda:eu-west-1:123456789012:function:mailflow-" + task
	}
	return subs
}

// sortedKeys is for stable messages.
func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
