// The handler's tests run its scenarios (fetchattachmentstest) on the
// in-memory store (testkit/tasktest), so they need no Node and no emulator;
// test/awstasks runs the same scenarios over S3 (gofakes3).
package fetchattachments_test

import (
	"io"
	"log/slog"
	"strings"
	"testing"

	"github.com/mailflow/mailflow/tasks/fetch-attachments/fetchattachmentstest"

	fetchattachments "github.com/mailflow/mailflow/tasks/fetch-attachments"
	"github.com/mailflow/mailflow/testkit/tasktest"
)

var quiet = slog.New(slog.NewJSONHandler(io.Discard, nil))

func TestFetchAttachments(t *testing.T) {
	t.Parallel()
	st, mem, proxy := tasktest.MemStore()
	fetchattachmentstest.Run(t, st, proxy, mem.Forbid)
}

func TestConfigFromEnv(t *testing.T) {
	t.Parallel()
	_, err := fetchattachments.ConfigFromEnv(tasktest.EnvMap(map[string]string{
		"ATTACHMENT_PREFIX": "attachments/", "ALLOWED_SENDERS": "example.com", "STAGING_PREFIX": "attachments/staging/", "MAX_MESSAGE_BYTES": "100000000",
	}))
	for _, want := range []string{"STAGING_PREFIX: \"attachments/staging/\" overlaps", "MAX_MESSAGE_BYTES: 100000000 is more than"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("error %v does not say %q", err, want)
		}
	}
	if _, err := fetchattachments.ConfigFromEnv(tasktest.EnvMap(nil)); err == nil || !strings.Contains(err.Error(), "STAGING_PREFIX: required") {
		t.Errorf("missing STAGING_PREFIX: %v", err)
	}
	c, err := fetchattachments.ConfigFromEnv(tasktest.EnvMap(map[string]string{
		"ATTACHMENT_PREFIX": "attachments/", "ALLOWED_SENDERS": "example.com", "STAGING_PREFIX": "staging/",
	}))
	if err != nil || c.MaxBytes != 40<<20 {
		t.Fatalf("config %+v, %v", c, err)
	}
}
