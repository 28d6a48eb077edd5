"""BYOL golden values: online projector and predictor, a target projector with its own weights
(the EMA teacher some steps in), loss = sum over both directions of mean(2 - 2 cos(p, detach(z'))).
Run with /usr/bin/python3 (Debian's python3-torch); writes byol.json."""
import torch
import torch.nn.functional as F

import common

N, D, HIDDEN, OUT, PRED = 6, 10, 16, 8, 12
PROJ = [D, HIDDEN, OUT]

vals = common.Values(2)
views = [common.leaf(vals.normal(N, D)) for _ in range(2)]
params = {k: common.leaf(v) for k, v in
          list(common.mlp_params(vals, "projector", PROJ).items()) +
          list(common.mlp_params(vals, "predictor", [OUT, PRED, OUT]).items())}
target = common.mlp_params(vals, "target.projector", PROJ)

x = torch.cat(views, 0)  # each network sees both views as one batch, as the plugin does
z = common.mlp_forward(params, "projector", PROJ, x)
p = common.mlp_forward(params, "predictor", [OUT, PRED, OUT], z)
zt = common.mlp_forward(target, "target.projector", PROJ, x).detach()
p0, p1 = p[:N], p[N:]
t0, t1 = zt[:N], zt[N:]


def regression(a, b):
    """mean over rows of 2 - 2 cos(a, b), the cosine of F.normalize as the plugin's."""
    cos = (F.normalize(a, dim=1, eps=1e-12) * F.normalize(b, dim=1, eps=1e-12)).sum(1)
    return (2 - 2 * cos).mean()


loss = regression(p0, t1) + regression(p1, t0)

common.write("byol", {"proj_hidden_dim": HIDDEN, "proj_output_dim": OUT, "pred_hidden_dim": PRED},
             views, params, loss,
             "symmetrised 2 - 2cos(p, detach(z')), projector 10-16-8, predictor 8-12-8, target "
             "projector with its own weights", state=target)

