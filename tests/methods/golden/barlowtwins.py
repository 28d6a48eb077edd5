"""Barlow Twins golden values: per-view projector (3 layers), cross-correlation of batch-normalised
embeddings, lambda 0.0051, scale 0.1. Run with /usr/bin/python3; writes barlowtwins.json."""
import torch

import common

N, D, HIDDEN, OUT, LAMBDA, SCALE = 8, 10, 16, 12, 0.0051, 0.1
dims = [D, HIDDEN, HIDDEN, OUT]

vals = common.Values(2)
views = [common.leaf(vals.normal(N, D)) for _ in range(2)]
params = {k: common.leaf(v) for k, v in common.mlp_params(vals, "projector", dims).items()}

z = [common.mlp_forward(params, "projector", dims, v) for v in views]
zn = [common.batch_norm(t) for t in z]
c = zn[0].t() @ zn[1] / N
eye = torch.eye(OUT)
cdif = (c - eye) ** 2
loss = SCALE * ((cdif * eye).sum() + LAMBDA * (cdif * (1 - eye)).sum())

common.write("barlowtwins", {"lambda": LAMBDA, "scale": SCALE, "proj_hidden_dim": HIDDEN,
                             "proj_output_dim": OUT},
             views, params, loss, "cross-correlation loss, projector 10-16-16-12")
