package infra_test

import (
	"encoding/csv"
	"encoding/json"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/mailflow/mailflow/asl"
	"github.com/mailflow/mailflow/infra"
	"github.com/mailflow/mailflow/internal/taskkit"
	acquirelock "github.com/mailflow/mailflow/tasks/acquire-lock"
	fetchattachments "github.com/mailflow/mailflow/tasks/fetch-attachments"
	"github.com/mailflow/mailflow/tasks/send"
	"github.com/mailflow/mailflow/workflow"
)

var placeholderRef = regexp.MustCompile(`\$\{([A-Za-z0-9_]+)\}`)

// checkDefinition checks the synthesized definition: a plain string whose
// every ${...} is bound by DefinitionSubstitutions; after substituting
// deployed-looking values it is valid JSON with nothing left unbound, that
// our own interpreter parses and validates as an Express machine, with the
// configured Map concurrency and throttle retry budget. It returns the
// substituted definition, decoded.
func checkDefinition(t *testing.T, s *synthesized) any {
	t.Helper()
	_, sm := s.one(t, "AWS::StepFunctions::StateMachine")
	p := props(sm)
	text, ok := p["DefinitionString"].(string)
	if !ok {
		t.Fatalf("DefinitionString is not a plain string (tokens must go through DefinitionSubstitutions): %s", mustJSON(p["DefinitionString"]))
	}
	bound, _ := p["DefinitionSubstitutions"].(map[string]any)
	for _, m := range placeholderRef.FindAllStringSubmatch(text, -1) {
		if _, ok := bound[m[1]]; !ok {
			t.Errorf("placeholder ${%s} is not bound by DefinitionSubstitutions", m[1])
		}
	}
	samples := sampleSubstitutions()
	substituted := placeholderRef.ReplaceAllStringFunc(text, func(m string) string {
		return samples[m[2:len(m)-1]]
	})
	if strings.Contains(substituted, "${") {
		t.Errorf("unbound placeholder left after substitution")
	}
	if !json.Valid([]byte(substituted)) {
		t.Fatalf("definition is not valid JSON after substitution")
	}
	d, err := asl.Parse([]byte(substituted))
	if err != nil {
		t.Fatalf("asl.Parse: %v", err)
	}
	if err := asl.Validate(d, asl.WithType("EXPRESS")).Err(); err != nil {
		t.Errorf("asl.Validate: %v", err)
	}
	var def any
	if err := json.Unmarshal([]byte(substituted), &def); err != nil {
		t.Fatal(err)
	}
	if got := at(def, "States", workflow.MapStateName, "MaxConcurrency"); got != float64(s.cfg.Workflow.MapConcurrency) {
		t.Errorf("MaxConcurrency = %v, want %d", got, s.cfg.Workflow.MapConcurrency)
	}
	throttled := 0
	forEachRetrier(def, func(r map[string]any) {
		if slices.Contains(r["ErrorEquals"].([]any), any(string(workflow.Throttled))) {
			throttled++
			if r["MaxAttempts"] != float64(s.cfg.Workflow.ThrottleRetry.MaxAttempts) || r["MaxDelaySeconds"] != float64(s.cfg.Workflow.ThrottleRetry.MaxDelaySeconds) {
				t.Errorf("throttle retrier %s does not carry the budget %+v", mustJSON(r), s.cfg.Workflow.ThrottleRetry)
			}
		}
	})
	if throttled == 0 {
		t.Error("no Mail.Throttled retrier in the definition")
	}
	return def
}

// checkTaskEnvironment feeds each function's environment, with the
// references replaced by deployed-looking names, to the tasks' own
// configuration loaders: the variables the stack sets are the ones the
// tasks read, with values they accept.
func checkTaskEnvironment(t *testing.T, s *synthesized, id ids) {
	t.Helper()
	names := map[string]string{
		mustJSON(ref(id.table)):        "mailflow-locks",
		mustJSON(ref(id.bucket)):       "mailflow-attachments-1a2b3c",
		mustJSON(ref(id.deliveries)):   "mailflow-deliveries",
		mustJSON(ref(id.suppressions)): "mailflow-suppressions",
		mustJSON(ref(id.bus)):          "mailflow-outcomes",
		mustJSON(ref(id.eventsDLQ)):    "https://sqs.eu-west-1.amazonaws.com/123456789012/mailflow-events-dlq",
		mustJSON(ref(id.events)):       "https://sqs.eu-west-1.amazonaws.com/123456789012/mailflow-events",
	}
	configSet := s.cfg.SES.ConfigurationSet
	if configSet == "" {
		configSet = s.cfg.StackName + "-Mail"
		names[mustJSON(id.configSet)] = configSet
	}
	for _, task := range infra.Tasks() {
		vars, _ := at(props(s.resources("AWS::Lambda::Function")[id.fn[task]]), "Environment", "Variables").(map[string]any)
		env := map[string]string{}
		for k, v := range vars {
			if str, ok := v.(string); ok {
				env[k] = str
			} else if name, ok := names[mustJSON(v)]; ok {
				env[k] = name
			} else {
				t.Errorf("%s: %s = %s is neither a string nor a known reference", task, k, mustJSON(v))
			}
		}
		get := func(k string) string { return env[k] }
		if task == infra.TaskRecordEvent {
			// Its configuration is its own; these are the values it is
			// given, by name.
			want := map[string]string{
				taskkit.EnvLockTable: "mailflow-locks", infra.EnvDeliveryTable: "mailflow-deliveries",
				infra.EnvSuppressionTable: "mailflow-suppressions", infra.EnvOutcomeBus: "mailflow-outcomes",
				infra.EnvEventsDeadLetterQueue: names[mustJSON(ref(id.eventsDLQ))],
				taskkit.EnvRetention:           (time.Duration(s.cfg.Lock.RetentionDays) * 24 * time.Hour).String(),
				infra.EnvGoMemLimit:            env[infra.EnvGoMemLimit],
			}
			if env[infra.EnvGoMemLimit] == "" {
				t.Errorf("%s: no %s", task, infra.EnvGoMemLimit)
			}
			if !reflect.DeepEqual(env, want) {
				t.Errorf("%s environment:\n got  %v\n want %v", task, env, want)
			}
			continue
		}
		if task == infra.TaskReserveSends {
			// The lock table, for the pacer's item, and the pacing the
			// Send task gets.
			want := map[string]string{taskkit.EnvLockTable: "mailflow-locks", infra.EnvGoMemLimit: env[infra.EnvGoMemLimit]}
			for _, k := range []string{infra.EnvMaxSendRate, taskkit.EnvPacing} {
				if v, ok := sendEnv(t, s, id)[k]; ok {
					want[k] = v
				}
			}
			if env[infra.EnvGoMemLimit] == "" || !reflect.DeepEqual(env, want) {
				t.Errorf("%s environment:\n got  %v\n want %v", task, env, want)
			}
			if _, err := taskkit.PacingFromEnv(get); err != nil {
				t.Errorf("%s: pacing: %v", task, err)
			}
			continue
		}
		if env[infra.EnvSuppressionTable] != "mailflow-suppressions" {
			t.Errorf("%s: %s = %q", task, infra.EnvSuppressionTable, env[infra.EnvSuppressionTable])
		}
		if env[infra.EnvEventsQueue] != names[mustJSON(ref(id.events))] {
			t.Errorf("%s: %s = %q", task, infra.EnvEventsQueue, env[infra.EnvEventsQueue])
		}
		var p taskkit.Problems
		taskkit.Required(get, &p, taskkit.EnvLockTable)
		taskkit.Bucket(get, &p)
		limits := taskkit.Limits(get, &p)
		if err := p.Err(); err != nil {
			t.Errorf("%s: %v", task, err)
		}
		if !slices.Equal(limits.AllowedSenders, s.cfg.SES.AllowedFrom) || limits.AttachmentPrefix != s.cfg.Storage.AttachmentPrefix ||
			limits.MaxBodyBytes != s.cfg.Queue.MaxMessageSizeBytes || limits.DefaultSender != s.cfg.SES.DefaultFrom {
			t.Errorf("%s: limits %+v do not match the configuration", task, limits)
		}
		ac, err := acquirelock.ConfigFromEnv(get)
		if err != nil {
			t.Errorf("%s: acquire-lock configuration: %v", task, err)
		}
		if ac.Lease != time.Duration(s.cfg.Lock.LeaseSeconds)*time.Second || ac.Retention != time.Duration(s.cfg.Lock.RetentionDays)*24*time.Hour {
			t.Errorf("%s: lease %v, retention %v", task, ac.Lease, ac.Retention)
		}
		if _, err := fetchattachments.ConfigFromEnv(get); err != nil {
			t.Errorf("%s: fetch-attachments configuration: %v", task, err)
		}
		sc, err := send.ConfigFromEnv(get)
		if err != nil {
			t.Errorf("%s: send configuration: %v", task, err)
		}
		if sc.ConfigSet != configSet {
			t.Errorf("%s: configuration set %q", task, sc.ConfigSet)
		}
	}
}

// sendEnv is the Send function's environment, its literal values.
func sendEnv(t *testing.T, s *synthesized, id ids) map[string]string {
	vars, _ := at(props(s.resources("AWS::Lambda::Function")[id.fn[infra.TaskSend]]), "Environment", "Variables").(map[string]any)
	out := map[string]string{}
	for k, v := range vars {
		if str, ok := v.(string); ok {
			out[k] = str
		}
	}
	return out
}

// statement is an IAM statement in a comparable form: sorted actions, the
// resources as flattened text, the condition as JSON.
type statement struct {
	Effect    string
	Actions   []string
	Resources []string
	Condition string
}

func (st statement) String() string { return mustJSON(st) }

func toStatement(v any) statement {
	m := v.(map[string]any)
	st := statement{Effect: m["Effect"].(string)}
	switch a := m["Action"].(type) {
	case string:
		st.Actions = []string{a}
	case []any:
		for _, x := range a {
			st.Actions = append(st.Actions, x.(string))
		}
	}
	switch r := m["Resource"].(type) {
	case []any:
		for _, x := range r {
			st.Resources = append(st.Resources, flatten(x))
		}
	case nil:
	default:
		st.Resources = []string{flatten(r)}
	}
	if c, ok := m["Condition"]; ok {
		st.Condition = mustJSON(c)
	}
	sort.Strings(st.Actions)
	sort.Strings(st.Resources)
	return st
}

func stmt(actions []string, resources []string, condition any) statement {
	st := statement{Effect: "Allow", Actions: slices.Clone(actions), Resources: slices.Clone(resources)}
	if condition != nil {
		st.Condition = mustJSON(condition)
	}
	sort.Strings(st.Actions)
	sort.Strings(st.Resources)
	return st
}

// policiesOf returns the statements of the identity policies attached to a
// role, by policy logical id.
func (s *synthesized) policiesOf(role string) map[string][]statement {
	out := map[string][]statement{}
	for id, pol := range s.resources("AWS::IAM::Policy") {
		p := props(pol)
		for _, r := range p["Roles"].([]any) {
			if mustJSON(r) == mustJSON(ref(role)) {
				for _, st := range at(p, "PolicyDocument", "Statement").([]any) {
					out[id] = append(out[id], toStatement(st))
				}
			}
		}
	}
	return out
}

// actionsOnStar are the only actions allowed on Resource "*": AWS offers no
// resource-level permissions for them. X-Ray (CDK adds it for active
// tracing) and the CloudWatch Logs log-delivery actions Step Functions
// needs to log to a log group.
var actionsOnStar = []string{
	"xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets",
	"ses:GetAccount",
	"logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
	"logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies", "logs:DescribeLogGroups",
}

// checkIAM proves least privilege: every identity policy statement has
// concrete actions and scoped resources, every role trusts only its
// service, and each role has exactly the statements listed here.
func checkIAM(t *testing.T, s *synthesized, id ids, logging bool) {
	t.Helper()
	cfg := s.cfg
	// The producers' policy is the only managed policy (TestProducerPolicy).
	if n := len(s.resources("AWS::IAM::ManagedPolicy")); n != 1 {
		t.Errorf("%d managed policies, want the producers' alone", n)
	}
	bucketObjects := regexp.MustCompile(`^<` + id.bucket + `\.Arn>/(` +
		regexp.QuoteMeta(cfg.Storage.AttachmentPrefix) + `|` + regexp.QuoteMeta(cfg.Storage.StagingPrefix) + `)\*$`)
	for polID, pol := range s.resources("AWS::IAM::Policy") {
		for _, raw := range at(props(pol), "PolicyDocument", "Statement").([]any) {
			st := toStatement(raw)
			if st.Effect != "Allow" {
				t.Errorf("%s: %s statement", polID, st.Effect)
			}
			for _, a := range st.Actions {
				if strings.Contains(a, "*") {
					t.Errorf("%s: wildcard action %s", polID, a)
				}
			}
			for _, r := range st.Resources {
				switch {
				case r == "*":
					for _, a := range st.Actions {
						if !slices.Contains(actionsOnStar, a) {
							t.Errorf("%s: %s on Resource * (only %v may be)", polID, a, actionsOnStar)
						}
					}
				case strings.Contains(r, "*") && !bucketObjects.MatchString(r):
					t.Errorf("%s: wildcard resource %s", polID, r)
				}
			}
		}
	}

	logsWrite := func(logGroup string) statement {
		return stmt([]string{"logs:CreateLogStream", "logs:PutLogEvents"}, []string{"<" + logGroup + ".Arn>"}, nil)
	}
	xrayLambda := stmt([]string{"xray:PutTraceSegments", "xray:PutTelemetryRecords"}, []string{"*"}, nil)
	table := []string{"<" + id.table + ".Arn>"}
	objects := func(prefix string) []string { return []string{"<" + id.bucket + ".Arn>/" + prefix + "*"} }
	var ses, from []string
	// TestSendIdentities checks the list itself.
	for _, identity := range infra.SendIdentities(cfg) {
		ses = append(ses, sesARN(s, "identity/"+identity))
	}
	if cfg.SES.ConfigurationSet != "" {
		ses = append(ses, sesARN(s, "configuration-set/"+cfg.SES.ConfigurationSet))
	} else {
		ses = append(ses, sesARN(s, "configuration-set/"+flatten(id.configSet)))
	}
	for _, a := range cfg.SES.AllowedFrom {
		a = strings.ToLower(a)
		if !strings.Contains(a, "@") {
			a = "*@" + a
		}
		from = append(from, a)
	}

	_, sm := s.one(t, "AWS::StepFunctions::StateMachine")
	smRole := logicalID(t, props(sm)["RoleArn"])
	_, pipe := s.one(t, "AWS::Pipes::Pipe")
	pipeRole := logicalID(t, props(pipe)["RoleArn"])

	var fnArns []string
	for _, task := range stateMachineFunctions() {
		fnArns = append(fnArns, "<"+id.fn[task]+".Arn>")
	}
	smStatements := []statement{
		stmt([]string{"lambda:InvokeFunction"}, fnArns, nil),
		stmt([]string{"sqs:SendMessage"}, []string{"<" + id.dlq + ".Arn>"}, nil),
		stmt([]string{"sqs:SendMessage"}, []string{"<" + id.events + ".Arn>"}, nil),
		stmt([]string{"xray:PutTraceSegments", "xray:PutTelemetryRecords", "xray:GetSamplingRules", "xray:GetSamplingTargets"}, []string{"*"}, nil),
	}
	pipeStatements := []statement{
		stmt([]string{"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"}, []string{"<" + id.queue + ".Arn>"}, nil),
		stmt([]string{"states:StartSyncExecution"}, []string{"<" + id.stateMachine + ">"}, nil),
	}
	if logging {
		// cdk.json's @aws-cdk/aws-iam:minimizePolicies merges CDK's two
		// statements on "*" (X-Ray, log delivery) into one.
		smStatements[3] = stmt(append(slices.Clone(smStatements[3].Actions), actionsOnStar[5:]...), []string{"*"}, nil)
		pipeLogs := logicalID(t, at(props(pipe), "LogConfiguration", "CloudwatchLogsLogDestination", "LogGroupArn"))
		pipeStatements = append(pipeStatements, logsWrite(pipeLogs))
	}

	want := map[string][]statement{
		id.fnRole[infra.TaskReserveSends]: {
			logsWrite(id.fnLogs[infra.TaskReserveSends]), xrayLambda,
			stmt([]string{"dynamodb:UpdateItem", "dynamodb:GetItem"}, table, nil),
		},
		id.fnRole[infra.TaskAcquireLock]: {
			logsWrite(id.fnLogs[infra.TaskAcquireLock]), xrayLambda,
			stmt([]string{"dynamodb:PutItem", "dynamodb:GetItem"}, table, nil),
			stmt([]string{"dynamodb:BatchGetItem"}, []string{"<" + id.suppressions + ".Arn>"}, nil),
			stmt([]string{"sqs:SendMessage"}, []string{"<" + id.events + ".Arn>"}, nil),
		},
		id.fnRole[infra.TaskFetchAttachments]: {
			logsWrite(id.fnLogs[infra.TaskFetchAttachments]), xrayLambda,
			stmt([]string{"s3:ListBucket"}, []string{"<" + id.bucket + ".Arn>"}, nil),
			stmt([]string{"s3:GetObject"}, objects(cfg.Storage.AttachmentPrefix), nil),
			stmt([]string{"s3:PutObject"}, objects(cfg.Storage.StagingPrefix), nil),
		},
		id.fnRole[infra.TaskSend]: {
			logsWrite(id.fnLogs[infra.TaskSend]), xrayLambda,
			stmt([]string{"s3:GetObject"}, objects(cfg.Storage.StagingPrefix), nil),
			stmt([]string{"ses:SendEmail", "ses:SendRawEmail"}, ses, map[string]any{"StringLike": map[string]any{"ses:FromAddress": from}}),
			stmt([]string{"dynamodb:UpdateItem", "dynamodb:GetItem"}, table, nil),
		},
		id.fnRole[infra.TaskReleaseLock]: {
			logsWrite(id.fnLogs[infra.TaskReleaseLock]), xrayLambda,
			stmt([]string{"dynamodb:DeleteItem", "dynamodb:GetItem"}, table, nil),
		},
		id.fnRole[infra.TaskRecordEvent]: {
			logsWrite(id.fnLogs[infra.TaskRecordEvent]), xrayLambda,
			stmt([]string{"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"}, []string{"<" + id.events + ".Arn>"}, nil),
			stmt([]string{"sqs:SendMessage"}, []string{"<" + id.eventsDLQ + ".Arn>"}, nil),
			stmt([]string{"dynamodb:GetItem", "dynamodb:UpdateItem"}, table, nil),
			stmt([]string{"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"}, []string{"<" + id.deliveries + ".Arn>"}, nil),
			stmt([]string{"dynamodb:PutItem", "dynamodb:GetItem"}, []string{"<" + id.suppressions + ".Arn>"}, nil),
			stmt([]string{"events:PutEvents"}, []string{"<" + id.bus + ".Arn>"}, nil),
		},
		smRole:   smStatements,
		pipeRole: pipeStatements,
	}
	// The pacer reads the SES quota unless a rate is configured; nothing
	// else in the send role is on "*" besides X-Ray.
	if cfg.SES.ReadsSendQuota() {
		for _, task := range []string{infra.TaskSend, infra.TaskReserveSends} {
			role := id.fnRole[task]
			want[role] = append(want[role], stmt([]string{"ses:GetAccount"}, []string{"*"}, nil))
		}
	}
	trust := map[string]string{smRole: "states.amazonaws.com", pipeRole: "pipes.amazonaws.com"}
	for _, name := range infra.Functions() {
		trust[id.fnRole[name]] = "lambda.amazonaws.com"
	}

	roles := s.resources("AWS::IAM::Role")
	for roleID, role := range roles {
		p := props(role)
		if p["ManagedPolicyArns"] != nil || p["Policies"] != nil {
			t.Errorf("role %s has managed or inline policies: %s", roleID, mustJSON(p))
		}
		trustStatements := at(p, "AssumeRolePolicyDocument", "Statement").([]any)
		if len(trustStatements) != 1 {
			t.Errorf("role %s trusts %d principals", roleID, len(trustStatements))
		}
		service, _ := at(trustStatements[0], "Principal", "Service").(string)
		if service == "chatbot.amazonaws.com" && s.cfg.Chatbot != nil {
			// The Slack channel's role: no permissions at all; the
			// guardrail bounds it further.
			if pols := s.policiesOf(roleID); len(pols) != 0 {
				t.Errorf("chatbot role has policies: %v", pols)
			}
			continue
		}
		if trust[roleID] == "" {
			t.Errorf("unexpected role %s (trusts %s): add its expected statements to this test", roleID, service)
			continue
		}
		if service != trust[roleID] {
			t.Errorf("role %s trusts %q, want %q", roleID, service, trust[roleID])
		}
		if roleID == pipeRole {
			equalJSON(t, "pipe role trust condition", at(trustStatements[0], "Condition"),
				map[string]any{"StringEquals": map[string]any{"aws:SourceAccount": ref("AWS::AccountId")}})
		}
		var got []statement
		for _, sts := range s.policiesOf(roleID) {
			got = append(got, sts...)
		}
		sortStatements(got)
		exp := slices.Clone(want[roleID])
		sortStatements(exp)
		if !slices.EqualFunc(got, exp, func(a, b statement) bool { return a.String() == b.String() }) {
			t.Errorf("role %s statements:\n got  %v\n want %v", roleID, got, exp)
		}
	}
	wantRoles := len(want)
	if s.cfg.Chatbot != nil {
		wantRoles++
	}
	if len(roles) != wantRoles {
		t.Errorf("%d roles, want %d", len(roles), wantRoles)
	}
}

func sortStatements(sts []statement) {
	sort.Slice(sts, func(i, j int) bool { return sts[i].String() < sts[j].String() })
}

// sesARN is how an SES resource ARN appears in the template: with the
// stack's account and region, literal when the configuration names them.
func sesARN(s *synthesized, resource string) string {
	region, account := "<AWS::Region>", "<AWS::AccountId>"
	if s.cfg.Region != "" {
		region = s.cfg.Region
	}
	if s.cfg.Account != "" {
		account = s.cfg.Account
	}
	return partition(s) + ":ses:" + region + ":" + account + ":" + resource
}

// partition starts an ARN as the template writes it: a stack pinned to a
// region has a literal partition (cdk.json's
// @aws-cdk/core:enablePartitionLiterals), an agnostic one a reference.
func partition(s *synthesized) string {
	if s.cfg.Region != "" {
		return "arn:aws"
	}
	return "arn:<AWS::Partition>"
}

type alarmExpectations struct {
	period                                                float64
	dlq, age, failed, timedOut, taskErrors, taskThrottles float64
	bounce, complaint                                     float64
}

// checkAlarms finds each alarm by its metric and checks threshold,
// statistic, period and that it notifies the topic on alarm and on OK.
func checkAlarms(t *testing.T, s *synthesized, id ids, e alarmExpectations) {
	t.Helper()
	type want struct {
		threshold, period float64
		statistic         string
	}
	key := func(namespace, metric, dimension string) string { return namespace + " " + metric + " " + dimension }
	expected := map[string]want{
		key("AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName=<"+id.dlq+".QueueName>"): {e.dlq, e.period, "Maximum"},
		key("AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName=<"+id.queue+".QueueName>"):    {e.age, e.period, "Maximum"},
		// Any event the pipeline could not record is worth a look.
		key("AWS/SQS", "ApproximateNumberOfMessagesVisible", "QueueName=<"+id.eventsDLQ+".QueueName>"): {1, e.period, "Maximum"},
		// Derived from record-event's timing, not the mail queue's.
		key("AWS/SQS", "ApproximateAgeOfOldestMessage", "QueueName=<"+id.events+".QueueName>"): {infra.EventsOldestMessageAlarmSeconds, e.period, "Maximum"},
		key("AWS/States", "ExecutionThrottled", "StateMachineArn=<"+id.stateMachine+">"):       {1, e.period, "Sum"},
		key("AWS/States", "ExecutionsFailed", "StateMachineArn=<"+id.stateMachine+">"):         {e.failed, e.period, "Sum"},
		key("AWS/States", "ExecutionsTimedOut", "StateMachineArn=<"+id.stateMachine+">"):       {e.timedOut, e.period, "Sum"},
		key("AWS/SES", "Reputation.BounceRate", ""):                                            {e.bounce, 3600, "Maximum"},
		key("AWS/SES", "Reputation.ComplaintRate", ""):                                         {e.complaint, 3600, "Maximum"},
	}
	pipe := logicalID(t, s.resolve(s.pipeline.Pipe().AttrArn()))
	for _, metric := range infra.PipeAlarmMetrics() {
		expected[key("AWS/EventBridge/Pipes", metric, "PipeName=<"+pipe+">")] = want{1, e.period, "Sum"}
	}
	for _, name := range infra.Functions() {
		expected[key("AWS/Lambda", "Errors", "FunctionName=<"+id.fn[name]+">")] = want{e.taskErrors, e.period, "Sum"}
		expected[key("AWS/Lambda", "Throttles", "FunctionName=<"+id.fn[name]+">")] = want{e.taskThrottles, e.period, "Sum"}
	}
	prefix := s.pipeline.AlarmNamePrefix()
	if want := s.cfg.StackName + "-Mail-"; prefix != want {
		t.Errorf("AlarmNamePrefix() = %q, want %q", prefix, want)
	}
	alarms := s.resources("AWS::CloudWatch::Alarm")
	if len(alarms) != len(expected) {
		t.Errorf("%d alarms, want %d", len(alarms), len(expected))
	}
	seen := map[string]bool{}
	for alarmID, a := range alarms {
		p := props(a)
		var dims []string
		if ds, ok := p["Dimensions"].([]any); ok {
			for _, d := range ds {
				dims = append(dims, flatten(at(d, "Name"))+"="+flatten(at(d, "Value")))
			}
		}
		k := key(flatten(p["Namespace"]), flatten(p["MetricName"]), strings.Join(dims, ","))
		w, ok := expected[k]
		if !ok {
			t.Errorf("alarm %s on an unexpected metric %s", alarmID, k)
			continue
		}
		seen[k] = true
		for field, v := range map[string]any{
			"Threshold": w.threshold, "Period": w.period, "Statistic": w.statistic,
			"ComparisonOperator": "GreaterThanOrEqualToThreshold", "EvaluationPeriods": 1.0,
			"TreatMissingData": "notBreaching",
			"AlarmActions":     []any{ref(id.topic)}, "OKActions": []any{ref(id.topic)},
		} {
			equalJSON(t, k+" "+field, p[field], v)
		}
		if d, _ := p["AlarmDescription"].(string); d == "" {
			t.Errorf("alarm %s has no description", k)
		}
		// Every alarm is named under the pipeline's prefix.
		if name, _ := p["AlarmName"].(string); !strings.HasPrefix(name, prefix) || name == prefix {
			t.Errorf("alarm %s is named %q, not under the prefix %s", k, name, prefix)
		}
	}
	for k := range expected {
		if !seen[k] {
			t.Errorf("no alarm on %s", k)
		}
	}
}

// checkNag reads the AwsSolutions report and the synthesis messages: no
// finding may be left unsuppressed, the suppressed findings are exactly
// the expected ones (rule and construct), each with a written reason, and
// no suppression in the template goes unused.
func checkNag(t *testing.T, s *synthesized, expected map[string]int) {
	t.Helper()
	for _, m := range s.messages {
		if (m.level == "error" || m.level == "warning") && strings.Contains(m.text, "AwsSolutions-") {
			t.Errorf("unsuppressed cdk-nag %s at %s: %.200s", m.level, m.path, m.text)
		}
	}
	reports, _ := filepath.Glob(filepath.Join(s.outdir, "AwsSolutions-*NagReport.csv"))
	if len(reports) != 1 {
		t.Fatalf("AwsSolutions reports: %v", reports)
	}
	f, err := os.Open(reports[0])
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	rows, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	if len(rows) < 20 {
		t.Fatalf("the report has %d rows: did the checks run?", len(rows))
	}
	got := map[string]int{}
	suppressedAt := map[string]bool{} // "rule path"
	for _, r := range rows[1:] {
		rule, resource, compliance, reason := r[0], r[1], r[2], r[3]
		switch compliance {
		case "Compliant":
		case "Suppressed":
			if len(reason) < 60 {
				t.Errorf("%s on %s is suppressed without a real reason: %q", rule, resource, reason)
			}
			if rule == "AwsSolutions-IAM5" && strings.Contains(resource, "/SendRole/") && strings.Contains(reason, "X-Ray") &&
				strings.Contains(reason, "GetAccount") != s.cfg.SES.ReadsSendQuota() {
				t.Errorf("the send role's Resource * suppression names GetAccount only when the pacer reads the quota (%v): %q", s.cfg.SES.ReadsSendQuota(), reason)
			}
			// "mailflow/Mail/SendRole/DefaultPolicy/Resource" -> "SendRole/DefaultPolicy"
			parts := strings.Split(strings.TrimSuffix(resource, "/Resource"), "/")
			got[rule+" "+strings.Join(parts[2:], "/")]++
			suppressedAt[rule+" "+resource] = true
		default:
			t.Errorf("%s on %s: %s %s", rule, resource, compliance, r[5])
		}
	}
	for k := range expected {
		if got[k] != expected[k] {
			t.Errorf("suppressed %s: %d findings, want %d", k, got[k], expected[k])
		}
	}
	for k, n := range got {
		if _, ok := expected[k]; !ok {
			t.Errorf("unexpected suppressed finding %s (%d): list it in the test with its reason", k, n)
		}
	}
	for logicalID, r := range s.doc["Resources"].(map[string]any) {
		rules, _ := at(r, "Metadata", "cdk_nag", "rules_to_suppress").([]any)
		for _, rule := range rules {
			ruleID, _ := at(rule, "id").(string)
			if !suppressedAt[ruleID+" "+s.paths[logicalID]] {
				t.Errorf("suppression %s on %s (%s) suppresses nothing", ruleID, logicalID, s.paths[logicalID])
			}
		}
	}
}
