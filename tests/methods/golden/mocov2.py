"""MoCo v2 golden values: symmetric InfoNCE of each view's query against the other view's key from
the momentum encoder (its own projector weights) and a queue of 16 negatives, temperature 0.2.
Run with /usr/bin/python3 (Debian's python3-torch); writes mocov2.json."""
import torch
import torch.nn.functional as F

import common

N, D, HIDDEN, OUT, QUEUE, TEMP = 6, 10, 16, 8, 16, 0.2
PROJ = [D, HIDDEN, OUT]

vals = common.Values(4)
views = [common.leaf(vals.normal(N, D)) for _ in range(2)]
params = {k: common.leaf(v) for k, v in common.mlp_params(vals, "projector", PROJ).items()}
state = common.mlp_params(vals, "momentum.projector", PROJ)
# Unit rows, rounded to float32 first so the C side reads the same numbers.
queue = F.normalize(vals.normal(QUEUE, OUT), dim=1).float().double()
state["mocov2.queue"] = queue

x = torch.cat(views, 0)  # both views as one batch through each encoder, as the plugin does
q = F.normalize(common.mlp_forward(params, "projector", PROJ, x), dim=1, eps=1e-12)
k = F.normalize(common.mlp_forward(state, "momentum.projector", PROJ, x), dim=1, eps=1e-12).detach()
k_other = torch.cat([k[N:], k[:N]], 0)  # each query's positive: its image's other view
logits = torch.cat([(q * k_other).sum(1, keepdim=True), q @ queue.t()], 1) / TEMP
loss = F.cross_entropy(logits, torch.zeros(2 * N, dtype=torch.long))

common.write("mocov2", {"temperature": TEMP, "queue_size": QUEUE, "proj_hidden_dim": HIDDEN,
                        "proj_output_dim": OUT, "symmetric": 1},
             views, params, loss,
             "symmetric InfoNCE, temperature 0.2, queue of 16, projector 10-16-8, momentum "
             "projector with its own weights", state=state)
