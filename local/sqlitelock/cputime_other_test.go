//go:build !unix

package sqlitelock_test

import "time"

// cpuTime is not measured here; the benchmark then reports no CPU metric.
func cpuTime() time.Duration { return 0 }
