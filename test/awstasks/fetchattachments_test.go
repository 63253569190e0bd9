package awstasks_test

import (
	"testing"

	"github.com/mailflow/mailflow/tasks/fetch-attachments/fetchattachmentstest"
	"github.com/mailflow/mailflow/testkit/tasktest"
)

// TestFetchAttachments runs the fetch-attachments scenarios over the S3
// store in front of gofakes3, behind a fault proxy.
func TestFetchAttachments(t *testing.T) {
	t.Parallel()
	svc := tasktest.Start(t, false, true, false)
	st, proxy := svc.Store(t)
	fetchattachmentstest.Run(t, st, proxy, func(key string) { svc.S3.Forbid(tasktest.Bucket, key) })
}
