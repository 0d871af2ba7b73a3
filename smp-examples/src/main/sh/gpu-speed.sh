#!/bin/bash
# One device call for the GPU speed report, on a machine with one GPU and a bundle made by
# ../shared/tools/gpu-bundle --tests:
#   bash smp-examples/src/main/sh/gpu-speed.sh OUTDIR [STEPS [SECTION...]]
# SECTION: gputest (GpuTest, CudaEventClockTest), gpuexamples (GpuExampleTest, GpuOutOfMemoryTest), overhead, pipeline, gpt (sections 1, 2 and 6 of ./smp bench gpu),
# mps (section 2's two stages at M = 4 again with CUDA's Multi-Process Service running, where it starts), ncu-gpt (one
# fp32 step of section 6's gpt, smp4j's and PyTorch's, each kernel timed by ncu: kernel time by family), ncu-resnet (the
# same for one step of section 1's ResNet18 at 224 px, flat parameters, cuDNN benchmark on); default:
# gputest overhead pipeline gpt. Each report section is merged onto the last report that finished (first: the
# committed docs/benchmarks-gpu.json), so that a section cut short by the call's time limit loses only itself.
# OUTDIR gets a few files only (a device call brings back at most 8): benchmarks-gpu.md/.json (the last report),
# timeline-gpu-pipeline-M4.svg/.json and log.txt (every step's output).
set -u
out=${1:?output folder}
steps=${2:-20}
shift $(( $# >= 2 ? 2 : $# ))
sections=${*:-gputest overhead pipeline gpt}
work=$(mktemp -d)
mkdir -p "$out"
log="$out/log.txt"
nvidia-smi -L | tee -a "$log"
from=docs/benchmarks-gpu.json
budget() { case "$1" in overhead) echo 180 ;; pipeline) echo 200 ;; gpt) echo 150 ;; *) echo 120 ;; esac; }
for s in $sections; do
  echo "== $s" >> "$log"
  case "$s" in
    gputest)
      timeout 120 bash .gpu/smp junit --select-class io.smp4j.core.gpu.GpuTest \
        --select-class io.smp4j.core.gpu.CudaEventClockTest > "$work/gputest.txt" 2>&1; echo "rc=$?" >> "$work/gputest.txt"
      grep -E "MARKS|tests (successful|failed|found)|rc=|✘" "$work/gputest.txt" | tail -8 | tee -a "$log"
      grep -E "✘|Exception|expected" "$work/gputest.txt" | head -20 >> "$log" ;;
    gpuexamples)
      timeout 240 bash .gpu/smp junit --select-class io.smp4j.examples.gpu.GpuExampleTest \
        --select-class io.smp4j.examples.gpu.GpuOutOfMemoryTest > "$work/gpuexamples.txt" 2>&1
      echo "rc=$?" >> "$work/gpuexamples.txt"
      grep -E "tests (successful|failed|found|skipped)|rc=|✘" "$work/gpuexamples.txt" | tail -8 | tee -a "$log"
      grep -E "✘|Exception|expected" "$work/gpuexamples.txt" | head -20 >> "$log" ;;
    mps)
      if nvidia-cuda-mps-control -d >> "$log" 2>&1; then
        timeout 120 bash .gpu/smp run -np 2 trainbench --image-size 224 --batch-size 64 --warmup 15 --steps "$steps" \
          --observed-steps 5 --partitions 2 --microbatches 4 --pipeline interleaved --optimize speed \
          --processes-per-gpu 2 --out "$work/mps-M4.json" > "$work/mps.txt" 2>&1; echo "rc=$?" >> "$work/mps.txt"
        echo quit | nvidia-cuda-mps-control
        tail -n 3 "$work/mps.txt" | tee -a "$log"
        python3 -c "import json,sys;d=json.load(open(sys.argv[1]));print('MPS M4 median step ms',d['median_step_ms'])" \
          "$work/mps-M4.json" 2>&1 | tee -a "$log"
      else
        echo "MPS did not start" | tee -a "$log"
      fi ;;
    ncu-gpt)
      model="--layers 12 --hidden 768 --heads 12 --seq-len 256 --batch-size 8"
      ncu="ncu --profile-from-start off --clock-control none --metrics gpu__time_duration.sum --csv --page raw"
      timeout 150 $ncu --log-file "$work/ncu-smp4j.csv" bash .gpu/smp run -np 1 gpt $model --steps 4 --lr 0.0001 \
        --cuda-profile-step 3 > "$work/ncu-smp4j.txt" 2>&1; echo "smp4j rc=$?" | tee -a "$log"
      timeout 90 $ncu --log-file "$work/ncu-pytorch.csv" python3 smp-examples/src/main/python/gpt_reference.py $model \
        --steps 1 --warmup 3 --cuda-profile-step 3 > "$work/ncu-pytorch.txt" 2>&1; echo "pytorch rc=$?" | tee -a "$log"
      tail -n 3 "$work/ncu-smp4j.txt" "$work/ncu-pytorch.txt" >> "$log"
      python3 smp-examples/src/main/python/ncu_summary.py smp4j="$work/ncu-smp4j.csv" pytorch="$work/ncu-pytorch.csv" \
        2>&1 | tee -a "$log" | tail -12
      cp "$work"/ncu-smp4j.csv "$work"/ncu-pytorch.csv "$out"/ 2>/dev/null ;;
    ncu-resnet)
      ncu="ncu --profile-from-start off --clock-control none --metrics gpu__time_duration.sum --csv --page raw"
      timeout 150 $ncu --log-file "$work/ncu-resnet-smp4j.csv" bash .gpu/smp run -np 1 --cp "$PWD/.gpu/lib/*" \
        io.smp4j.examples.bench.OverheadBench --model resnet18 --image-size 224 --batch-size 64 --rounds 2 --steps 5 \
        --flat-parameters true --cudnn-benchmark true --cuda-profile smp --out "$work/ncu-resnet.json" \
        > "$work/ncu-resnet-smp4j.txt" 2>&1; echo "smp4j rc=$?" | tee -a "$log"
      timeout 90 $ncu --log-file "$work/ncu-resnet-pytorch.csv" python3 smp-examples/src/main/python/torch_bench.py \
        single --device cuda --batch-size 64 --image-size 224 --steps 5 --warmup 5 --cudnn-benchmark true \
        --cuda-profile --out "$work/ncu-resnet-pytorch.json" > "$work/ncu-resnet-pytorch.txt" 2>&1
      echo "pytorch rc=$?" | tee -a "$log"
      tail -n 3 "$work/ncu-resnet-smp4j.txt" "$work/ncu-resnet-pytorch.txt" >> "$log"
      python3 smp-examples/src/main/python/ncu_summary.py smp4j="$work/ncu-resnet-smp4j.csv" \
        pytorch="$work/ncu-resnet-pytorch.csv" 2>&1 | tee -a "$log" | tail -30
      cp "$work"/ncu-resnet-smp4j.csv "$work"/ncu-resnet-pytorch.csv "$out"/ 2>/dev/null ;;
    *)
      timeout "$(budget "$s")" bash .gpu/smp bench gpu --sections "$s" --steps "$steps" --merge "$from" \
        --out "$work/$s" > "$work/$s.txt" 2>&1; echo "rc=$?" >> "$work/$s.txt"
      grep -E "^bench|rc=|Exception|ERROR" "$work/$s.txt" | tail -20 >> "$log"
      tail -1 "$work/$s.txt"
      if [ -f "$work/$s/benchmarks-gpu.json" ]; then
        from="$work/$s/benchmarks-gpu.json"
        cp "$work/$s"/benchmarks-gpu.md "$work/$s"/benchmarks-gpu.json "$work/$s"/timeline-gpu-pipeline-M4.* "$out"/ \
          2>/dev/null # each time: a call cut short keeps what finished
        grep -A14 -E "^## $(case $s in overhead) echo 1 ;; pipeline) echo 2 ;; *) echo 6 ;; esac)\." \
          "$out/benchmarks-gpu.md" | grep -E "^\| [a-z0-9]|^PyTorch eager in" | cut -c1-400
      fi ;;
  esac
done
