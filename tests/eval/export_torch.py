"""The exported backbone in PyTorch: `gessl export` writes a file that load_state_dict accepts
strictly into torchvision's ResNet (CIFAR stem swapped in, fc removed) or the ConvNet as
nn.Sequential, and the network then computes the same features as gessl on the same input.

torchvision is used when importable; otherwise the same networks are written here in plain
torch.nn with torchvision's module names (Debian 12's python3-torch ships without it). Fails,
never skips, when torch is missing.
Usage: export_torch.py GESSL HELPER WORKDIR
"""
import json
import os
import struct
import subprocess
import sys

sys.dont_write_bytecode = True  # nothing written into the source tree
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))
from check import check, check_summary, require  # noqa: E402

torch = require("torch", "python3-torch")
nn = torch.nn

try:
    import torchvision
except ImportError:
    torchvision = None

DT = {"F32": torch.float32, "I32": torch.int32, "I64": torch.int64}


def load_st(path):
    """A safetensors reader in a few lines (the `safetensors` package may be absent)."""
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    header.pop("__metadata__", None)
    data, out = raw[8 + n:], {}
    for name, e in header.items():
        b, en = e["data_offsets"]
        t = torch.frombuffer(bytearray(data[b:en]), dtype=DT[e["dtype"]]) if en > b else \
            torch.zeros(0, dtype=DT[e["dtype"]])
        out[name] = t.reshape(e["shape"]).clone()
    return out


def save_st(tensors, path):
    header, blobs, off = {}, [], 0
    for name, t in tensors.items():
        b = t.contiguous().reshape(-1).numpy().tobytes()
        header[name] = {"dtype": "F32", "shape": list(t.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    text = json.dumps(header).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


class BasicBlock(nn.Module):
    def __init__(self, cin, cout, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, cout, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(cout, cout, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.downsample = None
        if stride != 1 or cin != cout:
            self.downsample = nn.Sequential(nn.Conv2d(cin, cout, 1, stride, bias=False),
                                            nn.BatchNorm2d(cout))

    def forward(self, x):
        y = self.relu(self.bn1(self.conv1(x)))
        y = self.bn2(self.conv2(y))
        return self.relu(y + (self.downsample(x) if self.downsample is not None else x))


class ResNet(nn.Module):
    """torchvision.models.ResNet's module names and forward, BasicBlock only."""

    def __init__(self, layers):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
        self.bn1 = nn.BatchNorm2d(64)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        cin = 64
        for i, n in enumerate(layers):
            cout = 64 << i
            blocks = []
            for b in range(n):
                blocks.append(BasicBlock(cin, cout, 2 if i > 0 and b == 0 else 1))
                cin = cout
            setattr(self, "layer%d" % (i + 1), nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d(1)
        self.fc = nn.Linear(512, 1000)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


def resnet(arch, channels, size):
    depth = arch.split(":")[0]
    if torchvision is not None:
        m = getattr(torchvision.models, depth)()
    else:
        m = ResNet([2, 2, 2, 2] if depth == "resnet18" else [3, 4, 6, 3])
    cifar = arch.endswith(":cifar") or (":" not in arch and size <= 64)
    if cifar:  # the CIFAR stem: one 3x3 stride-1 conv, no max-pool
        m.conv1 = nn.Conv2d(channels, 64, 3, 1, 1, bias=False)
        m.maxpool = nn.Identity()
    else:
        m.conv1 = nn.Conv2d(channels, 64, 7, 2, 3, bias=False)
    m.fc = nn.Identity()  # the backbone ends at global average pooling
    return m


def convnet(channels):
    layers, cin = [], channels
    for k, cout in enumerate([32, 64, 128, 256]):
        layers += [nn.Conv2d(cin, cout, 3, 1, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU()]
        layers.append(nn.MaxPool2d(2) if k < 3 else nn.Identity())
        cin = cout
    m = nn.Module()
    m.features = nn.Sequential(*layers)
    m.forward = lambda x: m.features(x).mean(dim=(2, 3))
    return m


def run(cmd):
    r = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    if r.returncode != 0:
        print("$", " ".join(cmd), "\n" + r.stdout)
    return r.returncode == 0


def case(gessl, helper, work, arch, channels, size, n=5):
    name = arch.replace(":", "-") + "-%dc-%dpx" % (channels, size)
    run_dir = os.path.join(work, name)
    backbone = os.path.join(run_dir, "backbone.safetensors")
    inp, feats = os.path.join(run_dir, "input.safetensors"), os.path.join(run_dir, "feats.safetensors")
    ok = run([helper, "checkpoint", run_dir, arch, str(channels), str(size)])
    ok = ok and run([gessl, "export", "--checkpoint", run_dir, "--out", backbone, "--force"])
    torch.manual_seed(size * 10 + channels)
    x = torch.randn(n, channels, size, size)
    if ok:
        save_st({"input": x}, inp)
        ok = run([helper, "features", run_dir, inp, feats])
    check(ok, "%s: checkpoint, export and gessl features" % name)
    if not ok:
        return
    sd = load_st(backbone)
    m = convnet(channels) if arch.startswith("convnet") else resnet(arch, channels, size)
    try:
        m.load_state_dict(sd, strict=True)
        check(True, "")
    except RuntimeError as e:
        check(False, "%s: strict load_state_dict: %s" % (name, e))
        return
    check(all(k in sd for k in m.state_dict()), "%s: every torch key exported" % name)
    m.eval()
    with torch.no_grad():
        want = m(x)
    got = load_st(feats)["features"]
    check(got.shape == want.shape, "%s: shapes %s vs %s" % (name, tuple(got.shape), tuple(want.shape)))
    if got.shape == want.shape:
        err = (got - want).abs().max().item()
        scale = want.abs().max().item()
        print("%-28s features %s  max |gessl - torch| %.3g  (max |torch| %.3g)%s" %
              (name, tuple(got.shape), err, scale, "  [torchvision]" if torchvision and
               not arch.startswith("convnet") else ""))
        check(err <= 1e-4 * max(1.0, scale), "%s: features differ by %g" % (name, err))


def main():
    gessl, helper, work = sys.argv[1:4]
    os.makedirs(work, exist_ok=True)
    case(gessl, helper, work, "resnet18", 3, 16)
    case(gessl, helper, work, "resnet18:imagenet", 3, 72, n=2)
    case(gessl, helper, work, "convnet", 1, 28)
    check_summary()


main()
