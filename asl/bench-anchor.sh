#!/usr/bin/env bash
# Runs the anchor benchmark (aws-local-stepfunctions) and BenchmarkAnchor
# (this interpreter) one after the other on this machine, then prints the
# side-by-side table asl/BENCHMARKS.md reports.
#   ROUNDS (default 2), RUNS (5), COUNT (5): samples per side.
set -euo pipefail
HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
ROOT="$(cd "$HERE/.." && pwd)"
ANCHOR="${ASL_ANCHOR_DIR:-$ROOT/../shared/bench/anchor-als}"
WORK="${ANCHOR_BENCH_WORK:-$(mktemp -d)}"
export ANCHOR_BENCH_WORK="$WORK"
echo "== aws-local-stepfunctions (work: $WORK)"
ROUNDS="${ROUNDS:-2}" RUNS="${RUNS:-5}" PROBES=0 "$ANCHOR/run.sh" > "$WORK/anchor.log"
grep -A12 '^== summary' "$WORK/anchor.log"
echo "== asl"
(cd "$ROOT" && go test -run '^$' -bench BenchmarkAnchor -count "${COUNT:-5}" ./asl > "$WORK/asl-bench.txt")
grep -E '^(cpu|BenchmarkAnchor)' "$WORK/asl-bench.txt"
echo "== side by side"
(cd "$ROOT" && go run ./asl/cmd/anchorcmp "$(ls -t "$WORK"/results-*.jsonl | head -1)" "$WORK/asl-bench.txt")
