"""The device the PyTorch peers of the benchmarks run on: CPU, or a CUDA device with TF32 off,
since gessl's contract is fp32 and TF32 would compare a cheaper arithmetic."""

import sys

import torch


def open_device(name, prog):
    """torch.device for NAME ("cpu" or "cuda[:N]"); exits naming PROG when CUDA is not there."""
    dev = torch.device(name)
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            sys.exit("%s: --device %s: this torch sees no CUDA device" % (prog, name))
        torch.backends.cuda.matmul.allow_tf32 = False
        torch.backends.cudnn.allow_tf32 = False
    return dev
