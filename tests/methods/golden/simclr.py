"""SimCLR golden values: NT-Xent over 2N views, projector Linear-BN-ReLU-Linear, temperature 0.2.
Run with /usr/bin/python3 (Debian's python3-torch); writes simclr.json."""
import torch
import torch.nn.functional as F

import common

N, D, HIDDEN, OUT, TEMP = 6, 10, 16, 8, 0.2

vals = common.Values(1)
views = [common.leaf(vals.normal(N, D)) for _ in range(2)]
params = {k: common.leaf(v) for k, v in
          common.mlp_params(vals, "projector", [D, HIDDEN, OUT]).items()}

x = torch.cat(views, 0)  # one pass over both views, as the plugin does
p = common.mlp_forward(params, "projector", [D, HIDDEN, OUT], x)
z = F.normalize(p, dim=1, eps=1e-12)
sim = z @ z.t() / TEMP
sim = sim.masked_fill(torch.eye(2 * N, dtype=torch.bool), float("-inf"))
partner = torch.cat([torch.arange(N, 2 * N), torch.arange(0, N)])
loss = F.cross_entropy(sim, partner)

common.write("simclr", {"temperature": TEMP, "proj_hidden_dim": HIDDEN, "proj_output_dim": OUT},
             views, params, loss, "NT-Xent, temperature 0.2, projector 10-16-8 with BN")
