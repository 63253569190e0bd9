package infra

import (
	"encoding/json"
	"os"
	"path/filepath"
	"testing"
)

// TestTaskMemorySizedFromPeaks holds each state-machine task's memory to
// the peaks perf's BenchmarkTaskMemory recorded (perf/results/task-memory.json):
// at least 1.5 times the worst-case peak, the size it was measured at,
// and the GOMEMLIMIT it ran with.
func TestTaskMemorySizedFromPeaks(t *testing.T) {
	b, err := os.ReadFile(filepath.Join("..", "perf", "results", "task-memory.json"))
	if err != nil {
		t.Fatal(err)
	}
	var rec struct {
		Headroom float64 `json:"headroom"`
		Tasks    map[string]struct {
			PeakRSSMiB    float64 `json:"peakRSSMiB"`
			ConfiguredMiB float64 `json:"configuredMiB"`
			GoMemLimit    string  `json:"goMemLimit"`
		} `json:"tasks"`
	}
	if err := json.Unmarshal(b, &rec); err != nil {
		t.Fatal(err)
	}
	if rec.Headroom < 1.5 {
		t.Errorf("recorded with headroom %v, want at least 1.5", rec.Headroom)
	}
	for _, spec := range taskSpecs {
		if !spec.invokedByStateMachine() {
			continue
		}
		r, ok := rec.Tasks[spec.id]
		switch {
		case !ok || r.PeakRSSMiB <= 0:
			t.Errorf("%s: no peak recorded", spec.id)
		case spec.memoryMiB < 1.5*r.PeakRSSMiB:
			t.Errorf("%s: %v MiB is less than 1.5 times the recorded peak of %.1f MiB", spec.id, spec.memoryMiB, r.PeakRSSMiB)
		case spec.memoryMiB != r.ConfiguredMiB || goMemLimit(spec.memoryMiB) != r.GoMemLimit:
			t.Errorf("%s: sized %v MiB (GOMEMLIMIT=%s), but measured at %v MiB (GOMEMLIMIT=%s): run perf's BenchmarkTaskMemory at this size",
				spec.id, spec.memoryMiB, goMemLimit(spec.memoryMiB), r.ConfiguredMiB, r.GoMemLimit)
		}
		if int(spec.memoryMiB)%128 != 0 || spec.memoryMiB < 128 || spec.memoryMiB > 10240 {
			t.Errorf("%s: %v MiB is not a multiple of 128 MiB within Lambda's 128..10240", spec.id, spec.memoryMiB)
		}
	}
}

func TestGoMemLimit(t *testing.T) {
	for mib, want := range map[float64]string{128: "102MiB", 256: "204MiB", 512: "409MiB", 1024: "819MiB"} {
		if got := goMemLimit(mib); got != want {
			t.Errorf("goMemLimit(%v) = %q, want %q", mib, got, want)
		}
	}
}
