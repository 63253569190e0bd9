package taskkit_test

import (
	"strings"
	"testing"

	"github.com/mailflow/mailflow/internal/taskkit"
	"github.com/mailflow/mailflow/store"
	"github.com/mailflow/mailflow/workflow"
)

func TestContentHash(t *testing.T) {
	t.Parallel()
	l := workflow.Limits{AttachmentPrefix: "a/", AllowedSenders: []string{"example.com"}}
	a, err := workflow.Parse([]byte(`{"version":1,"mailId":"m","from":"x@example.com","to":["y@example.org"],"subject":"s","text":"t","headers":{"X-B":"2","X-A":"1"}}`), l)
	if err != nil {
		t.Fatal(err)
	}
	b, err := workflow.Parse([]byte(`{ "headers":{"X-A":"1","X-B":"2"}, "text":"t","subject":"s","to":["y@example.org"],"from":"x@example.com","mailId":"m","version":1 }`), l)
	if err != nil {
		t.Fatal(err)
	}
	if taskkit.ContentHash(&a) != taskkit.ContentHash(&b) {
		t.Fatal("the same mail encoded differently hashes differently")
	}
	b.Subject = "other"
	if taskkit.ContentHash(&a) == taskkit.ContentHash(&b) {
		t.Fatal("different content hashes the same")
	}
	if h := taskkit.ContentHash(&a); !strings.HasPrefix(h, "sha256:") || len(h) != 7+64 {
		t.Fatalf("hash %q", h)
	}
}

func TestStagedKey(t *testing.T) {
	t.Parallel()
	k1 := taskkit.StagedKey("staging/", "../../etc/passwd", "arn:aws:states:us-east-1:1:express:m:e/msg")
	k2 := taskkit.StagedKey("staging/", "../../etc/passwd", "arn:aws:states:us-east-1:1:express:m:e2/msg")
	if !store.HasPrefix(k1, "staging/") || k1 == k2 || strings.Count(k1, "/") != 2 {
		t.Fatalf("staged keys %q %q", k1, k2)
	}
	if k1 != taskkit.StagedKey("staging/", "../../etc/passwd", "arn:aws:states:us-east-1:1:express:m:e/msg") {
		t.Fatal("staged key is not deterministic")
	}
}

func TestExecutionID(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ owner, msg, want string }{
		{"arn:aws:states:r:1:express:sm:exec-1/msg-1", "msg-1", "arn:aws:states:r:1:express:sm:exec-1"},
		{"owner-without-suffix", "msg-1", "owner-without-suffix"},
		{"x/", "", "x/"},
	} {
		if got := taskkit.ExecutionID(c.owner, c.msg); got != c.want {
			t.Errorf("ExecutionID(%q, %q) = %q, want %q", c.owner, c.msg, got, c.want)
		}
	}
}

func TestEnvHelpers(t *testing.T) {
	t.Parallel()
	env := func(m map[string]string) taskkit.Env { return func(k string) string { return m[k] } }
	var p taskkit.Problems
	e := env(map[string]string{"D": "1h", "BAD_D": "x", "SHORT": "1s", "N": "5", "BIG": "99", "NEG": "-1", "B": "true", "BAD_B": "maybe",
		"P": "staging/", "P_NOSLASH": "staging", "P_DOT": "a/../b/", "BUCKET": "Bad_Bucket"})
	if d := taskkit.Duration(e, &p, "D", 0, 0); d.String() != "1h0m0s" {
		t.Errorf("Duration = %v", d)
	}
	taskkit.Duration(e, &p, "BAD_D", 0, 0)
	taskkit.Duration(e, &p, "SHORT", 0, 60e9)
	if n := taskkit.Int(e, &p, "N", 1, 10); n != 5 {
		t.Errorf("Int = %d", n)
	}
	taskkit.Int(e, &p, "BIG", 1, 10)
	taskkit.Int(e, &p, "NEG", 1, 10)
	if !taskkit.Bool(e, &p, "B") || taskkit.Bool(e, &p, "UNSET") {
		t.Error("Bool")
	}
	taskkit.Bool(e, &p, "BAD_B")
	taskkit.Prefix(e, &p, "P")
	taskkit.Prefix(e, &p, "P_NOSLASH")
	taskkit.Prefix(e, &p, "P_DOT")
	taskkit.Required(e, &p, "MISSING")
	err := p.Err()
	for _, want := range []string{"BAD_D:", "SHORT:", "BIG:", "NEG:", "BAD_B:", "P_NOSLASH:", "P_DOT:", "MISSING: required"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("problems %v lack %q", err, want)
		}
	}
	for _, line := range strings.Split(err.Error(), "\n") {
		name, _, _ := strings.Cut(line, ":")
		switch name {
		case "D", "N", "B", "P":
			t.Errorf("a good value was reported: %q", line)
		}
	}
}

func TestPacingFromEnv(t *testing.T) {
	t.Parallel()
	env := func(m map[string]string) taskkit.Env { return func(k string) string { return m[k] } }
	c, err := taskkit.PacingFromEnv(env(nil))
	if err != nil || !c.Enabled || c.Rate != 0 || c.MaxWait != taskkit.DefaultPacingMaxWait {
		t.Fatalf("defaults: %+v, %v", c, err)
	}
	c, err = taskkit.PacingFromEnv(env(map[string]string{"SES_PACING": "off", "SES_MAX_SEND_RATE": "14", "SES_PACING_MAX_WAIT": "0s"}))
	if err != nil || c.Enabled || c.Rate != 14 || c.MaxWait != 0 {
		t.Fatalf("set: %+v, %v", c, err)
	}
	_, err = taskkit.PacingFromEnv(env(map[string]string{"SES_PACING": "maybe", "SES_MAX_SEND_RATE": "-1", "SES_PACING_MAX_WAIT": "1m"}))
	for _, want := range []string{"SES_PACING:", "SES_MAX_SEND_RATE:", "SES_PACING_MAX_WAIT:"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not name %s", err, want)
		}
	}
}

func TestClaimedMailID(t *testing.T) {
	for _, c := range []struct{ body, want string }{
		{`{"version":1,"mailId":"order-42","to":"not a list"}`, "order-42"},
		{`{"mailId":42}`, ""},
		{`{"mailId":""}`, ""},
		{`{"mailId":"a\u0000b"}`, ""},
		{`{"mailId":"` + strings.Repeat("x", 257) + `"}`, ""},
		{`not json`, ""},
		{`["mailId"]`, ""},
	} {
		if got := taskkit.ClaimedMailID(c.body); got != c.want {
			t.Errorf("ClaimedMailID(%.40q) = %q, want %q", c.body, got, c.want)
		}
	}
}
