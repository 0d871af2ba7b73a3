"""The gpt example's model in PyTorch, for side-by-side runs on a GPU (docs/benchmarks-gpu.md): the same layout
(token + learned position embeddings, pre-LayerNorm blocks of causal multi-head self-attention and a 4x GELU MLP,
final LayerNorm, a linear head), GPT-2's initialisation, Adam, random byte tokens. Prints one JSON line: median step
time (after a device synchronisation) and the peak memory PyTorch's allocator held.

    python3 gpt_reference.py --layers 32 --hidden 1024 --heads 16 --seq-len 64 --batch-size 4 --precision fp16
"""
import argparse
import json
import math
import statistics
import time

import torch
import torch.nn as nn
import torch.nn.functional as F


class Layer(nn.Module):
    def __init__(self, h, heads, residual_std):
        super().__init__()
        self.heads = heads
        self.ln1 = nn.LayerNorm(h)
        self.qkv = nn.Linear(h, 3 * h)
        self.proj = nn.Linear(h, h)
        self.ln2 = nn.LayerNorm(h)
        self.up = nn.Linear(h, 4 * h)
        self.down = nn.Linear(4 * h, h)
        for m, std in ((self.qkv, 0.02), (self.up, 0.02), (self.proj, residual_std), (self.down, residual_std)):
            nn.init.normal_(m.weight, 0, std)
            nn.init.zeros_(m.bias)

    def forward(self, x):
        b, t, h = x.shape
        d = h // self.heads
        q, k, v = self.qkv(self.ln1(x)).view(b, t, 3, self.heads, d).permute(2, 0, 3, 1, 4)
        mask = torch.triu(torch.full((t, t), -1e4, device=x.device, dtype=q.dtype), 1)
        att = torch.softmax(q @ k.transpose(-1, -2) / math.sqrt(d) + mask, -1)
        x = x + self.proj((att @ v).transpose(1, 2).reshape(b, t, h))
        return x + self.down(F.gelu(self.up(self.ln2(x))))


class Gpt(nn.Module):
    def __init__(self, layers, h, heads, seq_len, vocab):
        super().__init__()
        self.tokens = nn.Parameter(torch.randn(vocab, h) * 0.02)
        self.positions = nn.Parameter(torch.randn(seq_len, h) * 0.02)
        std = 0.02 / math.sqrt(2 * layers)
        self.layers = nn.ModuleList(Layer(h, heads, std) for _ in range(layers))
        self.ln = nn.LayerNorm(h)
        self.head = nn.Linear(h, vocab)
        nn.init.normal_(self.head.weight, 0, 0.02)
        nn.init.zeros_(self.head.bias)

    def forward(self, ids):
        x = self.tokens[ids] + self.positions[: ids.shape[1]]
        for layer in self.layers:
            x = layer(x)
        return self.head(self.ln(x))


def main():
    p = argparse.ArgumentParser()
    for name, default in (("layers", 32), ("hidden", 1024), ("heads", 16), ("seq-len", 64), ("vocab", 256),
                          ("batch-size", 4), ("microbatches", 1), ("steps", 20), ("warmup", 5),
                          ("cuda-profile-step", 0)):
        p.add_argument("--" + name, type=int, default=default)
    p.add_argument("--precision", choices=["fp32", "fp16", "bf16"], default="fp32")
    p.add_argument("--device", default="cuda")
    a = p.parse_args()
    torch.manual_seed(42)
    dev = torch.device(a.device)
    model = Gpt(a.layers, a.hidden, a.heads, a.seq_len, a.vocab).to(dev)
    opt = torch.optim.Adam(model.parameters(), lr=1e-4)
    scaler = torch.amp.GradScaler(enabled=a.precision == "fp16")
    dtype = {"fp16": torch.float16, "bf16": torch.bfloat16}.get(a.precision)
    ids = torch.randint(0, 256, (a.batch_size, a.seq_len + 1), device=dev)
    times, losses = [], []
    for step in range(a.warmup + a.steps):
        if dev.type == "cuda":
            torch.cuda.synchronize()
        if step + 1 == a.cuda_profile_step:
            torch.cuda.synchronize()
            torch.cuda.profiler.start()  # this step's kernels, one by one, for ncu --profile-from-start off
        t0 = time.perf_counter()
        opt.zero_grad(set_to_none=True)
        for mb in ids.chunk(a.microbatches):
            with torch.autocast(dev.type, dtype=dtype, enabled=dtype is not None):
                logits = model(mb[:, :-1])
                loss = F.cross_entropy(logits.float().reshape(-1, a.vocab), mb[:, 1:].reshape(-1)) / a.microbatches
            scaler.scale(loss).backward()
        scaler.step(opt)
        scaler.update()
        if dev.type == "cuda":
            torch.cuda.synchronize()
        if step + 1 == a.cuda_profile_step:
            torch.cuda.profiler.stop()
        if step >= a.warmup:
            times.append((time.perf_counter() - t0) * 1e3)
        losses.append(loss.item() * a.microbatches)
    out = {"model": "gpt", "framework": "pytorch " + torch.__version__, "precision": a.precision,
           "parameters": sum(p.numel() for p in model.parameters()), "median_step_ms": statistics.median(times),
           "losses": losses[:3] + losses[-1:]}
    if dev.type == "cuda":
        out["peak_allocated_mb"] = torch.cuda.max_memory_allocated() / 1e6
        out["peak_reserved_mb"] = torch.cuda.max_memory_reserved() / 1e6
    print(json.dumps(out))


if __name__ == "__main__":
    main()
