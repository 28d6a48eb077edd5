"""DINO golden values with multi-crop: two global views (student and teacher) and two local views
(student only, one batch of their own). Head MLP 10-16-16-8, L2 normalisation, 12 weight-normalised
prototypes; student temperature 0.1; teacher temperature at step 5 of a 10-step warm-up from 0.04
to 0.07 (0.055); the teacher has its own weights and the centre a non-zero value.
Run with /usr/bin/python3 (Debian's python3-torch); writes dino.json."""
import torch
import torch.nn.functional as F

import common

N, D, HIDDEN, BOTTLENECK, K = 6, 10, 16, 8, 12
STUDENT_TEMP, TEACHER_TEMP, WARMUP_TEMP, WARMUP_FRAC = 0.1, 0.07, 0.04, 0.1
STEP, TOTAL = 5, 100
MLP = [D, HIDDEN, HIDDEN, BOTTLENECK]


def head_params(vals, prefix):
    p = common.mlp_params(vals, prefix, MLP)
    p[prefix + ".last_layer.weight"] = vals.uniform(K, BOTTLENECK) / BOTTLENECK**0.5
    return p


def head_forward(params, prefix, x):
    b = common.mlp_forward(params, prefix, MLP, x)
    w = F.normalize(params[prefix + ".last_layer.weight"], dim=1, eps=1e-12)  # norm_last_layer
    return F.normalize(b, dim=1, eps=1e-12) @ w.t()


vals = common.Values(5)
views = [common.leaf(vals.normal(N, D)) for _ in range(4)]
params = {k: common.leaf(v) for k, v in head_params(vals, "head").items()}
state = head_params(vals, "teacher.head")
center = vals.normal(1, K, std=0.1)
state["dino.center"] = center

warm = WARMUP_FRAC * TOTAL
temp = WARMUP_TEMP + (TEACHER_TEMP - WARMUP_TEMP) * STEP / warm if STEP < warm else TEACHER_TEMP

glob = torch.cat(views[:2], 0)
t = head_forward(state, "teacher.head", glob).detach()
p = F.softmax((t - center) / temp, dim=1)
s_glob = head_forward(params, "head", glob)
s_local = head_forward(params, "head", torch.cat(views[2:], 0))
logq = F.log_softmax(torch.cat([s_glob, s_local], 0) / STUDENT_TEMP, dim=1)
logq = [logq[v * N:(v + 1) * N] for v in range(4)]
terms = [-(p[g * N:(g + 1) * N] * logq[v]).sum(1).mean() for g in range(2) for v in range(4) if v != g]
loss = sum(terms) / len(terms)

common.write("dino", {"proj_hidden_dim": HIDDEN, "bottleneck_dim": BOTTLENECK, "num_prototypes": K,
                      "student_temp": STUDENT_TEMP, "teacher_temp": TEACHER_TEMP,
                      "warmup_teacher_temp": WARMUP_TEMP, "warmup_teacher_temp_frac": WARMUP_FRAC,
                      "local_crops": 2},
             views, params, loss,
             "2 global + 2 local views, head 10-16-16-8 + 12 prototypes, student temp 0.1, "
             "teacher temp 0.055 (step 5 of a 10-step warm-up), centred teacher",
             state=state, step=STEP, total_steps=TOTAL)
