package cli_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/mailflow/mailflow/cli"
	"github.com/mailflow/mailflow/local"
	"github.com/mailflow/mailflow/local/datadir"
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

// TestDevReportsADeadSMTPRelay: with nothing listening on --smtp, dev says
// so on stderr at startup, and the first delivery that cannot reach the
// relay logs one error naming it and the mail, not one per attempt.
func TestDevReportsADeadSMTPRelay(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	relay := l.Addr().String()
	l.Close()
	data := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	out, errOut := &lockedBuf{}, &lockedBuf{}
	done := make(chan int, 1)
	go func() {
		done <- cli.Run(ctx, []string{"dev", "--data", data, "--addr", "127.0.0.1:0", "--console", "off", "--batch-window", "10ms",
			"--smtp", relay, "--log-format", "json"}, strings.NewReader(""), out, errOut)
	}()
	var info datadir.DevInfo
	waitFor(t, "dev to start", func() bool {
		raw, err := os.ReadFile(filepath.Join(data, datadir.DevFile))
		return err == nil && json.Unmarshal(raw, &info) == nil
	})
	if want := "WARNING: the SMTP relay " + relay + " does not answer ("; !strings.Contains(errOut.String(), want) {
		t.Fatalf("stderr at startup %q lacks %q", errOut.String(), want)
	}
	for _, id := range []string{"relay-1", "relay-2"} {
		code, sout, serr := run(t, context.Background(), "send", "--endpoint", info.Endpoint, "--data", data,
			"--to", "ann@example.org", "--subject", "Hi", "--text", "hello", "--mail-id", id)
		if code != cli.ExitOK {
			t.Fatalf("send: exit %d: %s %s", code, sout, serr)
		}
	}
	const line = `"msg":"the SMTP relay is unreachable`
	waitFor(t, "the relay's error", func() bool { return strings.Contains(errOut.String(), line) })
	// Both mails reach the relay (in one batch or two).
	sentCount := regexp.MustCompile(`: sent (\d+)`)
	waitFor(t, "both mails to be tried", func() bool {
		n := 0
		for _, m := range sentCount.FindAllStringSubmatch(out.String(), -1) {
			k, _ := strconv.Atoi(m[1])
			n += k
		}
		return n >= 2
	})
	time.Sleep(500 * time.Millisecond) // further attempts would log by now
	logged := errOut.String()
	if n := strings.Count(logged, line); n != 1 {
		t.Fatalf("the relay's error is logged %d times, want once:\n%s", n, logged)
	}
	for _, l := range strings.Split(logged, "\n") {
		if strings.Contains(l, line) && (!strings.Contains(l, `"smtp":"`+relay+`"`) || !strings.Contains(l, `"mailId":"relay-`)) {
			t.Errorf("the relay's error names neither the relay nor the mail: %s", l)
		}
	}
	cancel()
	<-done
}
