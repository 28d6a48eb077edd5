"""Shared helpers of the golden-value scripts.

Each script computes one method's loss and gradients in PyTorch (float64) on fixed inputs and
writes <method>.json beside itself, in the layout test_golden.c reads (see the comment at its top).
The network pieces here mirror the runtime's: gs_mlp is nn.Sequential of Linear (no bias when a
BatchNorm1d follows), BatchNorm1d (train mode, eps 1e-5) and ReLU, indexed as nn.Sequential indexes
them, so parameter names ("projector.0.weight") are the runtime's.
"""
import json
import os

import torch

torch.set_default_dtype(torch.float64)


class Values:
    """A seeded source of inputs. Values are drawn in float32 and widened, so the C test reads
    exactly the numbers the reference used."""

    def __init__(self, seed):
        self.gen = torch.Generator().manual_seed(seed)

    def normal(self, *shape, std=1.0):
        return (torch.randn(*shape, generator=self.gen, dtype=torch.float32) * std).double()

    def uniform(self, *shape, low=-1.0, high=1.0):
        u = torch.rand(*shape, generator=self.gen, dtype=torch.float32)
        return (u * (high - low) + low).double()


def mlp_params(vals, prefix, dims, last_bn=False, last_bn_affine=True):
    """Parameters of gs_mlp_new(prefix, dims, last_bn, last_bn_affine) as {name: tensor}, with
    random (not default) BN affine values so their gradients are exercised."""
    params = {}
    idx = 0
    n = len(dims) - 1
    for k in range(n):
        last = k == n - 1
        has_bn = (not last) or last_bn
        fan_in = dims[k]
        params["%s.%d.weight" % (prefix, idx)] = vals.uniform(dims[k + 1], fan_in) / fan_in**0.5
        if not has_bn:
            params["%s.%d.bias" % (prefix, idx)] = vals.uniform(dims[k + 1]) / fan_in**0.5
        idx += 1
        if has_bn:
            if (not last) or last_bn_affine:
                params["%s.%d.weight" % (prefix, idx)] = vals.uniform(dims[k + 1], low=0.5, high=1.5)
                params["%s.%d.bias" % (prefix, idx)] = vals.uniform(dims[k + 1], low=-0.5, high=0.5)
            idx += 1
        if not last:
            idx += 1
    return params


def batch_norm(x, weight=None, bias=None, eps=1e-5):
    """BatchNorm1d in train mode: batch mean, biased batch variance."""
    mean = x.mean(0, keepdim=True)
    var = ((x - mean) ** 2).mean(0, keepdim=True)
    y = (x - mean) / torch.sqrt(var + eps)
    if weight is not None:
        y = y * weight + bias
    return y


def mlp_forward(params, prefix, dims, x, last_bn=False, last_bn_affine=True):
    idx = 0
    n = len(dims) - 1
    for k in range(n):
        last = k == n - 1
        has_bn = (not last) or last_bn
        w = params["%s.%d.weight" % (prefix, idx)]
        b = params.get("%s.%d.bias" % (prefix, idx)) if not has_bn else None
        x = x @ w.t()
        if b is not None:
            x = x + b
        idx += 1
        if has_bn:
            if (not last) or last_bn_affine:
                x = batch_norm(x, params["%s.%d.weight" % (prefix, idx)],
                               params["%s.%d.bias" % (prefix, idx)])
            else:
                x = batch_norm(x)
            idx += 1
        if not last:
            x = torch.relu(x)
            idx += 1
    return x


def flat(t):
    return [float(v) for v in t.detach().reshape(-1).tolist()]


def write(method, hparams, views, params, loss, description, state=None, step=0, total_steps=100,
          rtol=None, file=None):
    """Differentiates `loss` with respect to the views and `params` (all requires_grad) and writes
    <file or method>.json beside this script. `state` holds values for non-trainable tensors."""
    names = sorted(params)
    grads = torch.autograd.grad(loss, list(views) + [params[k] for k in names], allow_unused=True)
    gv = grads[: len(views)]
    gp = grads[len(views):]
    n, d = views[0].shape
    doc = {
        "method": method,
        "description": description,
        "hparams": hparams,
        "batch": n,
        "dim": d,
        "step": step,
        "total_steps": total_steps,
        "views": [flat(v) for v in views],
        "params": {k: flat(params[k]) for k in names},
        "state": {k: flat(v) for k, v in sorted((state or {}).items())},
        "loss": float(loss),
        "grad_views": [flat(g if g is not None else torch.zeros_like(v)) for g, v in zip(gv, views)],
        "grad_params": {k: flat(g if g is not None else torch.zeros_like(params[k]))
                        for k, g in zip(names, gp)},
    }
    if rtol is not None:
        doc["rtol"] = rtol
    path = os.path.join(os.path.dirname(os.path.abspath(__file__)), (file or method) + ".json")
    with open(path, "w") as f:
        # One top-level key per line, numbers in full (repr) precision.
        f.write("{\n" + ",\n".join(" %s: %s" % (json.dumps(k), json.dumps(v))
                                    for k, v in doc.items()) + "\n}\n")
    print("%s: loss %.6f -> %s" % (method, float(loss), path))


def leaf(t):
    return t.clone().requires_grad_(True)
