//go:build !linux

package perf

import "time"

// ResetPeakRSS is unsupported off Linux.
func ResetPeakRSS() bool { return false }

// PeakRSS is unknown off Linux.
func PeakRSS() int64 { return 0 }

// CPUTime is unknown off Linux.
func CPUTime() time.Duration { return 0 }
