package infra_test

import (
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/mailflow/mailflow/internal/taskkit"
)

// The service access walk: every AWS service that acts on something in
// the stack is found from the template itself (every alarm's actions,
// every role's trust and the resources that name the role, every rule's
// targets), and each request it makes is evaluated against the policies
// that decide it: the topic, queue, function and key policies, the role's
// trust and its identity policies. A resource type the walk does not
// classify, a role nobody uses, a service a role trusts without a resource
// of the stack making it act, a target or task it cannot follow: each is
// a problem, so a new publisher or invoker cannot be skipped silently.

const (
	cloudwatchService = "cloudwatch.amazonaws.com"
	eventsService     = "events.amazonaws.com"
)

// actorService is the service that assumes the role a resource of each
// type names.
var actorService = map[string]string{
	"AWS::Lambda::Function":                   "lambda.amazonaws.com",
	"AWS::StepFunctions::StateMachine":        "states.amazonaws.com",
	"AWS::Pipes::Pipe":                        "pipes.amazonaws.com",
	"AWS::Chatbot::SlackChannelConfiguration": "chatbot.amazonaws.com",
	"AWS::Events::Rule":                       eventsService,
}

// sourceKeysOnAssume are the services AWS documents as setting
// aws:SourceAccount and aws:SourceArn (the resource they act for) when
// they assume a role. The others are modeled as carrying neither, so a
// trust condition on them fails the walk until someone models it.
var sourceKeysOnAssume = map[string]bool{
	"states.amazonaws.com": true, "pipes.amazonaws.com": true, eventsService: true,
}

// walkedTypes are walked below; through passiveTypes no AWS service acts
// on anything, unless they carry one of activeProperties.
var (
	walkedTypes = []string{
		"AWS::CloudWatch::Alarm", "AWS::IAM::Role", "AWS::Events::Rule",
		"AWS::Lambda::Function", "AWS::StepFunctions::StateMachine", "AWS::Pipes::Pipe", "AWS::Chatbot::SlackChannelConfiguration",
		"AWS::Lambda::EventSourceMapping", "AWS::SES::ConfigurationSetEventDestination",
	}
	passiveTypes = []string{
		"AWS::SQS::Queue", "AWS::SQS::QueuePolicy", "AWS::S3::Bucket", "AWS::S3::BucketPolicy", "AWS::DynamoDB::Table",
		"AWS::Logs::LogGroup", "AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::KMS::Key", "AWS::SNS::Topic", "AWS::SNS::TopicPolicy",
		"AWS::CloudWatch::Dashboard", "AWS::Lambda::Permission", "AWS::CDK::Metadata",
		// A bus only carries what is put on it; the rules that read it are
		// walked as rules. A configuration set makes SES act only through
		// its event destinations, walked below.
		"AWS::Events::EventBus", "AWS::SES::ConfigurationSet",
		// A sampling rule only tells X-Ray which traces to keep.
		"AWS::XRay::SamplingRule",
	}
	activeProperties = map[string][]string{
		"AWS::S3::Bucket":       {"NotificationConfiguration", "ReplicationConfiguration", "LoggingConfiguration"},
		"AWS::SNS::Topic":       {"Subscription", "DeliveryStatusLogging"},
		"AWS::Lambda::Function": {"DeadLetterConfig"},
		"AWS::DynamoDB::Table":  {"KinesisStreamSpecification"},
	}
)

type walkCounts struct {
	alarms, alarmActions, publishes, keyUses      int
	roles, trusts, identityChecks                 int
	functions, stateMachines, tasks, pipes, rules int
	ruleTargets, ruleDeadLetters, chatbots        int
	eventSources, consumerRequests, sesEvents     int
	redrives                                      int
	policies, statements                          int
}

func (c walkCounts) String() string {
	return fmt.Sprintf("%d alarms, %d alarm actions, %d publishes, %d key uses, %d roles, %d trusts, %d role permissions, "+
		"%d functions, %d state machines (%d tasks), %d pipes, %d rules (%d targets, %d dead-letter queues), %d chatbot configurations, "+
		"%d event source mappings (%d consumer requests), %d SES event destinations, %d redrives; "+
		"%d policies and %d statements evaluated",
		c.alarms, c.alarmActions, c.publishes, c.keyUses, c.roles, c.trusts, c.identityChecks,
		c.functions, c.stateMachines, c.tasks, c.pipes, c.rules, c.ruleTargets, c.ruleDeadLetters, c.chatbots,
		c.eventSources, c.consumerRequests, c.sesEvents, c.redrives, c.policies, c.statements)
}

type accessWalk struct {
	m           *cfnModel
	ev          evaluator
	n           walkCounts
	problems    []string
	alarmTopics map[string]bool // topics an alarm notifies
	chatTopics  map[string]bool // topics a chatbot configuration reads
	identity    map[string][]*policy
	keyUsesDue  int             // key uses the encrypted resources called for
	read        map[string]bool // resources whose policies were evaluated
}

// walkServiceAccess walks the template and returns the walk, with its
// problems and counts.
func walkServiceAccess(m *cfnModel) *accessWalk {
	w := &accessWalk{m: m, alarmTopics: map[string]bool{}, chatTopics: map[string]bool{}, identity: map[string][]*policy{}, read: map[string]bool{}}
	w.classify()
	w.walkAlarms()
	w.walkRoles()
	w.walkRules()
	w.walkEventSources()
	w.walkSESEventDestinations()
	w.walkRedrives()
	w.walkLogEncryption()
	w.walkProducerPolicies()
	w.checkChatbotCoverage()
	w.n.statements = w.ev.statements
	w.checkCounts()
	return w
}

func (w *accessWalk) fail(format string, args ...any) {
	w.problems = append(w.problems, fmt.Sprintf(format, args...))
}

// classify insists that every resource is either walked or one through
// which no service acts.
func (w *accessWalk) classify() {
	for _, id := range sortedKeys(w.m.resources) {
		typ := w.m.typeOf(id)
		if !slices.Contains(walkedTypes, typ) && !slices.Contains(passiveTypes, typ) {
			w.fail("resource %s has type %s, which the walk does not classify: walk what the service does through it, or list it as passive", id, typ)
			continue
		}
		for _, p := range activeProperties[typ] {
			if _, ok := w.m.props(id)[p]; ok {
				w.fail("resource %s (%s) sets %s: an AWS service acts through it, and the walk does not model that", id, typ, p)
			}
		}
	}
}

// sourceContext is what a service's request carries when it acts for the
// resource arn of this account, over TLS.
func (w *accessWalk) sourceContext(arn string) map[string]string {
	return map[string]string{"aws:SecureTransport": "true", "aws:SourceAccount": w.m.account, "aws:SourceArn": arn}
}

var tlsOnly = map[string]string{"aws:SecureTransport": "true"}

// parse reads a policy of the resource id from the template, resolving
// its intrinsics.
func (w *accessWalk) parse(id, name string, kind policyKind, raw any) *policy {
	w.read[id] = true
	doc, err := w.m.resolve(raw)
	if err != nil {
		w.fail("policy %s: %v", name, err)
		return nil
	}
	p, err := parsePolicy(name, kind, doc)
	if err != nil {
		w.fail("%v", err)
		return nil
	}
	return p
}

// combined is the verdict of several policies on one request: a Deny in
// any wins, then an Allow in any.
func (w *accessWalk) combined(pols []*policy, req accessRequest) (verdict, bool) {
	out := verdict{byAccount: true}
	for _, p := range pols {
		if p == nil {
			return verdict{}, false // its problem is reported already
		}
		v, err := w.ev.evaluate(p, req)
		if err != nil {
			w.fail("%s: %v", req, err)
			return verdict{}, false
		}
		switch v.decision {
		case explicitDeny:
			return v, true
		case allowed:
			out.decision = allowed
			out.byAccount = out.byAccount && v.byAccount
			out.sids = append(out.sids, p.name+":"+strings.Join(v.sids, ","))
		}
	}
	if out.decision != allowed {
		out.byAccount = false
	}
	return out, true
}

// serviceMay checks a request of a service principal against the resource
// policies that decide it: one of them must allow it by name, none deny it.
func (w *accessWalk) serviceMay(who string, req accessRequest, pols []*policy, what string) bool {
	v, ok := w.combined(pols, req)
	if !ok {
		return false
	}
	if v.decision != allowed || v.byAccount {
		w.fail("%s: %s is an %v under %s %s", who, req, v.decision, what, policyNames(pols))
		return false
	}
	return true
}

func policyNames(pols []*policy) []string {
	var out []string
	for _, p := range pols {
		if p != nil {
			out = append(out, p.name)
		}
	}
	return out
}

// publish walks a service publishing to a topic of the stack: the topic
// policy, the refusal of plain HTTP, and the topic's key.
func (w *accessWalk) publish(who string, p principal, topic string, ctx, keyCtx map[string]string) {
	w.n.publishes++
	arn, err := w.m.arn(topic)
	if err != nil {
		w.fail("%s: %v", who, err)
		return
	}
	pols := w.topicPolicies(topic)
	if len(pols) == 0 {
		w.fail("%s: topic %s has no topic policy; SNS's default policy is not modeled", who, topic)
		return
	}
	req := accessRequest{principal: p, action: "sns:Publish", resource: arn, context: ctx}
	w.serviceMay(who, req, pols, "the topic policies")
	if v, ok := w.combined(pols, req.with("aws:SecureTransport", "false")); ok && v.decision != explicitDeny {
		w.fail("%s: the same publish over plain HTTP is an %v: the topic must deny it", who, v.decision)
	}
	w.useKey(who, p, topic, keyCtx, "kms:GenerateDataKey", "kms:Decrypt")
}

// useKey walks a principal using the key that encrypts a topic or queue,
// if a key does.
func (w *accessWalk) useKey(who string, p principal, resource string, ctx map[string]string, actions ...string) {
	raw, ok := w.m.props(resource)["KmsMasterKeyId"]
	if !ok {
		return
	}
	w.keyUsesDue += len(actions)
	ref, err := w.m.str(raw)
	if err != nil {
		w.fail("%s: key of %s: %v", who, resource, err)
		return
	}
	key, ok := w.m.find("AWS::KMS::Key", ref, "Arn", "KeyId")
	if !ok {
		w.fail("%s: %s is encrypted with %s, which is not a key of the stack: its key policy cannot be walked "+
			"(and an AWS-managed key's policy admits no AWS service)", who, resource, ref)
		return
	}
	keyArn, _ := w.m.arn(key)
	kp := w.parse(key, key+" key policy", resourcePolicy, w.m.props(key)["KeyPolicy"])
	for _, a := range actions {
		w.n.keyUses++
		req := accessRequest{principal: p, action: a, resource: keyArn, context: ctx}
		if p.service != "" {
			w.serviceMay(who, req, []*policy{kp}, "the key policy of "+key)
			continue
		}
		w.roleMay(who, req, []*policy{kp}, true)
	}
}

// roleMay checks a request of one of the stack's roles: no Deny in its
// identity policies or the resource's; an Allow in its identity policies
// or one naming it in the resource's. A key policy must allow it too,
// by name or by delegating to the account (then IAM must allow it).
func (w *accessWalk) roleMay(who string, req accessRequest, resourcePols []*policy, keyPolicy bool) {
	w.n.identityChecks++
	role, ok := w.m.find("AWS::IAM::Role", req.principal.arn, "Arn")
	if !ok {
		w.fail("%s: %s is not a role of the stack", who, req.principal.arn)
		return
	}
	iv, ok1 := w.combined(w.identityPolicies(role), req)
	rv, ok2 := w.combined(resourcePols, req)
	if !ok1 || !ok2 {
		return
	}
	var ok3 bool
	switch {
	case iv.decision == explicitDeny || rv.decision == explicitDeny:
	case rv.decision == allowed && !rv.byAccount:
		ok3 = true
	case keyPolicy:
		ok3 = rv.decision == allowed && iv.decision == allowed
	default:
		ok3 = iv.decision == allowed
	}
	if !ok3 {
		w.fail("%s: %s: role policies give %v, %s give %v", who, req, iv.decision, strings.Join(policyNames(resourcePols), ", "), rv.decision)
	}
}

// identityPolicies are the policies attached to a role: AWS::IAM::Policy
// and ::ManagedPolicy naming it, and its inline policies.
func (w *accessWalk) identityPolicies(role string) []*policy {
	if pols, ok := w.identity[role]; ok {
		return pols
	}
	name, err := w.m.attribute(role, "")
	if err != nil {
		w.fail("role %s: %v", role, err)
		return []*policy{nil}
	}
	var pols []*policy
	for _, typ := range []string{"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy"} {
		for _, id := range w.m.ofType(typ) {
			roles, err := w.m.resolve(w.m.props(id)["Roles"])
			if err != nil {
				w.fail("policy %s: %v", id, err)
				continue
			}
			list, _ := roles.([]any)
			if slices.Contains(list, any(name)) {
				pols = append(pols, w.parse(id, id, identityPolicy, w.m.props(id)["PolicyDocument"]))
			}
		}
	}
	p := w.m.props(role)
	inline, _ := p["Policies"].([]any)
	for i, ip := range inline {
		pols = append(pols, w.parse(role, fmt.Sprintf("%s inline policy %d", role, i), identityPolicy, at(ip, "PolicyDocument")))
	}
	if arns, ok := p["ManagedPolicyArns"]; ok {
		w.fail("role %s has managed policies %s, whose statements are not in the template", role, mustJSON(arns))
	}
	w.identity[role] = pols
	return pols
}

func (w *accessWalk) topicPolicies(topic string) []*policy {
	return w.policiesFor("AWS::SNS::TopicPolicy", "Topics", topic, "")
}

func (w *accessWalk) queuePolicies(queue string) []*policy {
	return w.policiesFor("AWS::SQS::QueuePolicy", "Queues", queue, "")
}

// policiesFor returns the policies of a type whose list property names the
// resource (by its Ref).
func (w *accessWalk) policiesFor(typ, listProp, resource, attr string) []*policy {
	want, err := w.m.attribute(resource, attr)
	if err != nil {
		w.fail("%v", err)
		return []*policy{nil}
	}
	var out []*policy
	for _, id := range w.m.ofType(typ) {
		v, err := w.m.resolve(w.m.props(id)[listProp])
		if err != nil {
			w.fail("%s %s: %v", id, listProp, err)
			out = append(out, nil)
			continue
		}
		list, _ := v.([]any)
		if slices.Contains(list, any(want)) {
			out = append(out, w.parse(id, id, resourcePolicy, w.m.props(id)["PolicyDocument"]))
		}
	}
	return out
}

// functionPolicies turns the AWS::Lambda::Permission resources of a
// function into its resource policy.
func (w *accessWalk) functionPolicies(fn string) []*policy {
	arn, _ := w.m.arn(fn)
	name, _ := w.m.attribute(fn, "")
	var out []*policy
	for _, id := range w.m.ofType("AWS::Lambda::Permission") {
		p := w.m.props(id)
		target, err := w.m.str(p["FunctionName"])
		if err != nil {
			w.fail("%s: %v", id, err)
			continue
		}
		if target != arn && target != name {
			continue
		}
		for _, k := range sortedKeys(p) {
			if !slices.Contains([]string{"Action", "FunctionName", "Principal", "SourceArn", "SourceAccount"}, k) {
				w.fail("%s: %s is not modeled", id, k)
			}
		}
		who, err := w.m.str(p["Principal"])
		if err != nil {
			w.fail("%s: %v", id, err)
			continue
		}
		st := map[string]any{"Effect": "Allow", "Action": p["Action"], "Resource": arn}
		if strings.HasSuffix(who, ".amazonaws.com") {
			st["Principal"] = map[string]any{"Service": who}
		} else {
			st["Principal"] = map[string]any{"AWS": who}
		}
		cond := map[string]any{}
		if v, ok := p["SourceArn"]; ok {
			cond["ArnLike"] = map[string]any{"aws:SourceArn": v}
		}
		if v, ok := p["SourceAccount"]; ok {
			cond["StringEquals"] = map[string]any{"aws:SourceAccount": v}
		}
		if len(cond) > 0 {
			st["Condition"] = cond
		}
		out = append(out, w.parse(id, id, resourcePolicy, map[string]any{"Version": "2012-10-17", "Statement": []any{st}}))
	}
	return out
}

// walkAlarms follows every action of every alarm to its topic: CloudWatch
// publishes for the alarm, whose ARN is built from its AlarmName.
func (w *accessWalk) walkAlarms() {
	for _, id := range w.m.ofType("AWS::CloudWatch::Alarm") {
		w.n.alarms++
		arn, err := w.m.arn(id)
		if err != nil {
			w.fail("alarm %s: %v", id, err)
			continue
		}
		ctx := w.sourceContext(arn)
		for _, list := range []string{"AlarmActions", "OKActions", "InsufficientDataActions"} {
			raw, ok := w.m.props(id)[list]
			if !ok {
				continue
			}
			actions, err := w.m.resolve(raw)
			if err != nil {
				w.fail("alarm %s %s: %v", id, list, err)
				continue
			}
			for _, a := range actions.([]any) {
				w.n.alarmActions++
				who := fmt.Sprintf("alarm %s %s", arn, list)
				target, _ := a.(string)
				topic, ok := w.m.find("AWS::SNS::Topic", target)
				if !ok {
					w.fail("%s: %v is not a topic of the stack; the walk cannot follow it", who, a)
					continue
				}
				w.alarmTopics[topic] = true
				// CloudWatch's KMS requests for the topic are modeled as
				// carrying the alarm as their source too, as SNS
				// documents for the services other than EventBridge.
				w.publish(who, principal{service: cloudwatchService}, topic, ctx, ctx)
			}
		}
	}
}

type roleUser struct{ id, typ string }

// roleUsers are the resources that name the role (other than the
// policies attached to it).
func (w *accessWalk) roleUsers(role string) []roleUser {
	var out []roleUser
	for _, id := range sortedKeys(w.m.resources) {
		typ := w.m.typeOf(id)
		if id == role || typ == "AWS::IAM::Policy" || typ == "AWS::IAM::ManagedPolicy" {
			continue
		}
		if references(w.m.props(id), role) {
			out = append(out, roleUser{id, typ})
		}
	}
	return out
}

// references reports whether v refers to the resource id.
func references(v any, id string) bool {
	switch x := v.(type) {
	case map[string]any:
		if x["Ref"] == id {
			return true
		}
		if ga, ok := x["Fn::GetAtt"].([]any); ok && len(ga) > 0 && ga[0] == id {
			return true
		}
		for _, e := range x {
			if references(e, id) {
				return true
			}
		}
	case []any:
		return slices.ContainsFunc(x, func(e any) bool { return references(e, id) })
	case string:
		return strings.Contains(x, "${"+id+"}") || strings.Contains(x, "${"+id+".") || x == id+".Arn"
	}
	return false
}

// walkRoles checks each role's trust against the resources that use it,
// and walks what each of them does with it.
func (w *accessWalk) walkRoles() {
	for _, role := range w.m.ofType("AWS::IAM::Role") {
		w.n.roles++
		arn, err := w.m.arn(role)
		if err != nil {
			w.fail("role %s: %v", role, err)
			continue
		}
		trust := w.parse(role, role+" trust policy", resourcePolicy, w.m.props(role)["AssumeRolePolicyDocument"])
		if trust == nil {
			continue
		}
		users := w.roleUsers(role)
		if len(users) == 0 {
			w.fail("role %s is named by no resource of the stack: the walk cannot tell who assumes it", role)
		}
		acting := map[string]bool{}
		for _, u := range users {
			svc, ok := actorService[u.typ]
			if !ok {
				w.fail("role %s is the role of %s (%s), which the walk does not model", role, u.id, u.typ)
				continue
			}
			acting[svc] = true
			ctx := tlsOnly
			if sourceKeysOnAssume[svc] {
				userArn, err := w.m.arn(u.id)
				if err != nil {
					w.fail("%s: %v", u.id, err)
					continue
				}
				ctx = w.sourceContext(userArn)
			}
			w.n.trusts++
			w.serviceMay(fmt.Sprintf("%s %s", u.typ, u.id), accessRequest{
				principal: principal{service: svc}, action: "sts:AssumeRole", resource: arn, context: ctx,
			}, []*policy{trust}, "the trust policy of "+role)
			w.walkUser(u, principal{arn: arn, account: w.m.account})
		}
		for _, st := range trust.statements {
			if st.deny || st.principals == nil {
				continue
			}
			if st.principals.anyone || len(st.principals.aws) > 0 {
				w.fail("role %s trusts %s: only the services that use it should", role, mustJSON(st.principals))
			}
			for _, svc := range st.principals.services {
				if !acting[svc] {
					w.fail("role %s trusts %s, but no resource of the stack makes %s act with it: walk what it does", role, svc, svc)
				}
			}
		}
	}
}

func (w *accessWalk) walkUser(u roleUser, role principal) {
	switch u.typ {
	case "AWS::Lambda::Function":
		w.walkFunction(u.id, role)
	case "AWS::StepFunctions::StateMachine":
		w.walkStateMachine(u.id, role)
	case "AWS::Pipes::Pipe":
		w.walkPipe(u.id, role)
	case "AWS::Chatbot::SlackChannelConfiguration":
		w.walkChatbot(u.id)
	case "AWS::Events::Rule":
		// Its targets are walked with the rule (walkRules).
	}
}

func (w *accessWalk) roleRequest(role principal, action, resource string) accessRequest {
	return accessRequest{principal: role, action: action, resource: resource, context: tlsOnly}
}

// writeLogs checks the role may write streams of a log group of the stack;
// both actions are modeled as authorized on the stream's ARN.
func (w *accessWalk) writeLogs(who string, role principal, logGroupRef any) {
	v, err := w.m.str(logGroupRef)
	if err != nil {
		w.fail("%s: log group: %v", who, err)
		return
	}
	group, ok := w.m.find("AWS::Logs::LogGroup", v, "Arn")
	if !ok {
		w.fail("%s: logs to %s, which is not a log group of the stack", who, v)
		return
	}
	name, _ := w.m.attribute(group, "")
	stream := fmt.Sprintf("arn:%s:logs:%s:%s:log-group:%s:log-stream:2026/01/01/[$LATEST]0123abcd", w.m.partition, w.m.region, w.m.account, name)
	for _, a := range []string{"logs:CreateLogStream", "logs:PutLogEvents"} {
		w.roleMay(who, w.roleRequest(role, a, stream), nil, false)
	}
}

// traceAndLogDelivery are the actions AWS grants only on "*": X-Ray
// tracing, and the CloudWatch Logs delivery Step Functions logs through.
var (
	xrayWrite   = []string{"xray:PutTraceSegments", "xray:PutTelemetryRecords"}
	xraySample  = []string{"xray:GetSamplingRules", "xray:GetSamplingTargets"}
	logDelivery = []string{"logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
		"logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies", "logs:DescribeLogGroups"}
)

func (w *accessWalk) onStar(who string, role principal, actions []string) {
	for _, a := range actions {
		w.roleMay(who, w.roleRequest(role, a, "*"), nil, false)
	}
}

// walkFunction: Lambda writes the function's logs and traces with its role.
func (w *accessWalk) walkFunction(fn string, role principal) {
	w.n.functions++
	p := w.m.props(fn)
	who := "function " + fn
	if lg := at(p, "LoggingConfig", "LogGroup"); lg != nil {
		w.writeLogs(who, role, lg)
	} else {
		w.fail("%s logs to Lambda's default log group, outside the stack: not modeled", who)
	}
	if at(p, "TracingConfig", "Mode") == "Active" {
		w.onStar(who, role, xrayWrite)
	}
}

// walkPipe: the pipe polls its source queue and starts its target with
// its role.
func (w *accessWalk) walkPipe(pipe string, role principal) {
	w.n.pipes++
	p := w.m.props(pipe)
	who := "pipe " + pipe
	for _, k := range []string{"Enrichment", "EnrichmentParameters"} {
		if _, ok := p[k]; ok {
			w.fail("%s has an enrichment, which the walk does not model", who)
		}
	}
	src, err := w.m.str(p["Source"])
	if err != nil {
		w.fail("%s source: %v", who, err)
		return
	}
	queue, ok := w.m.find("AWS::SQS::Queue", src, "Arn")
	if !ok {
		w.fail("%s: source %s is not a queue of the stack; the walk models SQS sources only", who, src)
	} else {
		queueArn, _ := w.m.arn(queue)
		for _, a := range []string{"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:ChangeMessageVisibility", "sqs:GetQueueAttributes"} {
			w.roleMay(who, w.roleRequest(role, a, queueArn), w.queuePolicies(queue), false)
		}
		w.useKey(who, role, queue, tlsOnly, "kms:Decrypt")
	}
	target, err := w.m.str(p["Target"])
	if err != nil {
		w.fail("%s target: %v", who, err)
		return
	}
	if _, ok := w.m.find("AWS::StepFunctions::StateMachine", target, "Arn"); !ok {
		w.fail("%s: target %s is not a state machine of the stack; the walk models Step Functions targets only", who, target)
	} else {
		action := "states:StartExecution"
		switch it := at(p, "TargetParameters", "StepFunctionStateMachineParameters", "InvocationType"); it {
		case "REQUEST_RESPONSE":
			action = "states:StartSyncExecution"
		case "FIRE_AND_FORGET", nil:
		default:
			w.fail("%s: invocation type %v is not modeled", who, it)
		}
		w.roleMay(who, w.roleRequest(role, action, target), nil, false)
	}
	if lc, ok := p["LogConfiguration"].(map[string]any); ok {
		for k, v := range lc {
			switch k {
			case "Level", "IncludeExecutionData":
			case "CloudwatchLogsLogDestination":
				w.writeLogs(who, role, at(v, "LogGroupArn"))
			default:
				w.fail("%s logs to %s, which the walk does not model", who, k)
			}
		}
	}
}

// walkStateMachine: Step Functions runs each task of the definition with
// the machine's role.
func (w *accessWalk) walkStateMachine(sm string, role principal) {
	w.n.stateMachines++
	p := w.m.props(sm)
	who := "state machine " + sm
	text, ok := p["DefinitionString"].(string)
	if !ok {
		w.fail("%s: the definition is not a plain DefinitionString, which the walk reads", who)
		return
	}
	subs, _ := p["DefinitionSubstitutions"].(map[string]any)
	var unbound []string
	text = placeholderRef.ReplaceAllStringFunc(text, func(ph string) string {
		name := ph[2 : len(ph)-1]
		v, ok := subs[name]
		if !ok {
			unbound = append(unbound, name)
			return ph
		}
		s, err := w.m.str(v)
		if err != nil {
			w.fail("%s: substitution %s: %v", who, name, err)
		}
		return s
	})
	if len(unbound) > 0 {
		w.fail("%s: placeholders %v are not substituted", who, unbound)
	}
	var def any
	if err := json.Unmarshal([]byte(text), &def); err != nil {
		w.fail("%s: definition: %v", who, err)
		return
	}
	forEachState(def, func(name string, state map[string]any) {
		switch state["Type"] {
		case "Task":
			w.n.tasks++
			w.walkTask(who+" task "+name, role, state)
		case "Map":
			if mode := at(state, "ItemProcessor", "ProcessorConfig", "Mode"); mode == "DISTRIBUTED" {
				w.fail("%s: %s is a distributed Map, which the walk does not model", who, name)
			}
		}
	})
	if ds, _ := at(p, "LoggingConfiguration", "Destinations").([]any); len(ds) > 0 {
		w.onStar(who, role, logDelivery)
	}
	if at(p, "TracingConfiguration", "Enabled") == true {
		w.onStar(who, role, append(slices.Clone(xrayWrite), xraySample...))
	}
}

// forEachState calls fn for every state of a definition, nested ones
// included.
func forEachState(v any, fn func(name string, state map[string]any)) {
	switch x := v.(type) {
	case map[string]any:
		if states, ok := x["States"].(map[string]any); ok {
			for _, name := range sortedKeys(states) {
				if st, ok := states[name].(map[string]any); ok {
					fn(name, st)
				}
			}
		}
		for _, e := range x {
			forEachState(e, fn)
		}
	case []any:
		for _, e := range x {
			forEachState(e, fn)
		}
	}
}

func (w *accessWalk) walkTask(who string, role principal, state map[string]any) {
	resource, _ := state["Resource"].(string)
	args, _ := state["Parameters"].(map[string]any)
	if a, ok := state["Arguments"].(map[string]any); ok {
		args = a
	}
	integration := resource
	if _, rest, ok := strings.Cut(resource, ":states:::"); ok && strings.HasPrefix(resource, "arn:") {
		integration = strings.TrimSuffix(rest, ".waitForTaskToken")
	}
	field := func(k string) string {
		if _, dynamic := args[k+".$"]; dynamic {
			w.fail("%s: %s is computed at run time; the walk cannot follow it", who, k)
		}
		s, _ := args[k].(string)
		return s
	}
	switch {
	case integration == "lambda:invoke":
		w.invoke(who, role, field("FunctionName"))
	case strings.HasPrefix(resource, "arn:") && strings.Contains(resource, ":lambda:"):
		w.invoke(who, role, resource)
	case integration == "sqs:sendMessage":
		url := field("QueueUrl")
		queue, ok := w.m.find("AWS::SQS::Queue", url, "QueueUrl")
		if !ok {
			w.fail("%s: queue %q is not a queue of the stack", who, url)
			return
		}
		arn, _ := w.m.arn(queue)
		w.roleMay(who, w.roleRequest(role, "sqs:SendMessage", arn), w.queuePolicies(queue), false)
		w.useKey(who, role, queue, tlsOnly, "kms:GenerateDataKey", "kms:Decrypt")
	default:
		w.fail("%s: resource %q is an integration the walk does not model", who, resource)
	}
}

func (w *accessWalk) invoke(who string, role principal, fnRef string) {
	fn, ok := w.m.find("AWS::Lambda::Function", fnRef, "Arn")
	if !ok {
		w.fail("%s: function %q is not a function of the stack", who, fnRef)
		return
	}
	arn, _ := w.m.arn(fn)
	w.roleMay(who, w.roleRequest(role, "lambda:InvokeFunction", arn), w.functionPolicies(fn), false)
}

// walkChatbot: Chatbot reads the topics it is given; their policies need
// nothing for it (SNS delivers to Chatbot's endpoint), but each must be a
// topic of the stack.
func (w *accessWalk) walkChatbot(id string) {
	w.n.chatbots++
	arns, err := w.m.resolve(w.m.props(id)["SnsTopicArns"])
	if err != nil {
		w.fail("chatbot %s topics: %v", id, err)
		return
	}
	list, _ := arns.([]any)
	if len(list) == 0 {
		w.fail("chatbot %s has no topics", id)
	}
	for _, a := range list {
		s, _ := a.(string)
		topic, ok := w.m.find("AWS::SNS::Topic", s)
		if !ok {
			w.fail("chatbot %s: %v is not a topic of the stack", id, a)
			continue
		}
		w.chatTopics[topic] = true
	}
}

// checkChatbotCoverage: with a chat channel, every topic an alarm
// notifies is one it reads, so every alarm reaches the channel.
func (w *accessWalk) checkChatbotCoverage() {
	if len(w.m.ofType("AWS::Chatbot::SlackChannelConfiguration")) == 0 {
		return
	}
	for _, topic := range sortedKeys(w.alarmTopics) {
		if !w.chatTopics[topic] {
			w.fail("alarms notify topic %s, which no chatbot configuration reads", topic)
		}
	}
}

// ruleTargetAction is what EventBridge does to a target of each type.
var ruleTargetAction = map[string]string{
	"AWS::SNS::Topic":                  "sns:Publish",
	"AWS::SQS::Queue":                  "sqs:SendMessage",
	"AWS::Lambda::Function":            "lambda:InvokeFunction",
	"AWS::StepFunctions::StateMachine": "states:StartExecution",
}

// walkRules follows every target of every EventBridge rule: through the
// target's role when it has one, otherwise through the target's resource
// policy, which must admit EventBridge for this rule.
func (w *accessWalk) walkRules() {
	for _, rule := range w.m.ofType("AWS::Events::Rule") {
		w.n.rules++
		ruleArn, err := w.m.arn(rule)
		if err != nil {
			w.fail("rule %s: %v", rule, err)
			continue
		}
		targets, _ := w.m.props(rule)["Targets"].([]any)
		for i, t := range targets {
			w.n.ruleTargets++
			who := fmt.Sprintf("rule %s target %d", rule, i)
			tm, _ := t.(map[string]any)
			for _, k := range sortedKeys(tm) {
				if !slices.Contains([]string{"Id", "Arn", "RoleArn", "Input", "InputPath", "InputTransformer", "DeadLetterConfig", "RetryPolicy"}, k) {
					w.fail("%s: %s is not modeled", who, k)
				}
			}
			arn, err := w.m.str(tm["Arn"])
			if err != nil {
				w.fail("%s: %v", who, err)
				continue
			}
			var target, typ string
			for _, ty := range sortedKeys(ruleTargetAction) {
				if id, ok := w.m.find(ty, arn, "Arn"); ok {
					target, typ = id, ty
				}
			}
			if target == "" {
				w.fail("%s: %s is not a topic, queue, function or state machine of the stack", who, arn)
				continue
			}
			action := ruleTargetAction[typ]
			if dl, ok := tm["DeadLetterConfig"]; ok {
				w.ruleDeadLetter(who, ruleArn, at(dl, "Arn"))
			}
			if rawRole, ok := tm["RoleArn"]; ok {
				roleArn, err := w.m.str(rawRole)
				if err != nil {
					w.fail("%s: role: %v", who, err)
					continue
				}
				// The role's trust is walked with the role; here, what it
				// may do.
				role := principal{arn: roleArn, account: w.m.account}
				w.roleMay(who, w.roleRequest(role, action, arn), w.targetPolicies(target, typ), false)
				if typ == "AWS::SNS::Topic" || typ == "AWS::SQS::Queue" {
					w.useKey(who, role, target, tlsOnly, "kms:GenerateDataKey", "kms:Decrypt")
				}
				continue
			}
			events := principal{service: eventsService}
			ctx := w.sourceContext(ruleArn)
			switch typ {
			case "AWS::SNS::Topic":
				// EventBridge's KMS requests carry no source keys (AWS
				// documents that the key policy cannot condition on them).
				w.publish(who, events, target, ctx, tlsOnly)
			case "AWS::SQS::Queue", "AWS::Lambda::Function":
				w.serviceMay(who, accessRequest{principal: events, action: action, resource: arn, context: ctx},
					w.targetPolicies(target, typ), "the policies of "+target)
				if typ == "AWS::SQS::Queue" {
					w.useKey(who, events, target, tlsOnly, "kms:GenerateDataKey", "kms:Decrypt")
				}
			default:
				w.fail("%s: EventBridge needs a role to start %s", who, target)
			}
		}
	}
}

// ruleDeadLetter: EventBridge sends an event it could not deliver to the
// target's dead-letter queue itself, for the rule (never with the target's
// role), so the queue's policy must admit it.
func (w *accessWalk) ruleDeadLetter(who string, ruleArn string, raw any) {
	w.n.ruleDeadLetters++
	arn, err := w.m.str(raw)
	if err != nil {
		w.fail("%s dead-letter queue: %v", who, err)
		return
	}
	queue, ok := w.m.find("AWS::SQS::Queue", arn, "Arn")
	if !ok {
		w.fail("%s: dead-letter queue %s is not a queue of the stack", who, arn)
		return
	}
	events := principal{service: eventsService}
	w.serviceMay(who+" dead-letter", accessRequest{principal: events, action: "sqs:SendMessage", resource: arn, context: w.sourceContext(ruleArn)},
		w.queuePolicies(queue), "the policies of "+queue)
	w.useKey(who, events, queue, tlsOnly, "kms:GenerateDataKey", "kms:Decrypt")
}

// consumerRequests are what a function fed by an SQS event source mapping
// (record-event) does with each resource its environment names: the
// requests its code makes, which its role and the resources' policies
// must allow.
var consumerRequests = map[string][]string{
	"LOCK_TABLE":        {"dynamodb:GetItem", "dynamodb:UpdateItem"},
	"DELIVERY_TABLE":    {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"},
	"SUPPRESSION_TABLE": {"dynamodb:GetItem", "dynamodb:PutItem"},
	"EVENTS_DLQ_URL":    {"sqs:SendMessage"},
	"OUTCOME_BUS":       {"events:PutEvents"},
}

// walkEventSources: Lambda polls each mapping's queue with the function's
// role and invokes the function, whose code then acts on what its
// environment names.
func (w *accessWalk) walkEventSources() {
	for _, id := range w.m.ofType("AWS::Lambda::EventSourceMapping") {
		w.n.eventSources++
		p := w.m.props(id)
		who := "event source mapping " + id
		for _, k := range sortedKeys(p) {
			if !slices.Contains([]string{"FunctionName", "EventSourceArn", "BatchSize", "MaximumBatchingWindowInSeconds",
				"FunctionResponseTypes", "ScalingConfig"}, k) {
				w.fail("%s: %s is not modeled", who, k)
			}
		}
		fnRef, err := w.m.str(p["FunctionName"])
		if err != nil {
			w.fail("%s: %v", who, err)
			continue
		}
		fn, ok := w.m.find("AWS::Lambda::Function", fnRef, "Arn")
		if !ok {
			w.fail("%s: function %s is not a function of the stack", who, fnRef)
			continue
		}
		roleArn, err := w.m.str(w.m.props(fn)["Role"])
		if err != nil {
			w.fail("%s: role: %v", who, err)
			continue
		}
		role := principal{arn: roleArn, account: w.m.account}
		src, err := w.m.str(p["EventSourceArn"])
		if err != nil {
			w.fail("%s: %v", who, err)
			continue
		}
		queue, ok := w.m.find("AWS::SQS::Queue", src, "Arn")
		if !ok {
			w.fail("%s: source %s is not a queue of the stack; the walk models SQS sources only", who, src)
			continue
		}
		// What AWS documents an SQS event source needs.
		for _, a := range []string{"sqs:ReceiveMessage", "sqs:DeleteMessage", "sqs:GetQueueAttributes"} {
			w.roleMay(who, w.roleRequest(role, a, src), w.queuePolicies(queue), false)
		}
		w.useKey(who, role, queue, tlsOnly, "kms:Decrypt")
		w.walkConsumer("function "+fn, role, fn)
	}
}

func (w *accessWalk) walkConsumer(who string, role principal, fn string) {
	vars, _ := at(w.m.props(fn), "Environment", "Variables").(map[string]any)
	for _, name := range sortedKeys(vars) {
		v, err := w.m.str(vars[name])
		if err != nil {
			w.fail("%s: %s: %v", who, name, err)
			continue
		}
		actions, modeled := consumerRequests[name]
		// A queue's Ref is its URL; a table's and a bus's, the name.
		var target, typ string
		for _, ty := range []string{"AWS::SQS::Queue", "AWS::DynamoDB::Table", "AWS::Events::EventBus"} {
			if id, ok := w.m.find(ty, v); ok {
				target, typ = id, ty
			}
		}
		if target == "" {
			if modeled {
				w.fail("%s: %s = %s names no resource of the stack", who, name, v)
			}
			continue
		}
		if !modeled {
			w.fail("%s: %s names %s (%s), and the walk does not know what the consumer does with it", who, name, target, typ)
			continue
		}
		arn, _ := w.m.arn(target)
		var pols []*policy
		if typ == "AWS::SQS::Queue" {
			pols = w.queuePolicies(target)
		}
		for _, a := range actions {
			w.n.consumerRequests++
			w.roleMay(who+" "+name, w.roleRequest(role, a, arn), pols, false)
		}
		if typ == "AWS::SQS::Queue" {
			w.useKey(who, role, target, tlsOnly, "kms:GenerateDataKey", "kms:Decrypt")
		}
	}
}

// walkSESEventDestinations: SES publishes a configuration set's events
// itself. To EventBridge it can only publish to the default bus of the
// account and region, which needs no policy; the other kinds of
// destination (SNS, Firehose with a role, CloudWatch) are not modeled.
func (w *accessWalk) walkSESEventDestinations() {
	defaultBus := fmt.Sprintf("arn:%s:events:%s:%s:event-bus/default", w.m.partition, w.m.region, w.m.account)
	for _, id := range w.m.ofType("AWS::SES::ConfigurationSetEventDestination") {
		w.n.sesEvents++
		dest, _ := w.m.props(id)["EventDestination"].(map[string]any)
		for _, k := range sortedKeys(dest) {
			switch k {
			case "Name", "Enabled", "MatchingEventTypes":
			case "EventBridgeDestination":
				bus, err := w.m.str(at(dest, k, "EventBusArn"))
				if err != nil {
					w.fail("SES event destination %s: %v", id, err)
				} else if bus != defaultBus {
					w.fail("SES event destination %s publishes to %s: SES publishes to the default bus %s only", id, bus, defaultBus)
				}
			default:
				w.fail("SES event destination %s: %s is not modeled", id, k)
			}
		}
	}
}

// walkLogEncryption: CloudWatch Logs of the stack's region uses each log
// group's key with the group's ARN as encryption context; the key policy
// must allow that and refuse the same for a log group of another account.
func (w *accessWalk) walkLogEncryption() {
	logs := principal{service: "logs." + w.m.region + ".amazonaws.com"}
	for _, id := range w.m.ofType("AWS::Logs::LogGroup") {
		raw, ok := w.m.props(id)["KmsKeyId"]
		if !ok {
			continue
		}
		who := "CloudWatch Logs for " + id
		ref, err := w.m.str(raw)
		if err != nil {
			w.fail("%s: key: %v", who, err)
			continue
		}
		key, ok := w.m.find("AWS::KMS::Key", ref, "Arn", "KeyId")
		if !ok {
			w.fail("%s: %s is not a key of the stack", who, ref)
			continue
		}
		keyArn, _ := w.m.arn(key)
		name, _ := w.m.attribute(id, "")
		group := fmt.Sprintf("arn:%s:logs:%s:%s:log-group:%s", w.m.partition, w.m.region, w.m.account, name)
		kp := w.parse(key, key+" key policy", resourcePolicy, w.m.props(key)["KeyPolicy"])
		for _, a := range []string{"kms:Encrypt", "kms:Decrypt", "kms:GenerateDataKey", "kms:ReEncryptFrom", "kms:DescribeKey"} {
			req := accessRequest{principal: logs, action: a, resource: keyArn, context: map[string]string{"kms:EncryptionContext:aws:logs:arn": group}}
			w.serviceMay(who, req, []*policy{kp}, "the key policy of "+key)
			other := req.with("kms:EncryptionContext:aws:logs:arn", fmt.Sprintf("arn:%s:logs:%s:444455556666:log-group:%s", w.m.partition, w.m.region, name))
			if v, ok := w.combined([]*policy{kp}, other); ok && v.decision == allowed {
				w.fail("%s: the key policy of %s also lets CloudWatch Logs use it for another account's log group", who, key)
			}
		}
	}
}

// walkProducerPolicies: a managed policy the stack attaches to nothing is
// for producers. A producer may send to the pipe's source queue and put
// objects under the attachment prefix the tasks read, and nothing else of
// the stack: not the staging prefix, not the dead-letter queue.
func (w *accessWalk) walkProducerPolicies() {
	var queue, bucket, prefix string
	for _, id := range w.m.ofType("AWS::Pipes::Pipe") {
		queue, _ = w.m.str(w.m.props(id)["Source"])
	}
	for _, id := range w.m.ofType("AWS::S3::Bucket") {
		bucket, _ = w.m.arn(id)
	}
	for _, id := range w.m.ofType("AWS::Lambda::Function") {
		if v, ok := at(w.m.props(id), "Environment", "Variables", taskkit.EnvAttachmentPrefix).(string); ok {
			prefix = v
		}
	}
	for _, id := range w.m.ofType("AWS::IAM::ManagedPolicy") {
		p := w.m.props(id)
		if p["Roles"] != nil || p["Users"] != nil || p["Groups"] != nil {
			continue
		}
		who := "a producer with " + id
		pol := w.parse(id, id, identityPolicy, p["PolicyDocument"])
		producer := principal{arn: "arn:" + w.m.partition + ":iam::" + w.m.account + ":role/producer", account: w.m.account}
		for _, c := range []struct {
			action, resource string
			allow            bool
		}{
			{"sqs:SendMessage", queue, true},
			{"s3:PutObject", bucket + "/" + prefix + "invoice.pdf", true},
			{"s3:PutObject", bucket + "/elsewhere/invoice.pdf", false},
			{"s3:GetObject", bucket + "/" + prefix + "invoice.pdf", false},
			{"sqs:ReceiveMessage", queue, false},
		} {
			req := accessRequest{principal: producer, action: c.action, resource: c.resource, context: tlsOnly}
			v, ok := w.combined([]*policy{pol}, req)
			if ok && (v.decision == allowed) != c.allow {
				w.fail("%s: %s is %v", who, req, v.decision)
			}
		}
	}
}

// walkRedrives: SQS moves a message received maxReceiveCount times to the
// queue's dead-letter queue itself; no policy decides it, but the target
// must be a queue of the stack, and with a KMS key on either queue SQS
// would need the key, which the walk does not model.
func (w *accessWalk) walkRedrives() {
	for _, id := range w.m.ofType("AWS::SQS::Queue") {
		rp, ok := w.m.props(id)["RedrivePolicy"]
		if !ok {
			continue
		}
		w.n.redrives++
		arn, err := w.m.str(at(rp, "deadLetterTargetArn"))
		if err != nil {
			w.fail("queue %s redrive: %v", id, err)
			continue
		}
		dlq, ok := w.m.find("AWS::SQS::Queue", arn, "Arn")
		if !ok {
			w.fail("queue %s redrives to %s, which is not a queue of the stack", id, arn)
			continue
		}
		for _, q := range []string{id, dlq} {
			if _, ok := w.m.props(q)["KmsMasterKeyId"]; ok {
				w.fail("queue %s redrives to %s, and %s has a KMS key: SQS's use of it is not modeled", id, dlq, q)
			}
		}
	}
}

func (w *accessWalk) targetPolicies(id, typ string) []*policy {
	switch typ {
	case "AWS::SNS::Topic":
		return w.topicPolicies(id)
	case "AWS::SQS::Queue":
		return w.queuePolicies(id)
	case "AWS::Lambda::Function":
		return w.functionPolicies(id)
	}
	return nil
}

// checkCounts makes the walk fail when it matched less than the template
// holds: it cannot pass by looking at nothing.
func (w *accessWalk) checkCounts() {
	var actions, targets, deadLetters, redrives int
	for _, id := range w.m.ofType("AWS::SQS::Queue") {
		if _, ok := w.m.props(id)["RedrivePolicy"]; ok {
			redrives++
		}
	}
	for _, id := range w.m.ofType("AWS::CloudWatch::Alarm") {
		for _, list := range []string{"AlarmActions", "OKActions", "InsufficientDataActions"} {
			a, _ := w.m.props(id)[list].([]any)
			actions += len(a)
		}
	}
	for _, id := range w.m.ofType("AWS::Events::Rule") {
		t, _ := w.m.props(id)["Targets"].([]any)
		targets += len(t)
		for _, tm := range t {
			if at(tm, "DeadLetterConfig") != nil {
				deadLetters++
			}
		}
	}
	count := func(typ string) int { return len(w.m.ofType(typ)) }
	// Every policy a service's request can meet was evaluated. (The bucket
	// policy is not: no service acts on the bucket.)
	var policies, read int
	for _, typ := range []string{"AWS::SNS::TopicPolicy", "AWS::SQS::QueuePolicy", "AWS::KMS::Key", "AWS::IAM::Role",
		"AWS::IAM::Policy", "AWS::IAM::ManagedPolicy", "AWS::Lambda::Permission"} {
		for _, id := range w.m.ofType(typ) {
			policies++
			if w.read[id] {
				read++
			} else {
				w.fail("the policy of %s (%s) decided no request of the walk", id, typ)
			}
		}
	}
	w.n.policies = read
	n := w.n
	for _, c := range []struct {
		what          string
		got, want     int
		mayBeNone     bool
		templateCount string
	}{
		{"alarms", n.alarms, count("AWS::CloudWatch::Alarm"), false, "alarms"},
		{"alarm actions", n.alarmActions, actions, false, "alarm actions"},
		{"publishes", n.publishes, actions, false, "alarm actions"},
		{"key uses", n.keyUses, w.keyUsesDue, true, "uses due for the encrypted topics and queues"},
		{"roles", n.roles, count("AWS::IAM::Role"), false, "roles"},
		{"trusts", n.trusts, count("AWS::IAM::Role"), false, "roles"},
		{"functions", n.functions, count("AWS::Lambda::Function"), false, "functions"},
		{"state machines", n.stateMachines, count("AWS::StepFunctions::StateMachine"), false, "state machines"},
		{"pipes", n.pipes, count("AWS::Pipes::Pipe"), false, "pipes"},
		{"rules", n.rules, count("AWS::Events::Rule"), true, "rules"},
		{"rule targets", n.ruleTargets, targets, true, "rule targets"},
		{"rule dead-letter queues", n.ruleDeadLetters, deadLetters, true, "rule targets with a dead-letter queue"},
		{"event source mappings", n.eventSources, count("AWS::Lambda::EventSourceMapping"), true, "event source mappings"},
		{"SES event destinations", n.sesEvents, count("AWS::SES::ConfigurationSetEventDestination"), true, "SES event destinations"},
		{"redrives", n.redrives, redrives, true, "queues with a redrive policy"},
		{"chatbot configurations", n.chatbots, count("AWS::Chatbot::SlackChannelConfiguration"), true, "chatbot configurations"},
		{"tasks", n.tasks, 1, false, "(at least one)"},
		{"role permissions", n.identityChecks, 1, false, "(at least one)"},
		{"policies", n.policies, policies, false, "topic, queue, key, trust and role policies"},
		{"statements", n.statements, policies, false, "policies (at least one statement each)"},
	} {
		if (c.got == 0 && !c.mayBeNone) || c.got < c.want {
			w.fail("walked %d %s; the template has %d %s", c.got, c.what, c.want, c.templateCount)
		}
	}
}

// modelOf models a synthesis as deployed: in the configured account and
// region, or in sample ones when the stack is environment-agnostic.
func modelOf(s *synthesized) *cfnModel {
	account, region := s.cfg.Account, s.cfg.Region
	if account == "" {
		account = "111122223333"
	}
	if region == "" {
		region = "eu-central-1"
	}
	return newCfnModel(s.doc, s.cfg.StackName, account, region)
}

// Every AWS service that acts on the stack's resources is allowed to, by
// the policies that decide it: above all, CloudWatch may publish every
// alarm to its encrypted topic over TLS.
func TestServiceAccessWalk(t *testing.T) {
	for _, c := range []struct{ name, cfg string }{{"main", mainConfig}, {"variant", variantConfig}} {
		t.Run(c.name, func(t *testing.T) {
			s := synth(t, c.name, c.cfg)
			w := walkServiceAccess(modelOf(s))
			for _, p := range w.problems {
				t.Error(p)
			}
			t.Logf("walked %v", w.n)
		})
	}
}

// The walk finds what breaks a service's access: each change below to the
// synthesized template is one a stack could make, and each must be
// reported.
func TestServiceAccessWalkCatches(t *testing.T) {
	s := synth(t, "main", mainConfig)
	base := modelOf(s)
	if w := walkServiceAccess(base); len(w.problems) != 0 {
		t.Fatalf("the unchanged template has problems: %v", w.problems)
	}
	one := func(t *testing.T, doc map[string]any, typ string) map[string]any {
		t.Helper()
		var found map[string]any
		for _, r := range doc["Resources"].(map[string]any) {
			if rm := r.(map[string]any); rm["Type"] == typ {
				if found != nil {
					t.Fatalf("more than one %s", typ)
				}
				found = rm
			}
		}
		if found == nil {
			t.Fatalf("no %s", typ)
		}
		return props(found)
	}
	statements := func(p map[string]any, path ...any) []any {
		return at(p, path...).([]any)
	}
	// keyWith is the key whose policy has a statement of that Sid: the
	// alarm topic's key or the log groups'.
	keyWith := func(t *testing.T, doc map[string]any, sid string) map[string]any {
		t.Helper()
		for _, r := range doc["Resources"].(map[string]any) {
			if rm := r.(map[string]any); rm["Type"] == "AWS::KMS::Key" {
				for _, st := range statements(props(rm), "KeyPolicy", "Statement") {
					if at(st, "Sid") == sid {
						return props(rm)
					}
				}
			}
		}
		t.Fatalf("no key with a statement %s", sid)
		return nil
	}
	// withoutStatements drops the statements a predicate selects.
	withoutStatements := func(t *testing.T, p map[string]any, drop func(st map[string]any) bool, path ...any) {
		t.Helper()
		doc := at(p, path[:len(path)-1]...).(map[string]any)
		var kept []any
		for _, st := range statements(p, path...) {
			if !drop(st.(map[string]any)) {
				kept = append(kept, st)
			}
		}
		if len(kept) == len(statements(p, path...)) {
			t.Fatal("no statement dropped")
		}
		doc["Statement"] = kept
	}
	bySid := func(sid string) func(map[string]any) bool {
		return func(st map[string]any) bool { return st["Sid"] == sid }
	}
	alarmID := func(doc map[string]any) string {
		for _, id := range sortedKeys(doc["Resources"].(map[string]any)) {
			if at(doc, "Resources", id, "Type") == "AWS::CloudWatch::Alarm" {
				return id
			}
		}
		return ""
	}
	topicRef := func(doc map[string]any) any { return at(one(t, doc, "AWS::SNS::TopicPolicy"), "Topics", 0) }
	resourcesOf := func(doc map[string]any) map[string]any { return doc["Resources"].(map[string]any) }

	cases := []struct {
		name   string
		mutate func(t *testing.T, doc map[string]any)
		want   string // in one of the problems
	}{
		{"the topic policy without the CloudWatch Allow", func(t *testing.T, doc map[string]any) {
			withoutStatements(t, one(t, doc, "AWS::SNS::TopicPolicy"), bySid("CloudWatchAlarmsPublish"), "PolicyDocument", "Statement")
		}, "sns:Publish on arn:aws:sns:"},
		{"the key policy without the CloudWatch grant", func(t *testing.T, doc map[string]any) {
			withoutStatements(t, keyWith(t, doc, "CloudWatchAlarmsPublish"), bySid("CloudWatchAlarmsPublish"), "KeyPolicy", "Statement")
		}, "kms:GenerateDataKey on arn:aws:kms:"},
		{"the log key without the CloudWatch Logs grant", func(t *testing.T, doc map[string]any) {
			withoutStatements(t, keyWith(t, doc, "CloudWatchLogsEncrypt"), bySid("CloudWatchLogsEncrypt"), "KeyPolicy", "Statement")
		}, "CloudWatch Logs for "},
		{"the log key open to any account's log groups", func(t *testing.T, doc map[string]any) {
			for _, st := range statements(keyWith(t, doc, "CloudWatchLogsEncrypt"), "KeyPolicy", "Statement") {
				if at(st, "Sid") == "CloudWatchLogsEncrypt" {
					delete(st.(map[string]any), "Condition")
				}
			}
		}, "another account's log group"},
		{"a producer policy that also reads the attachments", func(t *testing.T, doc map[string]any) {
			st := statements(one(t, doc, "AWS::IAM::ManagedPolicy"), "PolicyDocument", "Statement")[1].(map[string]any)
			st["Action"] = []any{"s3:PutObject", "s3:GetObject"}
		}, "s3:GetObject"},
		{"a key grant for another account", func(t *testing.T, doc map[string]any) {
			for _, st := range statements(keyWith(t, doc, "CloudWatchAlarmsPublish"), "KeyPolicy", "Statement") {
				if c, ok := at(st, "Condition", "StringEquals").(map[string]any); ok {
					c["aws:SourceAccount"] = "444455556666"
				}
			}
		}, "kms:Decrypt on arn:aws:kms:"},
		{"an alarm named outside the prefix", func(t *testing.T, doc map[string]any) {
			props(at(doc, "Resources", alarmID(doc)).(map[string]any))["AlarmName"] = "someone-else"
		}, "alarm:someone-else"},
		{"a topic that accepts plain HTTP", func(t *testing.T, doc map[string]any) {
			withoutStatements(t, one(t, doc, "AWS::SNS::TopicPolicy"), func(st map[string]any) bool { return st["Effect"] == "Deny" }, "PolicyDocument", "Statement")
		}, "over plain HTTP is an allow"},
		{"a condition operator the evaluator does not know", func(t *testing.T, doc map[string]any) {
			for _, st := range statements(one(t, doc, "AWS::SNS::TopicPolicy"), "PolicyDocument", "Statement") {
				if st.(map[string]any)["Sid"] == "CloudWatchAlarmsPublish" {
					at(st, "Condition").(map[string]any)["DateLessThan"] = map[string]any{"aws:CurrentTime": "2030-01-01T00:00:00Z"}
				}
			}
		}, `condition operator "DateLessThan" is not modeled`},
		{"an alarm notifying a topic outside the stack", func(t *testing.T, doc map[string]any) {
			props(at(doc, "Resources", alarmID(doc)).(map[string]any))["OKActions"] = []any{"arn:aws:sns:eu-central-1:111122223333:elsewhere"}
		}, "elsewhere is not a topic of the stack"},
		{"an alarm action the walk does not follow (EC2)", func(t *testing.T, doc map[string]any) {
			props(at(doc, "Resources", alarmID(doc)).(map[string]any))["InsufficientDataActions"] = []any{"arn:aws:automate:eu-central-1:ec2:stop"}
		}, "automate"},
		{"the topic under the AWS-managed key", func(t *testing.T, doc map[string]any) {
			one(t, doc, "AWS::SNS::Topic")["KmsMasterKeyId"] = "alias/aws/sns"
		}, "alias/aws/sns, which is not a key of the stack"},
		{"Chatbot not reading the alarm topic", func(t *testing.T, doc map[string]any) {
			one(t, doc, "AWS::Chatbot::SlackChannelConfiguration")["SnsTopicArns"] = []any{"arn:aws:sns:eu-central-1:111122223333:elsewhere"}
		}, "which no chatbot configuration reads"},
		{"the pipe role without StartSyncExecution", func(t *testing.T, doc map[string]any) {
			for _, r := range resourcesOf(doc) {
				if p := props(r.(map[string]any)); r.(map[string]any)["Type"] == "AWS::IAM::Policy" && strings.Contains(mustJSON(p["Roles"]), "PipeRole") {
					withoutStatements(t, p, bySid("StartExecution"), "PolicyDocument", "Statement")
				}
			}
		}, "states:StartSyncExecution"},
		{"the pipe trusted for another account", func(t *testing.T, doc map[string]any) {
			for _, r := range resourcesOf(doc) {
				if st, ok := at(r, "Properties", "AssumeRolePolicyDocument", "Statement", 0).(map[string]any); ok && at(st, "Principal", "Service") == "pipes.amazonaws.com" {
					st["Condition"] = map[string]any{"StringEquals": map[string]any{"aws:SourceAccount": "444455556666"}}
				}
			}
		}, "pipes.amazonaws.com sts:AssumeRole"},
		{"a role trusting one more service", func(t *testing.T, doc map[string]any) {
			for _, r := range resourcesOf(doc) {
				if st, ok := at(r, "Properties", "AssumeRolePolicyDocument", "Statement", 0).(map[string]any); ok && at(st, "Principal", "Service") == "states.amazonaws.com" {
					st["Principal"] = map[string]any{"Service": []any{"states.amazonaws.com", "scheduler.amazonaws.com"}}
				}
			}
		}, "trusts scheduler.amazonaws.com, but no resource of the stack makes scheduler.amazonaws.com act"},
		{"the state machine role without one function", func(t *testing.T, doc map[string]any) {
			for _, r := range resourcesOf(doc) {
				if p := props(r.(map[string]any)); r.(map[string]any)["Type"] == "AWS::IAM::Policy" && strings.Contains(mustJSON(p["Roles"]), "StateMachineRole") {
					for _, st := range statements(p, "PolicyDocument", "Statement") {
						if st.(map[string]any)["Sid"] == "InvokeTasks" {
							st.(map[string]any)["Resource"] = statements(st.(map[string]any), "Resource")[1:]
						}
					}
				}
			}
		}, "lambda:InvokeFunction"},
		{"the state machine role without the dead-letter queue", func(t *testing.T, doc map[string]any) {
			for _, r := range resourcesOf(doc) {
				if p := props(r.(map[string]any)); r.(map[string]any)["Type"] == "AWS::IAM::Policy" && strings.Contains(mustJSON(p["Roles"]), "StateMachineRole") {
					withoutStatements(t, p, bySid("DeadLetter"), "PolicyDocument", "Statement")
				}
			}
		}, "sqs:SendMessage"},
		{"a resource type the walk does not classify", func(t *testing.T, doc map[string]any) {
			resourcesOf(doc)["Receipt"] = map[string]any{"Type": "AWS::SES::ReceiptRule", "Properties": map[string]any{}}
		}, "AWS::SES::ReceiptRule, which the walk does not classify"},
		{"the events queue admitting another rule", func(t *testing.T, doc map[string]any) {
			for _, r := range resourcesOf(doc) {
				if r.(map[string]any)["Type"] != "AWS::SQS::QueuePolicy" {
					continue
				}
				for _, st := range statements(props(r.(map[string]any)), "PolicyDocument", "Statement") {
					if st.(map[string]any)["Sid"] == "SESEventsRuleDelivers" {
						st.(map[string]any)["Condition"] = map[string]any{"ArnEquals": map[string]any{"aws:SourceArn": "arn:aws:events:eu-central-1:111122223333:rule/other"}}
					}
				}
			}
		}, "events.amazonaws.com sqs:SendMessage"},
		{"the events dead-letter queue not admitting the rule", func(t *testing.T, doc map[string]any) {
			for _, r := range resourcesOf(doc) {
				if p := props(r.(map[string]any)); r.(map[string]any)["Type"] == "AWS::SQS::QueuePolicy" && strings.Contains(mustJSON(p), "SESEventsRuleDeadLetters") {
					withoutStatements(t, p, bySid("SESEventsRuleDeadLetters"), "PolicyDocument", "Statement")
				}
			}
		}, "dead-letter: events.amazonaws.com sqs:SendMessage"},
		{"the consumer role without PutEvents on the outcome bus", func(t *testing.T, doc map[string]any) {
			for _, r := range resourcesOf(doc) {
				if p := props(r.(map[string]any)); r.(map[string]any)["Type"] == "AWS::IAM::Policy" && strings.Contains(mustJSON(p["Roles"]), "RecordEventRole") {
					withoutStatements(t, p, bySid("PublishOutcomes"), "PolicyDocument", "Statement")
				}
			}
		}, "OUTCOME_BUS: "},
		{"the consumer role without the events dead-letter queue", func(t *testing.T, doc map[string]any) {
			for _, r := range resourcesOf(doc) {
				if p := props(r.(map[string]any)); r.(map[string]any)["Type"] == "AWS::IAM::Policy" && strings.Contains(mustJSON(p["Roles"]), "RecordEventRole") {
					withoutStatements(t, p, bySid("DeadLetterEvents"), "PolicyDocument", "Statement")
				}
			}
		}, "EVENTS_DLQ_URL: "},
		{"the consumer role without polling the events queue", func(t *testing.T, doc map[string]any) {
			for _, r := range resourcesOf(doc) {
				if p := props(r.(map[string]any)); r.(map[string]any)["Type"] == "AWS::IAM::Policy" && strings.Contains(mustJSON(p["Roles"]), "RecordEventRole") {
					withoutStatements(t, p, bySid("ConsumeEvents"), "PolicyDocument", "Statement")
				}
			}
		}, "sqs:ReceiveMessage"},
		{"the consumer role without writing deliveries", func(t *testing.T, doc map[string]any) {
			for _, r := range resourcesOf(doc) {
				if p := props(r.(map[string]any)); r.(map[string]any)["Type"] == "AWS::IAM::Policy" && strings.Contains(mustJSON(p["Roles"]), "RecordEventRole") {
					withoutStatements(t, p, bySid("RecordDelivery"), "PolicyDocument", "Statement")
				}
			}
		}, "DELIVERY_TABLE: "},
		{"a consumer given a resource the walk does not model", func(t *testing.T, doc map[string]any) {
			for _, r := range resourcesOf(doc) {
				if vars, ok := at(r, "Properties", "Environment", "Variables").(map[string]any); ok {
					if _, ok := vars["OUTCOME_BUS"]; ok {
						vars["ATTACHMENT_BUCKET"] = vars["DELIVERY_TABLE"]
					}
				}
			}
		}, "ATTACHMENT_BUCKET names"},
		{"SES publishing to a bus other than the default", func(t *testing.T, doc map[string]any) {
			one(t, doc, "AWS::SES::ConfigurationSetEventDestination")["EventDestination"].(map[string]any)["EventBridgeDestination"] =
				map[string]any{"EventBusArn": "arn:aws:events:eu-central-1:111122223333:event-bus/other"}
		}, "SES publishes to the default bus"},
		{"the events queue redriving outside the stack", func(t *testing.T, doc map[string]any) {
			for _, r := range resourcesOf(doc) {
				if rp, ok := at(r, "Properties", "RedrivePolicy").(map[string]any); ok && at(r, "Properties", "VisibilityTimeout") == 180.0 {
					rp["deadLetterTargetArn"] = "arn:aws:sqs:eu-central-1:444455556666:elsewhere"
				}
			}
		}, "redrives to arn:aws:sqs:eu-central-1:444455556666:elsewhere"},
		{"SES publishing to SNS", func(t *testing.T, doc map[string]any) {
			one(t, doc, "AWS::SES::ConfigurationSetEventDestination")["EventDestination"].(map[string]any)["SnsDestination"] =
				map[string]any{"TopicARN": "arn:aws:sns:eu-central-1:111122223333:t"}
		}, "SnsDestination is not modeled"},
		{"a role no resource names", func(t *testing.T, doc map[string]any) {
			resourcesOf(doc)["LonelyRole"] = map[string]any{"Type": "AWS::IAM::Role", "Properties": map[string]any{
				"AssumeRolePolicyDocument": map[string]any{"Version": "2012-10-17", "Statement": []any{map[string]any{
					"Effect": "Allow", "Principal": map[string]any{"Service": "scheduler.amazonaws.com"}, "Action": "sts:AssumeRole",
				}}},
			}}
		}, "role LonelyRole is named by no resource"},
		{"an EventBridge rule the topic does not admit", func(t *testing.T, doc map[string]any) {
			resourcesOf(doc)["Rule"] = map[string]any{"Type": "AWS::Events::Rule", "Properties": map[string]any{
				"EventPattern": map[string]any{"source": []any{"aws.ses"}},
				"Targets":      []any{map[string]any{"Id": "alarms", "Arn": topicRef(doc)}},
			}}
		}, "events.amazonaws.com sns:Publish"},
		{"a template without alarms", func(t *testing.T, doc map[string]any) {
			for id, r := range resourcesOf(doc) {
				if r.(map[string]any)["Type"] == "AWS::CloudWatch::Alarm" {
					delete(resourcesOf(doc), id)
				}
			}
		}, "walked 0 alarms"},
		{"a bucket notifying someone", func(t *testing.T, doc map[string]any) {
			one(t, doc, "AWS::S3::Bucket")["NotificationConfiguration"] = map[string]any{}
		}, "sets NotificationConfiguration"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc := normalize(s.doc).(map[string]any) // a deep copy
			c.mutate(t, doc)
			w := walkServiceAccess(newCfnModel(doc, base.stackName, base.account, base.region))
			if !slices.ContainsFunc(w.problems, func(p string) bool { return strings.Contains(p, c.want) }) {
				t.Errorf("no problem mentions %q; problems: %v", c.want, w.problems)
			}
		})
	}

	// An EventBridge rule whose target admits it passes: the walk follows
	// rules, not just refuses them.
	t.Run("an EventBridge rule the topic and its key admit", func(t *testing.T) {
		doc := normalize(s.doc).(map[string]any)
		resourcesOf(doc)["Rule"] = map[string]any{"Type": "AWS::Events::Rule", "Properties": map[string]any{
			"Name":         "mailflow-ses-events",
			"EventPattern": map[string]any{"source": []any{"aws.ses"}},
			"Targets":      []any{map[string]any{"Id": "alarms", "Arn": topicRef(doc)}},
		}}
		tp := one(t, doc, "AWS::SNS::TopicPolicy")
		at(tp, "PolicyDocument").(map[string]any)["Statement"] = append(statements(tp, "PolicyDocument", "Statement"), map[string]any{
			"Effect": "Allow", "Principal": map[string]any{"Service": "events.amazonaws.com"}, "Action": "sns:Publish", "Resource": topicRef(doc),
			"Condition": map[string]any{"ArnEquals": map[string]any{"aws:SourceArn": "arn:aws:events:eu-central-1:111122223333:rule/mailflow-ses-events"}},
		})
		kp := keyWith(t, doc, "CloudWatchAlarmsPublish")
		at(kp, "KeyPolicy").(map[string]any)["Statement"] = append(statements(kp, "KeyPolicy", "Statement"), map[string]any{
			"Effect": "Allow", "Principal": map[string]any{"Service": "events.amazonaws.com"}, "Action": []any{"kms:Decrypt", "kms:GenerateDataKey*"}, "Resource": "*",
		})
		w := walkServiceAccess(newCfnModel(doc, base.stackName, base.account, base.region))
		// The stack's own rule, and this one.
		if len(w.problems) != 0 || w.n.rules != 2 || w.n.ruleTargets != 2 {
			t.Errorf("walked %v; problems: %v", w.n, w.problems)
		}
	})
}
