package inspect

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/mailflow/mailflow/local/execstore"
)

func TestOpenLocalIgnoresAStaleDevFile(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	if _, err := OpenLocal(context.Background(), LocalOptions{DataDir: dir}); err == nil || !strings.Contains(err.Error(), "holds no mailflow data") {
		t.Fatalf("empty directory: %v", err)
	}
	store, err := execstore.Open(filepath.Join(dir, "executions.db"))
	if err != nil {
		t.Fatal(err)
	}
	store.Close()
	dead := exec.Command("true")
	if err := dead.Run(); err != nil {
		t.Fatal(err)
	}
	for _, pid := range []int{dead.Process.Pid, os.Getpid()} {
		// A dead runtime's file, then a live process whose endpoint does not
		// answer: both fall back to the files.
		if _, err := WriteDevInfo(dir, DevInfo{Endpoint: "http://127.0.0.1:1", Region: "us-east-1", Account: "000000000000",
			SourceQueue: "mailflow-source", DeadLetterQueue: "mailflow-dlq", PID: pid}); err != nil {
			t.Fatal(err)
		}
		b, err := OpenLocal(context.Background(), LocalOptions{DataDir: dir, Region: "us-east-1", Account: "000000000000",
			SourceQueue: "mailflow-source", DeadLetterQueue: "mailflow-dlq"})
		if err != nil {
			t.Fatal(err)
		}
		if b.Via != "files" {
			t.Errorf("pid %d: via %s", pid, b.Via)
		}
		b.Close()
	}
}
