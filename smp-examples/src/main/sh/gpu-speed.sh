#!/bin/bash
# One device call for the GPU speed report, on a machine with one GPU and a bundle made by
# ../shared/tools/gpu-bundle --tests:   bash smp-examples/src/main/sh/gpu-speed.sh OUTDIR [STEPS]
# The GPU tests (GpuTest, CudaEventClockTest), then sections 1 (one GPU vs PyTorch eager), 2 (two stages sharing the
# GPU, PyTorch's microbatches beside) and 6 (the gpt example vs PyTorch) of ./smp bench gpu, each merged into the
# committed docs/benchmarks-gpu.json, so that a section cut short by the call's time limit loses only itself:
# OUTDIR/gpt/benchmarks-gpu.md is the report (or OUTDIR/pipeline, OUTDIR/overhead, the last that finished).
set -u
out=${1:?output folder}
steps=${2:-20}
mkdir -p "$out"
nvidia-smi -L
(timeout 120 bash .gpu/smp junit --select-class io.smp4j.core.gpu.GpuTest \
  --select-class io.smp4j.core.gpu.CudaEventClockTest > "$out/gputest.txt" 2>&1; echo "rc=$?" >> "$out/gputest.txt")
grep -E "MARKS|tests (successful|failed|found)|rc=|✘" "$out/gputest.txt" | tail -8
from=docs/benchmarks-gpu.json
section() { # name seconds: one section merged onto the last report that finished
  (timeout "$2" bash .gpu/smp bench gpu --sections "$1" --steps "$steps" --merge "$from" --out "$out/$1" \
    > "$out/$1.txt" 2>&1; echo "rc=$?" >> "$out/$1.txt")
  tail -1 "$out/$1.txt"
  if [ -f "$out/$1/benchmarks-gpu.json" ]; then from="$out/$1/benchmarks-gpu.json"; fi
}
section overhead 130
grep -A9 "## 1\." "$out/overhead/benchmarks-gpu.md" 2>/dev/null | tail -6
section pipeline 170
grep -A14 "## 2\." "$out/pipeline/benchmarks-gpu.md" 2>/dev/null | tail -9
section gpt 150
grep -A12 "## 6\." "$out/gpt/benchmarks-gpu.md" 2>/dev/null | tail -6
