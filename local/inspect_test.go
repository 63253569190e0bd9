package local_test

import (
	"context"
	"os"
	"os/exec"
	"strings"
	"testing"

	"github.com/mailflow/mailflow/local"
	"github.com/mailflow/mailflow/local/datadir"
)

func TestOpenInspectionIgnoresAStaleDevFile(t *testing.T) {
	t.Parallel()
	dir := datadir.New(t.TempDir())
	if _, err := local.OpenInspection(context.Background(), local.InspectOptions{DataDir: dir.Path()}); err == nil || !strings.Contains(err.Error(), "holds no mailflow data") {
		t.Fatalf("empty directory: %v", err)
	}
	store, err := dir.OpenExecutions()
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
		if _, err := dir.WriteDevInfo(datadir.DevInfo{Endpoint: "http://127.0.0.1:1", Region: "us-east-1", Account: "000000000000",
			SourceQueue: "mailflow-source", DeadLetterQueue: "mailflow-dlq", PID: pid}); err != nil {
			t.Fatal(err)
		}
		b, err := local.OpenInspection(context.Background(), local.InspectOptions{DataDir: dir.Path(), Region: "us-east-1", Account: "000000000000",
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
