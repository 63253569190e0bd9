package infra_test

import (
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/jsii-runtime-go"

	"github.com/mailflow/mailflow/infra"
	"github.com/mailflow/mailflow/infra/config"
)

// SES authorizes a send against the most specific verified identity of the
// From address, so the send role names every allowed address, its domain,
// the configured (parent) identities and, for a sandbox account, the
// recipient identities.
func TestSendIdentities(t *testing.T) {
	t.Parallel()
	cfg, err := config.Parse([]byte(mainConfig))
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"billing@example.com", "example.com", "alerts@example.org", "example.org"}
	if got := infra.SendIdentities(cfg); !slices.Equal(got, want) {
		t.Errorf("SendIdentities = %v, want %v", got, want)
	}
	cfg.SES.SandboxRecipients = []string{"QA@Example.net", "example.com"}
	want = append(want, "qa@example.net")
	if got := infra.SendIdentities(cfg); !slices.Equal(got, want) {
		t.Errorf("with sandbox recipients: SendIdentities = %v, want %v", got, want)
	}
}

func TestSendRoleNamesEveryIdentity(t *testing.T) {
	for _, c := range []struct {
		name, cfg string
		want      []string
	}{
		{"main", mainConfig, []string{"identity/billing@example.com", "identity/example.com", "identity/alerts@example.org",
			"identity/example.org", "configuration-set/transactional"}},
		// A sandbox account: the verified recipient too.
		{"variant", variantConfig, []string{"identity/example.net", "identity/qa@example.org"}},
	} {
		s := synth(t, c.name, c.cfg)
		id := s.ids(t)
		var resources []string
		for _, sts := range s.policiesOf(id.fnRole[infra.TaskSend]) {
			for _, st := range sts {
				if slices.Contains(st.Actions, "ses:SendEmail") {
					resources = append(resources, st.Resources...)
				}
			}
		}
		for _, want := range c.want {
			if !slices.Contains(resources, sesARN(s, want)) {
				t.Errorf("%s: send role's SES resources %v lack %s", c.name, resources, want)
			}
		}
	}
}

// Concurrency is bounded: each state-machine task reserves twice the send
// rate (14/s here: 28), record-event its event source's maximum (5); the
// variant, without a rate, sizes for SES's starting 14/s.
func TestReservedConcurrency(t *testing.T) {
	for _, c := range []struct {
		name, cfg string
		want      float64
	}{{"main", mainConfig, 28}, {"variant", variantConfig, 28}} {
		s := synth(t, c.name, c.cfg)
		id := s.ids(t)
		fns := s.resources("AWS::Lambda::Function")
		for _, name := range infra.Functions() {
			want := c.want
			if name == infra.TaskRecordEvent {
				want = 5
			}
			equalJSON(t, c.name+" "+name+" ReservedConcurrentExecutions", props(fns[id.fn[name]])["ReservedConcurrentExecutions"], want)
		}
	}
}

// Every log group is encrypted with the pipeline's key and keeps logs for
// the configured retention; the key admits only CloudWatch Logs of the
// stack's region, for log groups of the stack's account and region.
func TestLogGroupsEncrypted(t *testing.T) {
	for _, c := range []struct{ name, cfg string }{{"main", mainConfig}, {"variant", variantConfig}} {
		s := synth(t, c.name, c.cfg)
		key := logicalID(t, s.resolve(s.pipeline.LogKey().KeyArn()))
		groups := s.resources("AWS::Logs::LogGroup")
		if len(groups) == 0 {
			t.Fatalf("%s: no log groups", c.name)
		}
		for gid, g := range groups {
			equalJSON(t, c.name+" "+gid+" KmsKeyId", props(g)["KmsKeyId"], getAtt(key, "Arn"))
			equalJSON(t, c.name+" "+gid+" RetentionInDays", props(g)["RetentionInDays"], float64(s.cfg.Logs.RetentionDays))
		}
		policy := props(s.resources("AWS::KMS::Key")[key])["KeyPolicy"]
		var found bool
		for _, st := range at(policy, "Statement").([]any) {
			if at(st, "Sid") != "CloudWatchLogsEncrypt" {
				continue
			}
			found = true
			equalJSON(t, "principal", at(st, "Principal", "Service"), map[string]any{"Fn::Sub": "logs.${AWS::Region}.amazonaws.com"})
			arn := flatten(at(st, "Condition", "ArnLike", "kms:EncryptionContext:aws:logs:arn"))
			region, account := "<AWS::Region>", "<AWS::AccountId>"
			if s.cfg.Region != "" {
				region, account = s.cfg.Region, s.cfg.Account
			}
			if want := partition(s) + ":logs:" + region + ":" + account + ":log-group:*"; arn != want {
				t.Errorf("%s: encryption context condition %s, want %s", c.name, arn, want)
			}
		}
		if !found {
			t.Errorf("%s: the log key admits no CloudWatch Logs: %s", c.name, mustJSON(policy))
		}
	}
}

// At level ALL the execution log carries recipients: its log group masks
// e-mail addresses.
func TestStateMachineLogMasksAddresses(t *testing.T) {
	s := synth(t, "main", mainConfig)
	var masked int
	for gid, g := range s.resources("AWS::Logs::LogGroup") {
		dp := props(g)["DataProtectionPolicy"]
		if dp == nil {
			continue
		}
		masked++
		if !strings.HasPrefix(flatten(props(g)["LogGroupName"]), "/aws/vendedlogs/states/") {
			t.Errorf("%s: a data protection policy on a log group other than the state machine's", gid)
		}
		text := mustJSON(dp)
		for _, want := range []string{":dataprotection::aws:data-identifier/EmailAddress", `"Deidentify":{"MaskConfig"`, `"Audit"`} {
			if !strings.Contains(text, want) {
				t.Errorf("data protection policy lacks %s: %s", want, text)
			}
		}
	}
	if masked != 1 {
		t.Errorf("%d log groups with a data protection policy, want the state machine's", masked)
	}
}

// Chatbot configuration names are unique per account across regions, so
// the region is part of the name.
func TestChatbotNameHasRegion(t *testing.T) {
	s := synth(t, "main", mainConfig)
	_, slack := s.one(t, "AWS::Chatbot::SlackChannelConfiguration")
	if name := flatten(props(slack)["ConfigurationName"]); name != "<AWS::StackName>-<AWS::Region>-alarms" {
		t.Errorf("ConfigurationName = %s", name)
	}
}

// An environment-agnostic stack carries a Rules assertion on the region;
// a pinned one is checked at synthesis, naming what is missing.
func TestRegionChecked(t *testing.T) {
	s := synth(t, "main", mainConfig)
	rules, _ := s.doc["Rules"].(map[string]any)
	var region []any
	for id, r := range rules {
		if id != "CheckBootstrapVersion" {
			region = append(region, r)
		}
	}
	if len(region) != 1 {
		t.Fatalf("Rules = %s, want one region assertion", mustJSON(rules))
	}
	for _, r := range region {
		text := mustJSON(r)
		if !strings.Contains(text, `"Fn::Contains"`) || !strings.Contains(text, `"eu-west-1"`) || strings.Contains(text, `"il-central-1"`) {
			t.Errorf("region rule (with Chatbot) = %s", text)
		}
	}
	v := synth(t, "variant", variantConfig)
	if rules, _ := v.doc["Rules"].(map[string]any); len(rules) != 1 || rules["CheckBootstrapVersion"] == nil {
		t.Errorf("a stack pinned to %s has Rules beyond the bootstrap check: %s", v.cfg.Region, mustJSON(rules))
	}

	for _, c := range []struct{ region, chatbot, want string }{
		{"eu-south-2", "", "EventBridge Pipes"},
		{"il-central-1", `, "chatbot": {"slackWorkspaceId": "T0123ABCD", "slackChannelId": "C0123ABCD"}`, "has no AWS Chatbot"},
	} {
		cfg, err := config.Parse([]byte(`{"region": "` + c.region + `", "ses": {"identities": ["example.com"], "allowedFrom": ["example.com"]}` + c.chatbot + `}`))
		if err != nil {
			t.Fatal(err)
		}
		app := awscdk.NewApp(&awscdk.AppProps{Outdir: jsii.String(t.TempDir())})
		_, _, err = infra.NewMailflowStack(app, &infra.MailflowStackProps{Config: cfg, Code: testCode(t)})
		if err == nil || !strings.Contains(err.Error(), c.region) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("region %s: error %v, want one naming the region and %q", c.region, err, c.want)
		}
	}
}

// Producers get one managed policy: send to the queue and put objects
// under the attachment prefix, nothing else; its ARN is a stack output.
func TestProducerPolicy(t *testing.T) {
	s := synth(t, "variant", variantConfig)
	id := s.ids(t)
	pid := logicalID(t, s.resolve(s.pipeline.ProducerPolicy().ManagedPolicyArn()))
	policy := props(s.resources("AWS::IAM::ManagedPolicy")[pid])
	var got []statement
	for _, st := range at(policy, "PolicyDocument", "Statement").([]any) {
		got = append(got, toStatement(st))
	}
	want := []statement{
		stmt([]string{"sqs:SendMessage"}, []string{"<" + id.queue + ".Arn>"}, nil),
		stmt([]string{"s3:PutObject"}, []string{"<" + id.bucket + ".Arn>/mail/in/*"}, nil),
	}
	sortStatements(got)
	sortStatements(want)
	equalJSON(t, "producer policy", got, want)
	if roles := policy["Roles"]; roles != nil {
		t.Errorf("the producer policy is attached to %v; producers attach it themselves", roles)
	}
	out, _ := s.doc["Outputs"].(map[string]any)
	equalJSON(t, "ProducerPolicyArn output", at(out, "ProducerPolicyArn", "Value"), ref(pid))
}

// The functions, the state machine and the pipe depend on their role's
// policy only: the role itself is referenced already (cfn-lint W3005).
func TestNoRedundantDependsOn(t *testing.T) {
	s := synth(t, "main", mainConfig)
	for _, typ := range []string{"AWS::Lambda::Function", "AWS::StepFunctions::StateMachine", "AWS::Pipes::Pipe"} {
		for rid, r := range s.resources(typ) {
			deps, _ := r["DependsOn"].([]any)
			if len(deps) != 1 {
				t.Errorf("%s DependsOn %v, want its role's policy alone", rid, deps)
				continue
			}
			if got := s.resources("AWS::IAM::Policy")[deps[0].(string)]; got == nil {
				t.Errorf("%s depends on %v, not a policy", rid, deps[0])
			}
		}
	}
}
