package infra_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"
)

// This file is a small IAM policy evaluator for the synthesized template:
// enough of the policy language to decide whether an AWS service (or one of
// the stack's roles) may make one request. It evaluates documents whose
// intrinsics are already resolved (see cfnModel). Anything it does not
// model (an operator, a policy variable, an element) is an error, so a
// check can never pass because the evaluator skipped what it did not
// understand.

// principal is who makes a request: an AWS service, or an IAM role of an
// account.
type principal struct {
	service string // "cloudwatch.amazonaws.com"; empty for a role
	arn     string // the role's ARN
	account string // the role's account
}

func (p principal) String() string {
	if p.service != "" {
		return p.service
	}
	return p.arn
}

// accessRequest is one request: who, what, on which resource, and the
// condition keys the request carries (names as AWS spells them; matched
// case-insensitively, as IAM does).
type accessRequest struct {
	principal principal
	action    string
	resource  string
	context   map[string]string
}

func (r accessRequest) String() string {
	keys := sortedKeys(r.context)
	var ctx []string
	for _, k := range keys {
		ctx = append(ctx, k+"="+r.context[k])
	}
	return fmt.Sprintf("%s %s on %s {%s}", r.principal, r.action, r.resource, strings.Join(ctx, ", "))
}

// with returns a copy of the request with one condition key changed.
func (r accessRequest) with(key, value string) accessRequest {
	ctx := map[string]string{}
	for k, v := range r.context {
		ctx[k] = v
	}
	ctx[key] = value
	r.context = ctx
	return r
}

type decision int

const (
	implicitDeny decision = iota
	allowed
	explicitDeny
)

func (d decision) String() string {
	return [...]string{"implicit deny", "allow", "explicit deny"}[d]
}

type policyKind int

const (
	// identityPolicy is attached to a role: no Principal, a Resource.
	identityPolicy policyKind = iota
	// resourcePolicy is attached to a resource (topic, queue, key, a
	// role's trust): a Principal; no Resource means the resource itself.
	resourcePolicy
)

type policy struct {
	name       string
	kind       policyKind
	statements []policyStatement
}

type policyStatement struct {
	sid        string
	deny       bool
	actions    []string
	resources  []string // nil: the resource the policy is attached to
	principals *principalSet
	conditions []condition
}

type principalSet struct {
	anyone   bool
	services []string
	aws      []string // ARNs or account ids
}

type condition struct {
	operator, key string
	values        []string
}

// supportedOperators are the condition operators the evaluator knows.
var supportedOperators = []string{"StringEquals", "StringLike", "ArnEquals", "ArnLike", "Bool"}

// parsePolicy reads a resolved policy document.
func parsePolicy(name string, kind policyKind, doc any) (*policy, error) {
	m, ok := doc.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("policy %s: not an object: %s", name, mustJSON(doc))
	}
	for k := range m {
		if k != "Version" && k != "Statement" && k != "Id" {
			return nil, fmt.Errorf("policy %s: element %q is not modeled", name, k)
		}
	}
	// Without 2012-10-17, ${...} is literal text and other rules apply.
	if m["Version"] != "2012-10-17" {
		return nil, fmt.Errorf("policy %s: Version %v, want 2012-10-17", name, m["Version"])
	}
	var raw []any
	switch s := m["Statement"].(type) {
	case []any:
		raw = s
	case map[string]any:
		raw = []any{s}
	default:
		return nil, fmt.Errorf("policy %s: Statement is %s", name, mustJSON(m["Statement"]))
	}
	p := &policy{name: name, kind: kind}
	for i, r := range raw {
		st, err := parseStatement(kind, r)
		if err != nil {
			return nil, fmt.Errorf("policy %s statement %d: %w", name, i, err)
		}
		p.statements = append(p.statements, st)
	}
	return p, nil
}

func parseStatement(kind policyKind, raw any) (policyStatement, error) {
	m, ok := raw.(map[string]any)
	if !ok {
		return policyStatement{}, fmt.Errorf("not an object: %s", mustJSON(raw))
	}
	var st policyStatement
	for k := range m {
		switch k {
		case "Sid", "Effect", "Action", "Resource", "Principal", "Condition":
		default:
			return st, fmt.Errorf("element %q is not modeled", k)
		}
	}
	st.sid, _ = m["Sid"].(string)
	switch m["Effect"] {
	case "Allow":
	case "Deny":
		st.deny = true
	default:
		return st, fmt.Errorf("Effect %v", m["Effect"])
	}
	var err error
	if st.actions, err = stringList(m["Action"]); err != nil || len(st.actions) == 0 {
		return st, fmt.Errorf("Action %s: %v", mustJSON(m["Action"]), err)
	}
	if r, ok := m["Resource"]; ok {
		if st.resources, err = stringList(r); err != nil || len(st.resources) == 0 {
			return st, fmt.Errorf("Resource %s: %v", mustJSON(r), err)
		}
	} else if kind == identityPolicy {
		return st, fmt.Errorf("identity policy statement without Resource")
	}
	p, hasPrincipal := m["Principal"]
	switch {
	case kind == identityPolicy && hasPrincipal:
		return st, fmt.Errorf("identity policy statement with a Principal")
	case kind == resourcePolicy && !hasPrincipal:
		return st, fmt.Errorf("resource policy statement without a Principal")
	case hasPrincipal:
		if st.principals, err = parsePrincipal(p); err != nil {
			return st, err
		}
	}
	if c, ok := m["Condition"]; ok {
		if st.conditions, err = parseConditions(c); err != nil {
			return st, err
		}
	}
	for _, v := range append(append(slices.Clone(st.actions), st.resources...), conditionValues(st.conditions)...) {
		if strings.Contains(v, "${") {
			return st, fmt.Errorf("policy variable in %q is not modeled", v)
		}
	}
	return st, nil
}

func conditionValues(cs []condition) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.values...)
	}
	return out
}

func parsePrincipal(v any) (*principalSet, error) {
	if v == "*" {
		return &principalSet{anyone: true}, nil
	}
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("Principal %s", mustJSON(v))
	}
	ps := &principalSet{}
	for k, raw := range m {
		vals, err := stringList(raw)
		if err != nil {
			return nil, fmt.Errorf("Principal %s: %w", k, err)
		}
		switch k {
		case "Service":
			ps.services = append(ps.services, vals...)
		case "AWS":
			for _, a := range vals {
				if a == "*" {
					ps.anyone = true
				} else {
					ps.aws = append(ps.aws, a)
				}
			}
		default:
			return nil, fmt.Errorf("Principal type %q is not modeled", k)
		}
	}
	return ps, nil
}

func parseConditions(v any) ([]condition, error) {
	m, ok := v.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("Condition %s", mustJSON(v))
	}
	var out []condition
	for _, op := range sortedKeys(m) {
		if !slices.Contains(supportedOperators, op) {
			return nil, fmt.Errorf("condition operator %q is not modeled (the evaluator knows %v)", op, supportedOperators)
		}
		keys, ok := m[op].(map[string]any)
		if !ok || len(keys) == 0 {
			return nil, fmt.Errorf("condition %s: %s", op, mustJSON(m[op]))
		}
		for _, k := range sortedKeys(keys) {
			vals, err := stringList(keys[k])
			if err != nil || len(vals) == 0 {
				return nil, fmt.Errorf("condition %s %s: %s %v", op, k, mustJSON(keys[k]), err)
			}
			out = append(out, condition{operator: op, key: k, values: vals})
		}
	}
	return out, nil
}

// stringList reads a policy value that is a string or a list of them;
// booleans and numbers (as in "Bool": {"aws:SecureTransport": false}) are
// taken as their text, as IAM does.
func stringList(v any) ([]string, error) {
	one := func(x any) (string, error) {
		switch x := x.(type) {
		case string:
			return x, nil
		case bool, float64:
			return fmt.Sprint(x), nil
		}
		return "", fmt.Errorf("%s is not a string", mustJSON(x))
	}
	if list, ok := v.([]any); ok {
		var out []string
		for _, x := range list {
			s, err := one(x)
			if err != nil {
				return nil, err
			}
			out = append(out, s)
		}
		return out, nil
	}
	s, err := one(v)
	if err != nil {
		return nil, err
	}
	return []string{s}, nil
}

// match is how a statement's Principal admits the requester: not at all,
// by naming it (or "*"), or by naming its account, which in a key policy
// delegates to the account's IAM policies.
type match int

const (
	noMatch match = iota
	directMatch
	accountMatch
)

func (ps *principalSet) admits(p principal) match {
	if ps.anyone {
		return directMatch
	}
	if p.service != "" {
		if slices.Contains(ps.services, p.service) {
			return directMatch
		}
		return noMatch
	}
	got := noMatch
	for _, a := range ps.aws {
		switch {
		case a == p.arn:
			return directMatch
		case a == p.account, strings.HasSuffix(a, ":iam::"+p.account+":root"):
			got = accountMatch
		}
	}
	return got
}

// evaluator counts the statements it examined, so a walk can show it
// looked at something.
type evaluator struct {
	statements int
}

// verdict is the result of one policy for one request.
type verdict struct {
	decision decision
	// byAccount: the only Allow names the requester's account, not the
	// requester (a key policy's delegation to IAM).
	byAccount bool
	sids      []string // the statements that decided
}

// evaluate applies one policy to a request: an explicit Deny wins, then
// any Allow, otherwise the request is implicitly denied.
func (e *evaluator) evaluate(p *policy, req accessRequest) (verdict, error) {
	var v verdict
	direct := false
	for i, st := range p.statements {
		e.statements++
		m := directMatch
		if st.principals != nil {
			if m = st.principals.admits(req.principal); m == noMatch {
				continue
			}
		}
		if !slices.ContainsFunc(st.actions, func(a string) bool { return wildcardMatch(strings.ToLower(a), strings.ToLower(req.action)) }) {
			continue
		}
		if st.resources != nil && !slices.ContainsFunc(st.resources, func(r string) bool { return wildcardMatch(r, req.resource) }) {
			continue
		}
		holds, err := conditionsHold(st.conditions, req.context)
		if err != nil {
			return verdict{}, fmt.Errorf("policy %s statement %d (%s): %w", p.name, i, st.sid, err)
		}
		if !holds {
			continue
		}
		id := st.sid
		if id == "" {
			id = fmt.Sprintf("#%d", i)
		}
		if st.deny {
			return verdict{decision: explicitDeny, sids: []string{id}}, nil
		}
		v.decision = allowed
		v.sids = append(v.sids, id)
		direct = direct || m == directMatch
	}
	v.byAccount = v.decision == allowed && !direct
	return v, nil
}

// conditionsHold: every operator and every key must hold; a key holds
// when the request's value matches any of the listed values. A key the
// request does not carry makes its condition false (no ...IfExists).
func conditionsHold(cs []condition, ctx map[string]string) (bool, error) {
	lower := map[string]string{}
	for k, v := range ctx {
		lower[strings.ToLower(k)] = v
	}
	for _, c := range cs {
		var eq func(pattern, value string) bool
		switch c.operator {
		case "StringEquals":
			eq = func(p, v string) bool { return p == v }
		case "StringLike":
			eq = wildcardMatch
		case "ArnEquals", "ArnLike":
			// IAM treats both alike: component by component, with wildcards.
			eq = arnLike
		case "Bool":
			eq = strings.EqualFold
		default:
			return false, fmt.Errorf("condition operator %q is not modeled", c.operator)
		}
		v, ok := lower[strings.ToLower(c.key)]
		if !ok || !slices.ContainsFunc(c.values, func(p string) bool { return eq(p, v) }) {
			return false, nil
		}
	}
	return true, nil
}

// arnLike matches each of the six colon-separated components of an ARN
// separately (the last one keeps its colons), as ArnLike does.
func arnLike(pattern, arn string) bool {
	p, a := strings.SplitN(pattern, ":", 6), strings.SplitN(arn, ":", 6)
	if len(p) != 6 || len(a) != 6 {
		return false
	}
	for i := range p {
		if !wildcardMatch(p[i], a[i]) {
			return false
		}
	}
	return true
}

// wildcardMatch matches s against a pattern where * is any run of
// characters and ? any one character.
func wildcardMatch(pattern, s string) bool {
	// Iterative matching with backtracking to the last *.
	pi, si, star, mark := 0, 0, -1, 0
	for si < len(s) {
		switch {
		case pi < len(pattern) && (pattern[pi] == '?' || pattern[pi] == s[si]):
			pi++
			si++
		case pi < len(pattern) && pattern[pi] == '*':
			star, mark = pi, si
			pi++
		case star >= 0:
			pi = star + 1
			mark++
			si = mark
		default:
			return false
		}
	}
	for pi < len(pattern) && pattern[pi] == '*' {
		pi++
	}
	return pi == len(pattern)
}

func TestWildcardMatch(t *testing.T) {
	for _, c := range []struct {
		pattern, s string
		want       bool
	}{
		{"*", "", true}, {"*", "anything", true}, {"", "", true}, {"", "a", false},
		{"kms:GenerateDataKey*", "kms:GenerateDataKey", true},
		{"kms:GenerateDataKey*", "kms:GenerateDataKeyWithoutPlaintext", true},
		{"kms:GenerateDataKey*", "kms:Decrypt", false},
		{"sqs:*", "sqs:SendMessage", true}, {"sqs:*", "sns:Publish", false},
		{"a?c", "abc", true}, {"a?c", "ac", false}, {"a*b*c", "axxbyyc", true}, {"a*b*c", "axxbyy", false},
		{"mailflow-Mail-*", "mailflow-Mail-DeadLetter", true}, {"mailflow-Mail-*", "mailflow-Other-X", false},
	} {
		if got := wildcardMatch(c.pattern, c.s); got != c.want {
			t.Errorf("wildcardMatch(%q, %q) = %v, want %v", c.pattern, c.s, got, c.want)
		}
	}
}

// The evaluator decides like IAM on the cases the walk relies on, and
// refuses what it does not model.
func TestPolicyEvaluator(t *testing.T) {
	const topic = "arn:aws:sns:eu-west-1:111122223333:alarms"
	alarm := "arn:aws:cloudwatch:eu-west-1:111122223333:alarm:mailflow-Mail-DeadLetter"
	cw := principal{service: "cloudwatch.amazonaws.com"}
	role := principal{arn: "arn:aws:iam::111122223333:role/pipe", account: "111122223333"}
	publish := accessRequest{principal: cw, action: "SNS:Publish", resource: topic, context: map[string]string{
		"aws:SecureTransport": "true", "aws:SourceAccount": "111122223333", "aws:SourceArn": alarm,
	}}
	tlsDeny := map[string]any{
		"Sid": "TLS", "Effect": "Deny", "Principal": "*", "Action": "sns:Publish", "Resource": topic,
		"Condition": map[string]any{"Bool": map[string]any{"aws:SecureTransport": "false"}},
	}
	cwAllow := func(cond map[string]any) map[string]any {
		st := map[string]any{"Sid": "CW", "Effect": "Allow", "Principal": map[string]any{"Service": "cloudwatch.amazonaws.com"}, "Action": "sns:Publish", "Resource": topic}
		if cond != nil {
			st["Condition"] = cond
		}
		return st
	}
	scoped := map[string]any{
		"StringEquals": map[string]any{"aws:SourceAccount": "111122223333"},
		"ArnLike":      map[string]any{"aws:SourceArn": "arn:aws:cloudwatch:eu-west-1:111122223333:alarm:mailflow-Mail-*"},
	}
	doc := func(kind policyKind, sts ...any) *policy {
		t.Helper()
		p, err := parsePolicy("test", kind, map[string]any{"Version": "2012-10-17", "Statement": sts})
		if err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name string
		p    *policy
		req  accessRequest
		want decision
		acct bool
	}{
		{"only the TLS deny: nothing allows", doc(resourcePolicy, tlsDeny), publish, implicitDeny, false},
		{"allowed over TLS", doc(resourcePolicy, tlsDeny, cwAllow(scoped)), publish, allowed, false},
		{"explicit deny wins over plain HTTP", doc(resourcePolicy, tlsDeny, cwAllow(scoped)), publish.with("aws:SecureTransport", "false"), explicitDeny, false},
		{"another account's alarm", doc(resourcePolicy, cwAllow(scoped)), publish.with("aws:SourceAccount", "444455556666"), implicitDeny, false},
		{"an alarm outside the prefix", doc(resourcePolicy, cwAllow(scoped)),
			publish.with("aws:SourceArn", "arn:aws:cloudwatch:eu-west-1:111122223333:alarm:other-X"), implicitDeny, false},
		{"an alarm in another region", doc(resourcePolicy, cwAllow(scoped)),
			publish.with("aws:SourceArn", "arn:aws:cloudwatch:us-east-1:111122223333:alarm:mailflow-Mail-X"), implicitDeny, false},
		{"a request without the key", doc(resourcePolicy, cwAllow(scoped)),
			accessRequest{principal: cw, action: "sns:Publish", resource: topic, context: map[string]string{"aws:SecureTransport": "true"}}, implicitDeny, false},
		{"condition key names are case-insensitive", doc(resourcePolicy, cwAllow(map[string]any{"StringEquals": map[string]any{"AWS:sourceaccount": "111122223333"}})), publish, allowed, false},
		{"another service", doc(resourcePolicy, cwAllow(nil)), accessRequest{principal: principal{service: "events.amazonaws.com"}, action: "sns:Publish", resource: topic}, implicitDeny, false},
		{"another resource", doc(resourcePolicy, cwAllow(nil)), accessRequest{principal: cw, action: "sns:Publish", resource: topic + "-2"}, implicitDeny, false},
		{"another action", doc(resourcePolicy, cwAllow(nil)), accessRequest{principal: cw, action: "sns:Subscribe", resource: topic}, implicitDeny, false},
		{"a condition value list is any-of", doc(resourcePolicy, cwAllow(map[string]any{"StringEquals": map[string]any{"aws:SourceAccount": []any{"444455556666", "111122223333"}}})), publish, allowed, false},
		{"ArnEquals as ArnLike", doc(resourcePolicy, cwAllow(map[string]any{"ArnEquals": map[string]any{"aws:SourceArn": alarm}})), publish, allowed, false},
		{"StringLike", doc(resourcePolicy, cwAllow(map[string]any{"StringLike": map[string]any{"aws:SourceArn": "*:alarm:mailflow-*"}})), publish, allowed, false},
		{"key policy delegating to the account", doc(resourcePolicy, map[string]any{
			"Effect": "Allow", "Principal": map[string]any{"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*",
		}), accessRequest{principal: role, action: "kms:Decrypt", resource: "arn:aws:kms:eu-west-1:111122223333:key/k"}, allowed, true},
		{"account delegation does not admit a service", doc(resourcePolicy, map[string]any{
			"Effect": "Allow", "Principal": map[string]any{"AWS": "arn:aws:iam::111122223333:root"}, "Action": "kms:*", "Resource": "*",
		}), accessRequest{principal: cw, action: "kms:Decrypt", resource: "arn:aws:kms:eu-west-1:111122223333:key/k"}, implicitDeny, false},
		{"identity policy", doc(identityPolicy, map[string]any{"Effect": "Allow", "Action": []any{"sqs:ReceiveMessage"}, "Resource": "arn:aws:sqs:eu-west-1:111122223333:q"}),
			accessRequest{principal: role, action: "sqs:receivemessage", resource: "arn:aws:sqs:eu-west-1:111122223333:q"}, allowed, false},
		{"trust policy without Resource", doc(resourcePolicy, map[string]any{"Effect": "Allow", "Principal": map[string]any{"Service": "pipes.amazonaws.com"}, "Action": "sts:AssumeRole"}),
			accessRequest{principal: principal{service: "pipes.amazonaws.com"}, action: "sts:AssumeRole", resource: "arn:aws:iam::111122223333:role/pipe"}, allowed, false},
	}
	for _, c := range cases {
		var e evaluator
		v, err := e.evaluate(c.p, c.req)
		if err != nil {
			t.Errorf("%s: %v", c.name, err)
			continue
		}
		if v.decision != c.want || v.byAccount != c.acct {
			t.Errorf("%s: %v (by account %v), want %v (by account %v)", c.name, v.decision, v.byAccount, c.want, c.acct)
		}
		if e.statements == 0 {
			t.Errorf("%s: no statement examined", c.name)
		}
	}

	t.Run("refuses what it does not model", func(t *testing.T) {
		base := func() map[string]any { return cwAllow(nil) }
		bad := map[string]func(map[string]any){
			"unknown operator": func(st map[string]any) {
				st["Condition"] = map[string]any{"NumericLessThan": map[string]any{"s3:TlsVersion": 1.2}}
			},
			"IfExists": func(st map[string]any) {
				st["Condition"] = map[string]any{"StringEqualsIfExists": map[string]any{"aws:SourceAccount": "1"}}
			},
			"set operator": func(st map[string]any) {
				st["Condition"] = map[string]any{"ForAnyValue:StringLike": map[string]any{"aws:TagKeys": "x"}}
			},
			"NotAction":    func(st map[string]any) { delete(st, "Action"); st["NotAction"] = "sns:Subscribe" },
			"NotPrincipal": func(st map[string]any) { delete(st, "Principal"); st["NotPrincipal"] = map[string]any{"AWS": "x"} },
			"Federated principal": func(st map[string]any) {
				st["Principal"] = map[string]any{"Federated": "cognito-identity.amazonaws.com"}
			},
			"policy variable":      func(st map[string]any) { st["Resource"] = "arn:aws:sns:eu-west-1:${aws:PrincipalAccount}:alarms" },
			"effect":               func(st map[string]any) { st["Effect"] = "allow" },
			"unresolved intrinsic": func(st map[string]any) { st["Resource"] = map[string]any{"Ref": "Topic"} },
			"no principal":         func(st map[string]any) { delete(st, "Principal") },
		}
		for name, mutate := range bad {
			st := base()
			mutate(st)
			if _, err := parsePolicy("test", resourcePolicy, map[string]any{"Version": "2012-10-17", "Statement": []any{st}}); err == nil {
				t.Errorf("%s: parsed without an error", name)
			}
		}
		if _, err := parsePolicy("test", resourcePolicy, map[string]any{"Statement": []any{base()}}); err == nil {
			t.Error("policy without Version parsed")
		}
		if _, err := parsePolicy("test", identityPolicy, map[string]any{"Version": "2012-10-17", "Statement": []any{base()}}); err == nil {
			t.Error("identity policy with a Principal parsed")
		}
		// A condition built past the parser still fails evaluation.
		var e evaluator
		p := &policy{name: "built", kind: resourcePolicy, statements: []policyStatement{{
			actions: []string{"*"}, principals: &principalSet{anyone: true},
			conditions: []condition{{operator: "NumericLessThan", key: "s3:TlsVersion", values: []string{"1.2"}}},
		}}}
		if _, err := e.evaluate(p, publish); err == nil {
			t.Error("evaluate accepted an operator it does not model")
		}
	})
}
