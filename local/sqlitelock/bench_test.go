package sqlitelock_test

import (
	"context"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/mailflow/mailflow/local/sqlitelock"
	"github.com/mailflow/mailflow/lock"
)

// BenchmarkCheckAttemptMarkSent runs one sent mail's lock operations in
// the local pipeline (AcquireLock's read, the attempt that takes the lock,
// MarkSent) on a fresh mail id per iteration.
func BenchmarkCheckAttemptMarkSent(b *testing.B) {
	ctx := context.Background()
	tbl, err := sqlitelock.Open(filepath.Join(b.TempDir(), "locks.db"))
	if err != nil {
		b.Fatal(err)
	}
	defer tbl.Close()
	now := time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)
	const lease, retention = 6 * time.Minute, 7 * 24 * time.Hour
	b.ReportAllocs()
	cpu0 := cpuTime()
	for i := 0; b.Loop(); i++ {
		id := "order-" + strconv.Itoa(i) + "/receipt"
		owner := "exec-" + strconv.Itoa(i) + "/m-1"
		if _, found, err := tbl.Peek(ctx, id); err != nil || found {
			b.Fatalf("peek of a new mail: found %v, %v", found, err)
		}
		at := now.Add(time.Second)
		if _, err := tbl.StartAttempt(ctx, lock.AttemptParams{MailID: id, Owner: owner, ContentHash: "sha256:aaaa",
			Now: at, LeaseUntil: at.Add(lease), ExpiresAt: at.Add(lease + retention)}); err != nil {
			b.Fatal(err)
		}
		at = at.Add(time.Second)
		if _, err := tbl.MarkSent(ctx, lock.MarkSentParams{MailID: id, Owner: owner, SESMessageID: "ses-" + id,
			Now: at, ExpiresAt: at.Add(retention)}); err != nil {
			b.Fatal(err)
		}
	}
	if cpu := cpuTime() - cpu0; cpu > 0 {
		b.ReportMetric(float64(cpu.Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}
