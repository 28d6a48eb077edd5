"""VICReg golden values: per-view projector (3 layers), invariance 25, variance 25 (hinge at 1,
eps 1e-4, unbiased variance), covariance 1. Run with /usr/bin/python3; writes vicreg.json."""
import torch
import torch.nn.functional as F

import common

N, D, HIDDEN, OUT = 8, 10, 16, 12
W_INV, W_VAR, W_COV = 25.0, 25.0, 1.0
dims = [D, HIDDEN, HIDDEN, OUT]

vals = common.Values(3)
views = [common.leaf(vals.normal(N, D)) for _ in range(2)]
params = {k: common.leaf(v) for k, v in common.mlp_params(vals, "projector", dims).items()}

x, y = [common.mlp_forward(params, "projector", dims, v) for v in views]
repr_loss = F.mse_loss(x, y)
x = x - x.mean(dim=0)
y = y - y.mean(dim=0)
std_x = torch.sqrt(x.var(dim=0) + 0.0001)
std_y = torch.sqrt(y.var(dim=0) + 0.0001)
std_loss = torch.mean(F.relu(1 - std_x)) / 2 + torch.mean(F.relu(1 - std_y)) / 2
cov_x = (x.T @ x) / (N - 1)
cov_y = (y.T @ y) / (N - 1)
off = 1 - torch.eye(OUT)
cov_loss = (cov_x * off).pow(2).sum() / OUT + (cov_y * off).pow(2).sum() / OUT
loss = W_INV * repr_loss + W_VAR * std_loss + W_COV * cov_loss

common.write("vicreg", {"invariance_weight": W_INV, "variance_weight": W_VAR,
                        "covariance_weight": W_COV, "proj_hidden_dim": HIDDEN,
                        "proj_output_dim": OUT},
             views, params, loss, "VICReg loss, projector 10-16-16-12")
