/* gessl — optimizers as fused update ops, and learning-rate schedules.
 *
 * An optimizer adds one update sink per parameter to a graph (graph.h, "persistent updates"),
 * so a training step is one program: forward, backward, update. The learning rate and the step
 * count are [1] tensors the caller feeds (or computes), so a schedule never forces a recompile.
 * The optimizer owns its state tensors (momentum, Adam moments) and frees them in
 * gs_optimizer_free. */
#ifndef GESSL_OPTIM_H
#define GESSL_OPTIM_H

#include "runtime.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Single-tensor update ops (sinks). lr and t are [1] tensors. */
GS_API gs_tensor *gs_sgd_update(gs_graph *g, gs_param *w, gs_tensor *grad, gs_param *momentum_buf,
                                gs_tensor *lr, float momentum, float weight_decay, int nesterov);
GS_API gs_tensor *gs_adamw_update(gs_graph *g, gs_param *w, gs_tensor *grad, gs_param *m,
                                  gs_param *v, gs_tensor *lr, gs_tensor *t, float beta1,
                                  float beta2, float eps, float weight_decay);
/* LARS: SGD whose lr is scaled by the trust ratio eta*||w|| / (||g|| + wd*||w||) (1 when either
 * norm is 0). `exclude` (1-D params: biases, BN) gets neither the trust ratio nor weight decay. */
GS_API gs_tensor *gs_lars_update(gs_graph *g, gs_param *w, gs_tensor *grad, gs_param *momentum_buf,
                                 gs_tensor *lr, float momentum, float weight_decay, float eta,
                                 int exclude);

typedef enum gs_optim_kind { GS_OPT_SGD = 0, GS_OPT_LARS = 1, GS_OPT_ADAMW = 2 } gs_optim_kind;

typedef struct gs_optim_config {
  gs_optim_kind kind;
  float momentum;     /* SGD/LARS; default 0.9 */
  float weight_decay; /* default 5e-4 (SGD/LARS), 0.05 (AdamW) */
  int nesterov;
  float eta;               /* LARS trust coefficient, default 0.001 */
  float beta1, beta2, eps; /* AdamW: 0.9, 0.999, 1e-8 */
} gs_optim_config;

/* Defaults for a kind. */
GS_API gs_optim_config gs_optim_defaults(gs_optim_kind kind);
/* "sgd" | "lars" | "adamw" -> kind; GS_ERR_INVALID otherwise. */
GS_API gs_status gs_optim_parse(const char *name, gs_optim_kind *out);

typedef struct gs_optimizer gs_optimizer;
/* Creates the state tensors for every param of `params` on its device. */
GS_API gs_optimizer *gs_optimizer_new(const gs_optim_config *cfg, const gs_pset *params);
GS_API void gs_optimizer_free(gs_optimizer *o);
/* Adds the update sinks for params[k] with gradient grads[k] (k < count of the set), using lr
 * and t ([1] tensors; t is ignored except by AdamW). */
GS_API gs_status gs_optimizer_add_updates(gs_optimizer *o, gs_graph *g, gs_tensor *const *grads,
                                          gs_tensor *lr, gs_tensor *t);
/* Momentum / moment tensors, for checkpoints. */
GS_API const gs_pset *gs_optimizer_state(const gs_optimizer *o);

/* Linear warmup from 0 over `warmup` steps to base, then cosine decay to final_lr at `total`. */
GS_API float gs_lr_warmup_cosine(int64_t step, int64_t total, int64_t warmup, float base,
                                 float final_lr);
/* Cosine ramp from start to end over total steps (EMA momentum, teacher temperature). */
GS_API float gs_cosine_ramp(int64_t step, int64_t total, float start, float end);

#ifdef __cplusplus
}
#endif
#endif
