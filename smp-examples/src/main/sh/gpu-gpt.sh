#!/bin/bash
# The gpt rows of docs/benchmarks-gpu.md, on a machine with one GPU and a bundle made by ../shared/tools/gpu-bundle:
#   bash smp-examples/src/main/sh/gpu-gpt.sh OUTDIR
# The gpt example (~400 M parameters, Adam, delayed initialisation) at P = 1, 2, 4 with the ranks sharing the GPU
# (processes_per_gpu), fp32 and fp16, each rank's GPU memory sampled from nvidia-smi every 0.2 s (the process's whole
# use: CUDA context, PyTorch's cache, parameters, gradients, optimizer state, activations), and the same model in
# PyTorch eager (fp32, fp16 and bf16 autocast) in the same run.
set -u
out=${1:?output folder}
mkdir -p "$out"
model=(--layers 32 --hidden 1024 --heads 16 --seq-len 64 --batch-size 4 --microbatches 4 --steps 8 --lr 0.0001
  --log-every 1)
peaks() { # the largest used_memory seen per pid, in MiB
  python3 -c "import sys,collections;m=collections.defaultdict(int)
for l in open(sys.argv[1]):
  p=l.strip().split(',')
  if len(p)==2 and p[1].strip().isdigit(): m[p[0].strip()]=max(m[p[0].strip()],int(p[1]))
print(' '.join(str(v) for _,v in sorted(m.items())))" "$1"
}
gpt() { # name np [options]
  local name=$1 np=$2; shift 2
  (while :; do nvidia-smi --query-compute-apps=pid,used_memory --format=csv,noheader,nounits; sleep 0.2; done) \
    > "$out/smi-$name.csv" 2>/dev/null &
  local s=$!
  timeout 240 bash .gpu/smp run -np "$np" gpt "${model[@]}" --partitions "$np" --metrics-json "$out/gpt-$name.json" "$@" \
    > "$out/gpt-$name.log" 2>&1
  local code=$?
  kill $s; wait $s 2>/dev/null
  echo "GPT $name np=$np exit=$code gpu_mib_per_process=[$(peaks "$out/smi-$name.csv")] $(grep -h 'done:' "$out/gpt-$name.log" | sed 's/.*done: //')"
}
for n in 2 4; do echo "{\"processes_per_gpu\": $n}" > "$out/ppg$n.json"; done
gpt p1-fp32 1
gpt p1-fp16 1 --fp16
gpt p2-fp32 2 --config "$out/ppg2.json"
gpt p4-fp32 4 --config "$out/ppg4.json"
gpt p4-fp16 4 --config "$out/ppg4.json" --fp16
gpt p2-trace-cpu 2 --config "$out/ppg2.json" --trace-device cpu
for p in fp32 fp16 bf16; do
  echo "PYTORCH $(python3 smp-examples/src/main/python/gpt_reference.py --precision $p --microbatches 4 2>&1 | tail -1)"
done
