// Package perf holds mailflow's performance benchmarks and the code they
// share: the burst benchmark (a burst drained through the local runtime at
// a time-scaled SES quota, with and without the pacer), the throughput
// benchmark (enqueue to outbox, beside the raw durable-queue baseline), the
// Lambda figures (zip sizes, cold start with and without the X-Ray SDK), the
// task functions' peak memory on their worst-case inputs and CPU time per
// typical mail (which size them), and the cost model per million mails on
// AWS.
//
// Run them with `make bench`; BENCH_FULL=1 runs the large sizes (N = 6,000
// at 200/s for the burst, 10,000 mails for throughput). Every benchmark
// reports its figures as benchmark metrics and writes them, with SVG plots,
// to perf/results/ (BENCHMARKS.md at the repository root shows them).
//
// Decisions:
//   - Figures come from benchmarks only; the tests here check the code that
//     computes and draws them (cost arithmetic, SVG), never timings.
//   - Peers are measured side by side in one run (pacing on and off; the
//     pipeline and the queue baseline) and reported as ratios, because the
//     machine is shared and absolute numbers drift.
//   - Time-scaled runs use clock through local.Config.Clock:
//     the SES quota, retry delays and visibility timeouts all run in scaled
//     time, so a burst that takes minutes of scaled time drains in seconds.
//     The scale is chosen so that R × scale stays well below the runtime's
//     own throughput; otherwise the drain time would measure the machine,
//     not the pacing.
//   - The throughput benchmark runs twice on one data directory, a first
//     run on a new directory and a second after a restart, and reports
//     both: the first also pays for warming up the machine (file creation
//     on a VM costs far more at first), the second is how a data directory
//     in daily use performs. What it derives from histories (sizes for the
//     cost model, task durations) it reads from the execution store after
//     the timed part, so that counting costs nothing inside it.
package perf
