#!/usr/bin/python3
"""PyTorch peer of gessl-bench-vulkan and gessl-bench-opencl: the same matmul and convolution
shapes through torch on a CUDA GPU (cuBLAS, cuDNN) or the CPU, beside the gessl figures.

    torch_gemm.py [--device cuda] BENCH-OUTPUT...

Reads what the gessl benchmarks printed (their header names the columns: "vk ms", "ocl ms",
"opencl ms"), times every shape found there with torch the way the benchmarks time a
launch (one warm-up run, then the best of 3 rounds of 5 runs for matmul and 3 for convolutions,
each round ending when the device is done), and prints per shape torch's time and, per gessl
backend, its time and its speed as a share of torch's (torch ms / backend ms: 1 is as fast as
torch, 0.5 half as fast). Then, per backend and family, the geometric mean of those shares.

On CUDA the arithmetic stays fp32: TF32 is off for matrix products and cuDNN convolutions.
Shapes: "matmul MxKxN" is an (M,K) by (K,N) product; "conv[ dx| dw] NxCxHxW k3" is a 3x3 stride-1
pad-1 convolution with C input and C output channels (forward, data gradient, filter gradient).
"""
import argparse
import math
import re
import sys
import time

import torch
import torch.nn.functional as F
from torch_device import open_device

ROW = re.compile(r"^(matmul|conv dx|conv dw|conv) ([0-9x]+)( k3)? \([^)]*\)\s+(.*)$")
BACKEND = {"vk": "vulkan", "ocl": "opencl", "opencl": "opencl", "cpu": "cpu"}


def read_bench(path, found):
    """Adds {(kind, dims): {backend: ms}} from one benchmark output; keeps each backend's best."""
    cols = None
    with open(path, encoding="utf-8") as f:
        for line in f:
            if line.startswith("shape "):
                cols = [c.strip() for c in re.split(r"\s{2,}", line.strip())[1:]]
                continue
            m = ROW.match(line.rstrip("\n"))
            if not m or cols is None:
                continue
            kind, dims, nums = m.group(1), tuple(int(v) for v in m.group(2).split("x")), m.group(4)
            vals = nums.split()
            row = found.setdefault((kind, dims), {})
            for name, v in zip(cols, vals):
                if not name.endswith(" ms"):
                    continue
                be = BACKEND.get(name[:-3], name[:-3])
                ms = float(v)
                if be not in row or ms < row[be]:
                    row[be] = ms


def flop(kind, dims):
    if kind == "matmul":
        m, k, n = dims
        return 2.0 * m * k * n
    n, c, h, w = dims
    return 2.0 * n * c * h * w * c * 9


def make_run(kind, dims, dev):
    """A closure running the shape once on dev, with its inputs made here."""
    g = torch.Generator().manual_seed(1)
    rnd = lambda *s: (torch.rand(*s, generator=g) - 0.5).to(dev)
    if kind == "matmul":
        m, k, n = dims
        a, b = rnd(m, k), rnd(k, n)
        return lambda: torch.matmul(a, b)
    n, c, h, w = dims
    x, wt, dy = rnd(n, c, h, w), rnd(c, c, 3, 3), rnd(n, c, h, w)
    if kind == "conv":
        return lambda: F.conv2d(x, wt, padding=1)
    if kind == "conv dx":
        return lambda: torch.nn.grad.conv2d_input(x.shape, wt, dy, padding=1)
    return lambda: torch.nn.grad.conv2d_weight(x, wt.shape, dy, padding=1)


def time_run(run, reps, sync):
    """Seconds per run: a warm-up run, then the best of 3 rounds of reps runs."""
    run()
    sync()
    best = math.inf
    for _ in range(3):
        t0 = time.perf_counter()
        for _ in range(reps):
            run()
        sync()
        best = min(best, (time.perf_counter() - t0) / reps)
    return best


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    ap.add_argument("bench", nargs="+", help="output of gessl-bench-vulkan or gessl-bench-opencl")
    a = ap.parse_args()

    found = {}
    for path in a.bench:
        read_bench(path, found)
    if not found:
        sys.exit("torch_gemm: no matmul or conv rows in %s" % ", ".join(a.bench))
    dev = open_device(a.device, "torch_gemm")
    if dev.type == "cuda":
        where = "%s, CUDA %s, cuDNN %s, TF32 off" % (torch.cuda.get_device_name(dev),
                                                     torch.version.cuda,
                                                     torch.backends.cudnn.version())
        sync = lambda: torch.cuda.synchronize(dev)
    else:
        where = "cpu, %d threads" % torch.get_num_threads()
        sync = lambda: None
    print("torch %s on %s; times in ms; share = torch ms / gessl ms (1: as fast as torch)"
          % (torch.__version__, where))

    # The CPU backend's column stays in the gessl benchmarks' own output (their ratios to it).
    backends = [b for b in ("vulkan", "opencl") if any(b in r for r in found.values())]
    head = "%-28s %10s %9s" % ("shape", "torch ms", "GFLOP/s")
    for b in backends:
        head += " %10s %9s" % (b + " ms", "share")
    print(head)
    shares = {}
    for (kind, dims), row in found.items():
        reps = 5 if kind == "matmul" else 3
        with torch.no_grad():
            t = time_run(make_run(kind, dims, dev), reps, sync) * 1e3
        label = "%s %s" % (kind, "x".join(str(d) for d in dims))
        line = "%-28s %10.3f %9.1f" % (label, t, flop(kind, dims) / t * 1e-6)
        for b in backends:
            if b in row and row[b] > 0:
                s = t / row[b]
                shares.setdefault((b, kind.split()[0]), []).append(s)
                line += " %10.3f %9.3g" % (row[b], s)
            else:
                line += " %10s %9s" % ("-", "-")
        print(line)
    print()
    for (b, family), v in sorted(shares.items()):
        g = math.exp(sum(math.log(s) for s in v) / len(v))
        print("speed vs torch: %s %s %.3g (geometric mean of %d shapes)" % (b, family, g, len(v)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
