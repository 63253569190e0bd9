package config_test

import (
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"

	"github.com/mailflow/mailflow/infra/config"
)

const examplePath = "../mailflow.example.json"

// minimal is the smallest valid configuration: everything else defaults.
const minimal = `{"ses": {"identities": ["example.com"], "allowedFrom": ["billing@example.com"]}}`

func TestExampleLoads(t *testing.T) {
	t.Parallel()
	cfg, err := config.Load(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.SES.ConfigurationSet != "transactional" || cfg.Queue.MaxReceiveCount != 5 {
		t.Errorf("unexpected example values: %+v", cfg)
	}
}

func TestDefaults(t *testing.T) {
	t.Parallel()
	cfg, err := config.Parse([]byte(minimal))
	if err != nil {
		t.Fatal(err)
	}
	want := config.Default()
	want.SES.Identities = []string{"example.com"}
	want.SES.AllowedFrom = []string{"billing@example.com"}
	if !reflect.DeepEqual(*cfg, want) {
		t.Errorf("got %+v\nwant %+v", *cfg, want)
	}
	if cfg.Queue.MaxReceiveCount != 5 || cfg.Workflow.LogLevel != "ERROR" || !cfg.Workflow.IncludeExecutionData || !cfg.RetainOnDelete ||
		cfg.Logs.LambdaLevel != "INFO" || cfg.Logs.LambdaSystemLevel != "WARN" || cfg.Tracing.SampleRate != 0.05 || cfg.Tracing.ReservoirPerSecond != 0 {
		t.Errorf("documented defaults changed: %+v", cfg)
	}
	// The defaults satisfy the invariants by themselves.
	if !(cfg.Queue.VisibilityTimeoutSeconds > cfg.Lock.LeaseSeconds && cfg.Lock.LeaseSeconds > config.ExpressMaxSeconds) {
		t.Errorf("default visibility %d, lease %d", cfg.Queue.VisibilityTimeoutSeconds, cfg.Lock.LeaseSeconds)
	}
}

func TestExplicitZeroAndFalseAreKept(t *testing.T) {
	t.Parallel()
	cfg, err := config.Parse([]byte(`{"ses": {"identities": ["example.com"], "allowedFrom": ["example.com"]},
		"workflow": {"includeExecutionData": false, "throttleRetry": {"maxAttempts": 0}}, "retainOnDelete": false,
		"pipe": {"batchWindowSeconds": 0}}`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Workflow.IncludeExecutionData || cfg.RetainOnDelete || cfg.Workflow.ThrottleRetry.MaxAttempts != 0 || cfg.Pipe.BatchWindowSeconds != 0 {
		t.Errorf("explicit values replaced by defaults: %+v", cfg)
	}
	if cfg.Workflow.ThrottleRetry.MaxDelaySeconds != 8 {
		t.Errorf("sibling default lost: %+v", cfg.Workflow.ThrottleRetry)
	}
}

func TestChatbotOptional(t *testing.T) {
	t.Parallel()
	cfg, err := config.Parse([]byte(`{"ses": {"identities": ["example.com"], "allowedFrom": ["example.com"]},
		"chatbot": {"slackWorkspaceId": "T0123ABCD", "slackChannelId": "C0123ABCD"}}`))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Chatbot == nil || cfg.Chatbot.SlackChannelID != "C0123ABCD" {
		t.Errorf("chatbot = %+v", cfg.Chatbot)
	}
}

// TestRejected is the table of bad configurations: each must be rejected
// with the named field among the problems.
func TestRejected(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name  string
		patch map[string]any // dotted path -> value; nil value deletes
		raw   string         // used instead of patch when set
		field string
		msg   string // substring of that field's message
	}{
		{name: "not JSON", raw: `{"ses": `, field: "(document)", msg: "not valid JSON"},
		{name: "trailing data", raw: minimal + ` {}`, field: "(document)", msg: "after the JSON object"},
		{name: "not an object", raw: `[]`, field: "(document)", msg: "must be an object"},
		{name: "unknown top-level field", patch: map[string]any{"stackname": "x"}, field: "stackname", msg: "unknown field"},
		{name: "unknown nested field", patch: map[string]any{"queue.visibilityTimeout": 900}, field: "queue.visibilityTimeout", msg: "unknown field"},
		{name: "null", patch: map[string]any{"queue.maxReceiveCount": json.RawMessage("null")}, field: "queue.maxReceiveCount", msg: "null is not allowed"},
		{name: "string for int", patch: map[string]any{"pipe.batchSize": "10"}, field: "pipe.batchSize", msg: "whole number"},
		{name: "fraction for int", patch: map[string]any{"pipe.batchSize": 2.5}, field: "pipe.batchSize", msg: "whole number"},
		{name: "string for bool", patch: map[string]any{"retainOnDelete": "yes"}, field: "retainOnDelete", msg: "true or false"},
		{name: "object for array", patch: map[string]any{"ses.identities": map[string]any{}}, field: "ses.identities", msg: "must be an array"},
		{name: "number in array", patch: map[string]any{"ses.allowedFrom": []any{"billing@example.com", 7}}, field: "ses.allowedFrom[1]", msg: "must be a string"},
		{name: "bad stack name", patch: map[string]any{"stackName": "1mail_flow"}, field: "stackName"},
		{name: "bad account", patch: map[string]any{"account": "12345"}, field: "account", msg: "12-digit"},
		{name: "bad region", patch: map[string]any{"region": "Europe"}, field: "region"},
		{name: "no identities", patch: map[string]any{"ses.identities": []any{}}, field: "ses.identities", msg: "at least one"},
		{name: "identities missing", patch: map[string]any{"ses.identities": nil}, field: "ses.identities"},
		{name: "bad identity", patch: map[string]any{"ses.identities": []any{"example.com", "not an identity"}}, field: "ses.identities[1]"},
		{name: "duplicate identity", patch: map[string]any{"ses.identities": []any{"example.com", "Example.com"}}, field: "ses.identities[1]", msg: "twice"},
		{name: "no allowed From", patch: map[string]any{"ses.allowedFrom": []any{}}, field: "ses.allowedFrom"},
		{name: "display name in allowed From", patch: map[string]any{"ses.allowedFrom": []any{"Billing <billing@example.com>"}}, field: "ses.allowedFrom[0]"},
		{name: "allowed From without identity", patch: map[string]any{"ses.allowedFrom": []any{"billing@example.com", "ops@example.net"}}, field: "ses.allowedFrom[1]", msg: "not covered"},
		{name: "allowed domain under address identity", patch: map[string]any{"ses.identities": []any{"billing@example.com"}, "ses.allowedFrom": []any{"example.com"}}, field: "ses.allowedFrom[0]", msg: "not covered"},
		{name: "default From not allowed", patch: map[string]any{"ses.defaultFrom": "ops@example.com"}, field: "ses.defaultFrom", msg: "not in ses.allowedFrom"},
		{name: "default From not an address", patch: map[string]any{"ses.defaultFrom": "billing"}, field: "ses.defaultFrom"},
		{name: "bad configuration set", patch: map[string]any{"ses.configurationSet": "has space"}, field: "ses.configurationSet"},
		{name: "negative send rate", patch: map[string]any{"ses.maxSendRate": -1}, field: "ses.maxSendRate"},
		{name: "visibility not above lease", patch: map[string]any{"queue.visibilityTimeoutSeconds": 600}, field: "queue.visibilityTimeoutSeconds", msg: "greater than lock.leaseSeconds"},
		{name: "lease within an execution", patch: map[string]any{"lock.leaseSeconds": 300}, field: "lock.leaseSeconds", msg: "greater than 300"},
		{name: "visibility over SQS maximum", patch: map[string]any{"queue.visibilityTimeoutSeconds": 50000}, field: "queue.visibilityTimeoutSeconds", msg: "outside"},
		{name: "maxReceiveCount below guidance", patch: map[string]any{"queue.maxReceiveCount": 3}, field: "queue.maxReceiveCount"},
		{name: "maxReceiveCount zero", patch: map[string]any{"queue.maxReceiveCount": 0}, field: "queue.maxReceiveCount"},
		{name: "message size over SQS maximum", patch: map[string]any{"queue.maxMessageSizeBytes": 2 << 20}, field: "queue.maxMessageSizeBytes"},
		{name: "queue retention over 14 days", patch: map[string]any{"queue.retentionDays": 15}, field: "queue.retentionDays"},
		{name: "batch over the pipe payload", patch: map[string]any{"pipe.batchSize": 20, "queue.maxMessageSizeBytes": 16384}, field: "pipe.batchSize", msg: "payload"},
		{name: "one huge message over the payload", patch: map[string]any{"pipe.batchSize": 1, "queue.maxMessageSizeBytes": 262144}, field: "queue.maxMessageSizeBytes", msg: "execution input"},
		{name: "one message that fits only before encoding", patch: map[string]any{"pipe.batchSize": 1, "queue.maxMessageSizeBytes": 200000}, field: "queue.maxMessageSizeBytes", msg: "at most 129535 bytes"},
		{name: "batch size zero", patch: map[string]any{"pipe.batchSize": 0}, field: "pipe.batchSize"},
		{name: "batch window over 300", patch: map[string]any{"pipe.batchWindowSeconds": 301}, field: "pipe.batchWindowSeconds"},
		{name: "large batch without window", patch: map[string]any{"pipe.batchSize": 50, "queue.maxMessageSizeBytes": 2048, "pipe.batchWindowSeconds": 0}, field: "pipe.batchWindowSeconds", msg: "at least 1"},
		{name: "bad pipe log level", patch: map[string]any{"pipe.logLevel": "DEBUG"}, field: "pipe.logLevel"},
		{name: "map concurrency zero", patch: map[string]any{"workflow.mapConcurrency": 0}, field: "workflow.mapConcurrency"},
		{name: "map concurrency too high", patch: map[string]any{"workflow.mapConcurrency": 1001}, field: "workflow.mapConcurrency"},
		{name: "bad pacing", patch: map[string]any{"ses.pacing": "sometimes"}, field: "ses.pacing"},
		{name: "bad workflow log level", patch: map[string]any{"workflow.logLevel": "all"}, field: "workflow.logLevel"},
		{name: "retry budget too long", patch: map[string]any{"workflow.throttleRetry.maxAttempts": 20, "workflow.throttleRetry.maxDelaySeconds": 30}, field: "workflow.throttleRetry", msg: "over 120"},
		{name: "retry delay zero", patch: map[string]any{"workflow.throttleRetry.maxDelaySeconds": 0}, field: "workflow.throttleRetry.maxDelaySeconds"},
		{name: "negative retry attempts", patch: map[string]any{"workflow.throttleRetry.maxAttempts": -1}, field: "workflow.throttleRetry.maxAttempts"},
		{name: "lock retention shorter than the queues", patch: map[string]any{"lock.retentionDays": 7}, field: "lock.retentionDays"},
		{name: "prefix without slash", patch: map[string]any{"storage.attachmentPrefix": "attachments"}, field: "storage.attachmentPrefix"},
		{name: "prefix with dot-dot", patch: map[string]any{"storage.stagingPrefix": "a/../"}, field: "storage.stagingPrefix"},
		{name: "empty prefix", patch: map[string]any{"storage.attachmentPrefix": ""}, field: "storage.attachmentPrefix"},
		{name: "overlapping prefixes", patch: map[string]any{"storage.attachmentPrefix": "mail/", "storage.stagingPrefix": "mail/staging/"}, field: "storage.stagingPrefix", msg: "overlap"},
		{name: "attachment retention zero", patch: map[string]any{"storage.attachmentRetentionDays": 0}, field: "storage.attachmentRetentionDays"},
		{name: "staging retention zero", patch: map[string]any{"storage.stagingRetentionDays": 0}, field: "storage.stagingRetentionDays"},
		{name: "log retention not a CloudWatch value", patch: map[string]any{"logs.retentionDays": 10}, field: "logs.retentionDays"},
		{name: "bad lambda log level", patch: map[string]any{"logs.lambdaLevel": "VERBOSE"}, field: "logs.lambdaLevel"},
		{name: "bad lambda system log level", patch: map[string]any{"logs.lambdaSystemLevel": "ERROR"}, field: "logs.lambdaSystemLevel"},
		{name: "sample rate above one", patch: map[string]any{"tracing.sampleRate": 1.5}, field: "tracing.sampleRate"},
		{name: "negative sample rate", patch: map[string]any{"tracing.sampleRate": -0.1}, field: "tracing.sampleRate"},
		{name: "negative reservoir", patch: map[string]any{"tracing.reservoirPerSecond": -1}, field: "tracing.reservoirPerSecond"},
		{name: "alarm period not a minute multiple", patch: map[string]any{"alarms.periodSeconds": 90}, field: "alarms.periodSeconds"},
		{name: "alarm dead letters zero", patch: map[string]any{"alarms.deadLetterMessages": 0}, field: "alarms.deadLetterMessages"},
		{name: "alarm message age too small", patch: map[string]any{"alarms.oldestMessageAgeSeconds": 10}, field: "alarms.oldestMessageAgeSeconds"},
		{name: "alarm failures zero", patch: map[string]any{"alarms.executionsFailed": 0}, field: "alarms.executionsFailed"},
		{name: "alarm timeouts zero", patch: map[string]any{"alarms.executionsTimedOut": 0}, field: "alarms.executionsTimedOut"},
		{name: "alarm task errors zero", patch: map[string]any{"alarms.taskErrors": 0}, field: "alarms.taskErrors"},
		{name: "alarm task throttles zero", patch: map[string]any{"alarms.taskThrottles": 0}, field: "alarms.taskThrottles"},
		{name: "bounce rate as percent", patch: map[string]any{"alarms.bounceRate": 5}, field: "alarms.bounceRate"},
		{name: "complaint rate zero", patch: map[string]any{"alarms.complaintRate": 0}, field: "alarms.complaintRate"},
		{name: "chatbot without ids", patch: map[string]any{"chatbot": map[string]any{}}, field: "chatbot.slackWorkspaceId"},
		{name: "chatbot bad channel", patch: map[string]any{"chatbot": map[string]any{"slackWorkspaceId": "T0123ABCD", "slackChannelId": "#alerts"}}, field: "chatbot.slackChannelId"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc := []byte(tc.raw)
			if tc.raw == "" {
				doc = patched(t, tc.patch)
			}
			_, err := config.Parse(doc)
			var cerr *config.Error
			if !errors.As(err, &cerr) {
				t.Fatalf("accepted or wrong error type: %v\n%s", err, doc)
			}
			for _, p := range cerr.Problems {
				if p.Field == tc.field && strings.Contains(p.Message, tc.msg) {
					if !strings.Contains(err.Error(), tc.field+": ") {
						t.Errorf("error text does not name the field: %v", err)
					}
					return
				}
			}
			t.Errorf("no problem for %s containing %q; got:\n%v", tc.field, tc.msg, err)
		})
	}
}

func TestEveryProblemAtOnce(t *testing.T) {
	t.Parallel()
	doc := patched(t, map[string]any{
		"stackName":                      "",
		"queue.maxReceiveCount":          1,
		"pipe.logLevel":                  "LOUD",
		"alarms.bounceRate":              2,
		"storage.stagingRetentionDays":   0,
		"workflow.throttleRetry.unknown": 1,
		"lock.retentionDays":             "14",
	})
	_, err := config.Parse(doc)
	var cerr *config.Error
	if !errors.As(err, &cerr) {
		t.Fatalf("got %v", err)
	}
	// Shape problems come first and stop before the semantic rules, since
	// a wrongly typed document has no meaning to check.
	if got, want := cerr.Fields(), []string{"lock.retentionDays", "workflow.throttleRetry.unknown"}; !slices.Equal(got, want) {
		t.Errorf("shape problems = %v, want %v", got, want)
	}

	doc = patched(t, map[string]any{
		"stackName":                    "",
		"queue.maxReceiveCount":        1,
		"pipe.logLevel":                "LOUD",
		"alarms.bounceRate":            2,
		"storage.stagingRetentionDays": 0,
		"lock.leaseSeconds":            100,
	})
	_, err = config.Parse(doc)
	if !errors.As(err, &cerr) {
		t.Fatalf("got %v", err)
	}
	want := []string{"stackName", "queue.maxReceiveCount", "pipe.logLevel", "lock.leaseSeconds", "storage.stagingRetentionDays", "alarms.bounceRate"}
	if got := cerr.Fields(); !slices.Equal(got, want) {
		t.Errorf("fields = %v, want %v", got, want)
	}
	if !strings.Contains(err.Error(), "6 problems") {
		t.Errorf("message does not count the problems: %v", err)
	}
}

func TestLoadNamesTheFile(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "bad.json")
	if err := os.WriteFile(path, []byte(`{"ses": {}}`), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err := config.Load(path)
	if err == nil || !strings.Contains(err.Error(), path) || !strings.Contains(err.Error(), "ses.identities") {
		t.Errorf("got %v", err)
	}
	if _, err := config.Load(filepath.Join(t.TempDir(), "missing.json")); err == nil || !strings.Contains(err.Error(), "missing.json") {
		t.Errorf("missing file: %v", err)
	}
}

// patched returns the example configuration with the dotted paths set
// (nil deletes the field).
func patched(t *testing.T, patch map[string]any) []byte {
	t.Helper()
	b, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatal(err)
	}
	var doc map[string]any
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	for path, v := range patch {
		keys := strings.Split(path, ".")
		m := doc
		for _, k := range keys[:len(keys)-1] {
			next, ok := m[k].(map[string]any)
			if !ok {
				next = map[string]any{}
				m[k] = next
			}
			m = next
		}
		last := keys[len(keys)-1]
		if v == nil {
			delete(m, last)
		} else {
			m[last] = v
		}
	}
	out, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// TestTimingProblemsNameBothValues: the visibility timeout, the lease and
// the longest execution are each checked against the next, and the
// message gives both values and where the longest execution comes from.
func TestTimingProblemsNameBothValues(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		patch map[string]any
		field string
		want  string
	}{
		{map[string]any{"queue.visibilityTimeoutSeconds": 120}, "queue.visibilityTimeoutSeconds",
			"120 must be greater than lock.leaseSeconds (600), so a message is redelivered only after its lease has expired"},
		{map[string]any{"queue.visibilityTimeoutSeconds": 600}, "queue.visibilityTimeoutSeconds", "600 must be greater than lock.leaseSeconds (600)"},
		{map[string]any{"lock.leaseSeconds": 200}, "lock.leaseSeconds",
			"200 must be greater than 290, the longest execution (the state machine's TimeoutSeconds)"},
		{map[string]any{"lock.leaseSeconds": 295}, "lock.leaseSeconds", "295 must be greater than 300, the Express execution limit"},
	} {
		_, err := config.Parse(patched(t, tc.patch))
		var cerr *config.Error
		if !errors.As(err, &cerr) {
			t.Fatalf("%v accepted: %v", tc.patch, err)
		}
		found := false
		for _, p := range cerr.Problems {
			found = found || (p.Field == tc.field && strings.Contains(p.Message, tc.want))
		}
		if !found {
			t.Errorf("%v: no %s problem saying %q in\n%v", tc.patch, tc.field, tc.want, err)
		}
	}
	if _, err := config.Parse(patched(t, map[string]any{"lock.leaseSeconds": 301, "queue.visibilityTimeoutSeconds": 302})); err != nil {
		t.Errorf("visibility 302 > lease 301 > 300: %v", err)
	}
}
