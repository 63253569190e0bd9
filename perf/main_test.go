package perf

import (
	"flag"
	"os"
	"testing"
)

// TestMain leaves TestTaskMemoryChild out of every run but the child
// process BenchmarkTaskMemory starts for one case, so a plain test run
// neither runs nor skips it.
func TestMain(m *testing.M) {
	flag.Parse()
	if os.Getenv(taskMemCase) == "" {
		skip := "^TestTaskMemoryChild$"
		if f := flag.Lookup("test.skip"); f != nil && f.Value.String() != "" {
			skip = f.Value.String() + "|" + skip
		}
		_ = flag.Set("test.skip", skip)
	}
	os.Exit(m.Run())
}
