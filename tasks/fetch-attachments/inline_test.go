package fetchattachments_test

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"strconv"
	"strings"
	"testing"

	"github.com/mailflow/mailflow/internal/taskkit"
	fetchattachments "github.com/mailflow/mailflow/tasks/fetch-attachments"
	"github.com/mailflow/mailflow/tasks/send"
	"github.com/mailflow/mailflow/testkit/tasktest"
	"github.com/mailflow/mailflow/workflow"
)

// inlineEnv is a valid environment with the given extra variables.
func inlineEnv(extra map[string]string) taskkit.Env {
	m := map[string]string{"ATTACHMENT_PREFIX": "attachments/", "ALLOWED_SENDERS": "example.com", "STAGING_PREFIX": tasktest.StagingPrefix}
	for k, v := range extra {
		m[k] = v
	}
	return tasktest.EnvMap(m)
}

// The figures the package doc states, for the deployed 16 KiB body and the
// local default (workflow.DefaultMaxBodyBytes).
func TestInlineLimitFigures(t *testing.T) {
	t.Parallel()
	for _, c := range []struct{ body, want int64 }{
		{16 << 10, 132000},
		{workflow.DefaultMaxBodyBytes, 58272},
		{1 << 20, 0}, // no room at all
	} {
		if got := fetchattachments.InlineLimit(c.body); got != c.want {
			t.Errorf("InlineLimit(%d) = %d, want %d", c.body, got, c.want)
		}
		if got := fetchattachments.InlineLimit(c.body); got%3 != 0 {
			t.Errorf("InlineLimit(%d) = %d is not a multiple of 3", c.body, got)
		}
	}
	// The default bound is the smaller of 64 KiB and the limit.
	c, err := fetchattachments.ConfigFromEnv(inlineEnv(nil))
	if err != nil || c.InlineMaxBytes != 0 {
		t.Fatalf("no INLINE_MAX_BYTES: %+v, %v; want the default (0)", c, err)
	}
}

// A message at the bound, carried inline in Send's input with the largest
// body (one whose JSON encoding doubles it) and the longest lock fields,
// stays within Step Functions' 262144 bytes.
func TestInlineSendPayloadFits(t *testing.T) {
	t.Parallel()
	for _, body := range []int64{16 << 10, workflow.DefaultMaxBodyBytes} {
		n := fetchattachments.InlineLimit(body)
		raw := make([]byte, n)
		for i := range raw {
			raw[i] = byte(i * 7)
		}
		sum := sha256.Sum256(raw)
		in := send.In{
			MessageID:  strings.Repeat("m", 100),
			Body:       strings.Repeat(`"`, int(body)), // each character escapes to two
			MailID:     strings.Repeat("i", workflow.MaxMailIDLength),
			Owner:      strings.Repeat("o", taskkit.MaxOwnerLength),
			RetryCount: send.MaxRetryCount,
			Staged:     send.Staged{Inline: base64.StdEncoding.EncodeToString(raw), Size: n, SHA256: hex.EncodeToString(sum[:])},
		}
		b, err := json.Marshal(in)
		if err != nil {
			t.Fatal(err)
		}
		if got := int64(len(b)); got > fetchattachments.StatePayloadBytes {
			t.Errorf("body %d: Send's input with a %d-byte inline message is %d bytes, more than %d", body, n, got, fetchattachments.StatePayloadBytes)
		} else {
			t.Logf("body %d: Send's input with a %d-byte inline message is %d bytes of %d", body, n, got, fetchattachments.StatePayloadBytes)
		}
		// The inline result as the package doc budgets it.
		out, err := json.Marshal(fetchattachments.Out{Inline: in.Staged.Inline, Size: n, SHA256: in.Staged.SHA256})
		if err != nil {
			t.Fatal(err)
		}
		if got, budget := int64(len(out)), fetchattachments.EncodedInlineBytes(n); got > budget {
			t.Errorf("body %d: the inline result is %d bytes, more than the %d budgeted", body, got, budget)
		}
	}
}

func TestInlineMaxBytesFromEnv(t *testing.T) {
	t.Parallel()
	for _, c := range []struct {
		env  map[string]string
		says []string
	}{
		{map[string]string{"INLINE_MAX_BYTES": "58273"}, []string{"INLINE_MAX_BYTES: 58273 is more than 58272", "MAX_BODY_BYTES"}},
		{map[string]string{"INLINE_MAX_BYTES": "132001", "MAX_BODY_BYTES": "16384"}, []string{"INLINE_MAX_BYTES: 132001 is more than 132000"}},
		{map[string]string{"INLINE_MAX_BYTES": "-1"}, []string{`INLINE_MAX_BYTES: "-1" is not a non-negative integer`}},
		{map[string]string{"INLINE_MAX_BYTES": "64k"}, []string{`INLINE_MAX_BYTES: "64k" is not a non-negative integer`}},
		{map[string]string{"INLINE_MAX_BYTES": "1.5"}, []string{`INLINE_MAX_BYTES: "1.5" is not a non-negative integer`}},
	} {
		_, err := fetchattachments.ConfigFromEnv(inlineEnv(c.env))
		for _, w := range c.says {
			if err == nil || !strings.Contains(err.Error(), w) {
				t.Errorf("%v: error %v does not say %q", c.env, err, w)
			}
		}
	}
	for _, c := range []struct {
		env  map[string]string
		want int64
	}{
		{map[string]string{"INLINE_MAX_BYTES": "58272"}, 58272},
		{map[string]string{"INLINE_MAX_BYTES": "132000", "MAX_BODY_BYTES": "16384"}, 132000},
		{map[string]string{"INLINE_MAX_BYTES": " 1000 "}, 1000},
		{map[string]string{"INLINE_MAX_BYTES": "0"}, -1}, // stage every message
	} {
		cfg, err := fetchattachments.ConfigFromEnv(inlineEnv(c.env))
		if err != nil || cfg.InlineMaxBytes != c.want {
			t.Errorf("%v: InlineMaxBytes %d, %v; want %d", c.env, cfg.InlineMaxBytes, err, c.want)
		}
	}
}

// INLINE_MAX_BYTES=0 stages even the smallest message; the default
// carries it inline.
func TestInlineMaxBytesZeroStagesEveryMessage(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	for _, c := range []struct {
		value  string
		staged bool
	}{{"0", true}, {"", false}, {strconv.Itoa(1 << 10), false}} {
		cfg, err := fetchattachments.ConfigFromEnv(inlineEnv(map[string]string{"INLINE_MAX_BYTES": c.value}))
		if err != nil {
			t.Fatal(err)
		}
		cfg.TempDir = t.TempDir()
		st, _, _ := tasktest.MemStore()
		h, err := fetchattachments.New(cfg, fetchattachments.Deps{Store: st, Clock: tasktest.NewClock(), Log: quiet})
		if err != nil {
			t.Fatal(err)
		}
		out, err := h.Handle(ctx, fetchattachments.In{MessageID: "m", Body: tasktest.Body(t, "z-1", nil), MailID: "z-1", Owner: "exec/m"})
		if err != nil {
			t.Fatal(err)
		}
		if staged := out.Key != ""; staged != c.staged || (out.Inline != "") == staged {
			t.Errorf("INLINE_MAX_BYTES=%q: a %d-byte message came back with key %q and %d inline characters; want staged %v", c.value, out.Size, out.Key, len(out.Inline), c.staged)
		}
		if out.Key != "" {
			if info, err := st.Stat(ctx, out.Key); err != nil || info.Size != out.Size {
				t.Errorf("INLINE_MAX_BYTES=%q: staged object %+v, %v", c.value, info, err)
			}
		}
	}
}

// New refuses a bound above the limit for its body size, naming both.
func TestNewRefusesInlineBoundAboveLimit(t *testing.T) {
	t.Parallel()
	st, _, _ := tasktest.MemStore()
	_, err := fetchattachments.New(fetchattachments.Config{Limits: tasktest.Limits, StagingPrefix: tasktest.StagingPrefix, InlineMaxBytes: 58273},
		fetchattachments.Deps{Store: st})
	if err == nil || !strings.Contains(err.Error(), "58273 is more than 58272") {
		t.Fatalf("New with a bound above the limit: %v", err)
	}
}
