package infra_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-cdk-go/awscdk/v2"
	"github.com/aws/aws-cdk-go/awscdk/v2/awscloudwatch"
	"github.com/aws/aws-cdk-go/awscdk/v2/awsevents"
	"github.com/aws/aws-cdk-go/awscdk/v2/awslambda"
	"github.com/aws/constructs-go/constructs/v10"
	"github.com/aws/jsii-runtime-go"

	"github.com/mailflow/mailflow/infra"
	"github.com/mailflow/mailflow/infra/config"
)

// TestPropsRejected: invalid props are reported together and nothing is
// added to the scope.
func TestPropsRejected(t *testing.T) {
	good, err := config.Parse([]byte(mainConfig))
	if err != nil {
		t.Fatal(err)
	}
	bad := *good
	bad.Queue.VisibilityTimeoutSeconds = 100
	bad.SES.AllowedFrom = nil
	code := testCode(t)
	// Without ses.configurationSet the pipeline creates one named after
	// the stack: 60 characters and "-Mail" exceed SES's 64.
	noSet := *good
	noSet.SES.ConfigurationSet = ""
	longStack := "team-" + strings.Repeat("x", 55)
	partial := map[string]awslambda.Code{infra.TaskSend: code[infra.TaskSend], "mailer": code[infra.TaskSend]}

	cases := []struct {
		name  string
		props *infra.MailPipelineProps
		want  []string
	}{
		{"nil props", nil, []string{"props are required"}},
		{"no config", &infra.MailPipelineProps{Code: code}, []string{"Config is required"}},
		{"invalid config and code", &infra.MailPipelineProps{Config: &bad, Code: partial}, []string{
			"queue.visibilityTimeoutSeconds", "ses.allowedFrom",
			`Code["acquire-lock"] is missing`, `Code["fetch-attachments"] is missing`, `Code["release-lock"] is missing`,
			`Code["mailer"] is not a task`,
		}},
		{"no code", &infra.MailPipelineProps{Config: good}, []string{`Code["send"] is missing`}},
		{"a configuration set name SES refuses", &infra.MailPipelineProps{Config: &noSet, Code: code}, []string{
			`"` + longStack + `-Mail"`, "ses.configurationSet",
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			stack := awscdk.NewStack(awscdk.NewApp(nil), jsii.String("Test"), &awscdk.StackProps{StackName: jsii.String(longStack)})
			p, err := infra.NewMailPipeline(stack, "Mail", tc.props)
			if err == nil || p != nil {
				t.Fatalf("accepted: %v", err)
			}
			for _, w := range tc.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error does not mention %q:\n%v", w, err)
				}
			}
			if n := len(*stack.Node().Children()); n != 0 {
				t.Errorf("%d constructs were added before validation failed", n)
			}
		})
	}

	stack, pipeline, err := infra.NewMailflowStack(awscdk.NewApp(nil), &infra.MailflowStackProps{Config: &bad, Code: code})
	if err == nil || stack != nil || pipeline != nil || !strings.Contains(err.Error(), "ses.allowedFrom") {
		t.Errorf("stack with an invalid config: %v", err)
	}
	// The stack checks its props in one pass: every problem at once.
	_, _, err = infra.NewMailflowStack(awscdk.NewApp(nil), &infra.MailflowStackProps{Config: &bad, Code: partial})
	for _, w := range []string{"queue.visibilityTimeoutSeconds", "ses.allowedFrom", `Code["acquire-lock"] is missing`} {
		if err == nil || !strings.Contains(err.Error(), w) {
			t.Errorf("stack with an invalid config and code: %v does not mention %q", err, w)
		}
	}
	if _, _, err := infra.NewMailflowStack(awscdk.NewApp(nil), nil); err == nil {
		t.Error("stack without props accepted")
	}
}

func TestZipCode(t *testing.T) {
	dir := t.TempDir()
	for _, task := range []string{infra.TaskAcquireLock, infra.TaskSend} {
		if err := os.WriteFile(filepath.Join(dir, task+".zip"), []byte("PK"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// A directory where a zip should be does not count.
	if err := os.Mkdir(filepath.Join(dir, infra.TaskReleaseLock+".zip"), 0o755); err != nil {
		t.Fatal(err)
	}
	_, err := infra.ZipCode(dir)
	if err == nil {
		t.Fatal("missing zips accepted")
	}
	for _, want := range []string{
		filepath.Join(dir, "reserve-sends.zip"), filepath.Join(dir, "fetch-attachments.zip"), filepath.Join(dir, "release-lock.zip"), filepath.Join(dir, "record-event.zip"), "make lambdas",
	} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error does not mention %q: %v", want, err)
		}
	}
	if strings.Contains(err.Error(), "send.zip") {
		t.Errorf("error names a zip that exists: %v", err)
	}

	if err := os.Remove(filepath.Join(dir, infra.TaskReleaseLock+".zip")); err != nil {
		t.Fatal(err)
	}
	for _, task := range []string{infra.TaskReserveSends, infra.TaskFetchAttachments, infra.TaskReleaseLock, infra.TaskRecordEvent} {
		if err := os.WriteFile(filepath.Join(dir, task+".zip"), []byte("PK"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	code, err := infra.ZipCode(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(code) != 6 {
		t.Errorf("%d code entries", len(code))
	}
	for _, task := range infra.Tasks() {
		if code[task] == nil {
			t.Errorf("no code for %s", task)
		}
	}
}

func TestPlaceholderOf(t *testing.T) {
	seen := map[string]bool{}
	for _, task := range infra.Tasks() {
		p := infra.PlaceholderOf(task)
		if task == infra.TaskRecordEvent {
			// The state machine does not run it.
			if p != "" {
				t.Errorf("PlaceholderOf(%q) = %q, want none", task, p)
			}
			continue
		}
		if p == "" || seen[p] {
			t.Errorf("PlaceholderOf(%q) = %q", task, p)
		}
		seen[p] = true
	}
	if infra.PlaceholderOf("mailer") != "" {
		t.Error("PlaceholderOf an unknown task is not empty")
	}
}

// Two pipelines in one stack get distinct alarm name prefixes, from the
// stack's name and each construct's path, and their alarms are named
// under them.
func TestAlarmNamePrefix(t *testing.T) {
	cfg, err := config.Parse([]byte(mainConfig))
	if err != nil {
		t.Fatal(err)
	}
	code := testCode(t)
	stack := awscdk.NewStack(awscdk.NewApp(nil), jsii.String("Team"), &awscdk.StackProps{StackName: jsii.String("team-mail")})
	first, err := infra.NewMailPipeline(stack, "Mail", &infra.MailPipelineProps{Config: cfg, Code: code})
	if err != nil {
		t.Fatal(err)
	}
	second, err := infra.NewMailPipeline(constructs.NewConstruct(stack, jsii.String("Billing")), "Mail", &infra.MailPipelineProps{Config: cfg, Code: code})
	if err != nil {
		t.Fatal(err)
	}
	for p, want := range map[infra.MailPipeline]string{first: "team-mail-Mail-", second: "team-mail-Billing-Mail-"} {
		if got := p.AlarmNamePrefix(); got != want {
			t.Errorf("AlarmNamePrefix() = %q, want %q", got, want)
		}
		// The outcome bus is named the same way: two pipelines, two buses.
		bus, ok := p.OutcomeBus().Node().DefaultChild().(awsevents.CfnEventBus)
		if !ok || *bus.Name() != want+"outcomes" {
			t.Errorf("outcome bus of %s is not named %q", want, want+"outcomes")
		}
		if len(p.Alarms()) == 0 {
			t.Fatal("no alarms")
		}
		for _, a := range p.Alarms() {
			cfn, ok := a.Node().DefaultChild().(awscloudwatch.CfnAlarm)
			if !ok {
				t.Fatalf("alarm %s has no CfnAlarm", *a.Node().Path())
			}
			name, _ := stack.Resolve(cfn.AlarmName()).(string)
			if !strings.HasPrefix(name, want) || name == want {
				t.Errorf("alarm %q is not named under %q", name, want)
			}
		}
	}
}
