"""Safetensors interop with PyTorch, both ways.

torch -> gessl: tensors made in torch are saved (with the `safetensors` package when it is
installed, else by a writer that follows the format byte for byte) and dumped by the C helper;
every value must match. gessl -> torch: the helper writes a file that torch loads (again with the
package when present, else by hand) and checks against the same formulas.

Fails, never skips, when torch is missing: interop is part of what the format code promises.
Usage: st_torch_interop.py HELPER WORKDIR
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

try:
    import safetensors.torch as st_torch
except ImportError:
    st_torch = None

DTYPES = {torch.float32: "F32", torch.int32: "I32", torch.int64: "I64",
          torch.bfloat16: "BF16", torch.float16: "F16", torch.uint8: "U8"}
BY_NAME = {v: k for k, v in DTYPES.items()}

def save(tensors, path, metadata):
    if st_torch is not None:
        st_torch.save_file(tensors, path, metadata=metadata)
        return
    # The reference serializer: metadata first, then tensors sorted by (alignment desc, name),
    # header padded with spaces to a multiple of 8.
    header = {"__metadata__": metadata}
    order = sorted(tensors.items(), key=lambda kv: (-kv[1].element_size(), kv[0]))
    blobs, off = [], 0
    for name, t in order:
        data = t.contiguous().reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b""
        header[name] = {"dtype": DTYPES[t.dtype], "shape": list(t.shape),
                        "data_offsets": [off, off + len(data)]}
        blobs.append(data)
        off += len(data)
    text = json.dumps(header, separators=(",", ":")).encode()
    text += b" " * ((8 - len(text) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(text)) + text + b"".join(blobs))


def load(path):
    if st_torch is not None:
        from safetensors import safe_open
        with safe_open(path, framework="pt") as f:
            return st_torch.load_file(path), f.metadata()
    with open(path, "rb") as f:
        raw = f.read()
    (n,) = struct.unpack("<Q", raw[:8])
    check(n % 8 == 0, "header length %d is a multiple of 8" % n)
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", None)
    data = raw[8 + n:]
    out, end = {}, 0
    for name, e in header.items():
        b, ee = e["data_offsets"]
        end = max(end, ee)
        t = torch.frombuffer(bytearray(data[b:ee]), dtype=BY_NAME[e["dtype"]]) if ee > b else \
            torch.empty(0, dtype=BY_NAME[e["dtype"]])
        out[name] = t.reshape(e["shape"])
    check(end == len(data), "data section is exactly the tensors")
    return out, meta


def torch_to_gessl(helper, work):
    g = torch.Generator().manual_seed(0)
    tensors = {
        "backbone.conv1.weight": torch.randn(4, 3, 3, 3, generator=g),
        "fc.bias": torch.randn(7, generator=g),
        "labels": torch.tensor([0, -5, 2**31 - 1, -2**31], dtype=torch.int32),
        "half": torch.randn(3, generator=g).to(torch.bfloat16),
        "steps": torch.tensor([1, 2], dtype=torch.int64),
        "scalar": torch.tensor(1.5),
        "empty": torch.zeros(0, 4),
    }
    path = os.path.join(work, "from_torch.safetensors")
    save(tensors, path, {"format": "pt", "note": "written by torch"})
    r = subprocess.run([helper, "dump", path], capture_output=True, text=True)
    check(r.returncode == 0, "helper reads the torch file: " + r.stderr.strip())
    seen = {}
    meta = {}
    for line in r.stdout.splitlines():
        parts = line.split("\t")
        if parts[0] == "meta":
            meta[parts[1]] = parts[2]
        elif parts[0] == "tensor":
            seen[parts[1]] = parts[2:]
    check(meta == {"format": "pt", "note": "written by torch"}, "metadata %r" % meta)
    check(set(seen) == set(tensors), "names %r" % sorted(seen))
    for name, t in tensors.items():
        if name not in seen:
            continue
        dtype, shape, values = seen[name]
        check(dtype == DTYPES[t.dtype], "%s dtype %s" % (name, dtype))
        want_shape = ",".join(str(d) for d in t.shape)
        check(shape == want_shape, "%s shape %s != %s" % (name, shape, want_shape))
        if t.dtype == torch.float32:
            got = torch.tensor([float(v) for v in values.split()], dtype=torch.float32)
            check(torch.equal(got, t.flatten()), "%s values" % name)
        elif t.dtype == torch.int32:
            got = torch.tensor([int(v) for v in values.split()], dtype=torch.int32)
            check(torch.equal(got, t.flatten()), "%s values" % name)


def gessl_to_torch(helper, work):
    path = os.path.join(work, "from_gessl.safetensors")
    r = subprocess.run([helper, "write", path], capture_output=True, text=True)
    check(r.returncode == 0, "helper writes: " + r.stderr.strip())
    if r.returncode:
        return
    tensors, meta = load(path)
    check(meta == {"format": "pt", "epoch": "3"}, "metadata %r" % meta)
    want = {
        "conv.weight": (torch.arange(24, dtype=torch.float32) * 0.25 - 3).reshape(2, 3, 2, 2),
        "counts": (torch.arange(5, dtype=torch.int32) ** 2 - 7).to(torch.int32),
        "scalar": torch.tensor(3.25),
    }
    check(set(tensors) == set(want), "names %r" % sorted(tensors))
    for name, t in want.items():
        got = tensors.get(name)
        check(got is not None and got.dtype == t.dtype and got.shape == t.shape
              and torch.equal(got, t), "%s matches" % name)


def main():
    helper, work = sys.argv[1], sys.argv[2]
    os.makedirs(work, exist_ok=True)
    print("using", "the safetensors package" if st_torch else "the format written by hand",
          "with torch", torch.__version__)
    torch_to_gessl(helper, work)
    gessl_to_torch(helper, work)
    check_summary()


if __name__ == "__main__":
    main()
