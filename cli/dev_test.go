package cli_test

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/mailflow/mailflow/cli"
	"github.com/mailflow/mailflow/local"
)

// TestDevRefusesAVisibilityTimeoutWithinTheLease: a record that reappears
// while its lease is held meets a busy lock and may be dead-lettered
// unsent, so `mailflow dev` refuses such a timeout as a usage error naming
// both durations and the flag that accepts it anyway.
func TestDevRefusesAVisibilityTimeoutWithinTheLease(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct{ value, want string }{
		{"2m", "--visibility-timeout 2m0s must be longer than the lock lease 6m0s: a record would reappear while an execution still holds its lease"},
		{"6m", "--visibility-timeout 6m0s must be longer than the lock lease 6m0s"},
		{"7m0.5s", "--visibility-timeout 7m0.5s is not a whole number of seconds"},
	} {
		data := filepath.Join(t.TempDir(), "data")
		// Accepted, dev would serve until the context ends.
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		code, _, errOut := run(t, ctx, "dev", "--data", data, "--addr", "127.0.0.1:0", "--visibility-timeout", tc.value)
		if code != cli.ExitUsage || !strings.Contains(errOut, tc.want) {
			t.Errorf("--visibility-timeout %s: exit %d, stderr %q; want usage error %q", tc.value, code, errOut, tc.want)
		}
		if tc.value == "2m" && !strings.Contains(errOut, "(--allow-short-visibility accepts it anyway)") {
			t.Errorf("the error does not name --allow-short-visibility: %q", errOut)
		}
		if _, err := os.Stat(data); err == nil {
			t.Errorf("--visibility-timeout %s: the data directory was created", tc.value)
		}
		cancel()
	}
}

// TestDevAcceptsAShortVisibilityTimeoutWhenAllowed: the explicit flag
// starts the runtime with a warning.
func TestDevAcceptsAShortVisibilityTimeoutWhenAllowed(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	result := make(chan int, 1)
	var out, errOut bytes.Buffer
	go func() {
		result <- cli.Run(ctx, []string{"dev", "--data", t.TempDir(), "--addr", "127.0.0.1:0", "--console", "off",
			"--visibility-timeout", "2s", "--allow-short-visibility"}, strings.NewReader(""), &syncBuf{b: &out}, &errOut)
	}()
	cancel()
	select {
	case code := <-result:
		if code != cli.ExitOK {
			t.Fatalf("exit %d: %s", code, errOut.String())
		}
	case <-time.After(30 * time.Second):
		t.Fatal("dev did not stop")
	}
	if !strings.Contains(errOut.String(), "WARNING: --visibility-timeout 2s is not longer than the lock lease") {
		t.Fatalf("no warning: %q", errOut.String())
	}
}

// TestDevRefusesADataDirectoryWithoutItsLocks: `mailflow dev` on a data
// directory whose locks.db was deleted fails, naming the file and the way
// out, instead of forgetting which mail was sent.
func TestDevRefusesADataDirectoryWithoutItsLocks(t *testing.T) {
	t.Parallel()
	data := t.TempDir()
	rt, err := local.Start(context.Background(), local.Config{DataDir: data, Addr: "127.0.0.1:0"})
	if err != nil {
		t.Fatal(err)
	}
	if err := rt.Close(context.Background()); err != nil {
		t.Fatal(err)
	}
	if err := os.Remove(filepath.Join(data, "locks.db")); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // started, dev serves until it ends
	defer cancel()
	code, _, errOut := run(t, ctx, "dev", "--data", data, "--addr", "127.0.0.1:0", "--console", "off")
	if code != cli.ExitFailure {
		t.Fatalf("exit %d, want a failure: %s", code, errOut)
	}
	for _, want := range []string{"locks.db is missing", filepath.Join(data, "locks.db"), "mailflow dev --data NEW-DIR"} {
		if !strings.Contains(errOut, want) {
			t.Errorf("stderr %q does not say %q", errOut, want)
		}
	}
	if _, err := os.Stat(filepath.Join(data, "locks.db")); err == nil {
		t.Error("locks.db was created again")
	}
}
