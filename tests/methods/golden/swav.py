"""SwAV golden values (swav.json) and the same with a full queue (swav_queue.json): projector (2 layers) over both views at once, normalised prototypes,
Sinkhorn-Knopp (3 iterations, eps 0.05) as in the reference implementation, swapped prediction
at temperature 0.1. Run with /usr/bin/python3."""
import torch
import torch.nn.functional as F

import common

N, D, HIDDEN, OUT, K, QUEUE = 8, 10, 16, 6, 12, 16
TEMP, EPS, ITERS = 0.1, 0.05, 3
dims = [D, HIDDEN, OUT]


def sinkhorn(scores):
    """The reference's distributed_sinkhorn on one worker."""
    with torch.no_grad():
        Q = torch.exp(scores / EPS).t()
        B, Kp = Q.shape[1], Q.shape[0]
        Q /= torch.sum(Q)
        for _ in range(ITERS):
            Q /= torch.sum(Q, dim=1, keepdim=True)
            Q /= Kp
            Q /= torch.sum(Q, dim=0, keepdim=True)
            Q /= B
        Q *= B
        return Q.t()


def golden(name, queue):
    vals = common.Values(4)
    views = [common.leaf(vals.normal(N, D)) for _ in range(2)]
    params = {k: common.leaf(v) for k, v in common.mlp_params(vals, "projector", dims).items()}
    protos = F.normalize(vals.uniform(K, OUT), dim=1).float().double()  # as after_step leaves them
    params["prototypes.weight"] = common.leaf(protos)
    state = {}
    hp = {"temperature": TEMP, "num_prototypes": K, "sk_iterations": ITERS, "sk_epsilon": EPS,
          "proj_hidden_dim": HIDDEN, "proj_output_dim": OUT}
    if queue:
        # Normalised embeddings of earlier batches, newest first; the queue is full.
        for v in range(2):
            state["swav.queue.%d" % v] = F.normalize(vals.normal(QUEUE, OUT), dim=1).float().double()
        state["swav.queue_ready"] = torch.ones(1)
        hp["queue_size"] = QUEUE

    p = common.mlp_forward(params, "projector", dims, torch.cat(views, 0))
    z = F.normalize(p, dim=1, eps=1e-12)
    scores = z @ params["prototypes.weight"].t()
    s = [scores[:N], scores[N:]]
    q = []
    for v in range(2):
        sv = s[v].detach()
        if queue:
            qs = state["swav.queue.%d" % v] @ params["prototypes.weight"].detach().t()
            q.append(sinkhorn(torch.cat((qs, sv)))[-N:])
        else:
            q.append(sinkhorn(sv))
    losses = []
    for v in range(2):
        pred = s[1 - v] / TEMP
        losses.append(-torch.mean(torch.sum(q[v] * F.log_softmax(pred, dim=1), dim=1)))
    loss = sum(losses) / len(losses)
    common.write("swav", hp, views, params, loss,
                 "swapped prediction, 12 prototypes, projector 10-16-6" +
                 (", full queue of 16 per view" if queue else ""), state=state, file=name)


golden("swav", False)
golden("swav_queue", True)
