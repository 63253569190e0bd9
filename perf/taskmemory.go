package perf

import (
	_ "embed"
	"encoding/json"
	"fmt"
	"math"
	"sync"
)

// The task functions' memory sizes (MiB) as deployed: infra/tasks.go
// taskSpecs, each the smallest multiple of 128 MiB with MemoryHeadroom over
// the task's measured peak (results/task-memory.json, BenchmarkTaskMemory).
// The benchmark runs each task under the GOMEMLIMIT of its size and records
// the size; infra's guard test holds taskSpecs to the recorded sizes and
// peaks, and TestTaskSizesRecorded holds these to them.
const (
	reserveSendsMiB     = 128
	acquireLockMiB      = 128
	fetchAttachmentsMiB = 384
	sendMiB             = 512
	sendInlineMiB       = 128
	releaseLockMiB      = 128
)

// The sizes before they were measured, guessed for building a 40 MB
// message (the earlier levers price them).
const (
	acquireLockMiBBefore      = 256
	fetchAttachmentsMiBBefore = 1024
	sendMiBBefore             = 512
)

// TaskMemoryMiB are the deployed sizes by task (construct id, as the cost
// model names its tasks).
var TaskMemoryMiB = map[string]float64{
	"ReserveSends": reserveSendsMiB, "AcquireLock": acquireLockMiB, "FetchAttachments": fetchAttachmentsMiB, "Send": sendMiB, "SendInline": sendInlineMiB, "ReleaseLock": releaseLockMiB,
}

// MemoryHeadroom is the factor a task's size must leave over its measured
// peak RSS: the worst case measured is one input on one machine, and an
// out-of-memory kill fails the mail where a larger size only costs money.
const MemoryHeadroom = 1.5

// VCPUMiB is the memory size at which Lambda allocates one full vCPU; the
// CPU share scales linearly with the size below it.
const VCPUMiB = 1769

// SizeFor is the smallest Lambda size in 128-MiB steps (at least 128 MiB)
// with MemoryHeadroom over a peak of peakMiB.
func SizeFor(peakMiB float64) float64 {
	return max(128, math.Ceil(peakMiB*MemoryHeadroom/128)*128)
}

// GoMemLimit is the GOMEMLIMIT a function of sizeMiB runs with: 80 % of
// its size, so the collector works harder before Lambda's limit is
// reached and the runtime, stacks and buffers outside the heap keep the
// rest. infra sets the same value (its guard test compares).
func GoMemLimit(sizeMiB float64) string {
	return fmt.Sprintf("%dMiB", int(sizeMiB*0.8))
}

// TaskMemoryCase is one worst-case input of a task, measured in a process
// of its own.
type TaskMemoryCase struct {
	Name       string  `json:"name"`
	PeakRSSMiB float64 `json:"peakRSSMiB"`
	InputBytes int64   `json:"inputBytes"`
	// HeapAfterMiB is the Go heap's objects, live or not yet collected, at
	// the highest of the samples taken after each invocation.
	HeapAfterMiB float64 `json:"heapAfterMiB"`
}

// TaskMemory is one task's figures: its worst case (the case with the
// highest peak), the size it is deployed at and the size the rule picks
// from the peak, and its CPU time per invocation of the throughput
// benchmark's typical mail.
type TaskMemory struct {
	PeakRSSMiB    float64          `json:"peakRSSMiB"`
	InputBytes    int64            `json:"inputBytes"`
	WorstCase     string           `json:"worstCase"`
	ConfiguredMiB float64          `json:"configuredMiB"`
	GoMemLimit    string           `json:"goMemLimit"`
	SizedMiB      float64          `json:"sizedMiB"`
	Cases         []TaskMemoryCase `json:"cases"`
	// CPUMsTypical is CPU time (user + system) per invocation at
	// GOMAXPROCS=1 for the typical mail, with in-memory ports: the
	// handler's own work, without the AWS calls' waiting.
	CPUMsTypical float64 `json:"cpuMsTypical"`
}

// TaskMemoryResult is results/task-memory.json.
type TaskMemoryResult struct {
	Headroom float64               `json:"headroom"`
	VCPUMiB  float64               `json:"vcpuMiB"`
	Tasks    map[string]TaskMemory `json:"tasks"`
}

//go:embed results/task-memory.json
var taskMemoryJSON []byte

// RecordedTaskMemory is the committed results/task-memory.json, which the
// cost model reads its CPU figures from.
var RecordedTaskMemory = sync.OnceValues(func() (TaskMemoryResult, error) {
	var r TaskMemoryResult
	if err := json.Unmarshal(taskMemoryJSON, &r); err != nil {
		return r, fmt.Errorf("results/task-memory.json: %w", err)
	}
	return r, nil
})

// recordedCPUMs is a task's recorded CPU time per typical invocation, or
// 0 when none is recorded (the model then keeps its duration estimate).
func recordedCPUMs(task string) float64 {
	r, err := RecordedTaskMemory()
	if err != nil {
		return 0
	}
	return r.Tasks[task].CPUMsTypical
}
