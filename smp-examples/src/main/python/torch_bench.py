#!/usr/bin/python3
"""PyTorch side of ./smp bench (Debian's python3-torch, CPU, gloo): the peers smp4j is compared with.

  torch_bench.py ddp  --out FILE [--nproc 2] [--batch-size 32] [--image-size 64] [--steps 12] [--warmup 3]
      torchvision ResNet18 (10 classes) under DistributedDataParallel (gloo), 1 intra-op thread per process,
      synthetic data made once; median step time (every step starts at a barrier), samples/s, and the median time
      of one all-reduce of all gradients as one flat tensor.
  torch_bench.py allreduce --out FILE [--nproc 2] --sizes B1,B2,...
      gloo all_reduce of float32 tensors of the given byte sizes: median time per size.
  torch_bench.py single --out FILE [--device cuda] [--batch-size 64] [--image-size 224] [--steps 20] [--warmup 5]
      one process, eager mode: torchvision ResNet18 (10 classes), SGD with momentum, synthetic data made once on the
      device; median step time with the device synchronised before each clock read.
"""
import argparse
import json
import os
import statistics
import sys
import time

import torch
import torch.distributed as dist
import torch.multiprocessing as mp


def setup(rank, nproc, port):
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    torch.set_num_threads(1)
    torch.set_num_interop_threads(1)
    dist.init_process_group("gloo", rank=rank, world_size=nproc)


def ddp(rank, args, queue):
    import torchvision
    setup(rank, args.nproc, args.port)
    torch.manual_seed(5)
    model = torchvision.models.resnet18(num_classes=10)
    net = torch.nn.parallel.DistributedDataParallel(model)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()
    x = torch.randn(args.batch_size, 3, args.image_size, args.image_size)
    y = torch.randint(0, 10, (args.batch_size,))
    times = []
    for step in range(args.warmup + args.steps):
        dist.barrier()
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = loss_fn(net(x), y)
        loss.backward()
        opt.step()
        t1 = time.perf_counter()
        if step >= args.warmup:
            times.append((t1 - t0) * 1e3)
    params = sum(p.numel() for p in model.parameters())
    flat = torch.zeros(params)
    ar = []
    for i in range(8):
        dist.barrier()
        t0 = time.perf_counter()
        dist.all_reduce(flat)
        ar.append((time.perf_counter() - t0) * 1e3)
    med = torch.tensor([statistics.median(times)])
    dist.all_reduce(med, op=dist.ReduceOp.MAX)
    if rank == 0:
        queue.put({"torch_version": torch.__version__, "parameters": params, "median_step_ms": med.item(),
                   "samples_per_second": args.batch_size * args.nproc / (med.item() / 1e3),
                   "all_reduce_ms": statistics.median(ar[2:]), "step_ms": times})
    dist.destroy_process_group()


def allreduce(rank, args, queue):
    setup(rank, args.nproc, args.port)
    out = {}
    for size in [int(s) for s in args.sizes.split(",")]:
        t = torch.ones(size // 4)
        iters = 20 if size < (8 << 20) else 6
        times = []
        for i in range(iters + 2):
            dist.barrier()
            t0 = time.perf_counter()
            dist.all_reduce(t)
            if i >= 2:
                times.append((time.perf_counter() - t0) * 1e3)
        out[str(size)] = statistics.median(times)
    if rank == 0:
        queue.put({"torch_version": torch.__version__, "nproc": args.nproc, "median_ms": out})
    dist.destroy_process_group()


def single(args):
    import torchvision
    dev = torch.device(args.device)
    torch.manual_seed(5)
    model = torchvision.models.resnet18(num_classes=10).to(dev)
    opt = torch.optim.SGD(model.parameters(), lr=0.01, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()
    x = torch.randn(args.batch_size, 3, args.image_size, args.image_size, device=dev)
    y = torch.randint(0, 10, (args.batch_size,), device=dev)
    sync = torch.cuda.synchronize if dev.type == "cuda" else (lambda: None)
    times = []
    for step in range(args.warmup + args.steps):
        sync()
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = loss_fn(model(x), y)
        loss.backward()
        opt.step()
        sync()
        if step >= args.warmup:
            times.append((time.perf_counter() - t0) * 1e3)
    med = statistics.median(times)
    return {"torch_version": torch.__version__, "device": str(dev),
            "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
            "median_step_ms": med, "samples_per_second": args.batch_size / (med / 1e3), "step_ms": times}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("what", choices=["ddp", "allreduce", "single"])
    p.add_argument("--device", default="cuda")
    p.add_argument("--out", required=True)
    p.add_argument("--nproc", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--sizes", default="4096")
    p.add_argument("--port", type=int, default=29611)
    args = p.parse_args()
    if args.what == "single":
        with open(args.out, "w") as f:
            json.dump(single(args), f, indent=2)
        return 0
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    fn = ddp if args.what == "ddp" else allreduce
    procs = [ctx.Process(target=fn, args=(r, args, queue)) for r in range(args.nproc)]
    for pr in procs:
        pr.start()
    result = queue.get(timeout=1200)
    for pr in procs:
        pr.join(60)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
