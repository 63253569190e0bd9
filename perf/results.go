package perf

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
)

// ResultsDir is where benchmarks write their figures and plots: BENCH_OUT,
// or results/ beside this package (benchmarks run in the package
// directory).
func ResultsDir() string {
	if d := os.Getenv("BENCH_OUT"); d != "" {
		return d
	}
	return "results"
}

// WriteResult stores v as indented JSON in ResultsDir()/name.
func WriteResult(name string, v any) error {
	if err := os.MkdirAll(ResultsDir(), 0o755); err != nil {
		return err
	}
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(ResultsDir(), name), append(b, '\n'), 0o644)
}

// WriteChart draws c into ResultsDir()/name.
func WriteChart(name string, c Chart) error {
	if err := os.MkdirAll(ResultsDir(), 0o755); err != nil {
		return err
	}
	f, err := os.Create(filepath.Join(ResultsDir(), name))
	if err != nil {
		return err
	}
	if err := c.WriteSVG(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// Full reports whether BENCH_FULL asks for the large runs.
func Full() bool { return os.Getenv("BENCH_FULL") == "1" }

// EnvFloat reads a number from the environment, or def.
func EnvFloat(name string, def float64) float64 {
	if v, err := strconv.ParseFloat(os.Getenv(name), 64); err == nil && v > 0 {
		return v
	}
	return def
}

// RunFigures are the headline figures of one throughput run.
type RunFigures struct {
	MailsPerSecond, RatioToBaseline      float64
	CPUMicrosPerMail, CPURatioToBaseline float64
	P50Millis, P99Millis                 float64
}

// ThroughputResult is a throughput run beside its queue baseline: the
// second of two runs on one data directory, with the first run's figures in
// FirstRun.
type ThroughputResult struct {
	N                    int
	AttachmentBytes      int
	MailsPerSecond       float64 // enqueue of the first to delivery of the last
	P50Millis, P99Millis float64 // enqueue → delivered (execution finished)
	PeakRSSBytes         int64
	BaselinePerSecond    float64 // SQLite insert + claim + delete per message
	RatioToBaseline      float64
	// CPU time per mail and per baseline message: the figure least
	// disturbed by other load on a shared machine.
	CPUMicrosPerMail        float64
	BaselineCPUMicrosPerMsg float64
	CPURatioToBaseline      float64            // baseline CPU per message / pipeline CPU per mail
	TaskMillis              map[string]float64 // mean wall duration per task invocation
	InputBytesPerMail       float64            // state-machine input per mail
	LogBytesAll             float64            // execution history bytes per mail (CloudWatch Logs ALL with data)
	LogEventsAll            float64            // history events per mail
	LogBytesError           float64            // bytes per mail at level ERROR (failures only)
	// TaskInvocations are the Lambda task invocations per mail (TaskScheduled
	// events), TaskLogBytes the mean bytes of the tasks' JSON result lines
	// at INFO, as the tasks write them (what CloudWatch Logs stores of an
	// invocation's application log; a task that succeeds silently writes
	// none).
	TaskInvocations float64
	TaskLogBytes    float64
	// StagedPerMail are the messages staged in the bucket per mail (an S3
	// PUT, then a GET, each); the rest travel inline.
	StagedPerMail float64
	// The pacer's bucket writes: PacerReservationsPerExecution the batch
	// reservations per execution, PacerTakesPerMail the takes of sends
	// without a usable grant, PacerExpiredPerMail the grants used too late
	// (taken again, so counted in the takes too). All zero when the run
	// did not pace.
	PacerReservationsPerExecution, PacerTakesPerMail, PacerExpiredPerMail float64
	// Inline is a run with small messages inline, as deployed at the
	// default log level (the runs above stage, as the local runtime does).
	Inline          *InlineFigures `json:",omitempty"`
	Latencies       [][2]float64   // delivered index → latency ms (plot)
	Delivered       [][2]float64   // seconds → delivered (plot)
	PipeConcurrency int
	MapConcurrency  int
	FirstRun        RunFigures // the run on a new data directory
}

// InlineFigures are the measurements of a run with messages inline.
type InlineFigures struct {
	N             int
	StagedPerMail float64
	TaskMillis    map[string]float64
	LogBytesAll   float64 // history per mail at ALL with data, the inline messages in it
	TaskLogBytes  float64
	// The pacer's figures, as in ThroughputResult.
	PacerReservationsPerExecution, PacerTakesPerMail, PacerExpiredPerMail float64
}
