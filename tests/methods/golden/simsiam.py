"""SimSiam golden values: 3-layer projector (last BN without affine), predictor bottleneck,
loss = -cos(p_0, detach(z_1)) / 2 - cos(p_1, detach(z_0)) / 2 averaged over the batch.
Run with /usr/bin/python3 (Debian's python3-torch); writes simsiam.json."""
import torch
import torch.nn.functional as F

import common

N, D, HIDDEN, OUT, PRED = 6, 10, 16, 8, 4
PROJ = [D, HIDDEN, HIDDEN, OUT]

vals = common.Values(3)
views = [common.leaf(vals.normal(N, D)) for _ in range(2)]
params = {k: common.leaf(v) for k, v in
          list(common.mlp_params(vals, "projector", PROJ, last_bn=True,
                                 last_bn_affine=False).items()) +
          list(common.mlp_params(vals, "predictor", [OUT, PRED, OUT]).items())}

x = torch.cat(views, 0)  # both views as one batch, as the plugin does
z = common.mlp_forward(params, "projector", PROJ, x, last_bn=True, last_bn_affine=False)
p = common.mlp_forward(params, "predictor", [OUT, PRED, OUT], z)


def neg_cos(a, b):
    """-mean over rows of cos(a, detach(b)), the cosine of F.normalize as the plugin's."""
    b = b.detach()
    return -(F.normalize(a, dim=1, eps=1e-12) * F.normalize(b, dim=1, eps=1e-12)).sum(1).mean()


loss = neg_cos(p[:N], z[N:]) / 2 + neg_cos(p[N:], z[:N]) / 2

common.write("simsiam",
             {"proj_hidden_dim": HIDDEN, "proj_output_dim": OUT, "pred_hidden_dim": PRED},
             views, params, loss,
             "negative cosine with stop-gradient, projector 10-16-16-8 (last BN without affine), "
             "predictor 8-4-8")
