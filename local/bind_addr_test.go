package local_test

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/mailflow/mailflow/local"
)

// TestNonLoopbackAddress: a non-loopback address is refused unless
// AllowNonLoopback is set, and then served with a warning.
func TestNonLoopbackAddress(t *testing.T) {
	t.Parallel()
	_, err := local.Start(context.Background(), local.Config{DataDir: t.TempDir(), Addr: "0.0.0.0:0"})
	if err == nil || !strings.Contains(err.Error(), "not a loopback address") {
		t.Fatalf("0.0.0.0 without AllowNonLoopback: %v", err)
	}
	var logs bytes.Buffer
	rt, err := local.Start(context.Background(), local.Config{
		DataDir: t.TempDir(), Addr: "0.0.0.0:0", AllowNonLoopback: true,
		Log: slog.New(slog.NewTextHandler(&logs, nil)),
	})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	defer rt.Close(ctx)
	if !strings.Contains(logs.String(), "level=WARN") || !strings.Contains(logs.String(), "without credentials") {
		t.Fatalf("no warning logged:\n%s", logs.String())
	}
	for _, h := range []string{"127.0.0.1", "::1", "localhost", "127.1.2.3"} {
		if !local.IsLoopback(h) {
			t.Errorf("%s is loopback", h)
		}
	}
	for _, h := range []string{"0.0.0.0", "::", "10.0.0.1", "example.org", ""} {
		if local.IsLoopback(h) {
			t.Errorf("%s is not loopback", h)
		}
	}
}
