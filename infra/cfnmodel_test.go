package infra_test

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"regexp"
	"strings"
)

// cfnModel is the synthesized template as if deployed: every resource gets
// a physical name (its name property, or one made like CloudFormation's),
// and Ref, Fn::GetAtt, Fn::Join, Fn::Sub, Fn::Select and Fn::Split resolve
// to the names and ARNs AWS would give, in the modeled account, region and
// partition. An intrinsic, pseudo parameter, resource type or attribute it
// does not know is an error, not a guess.
type cfnModel struct {
	resources                             map[string]map[string]any
	partition, region, account, stackName string
}

func newCfnModel(doc map[string]any, stackName, account, region string) *cfnModel {
	m := &cfnModel{resources: map[string]map[string]any{}, partition: "aws", region: region, account: account, stackName: stackName}
	for id, r := range doc["Resources"].(map[string]any) {
		m.resources[id] = r.(map[string]any)
	}
	return m
}

func (m *cfnModel) typeOf(id string) string {
	t, _ := m.resources[id]["Type"].(string)
	return t
}

func (m *cfnModel) props(id string) map[string]any {
	return props(m.resources[id])
}

// ofType returns the logical ids of one type, sorted.
func (m *cfnModel) ofType(typ string) []string {
	var out []string
	for _, id := range sortedKeys(m.resources) {
		if m.typeOf(id) == typ {
			out = append(out, id)
		}
	}
	return out
}

// nameProperty is the property that names a resource of each type that
// has one; typeARN builds the ARN from the name.
var nameProperty = map[string]string{
	"AWS::SQS::Queue":                         "QueueName",
	"AWS::S3::Bucket":                         "BucketName",
	"AWS::DynamoDB::Table":                    "TableName",
	"AWS::Logs::LogGroup":                     "LogGroupName",
	"AWS::IAM::Role":                          "RoleName",
	"AWS::Lambda::Function":                   "FunctionName",
	"AWS::StepFunctions::StateMachine":        "StateMachineName",
	"AWS::Pipes::Pipe":                        "Name",
	"AWS::SNS::Topic":                         "TopicName",
	"AWS::CloudWatch::Alarm":                  "AlarmName",
	"AWS::Chatbot::SlackChannelConfiguration": "ConfigurationName",
	"AWS::Events::Rule":                       "Name",
	"AWS::Events::EventBus":                   "Name",
	"AWS::SES::ConfigurationSet":              "Name",
	"AWS::KMS::Key":                           "", // a key has an id, never a name
}

// name is the physical name of a resource: its name property resolved, or
// <stack>-<logical id>-<suffix>, the shape of the names CloudFormation
// generates.
func (m *cfnModel) name(id string) (string, error) {
	typ := m.typeOf(id)
	prop, ok := nameProperty[typ]
	if !ok {
		return "", fmt.Errorf("resource %s: type %q has no modeled name", id, typ)
	}
	if prop != "" {
		if v, ok := m.props(id)[prop]; ok {
			return m.str(v)
		}
	}
	sum := sha256.Sum256([]byte(id))
	if typ == "AWS::KMS::Key" {
		h := hex.EncodeToString(sum[:])
		return h[:8] + "-" + h[8:12] + "-" + h[12:16] + "-" + h[16:20] + "-" + h[20:32], nil
	}
	return m.stackName + "-" + id + "-" + strings.ToUpper(hex.EncodeToString(sum[:6])), nil
}

// attribute is Ref (attr "") or Fn::GetAtt of a resource.
func (m *cfnModel) attribute(id, attr string) (string, error) {
	if _, ok := m.resources[id]; !ok {
		return "", fmt.Errorf("reference to %s, which is not a resource of the template", id)
	}
	typ := m.typeOf(id)
	name, err := m.name(id)
	if err != nil {
		return "", err
	}
	p, r, a := m.partition, m.region, m.account
	arn := map[string]string{
		"AWS::SQS::Queue":                         fmt.Sprintf("arn:%s:sqs:%s:%s:%s", p, r, a, name),
		"AWS::S3::Bucket":                         fmt.Sprintf("arn:%s:s3:::%s", p, name),
		"AWS::DynamoDB::Table":                    fmt.Sprintf("arn:%s:dynamodb:%s:%s:table/%s", p, r, a, name),
		"AWS::Logs::LogGroup":                     fmt.Sprintf("arn:%s:logs:%s:%s:log-group:%s:*", p, r, a, name),
		"AWS::IAM::Role":                          fmt.Sprintf("arn:%s:iam::%s:role/%s", p, a, name),
		"AWS::Lambda::Function":                   fmt.Sprintf("arn:%s:lambda:%s:%s:function:%s", p, r, a, name),
		"AWS::StepFunctions::StateMachine":        fmt.Sprintf("arn:%s:states:%s:%s:stateMachine:%s", p, r, a, name),
		"AWS::Pipes::Pipe":                        fmt.Sprintf("arn:%s:pipes:%s:%s:pipe/%s", p, r, a, name),
		"AWS::SNS::Topic":                         fmt.Sprintf("arn:%s:sns:%s:%s:%s", p, r, a, name),
		"AWS::CloudWatch::Alarm":                  fmt.Sprintf("arn:%s:cloudwatch:%s:%s:alarm:%s", p, r, a, name),
		"AWS::Chatbot::SlackChannelConfiguration": fmt.Sprintf("arn:%s:chatbot::%s:chat-configuration/slack-channel/%s", p, a, name),
		"AWS::Events::Rule":                       fmt.Sprintf("arn:%s:events:%s:%s:rule/%s", p, r, a, name),
		"AWS::Events::EventBus":                   fmt.Sprintf("arn:%s:events:%s:%s:event-bus/%s", p, r, a, name),
		"AWS::SES::ConfigurationSet":              fmt.Sprintf("arn:%s:ses:%s:%s:configuration-set/%s", p, r, a, name),
		"AWS::KMS::Key":                           fmt.Sprintf("arn:%s:kms:%s:%s:key/%s", p, r, a, name),
	}[typ]
	// Ref and each attribute, as CloudFormation documents them per type.
	values := map[string]map[string]string{
		"AWS::SQS::Queue": {"": fmt.Sprintf("https://sqs.%s.amazonaws.com/%s/%s", r, a, name), "Arn": arn, "QueueName": name,
			"QueueUrl": fmt.Sprintf("https://sqs.%s.amazonaws.com/%s/%s", r, a, name)},
		"AWS::S3::Bucket":                         {"": name, "Arn": arn},
		"AWS::DynamoDB::Table":                    {"": name, "Arn": arn},
		"AWS::Logs::LogGroup":                     {"": name, "Arn": arn},
		"AWS::IAM::Role":                          {"": name, "Arn": arn},
		"AWS::Lambda::Function":                   {"": name, "Arn": arn},
		"AWS::StepFunctions::StateMachine":        {"": arn, "Arn": arn, "Name": name},
		"AWS::Pipes::Pipe":                        {"": name, "Arn": arn},
		"AWS::SNS::Topic":                         {"": arn, "TopicArn": arn, "TopicName": name},
		"AWS::CloudWatch::Alarm":                  {"": name, "Arn": arn},
		"AWS::Chatbot::SlackChannelConfiguration": {"": arn, "Arn": arn},
		"AWS::Events::Rule":                       {"": name, "Arn": arn},
		"AWS::Events::EventBus":                   {"": name, "Arn": arn, "Name": name},
		"AWS::SES::ConfigurationSet":              {"": name},
		"AWS::KMS::Key":                           {"": name, "Arn": arn, "KeyId": name},
	}[typ]
	v, ok := values[attr]
	if !ok {
		what := "Ref"
		if attr != "" {
			what = "Fn::GetAtt " + attr
		}
		return "", fmt.Errorf("%s of %s (%s) is not modeled", what, id, typ)
	}
	return v, nil
}

// arn is a resource's ARN.
func (m *cfnModel) arn(id string) (string, error) {
	attr := "Arn"
	switch m.typeOf(id) {
	case "AWS::SNS::Topic":
		attr = "TopicArn"
	}
	return m.attribute(id, attr)
}

func (m *cfnModel) pseudo(name string) (string, error) {
	switch name {
	case "AWS::Partition":
		return m.partition, nil
	case "AWS::Region":
		return m.region, nil
	case "AWS::AccountId":
		return m.account, nil
	case "AWS::StackName":
		return m.stackName, nil
	case "AWS::StackId":
		return fmt.Sprintf("arn:%s:cloudformation:%s:%s:stack/%s/0a1b2c3d-4e5f-6a7b-8c9d-0e1f2a3b4c5d", m.partition, m.region, m.account, m.stackName), nil
	case "AWS::URLSuffix":
		return "amazonaws.com", nil
	}
	return "", fmt.Errorf("pseudo parameter %s is not modeled", name)
}

// str resolves a value that must be a string.
func (m *cfnModel) str(v any) (string, error) {
	r, err := m.resolve(v)
	if err != nil {
		return "", err
	}
	s, ok := r.(string)
	if !ok {
		return "", fmt.Errorf("%s resolves to %s, not a string", mustJSON(v), mustJSON(r))
	}
	return s, nil
}

// resolve replaces every intrinsic in v by its modeled value.
func (m *cfnModel) resolve(v any) (any, error) {
	switch x := v.(type) {
	case []any:
		out := make([]any, len(x))
		for i, e := range x {
			r, err := m.resolve(e)
			if err != nil {
				return nil, err
			}
			out[i] = r
		}
		return out, nil
	case map[string]any:
		if len(x) == 1 {
			for k, arg := range x {
				if k == "Ref" || strings.HasPrefix(k, "Fn::") {
					return m.intrinsic(k, arg)
				}
			}
		}
		out := map[string]any{}
		for k, e := range x {
			r, err := m.resolve(e)
			if err != nil {
				return nil, err
			}
			out[k] = r
		}
		return out, nil
	}
	return v, nil
}

func (m *cfnModel) intrinsic(fn string, arg any) (any, error) {
	bad := func() (any, error) { return nil, fmt.Errorf("malformed %s: %s", fn, mustJSON(arg)) }
	switch fn {
	case "Ref":
		name, ok := arg.(string)
		if !ok {
			return bad()
		}
		if strings.HasPrefix(name, "AWS::") {
			return m.pseudo(name)
		}
		return m.attribute(name, "")
	case "Fn::GetAtt":
		var id, attr string
		switch a := arg.(type) {
		case []any:
			if len(a) != 2 {
				return bad()
			}
			id, _ = a[0].(string)
			attr, _ = a[1].(string)
		case string:
			id, attr, _ = strings.Cut(a, ".")
		}
		if id == "" || attr == "" {
			return bad()
		}
		return m.attribute(id, attr)
	case "Fn::Join":
		a, ok := arg.([]any)
		if !ok || len(a) != 2 {
			return bad()
		}
		sep, ok := a[0].(string)
		if !ok {
			return bad()
		}
		list, err := m.resolve(a[1])
		if err != nil {
			return nil, err
		}
		items, ok := list.([]any)
		if !ok {
			return bad()
		}
		parts := make([]string, len(items))
		for i, it := range items {
			if parts[i], ok = it.(string); !ok {
				return bad()
			}
		}
		return strings.Join(parts, sep), nil
	case "Fn::Select":
		a, ok := arg.([]any)
		if !ok || len(a) != 2 {
			return bad()
		}
		idx, ok := a[0].(float64)
		if s, isStr := a[0].(string); isStr {
			_, err := fmt.Sscan(s, &idx)
			ok = err == nil
		}
		if !ok {
			return bad()
		}
		list, err := m.resolve(a[1])
		if err != nil {
			return nil, err
		}
		items, ok := list.([]any)
		if !ok || int(idx) < 0 || int(idx) >= len(items) {
			return bad()
		}
		return items[int(idx)], nil
	case "Fn::Split":
		a, ok := arg.([]any)
		if !ok || len(a) != 2 {
			return bad()
		}
		sep, ok := a[0].(string)
		if !ok {
			return bad()
		}
		s, err := m.str(a[1])
		if err != nil {
			return nil, err
		}
		var out []any
		for _, p := range strings.Split(s, sep) {
			out = append(out, p)
		}
		return out, nil
	case "Fn::Sub":
		text, vars := "", map[string]any{}
		switch a := arg.(type) {
		case string:
			text = a
		case []any:
			if len(a) != 2 {
				return bad()
			}
			text, _ = a[0].(string)
			vars, _ = a[1].(map[string]any)
		}
		return m.sub(text, vars)
	}
	return nil, fmt.Errorf("intrinsic %s is not modeled", fn)
}

var subVar = regexp.MustCompile(`\$\{([^}]*)\}`)

func (m *cfnModel) sub(text string, vars map[string]any) (string, error) {
	var firstErr error
	out := subVar.ReplaceAllStringFunc(text, func(s string) string {
		name := s[2 : len(s)-1]
		if strings.HasPrefix(name, "!") {
			return "${" + name[1:] + "}"
		}
		var v string
		var err error
		switch {
		case vars[name] != nil:
			v, err = m.str(vars[name])
		case strings.HasPrefix(name, "AWS::"):
			v, err = m.pseudo(name)
		case strings.Contains(name, "."):
			id, attr, _ := strings.Cut(name, ".")
			v, err = m.attribute(id, attr)
		default:
			v, err = m.attribute(name, "")
		}
		if err != nil && firstErr == nil {
			firstErr = err
		}
		return v
	})
	return out, firstErr
}

// find returns the resource of a type that a value (an ARN, a URL, a name:
// whatever Ref or an attribute gives) designates.
func (m *cfnModel) find(typ, value string, attrs ...string) (string, bool) {
	for _, id := range m.ofType(typ) {
		for _, attr := range append([]string{""}, attrs...) {
			if v, err := m.attribute(id, attr); err == nil && v == value {
				return id, true
			}
		}
	}
	return "", false
}
