package sqsstore

import (
	"bufio"
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailflow/mailflow/clock"
)

// crashChild is the process TestSurvivesKill kills: it sends five messages,
// receives two (with a 60 s visibility timeout), reports, and waits to die.
func crashChild(path string) {
	clock := clock.NewVirtual(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC))
	s, err := Open(path, Options{Clock: clock})
	if err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	ctx := context.Background()
	if err := s.CreateQueue(ctx, "q", map[string]string{"VisibilityTimeout": "60"}, nil); err != nil {
		fmt.Println("error", err)
		os.Exit(1)
	}
	for i := range 5 {
		if _, err := s.Send(ctx, "q", SendParams{Body: fmt.Sprint("m", i)}); err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
	}
	got := 0
	for got < 2 {
		m, err := s.Receive(ctx, "q", ReceiveParams{MaxMessages: 2 - got})
		if err != nil {
			fmt.Println("error", err)
			os.Exit(1)
		}
		got += len(m)
	}
	fmt.Println("ready")
	time.Sleep(time.Minute) // killed long before this ends
	os.Exit(3)
}

func TestMain(m *testing.M) {
	if path := os.Getenv("SQSSTORE_CRASH_CHILD"); path != "" {
		crashChild(path)
	}
	os.Exit(m.Run())
}

// TestSurvivesKill kills a process that has messages in flight with SIGKILL
// (no Close) and checks that reopening the file finds every message, the
// received ones still in flight until their visibility timeout ends.
func TestSurvivesKill(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "q.db")
	cmd := exec.Command(os.Args[0], "-test.run=^$")
	cmd.Env = append(os.Environ(), "SQSSTORE_CRASH_CHILD="+path)
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	line := make(chan string, 1)
	go func() {
		r := bufio.NewReader(out)
		l, _ := r.ReadString('\n')
		line <- strings.TrimSpace(l)
	}()
	select {
	case l := <-line:
		if l != "ready" {
			cmd.Process.Kill()
			cmd.Wait()
			t.Fatalf("child said %q", l)
		}
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal("child never got ready")
	}
	if err := cmd.Process.Kill(); err != nil { // SIGKILL: no Close, no checkpoint
		t.Fatal(err)
	}
	_ = cmd.Wait()

	clock := clock.NewVirtual(time.Date(2026, 1, 1, 0, 0, 30, 0, time.UTC))
	s, err := Open(path, Options{Clock: clock})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	c, err := s.QueueCounts(context.Background(), "q")
	if err != nil {
		t.Fatal(err)
	}
	if c != (Counts{Visible: 3, InFlight: 2}) {
		t.Fatalf("after kill: %+v, want 3 visible and 2 in flight", c)
	}
	clock.Advance(30 * time.Second) // the 60 s visibility timeout ends
	if c, _ := s.QueueCounts(context.Background(), "q"); c != (Counts{Visible: 5}) {
		t.Fatalf("after the visibility timeout: %+v, want 5 visible", c)
	}
}
