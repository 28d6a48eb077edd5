#!/usr/bin/python3
"""PyTorch peer of one gessl SimCLR training step, on the CPU or on a CUDA GPU.

Builds the same networks gessl builds (runtime/model/, plugins/methods/simclr/) in plain
torch.nn, times --steps SGD-momentum steps on random 32x32x3 batches (two views per image,
both through the backbone as one batch of 2N, as gessl does) and prints two lines:

    torch <model> batch B threads T on DEVICE: S steps in X s  Y images/s  peak RSS Z MiB
    model forward GFLOP per view: F

F counts the multiply-adds (x2) of the convolutions and linear layers, so a step's useful work is
3 x F x 2B (forward, two backward passes; two views per image).

images/s counts images (not views) per second of the timed steps, as `gessl train` does; the
first --warmup steps are left out of the timing. Peak RSS is the process's, read at the end.

With --device cuda the arithmetic stays fp32, as gessl's contract is: TF32 is turned off for
matrix products and cuDNN convolutions. Every step reads its loss back, as `gessl train` does, so
the timed steps end when the GPU has finished them.
"""
import argparse
import resource
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch_device import open_device


def conv3x3(cin, cout, stride=1):
    return nn.Conv2d(cin, cout, 3, stride, 1, bias=False)


class ConvNet(nn.Module):
    """Three blocks conv3x3 (no bias) -> BN -> ReLU -> maxpool 2 (32/64/128 channels), then
    conv3x3 to 256 -> BN -> ReLU -> global average pool: gessl's 'convnet'."""

    def __init__(self, cin=3):
        super().__init__()
        layers = []
        for k, c in enumerate((32, 64, 128, 256)):
            layers += [conv3x3(cin, c), nn.BatchNorm2d(c), nn.ReLU(inplace=True)]
            if k < 3:
                layers.append(nn.MaxPool2d(2))
            cin = c
        self.features = nn.Sequential(*layers)
        self.feat_dim = 256

    def forward(self, x):
        return torch.flatten(F.adaptive_avg_pool2d(self.features(x), 1), 1)


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = conv3x3(cin, cout, stride)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = conv3x3(cout, cout)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                            nn.BatchNorm2d(cout))

    def forward(self, x):
        y = F.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        s = self.downsample(x) if self.downsample is not None else x
        return F.relu(y + s)


class ResNet18(nn.Module):
    """torchvision's ResNet-18 with the CIFAR stem (3x3/1 conv, no max-pool), no fc."""

    def __init__(self, cin=3):
        super().__init__()
        self.conv1 = conv3x3(cin, 64)
        self.bn1 = nn.BatchNorm2d(64)
        blocks, cin = [], 64
        for k, c in enumerate((64, 128, 256, 512)):
            for b in range(2):
                stride = 2 if k > 0 and b == 0 else 1
                blocks.append(BasicBlock(cin, c, stride))
                cin = c
        self.blocks = nn.Sequential(*blocks)
        self.feat_dim = 512

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        return torch.flatten(F.adaptive_avg_pool2d(self.blocks(x), 1), 1)


def nt_xent(z, temperature):
    """SimCLR's loss over 2N projections, rows i and i+N (mod 2N) are partners."""
    z = F.normalize(z, dim=1, eps=1e-12)
    n2 = z.shape[0]
    sim = z @ z.t() / temperature
    sim = sim - 1e9 * torch.eye(n2, dtype=z.dtype, device=z.device)
    partner = (torch.arange(n2, device=z.device) + n2 // 2) % n2
    return F.cross_entropy(sim, partner)


def forward_gflop(net, x):
    """2 x multiply-adds of every convolution and linear layer in one forward pass of x."""
    total = [0]

    def conv(m, _, out):
        k = m.in_channels // m.groups * m.kernel_size[0] * m.kernel_size[1]
        total[0] += 2 * out.numel() * k

    def linear(m, _, out):
        total[0] += 2 * out.numel() * m.in_features

    hooks = [m.register_forward_hook(conv) for m in net.modules() if isinstance(m, nn.Conv2d)]
    hooks += [m.register_forward_hook(linear) for m in net.modules() if isinstance(m, nn.Linear)]
    with torch.no_grad():
        net(x)
    for hk in hooks:
        hk.remove()
    return total[0] * 1e-9


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--model", choices=("convnet", "resnet18"), default="convnet")
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--steps", type=int, default=10, help="timed steps")
    ap.add_argument("--warmup", type=int, default=1, help="untimed steps first")
    ap.add_argument("--threads", type=int, default=0, help="0: all cores")
    ap.add_argument("--image", default="32x32x3", help="HxWxC of the random views")
    ap.add_argument("--proj-hidden", type=int, default=2048)
    ap.add_argument("--proj-out", type=int, default=256)
    ap.add_argument("--temperature", type=float, default=0.2)
    ap.add_argument("--lr", type=float, default=0.3)
    ap.add_argument("--weight-decay", type=float, default=5e-4)
    ap.add_argument("--device", default="cpu", help="cpu or cuda[:N]")
    a = ap.parse_args()

    dev = open_device(a.device, "torch_train_step")

    if a.threads > 0:
        torch.set_num_threads(a.threads)
    torch.manual_seed(0)
    h, w, c = (int(v) for v in a.image.split("x"))
    backbone = ConvNet(c) if a.model == "convnet" else ResNet18(c)
    projector = nn.Sequential(nn.Linear(backbone.feat_dim, a.proj_hidden, bias=False),
                              nn.BatchNorm1d(a.proj_hidden), nn.ReLU(inplace=True),
                              nn.Linear(a.proj_hidden, a.proj_out))
    net = nn.Sequential(backbone, projector).to(dev).train()
    opt = torch.optim.SGD(net.parameters(), lr=a.lr, momentum=0.9, weight_decay=a.weight_decay)

    # Fresh random views each step, made outside the timed region: the peer's loader is free.
    gen = torch.Generator().manual_seed(1)
    batches = [torch.rand(2 * a.batch, c, h, w, generator=gen).to(dev) for _ in range(2)]
    gflop = forward_gflop(net, torch.rand(2, c, h, w, generator=gen).to(dev)) / 2

    def step(x):
        opt.zero_grad(set_to_none=True)
        loss = nt_xent(net(x), a.temperature)
        loss.backward()
        opt.step()
        return float(loss)

    for k in range(a.warmup):
        step(batches[k % 2])
    t0 = time.perf_counter()
    for k in range(a.steps):
        loss = step(batches[k % 2])
    dt = time.perf_counter() - t0
    rss_mib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0
    where = dev.type if dev.type == "cpu" else f"{torch.cuda.get_device_name(dev)} (TF32 off)"
    print(f"torch {a.model} batch {a.batch} threads {torch.get_num_threads()} on {where}: "
          f"{a.steps} steps in {dt:.2f} s  {a.steps * a.batch / dt:.1f} images/s  "
          f"peak RSS {rss_mib:.0f} MiB  loss {loss:.4f}")
    print(f"model forward GFLOP per view: {gflop:.4f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
