package sqsstore

import (
	"context"
	"database/sql"
	"path/filepath"
	"sync"
	"testing"
	"time"
)

// TestSharesFileWithAnotherWriter runs the store while another connection
// (as an execution store in the same database file would) writes its own
// table, and checks neither fails for want of the lock.
func TestSharesFileWithAnotherWriter(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "shared.db")
	s, err := Open(path, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	other, err := sql.Open("sqlite", "file:"+path+"?_pragma=busy_timeout(10000)&_pragma=journal_mode(WAL)")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if _, err := other.Exec(`CREATE TABLE executions (id INTEGER PRIMARY KEY, at INTEGER)`); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := s.CreateQueue(ctx, "q", nil, nil); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 2)
	wg.Add(2)
	go func() {
		defer wg.Done()
		for i := range 200 {
			tx, err := other.Begin()
			if err != nil {
				errs <- err
				return
			}
			if _, err := tx.Exec(`INSERT INTO executions (at) VALUES (?)`, time.Now().UnixNano()); err != nil {
				tx.Rollback()
				errs <- err
				return
			}
			if _, err := tx.Exec(`SELECT count(*) FROM executions WHERE id < ?`, i); err != nil {
				tx.Rollback()
				errs <- err
				return
			}
			if err := tx.Commit(); err != nil {
				errs <- err
				return
			}
		}
	}()
	go func() {
		defer wg.Done()
		for range 200 {
			if _, err := s.Send(ctx, "q", SendParams{Body: "x"}); err != nil {
				errs <- err
				return
			}
			m, err := s.Receive(ctx, "q", ReceiveParams{})
			if err != nil || len(m) != 1 {
				errs <- err
				return
			}
			if err := s.Delete(ctx, "q", m[0].ReceiptHandle); err != nil {
				errs <- err
				return
			}
		}
	}()
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent writers on one file: %v", err)
	}
	var n int
	if err := other.QueryRow(`SELECT count(*) FROM executions`).Scan(&n); err != nil || n != 200 {
		t.Fatalf("other table has %d rows: %v", n, err)
	}
}
