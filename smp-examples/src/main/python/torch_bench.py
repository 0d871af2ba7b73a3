#!/usr/bin/python3
"""PyTorch side of ./smp bench (Debian's python3-torch, CPU, gloo; or a GPU host's PyTorch): the peers smp4j is
compared with.

  torch_bench.py ddp  --out FILE [--nproc 2] [--batch-size 32] [--image-size 64] [--steps 12] [--warmup 3]
                      [--device cpu|cuda]
      torchvision ResNet18 (10 classes) under DistributedDataParallel (gloo and 1 intra-op thread per process on
      the CPU; NCCL and GPU r for process r with cuda), synthetic data made once; median step time (every step starts
      at a barrier, clocks read after a device synchronisation), samples/s, and the median time of one all-reduce of
      all gradients as one flat tensor.
  torch_bench.py p2p --out FILE --sizes B1,B2,... [--allreduce-bytes B]
      two GPUs: per size, copies device -> host and host -> device (pageable and pinned host memory), GPU 0 -> GPU 1
      directly (peer to peer where the GPUs allow it), and NCCL send/recv between two processes (half a round trip);
      NCCL's all-reduce of B bytes (the gradients) and gloo's of the same bytes in host memory. Medians, ms.
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


def setup(rank, nproc, port, backend="gloo"):
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(port)
    if backend == "gloo":
        torch.set_num_threads(1)
        torch.set_num_interop_threads(1)
    else:
        torch.cuda.set_device(rank)
    dist.init_process_group(backend, rank=rank, world_size=nproc)


def ddp(rank, args, queue):
    import torchvision
    cuda = args.device == "cuda"
    setup(rank, args.nproc, args.port, "nccl" if cuda else "gloo")
    dev = torch.device("cuda", rank) if cuda else torch.device("cpu")
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    torch.manual_seed(5)
    model = torchvision.models.resnet18(num_classes=10).to(dev)
    net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[rank] if cuda else None)
    opt = torch.optim.SGD(net.parameters(), lr=0.01, momentum=0.9)
    loss_fn = torch.nn.CrossEntropyLoss()
    x = torch.randn(args.batch_size, 3, args.image_size, args.image_size, device=dev)
    y = torch.randint(0, 10, (args.batch_size,), device=dev)
    times = []
    for step in range(args.warmup + args.steps):
        sync()
        dist.barrier()
        t0 = time.perf_counter()
        opt.zero_grad()
        loss = loss_fn(net(x), y)
        loss.backward()
        opt.step()
        sync()
        t1 = time.perf_counter()
        if step >= args.warmup:
            times.append((t1 - t0) * 1e3)
    params = sum(p.numel() for p in model.parameters())
    flat = torch.zeros(params, device=dev)
    ar = []
    for i in range(8):
        sync()
        dist.barrier()
        t0 = time.perf_counter()
        dist.all_reduce(flat)
        sync()
        ar.append((time.perf_counter() - t0) * 1e3)
    med = torch.tensor([statistics.median(times)], device=dev)
    dist.all_reduce(med, op=dist.ReduceOp.MAX)
    if rank == 0:
        queue.put({"torch_version": torch.__version__, "backend": dist.get_backend(), "device": args.device,
                   "parameters": params, "median_step_ms": med.item(),
                   "samples_per_second": args.batch_size * args.nproc / (med.item() / 1e3),
                   "all_reduce_ms": statistics.median(ar[2:]), "step_ms": times})
    dist.destroy_process_group()


def allreduce(rank, args, queue):
    """all_reduce per size (all ranks), and send/recv between ranks 0 and 1 (half a round trip; others idle)."""
    setup(rank, args.nproc, args.port)
    out, p2p = {}, {}
    for size in [int(s) for s in args.sizes.split(",")]:
        t = torch.ones(size // 4)
        iters = 200 if size <= (64 << 10) else 50 if size <= (1 << 20) else 20 if size < (8 << 20) else 6
        times = []
        for i in range(iters + 10):
            dist.barrier()
            t0 = time.perf_counter()
            dist.all_reduce(t)
            if i >= 10:
                times.append((time.perf_counter() - t0) * 1e3)
        out[str(size)] = statistics.median(times)
        times = []
        dist.barrier()
        for i in range(iters + 10):
            t0 = time.perf_counter()
            if rank == 0:
                dist.send(t, 1)
                dist.recv(t, 1)
            elif rank == 1:
                dist.recv(t, 0)
                dist.send(t, 0)
            if i >= 10:
                times.append((time.perf_counter() - t0) * 1e3 / 2)
        dist.barrier()
        p2p[str(size)] = statistics.median(times)
    if rank == 0:
        queue.put({"torch_version": torch.__version__, "nproc": args.nproc, "median_ms": out,
                   "p2p_median_ms": p2p})
    dist.destroy_process_group()


def timed(fn, iters, sync):
    out = []
    for i in range(iters + 2):
        sync()
        t0 = time.perf_counter()
        fn()
        sync()
        if i >= 2:
            out.append((time.perf_counter() - t0) * 1e3)
    return statistics.median(out)


def p2p_local(args):
    """Copies within one process: device <-> host (pageable, pinned) and GPU 0 -> GPU 1."""
    sync = lambda: (torch.cuda.synchronize(0), torch.cuda.synchronize(1))
    out = {"peer_access": torch.cuda.can_device_access_peer(0, 1)}
    for size in [int(s) for s in args.sizes.split(",")]:
        n = size // 4
        a = torch.ones(n, device="cuda:0")
        b = torch.empty(n, device="cuda:1")
        pageable = torch.empty(n)
        pinned = torch.empty(n, pin_memory=True)
        out[str(size)] = {
            "d2h_pageable": timed(lambda: pageable.copy_(a), 10, sync),
            "d2h_pinned": timed(lambda: pinned.copy_(a), 10, sync),
            "h2d_pageable": timed(lambda: a.copy_(pageable), 10, sync),
            "h2d_pinned": timed(lambda: a.copy_(pinned), 10, sync),
            "gpu0_to_gpu1": timed(lambda: b.copy_(a), 10, sync),
        }
    return out


def p2p(rank, args, queue):
    """NCCL send/recv (half a round trip) per size, NCCL and gloo all-reduce of the gradients' bytes."""
    setup(rank, 2, args.port, "nccl")
    sync = torch.cuda.synchronize
    out = {}
    for size in [int(s) for s in args.sizes.split(",")]:
        t = torch.ones(size // 4, device="cuda")

        def pingpong():
            if rank == 0:
                dist.send(t, 1)
                dist.recv(t, 1)
            else:
                dist.recv(t, 0)
                dist.send(t, 0)
        dist.barrier()
        out[str(size)] = {"nccl_send_recv": timed(pingpong, 10, sync) / 2}
    g = torch.ones(args.allreduce_bytes // 4, device="cuda")
    dist.barrier()
    nccl_ar = timed(lambda: dist.all_reduce(g), 10, sync)
    cpu_group = dist.new_group(backend="gloo")
    h = torch.ones(args.allreduce_bytes // 4)
    dist.barrier()
    gloo_ar = timed(lambda: dist.all_reduce(h, group=cpu_group), 6, lambda: None)
    if rank == 0:
        queue.put({"torch_version": torch.__version__, "nccl_version": str(torch.cuda.nccl.version()),
                   "sizes": out, "allreduce_bytes": args.allreduce_bytes, "nccl_all_reduce_ms": nccl_ar,
                   "gloo_host_all_reduce_ms": gloo_ar})
    dist.destroy_process_group()


def single(args):
    import torchvision
    if args.microbatches < 1 or args.batch_size % args.microbatches:
        raise SystemExit(f"--microbatches {args.microbatches} must divide --batch-size {args.batch_size}")
    dev = torch.device(args.device)
    torch.backends.cudnn.benchmark = args.cudnn_benchmark == "true"
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
        # Microbatches: the batch in equal parts, gradients accumulated (each part's loss over the count).
        for xs, ys in zip(x.chunk(args.microbatches), y.chunk(args.microbatches)):
            loss = loss_fn(model(xs), ys) / args.microbatches
            loss.backward()
        opt.step()
        sync()
        if step >= args.warmup:
            times.append((time.perf_counter() - t0) * 1e3)
    if args.cuda_profile:
        # One more step inside a profiler range (ncu --profile-from-start off): its kernels, one by one.
        sync()
        torch.cuda.profiler.start()
        opt.zero_grad()
        loss_fn(model(x), y).backward()
        opt.step()
        sync()
        torch.cuda.profiler.stop()
    med = statistics.median(times)
    return {"torch_version": torch.__version__, "device": str(dev),
            "device_name": torch.cuda.get_device_name(dev) if dev.type == "cuda" else "cpu",
            "cudnn_benchmark": torch.backends.cudnn.benchmark, "microbatches": args.microbatches, "median_step_ms": med, "samples_per_second": args.batch_size / (med / 1e3), "step_ms": times}


def main():
    p = argparse.ArgumentParser()
    p.add_argument("what", choices=["ddp", "allreduce", "single", "p2p"])
    p.add_argument("--device", default="cpu")
    p.add_argument("--cudnn-benchmark", choices=["true", "false"], default="true")
    p.add_argument("--out", required=True)
    p.add_argument("--cuda-profile", action="store_true")
    p.add_argument("--nproc", type=int, default=2)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--microbatches", type=int, default=1, help="single: the batch in this many parts, gradients "
                   "accumulated")
    p.add_argument("--image-size", type=int, default=64)
    p.add_argument("--steps", type=int, default=12)
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--sizes", default="4096")
    p.add_argument("--port", type=int, default=29611)
    p.add_argument("--allreduce-bytes", type=int, default=46758440)
    args = p.parse_args()
    if args.what == "single":
        with open(args.out, "w") as f:
            json.dump(single(args), f, indent=2)
        return 0
    local = p2p_local(args) if args.what == "p2p" else None
    ctx = mp.get_context("spawn")
    queue = ctx.Queue()
    fn = {"ddp": ddp, "allreduce": allreduce, "p2p": p2p}[args.what]
    if args.what == "p2p":
        args.nproc = 2
    procs = [ctx.Process(target=fn, args=(r, args, queue)) for r in range(args.nproc)]
    for pr in procs:
        pr.start()
    result = queue.get(timeout=1200)
    for pr in procs:
        pr.join(60)
    if local is not None:
        result["local"] = local
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
