"""The peer of gessl-bench-folder: torchvision's RandomResizedCrop(224) + RandomHorizontalFlip +
ColorJitter(0.4, 0.4, 0.4, 0.1) applied with p=0.8 + ToTensor + Normalize, decoding with PIL, in a
DataLoader with the given number of worker processes, over the same folder. Prints one line:
"images_per_s N".

usage: /usr/bin/python3 torchvision_loader.py DIR WORKERS IMAGES [SIZE]"""
import sys
import time

import torch
from torchvision import datasets, transforms


def main():
    root, workers, images = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
    size = int(sys.argv[4]) if len(sys.argv) > 4 else 224
    torch.set_num_threads(1)
    tf = transforms.Compose([
        transforms.RandomResizedCrop(size),
        transforms.RandomHorizontalFlip(),
        transforms.RandomApply([transforms.ColorJitter(0.4, 0.4, 0.4, 0.1)], p=0.8),
        transforms.ToTensor(),
        transforms.Normalize((0.5, 0.5, 0.5), (0.25, 0.25, 0.25)),
    ])
    ds = datasets.ImageFolder(root, transform=tf)
    dl = torch.utils.data.DataLoader(ds, batch_size=64, shuffle=True, num_workers=workers,
                                     drop_last=True, persistent_workers=workers > 0)
    it = iter(dl)
    next(it)  # warm-up: workers started, first batches in flight
    t0, seen = time.perf_counter(), 0
    while seen < images:
        try:
            x, _ = next(it)
        except StopIteration:
            it = iter(dl)
            continue
        seen += x.shape[0]
    print("images_per_s %.1f" % (seen / (time.perf_counter() - t0)))


if __name__ == "__main__":
    main()
