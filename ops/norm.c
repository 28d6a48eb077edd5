/* Normalisation layers, composed from primitives: batch norm (batch statistics with running-stat
 * EMA sinks, or running statistics), layer norm and L2 normalisation. */
#include <stdio.h>

#include "gessl/comm.h"
#include "gessl/runtime.h"
#include "ops_impl.h"

/* xc = x - mean over the listed axes; also returns mean and the (biased) variance. */
static struct gs_node *center(gs_graph *g, struct gs_node *x, const int *axes, int n,
                              struct gs_node **mean, struct gs_node **var) {
  *mean = gs_mean(g, x, axes, n, 1);
  struct gs_node *xc = gs_sub(g, x, *mean);
  *var = gs_mean(g, gs_square(g, xc), axes, n, 1);
  return xc;
}

/* xc / sqrt(var + eps) with xc = x - mean over the listed axes; also returns mean and var. */
static struct gs_node *standardize(gs_graph *g, struct gs_node *x, const int *axes, int n,
                                   float eps, struct gs_node **mean, struct gs_node **var) {
  struct gs_node *xc = center(g, x, axes, n, mean, var);
  return gs_mul(g, xc, gs_rsqrt(g, gs_add_scalar(g, *var, eps)));
}

static int channel_vec_ok(gs_graph *g, const char *op, const char *what, struct gs_node *v,
                          int64_t c, const gs_shape *sx) {
  if (!v) return 1;
  if (!gs_graph_check(g, op, &v, 1)) return 0;
  if (v->desc.shape.rank == 1 && v->desc.shape.dim[0] == c) return 1;
  char bv[GS_SHAPE_BUF], bx[GS_SHAPE_BUF];
  gs_graph_fail(g, GS_ERR_SHAPE, "%s: %s %s does not match x %s (need [%lld])", op, what,
                gs_op_shp(&v->desc.shape, bv), gs_op_shp(sx, bx), (long long)c);
  return 0;
}

static int param_vec_ok(gs_graph *g, const char *what, gs_param *p, int64_t c, const gs_shape *sx) {
  gs_shape s = gs_param_shape(p);
  if (gs_shape_numel(&s) == c) return 1;
  char bv[GS_SHAPE_BUF], bx[GS_SHAPE_BUF];
  gs_graph_fail(g, GS_ERR_SHAPE, "batch_norm: %s %s does not match x %s", what, gs_op_shp(&s, bv),
                gs_op_shp(sx, bx));
  return 0;
}

gs_tensor *gs_batch_norm(gs_graph *g, gs_tensor *x, gs_tensor *gamma, gs_tensor *beta,
                         gs_param *running_mean, gs_param *running_var, int train, float momentum,
                         float eps) {
  if (!gs_graph_check(g, "batch_norm", &x, 1)) return NULL;
  const gs_shape *sx = &x->desc.shape;
  char bx[GS_SHAPE_BUF];
  if ((sx->rank != 2 && sx->rank != 4) || x->desc.dtype != GS_F32)
    return gs_graph_fail(g, GS_ERR_SHAPE,
                         "batch_norm: x must be f32 [N, C] or [N, C, H, W], "
                         "got %s",
                         gs_op_shp(sx, bx));
  int64_t c = sx->dim[1];
  if (!channel_vec_ok(g, "batch_norm", "gamma", gamma, c, sx) ||
      !channel_vec_ok(g, "batch_norm", "beta", beta, c, sx))
    return NULL;
  if (!running_mean != !running_var)
    return gs_graph_fail(g, GS_ERR_INVALID,
                         "batch_norm: running_mean and running_var must both "
                         "be given or both be NULL");
  if (running_mean && (!param_vec_ok(g, "running_mean", running_mean, c, sx) ||
                       !param_vec_ok(g, "running_var", running_var, c, sx)))
    return NULL;
  gs_shape bs = sx->rank == 2 ? GS_SHAPE(1, c) : GS_SHAPE(1, c, 1, 1);
  const int axes[3] = {0, 2, 3};
  int n_axes = sx->rank == 2 ? 1 : 3;
  /* y = xc * (gamma / sqrt(var + eps)) + beta: gamma joins the per-channel scale before it is
   * broadcast, which saves a full-size product forward and three full-size passes backward
   * (the scale's gradient and xc's are then one product and one reduction each). */
  struct gs_node *xc, *inv;
  if (train || !running_mean) {
    struct gs_node *mean, *var;
    /* Synchronised batch norm: the statistics of the whole world's batch (every rank holds an
     * equal share, so the mean of the ranks' means is the global mean; the variance about it
     * likewise). Gradients flow back through the all-reduces. */
    int sync = train && gs_world_sync_bn();
    if (sync) {
      mean = gs_all_reduce(g, gs_mean(g, x, axes, n_axes, 1), 1);
      xc = gs_sub(g, x, mean);
      var = gs_all_reduce(g, gs_mean(g, gs_square(g, xc), axes, n_axes, 1), 1);
    } else {
      xc = center(g, x, axes, n_axes, &mean, &var);
    }
    inv = gs_rsqrt(g, gs_add_scalar(g, var, eps));
    if (train && running_mean) {
      int64_t cnt = gs_shape_numel(sx) / c * (sync ? gs_world_batch_ranks() : 1);
      float unbias = cnt > 1 ? (float)((double)cnt / (double)(cnt - 1)) : 1.0f;
      /* gs_ema_update keeps m*target, so m = 1 - momentum. */
      struct gs_node *m = gs_fill(g, GS_SHAPE(1), 1.0f - momentum);
      gs_ema_update(g, running_mean, gs_detach(g, mean), m);
      gs_ema_update(g, running_var, gs_scale(g, gs_detach(g, var), unbias), m);
    }
  } else {
    struct gs_node *rm = gs_op_alias(g, gs_detach(g, gs_param_ref(g, running_mean)), bs);
    struct gs_node *rv = gs_op_alias(g, gs_detach(g, gs_param_ref(g, running_var)), bs);
    xc = gs_sub(g, x, rm);
    inv = gs_rsqrt(g, gs_add_scalar(g, rv, eps));
  }
  if (gamma) inv = gs_mul(g, inv, gs_op_alias(g, gamma, bs));
  struct gs_node *y = gs_mul(g, xc, inv);
  if (beta) y = gs_add(g, y, gs_op_alias(g, beta, bs));
  return y;
}

gs_tensor *gs_layer_norm(gs_graph *g, gs_tensor *x, gs_tensor *gamma, gs_tensor *beta, float eps) {
  if (!gs_graph_check(g, "layer_norm", &x, 1)) return NULL;
  const gs_shape *sx = &x->desc.shape;
  char bx[GS_SHAPE_BUF];
  if (sx->rank < 1 || x->desc.dtype != GS_F32)
    return gs_graph_fail(g, GS_ERR_SHAPE, "layer_norm: x must be f32 of rank >= 1, got %s",
                         gs_op_shp(sx, bx));
  int64_t d = sx->dim[sx->rank - 1];
  if (!channel_vec_ok(g, "layer_norm", "gamma", gamma, d, sx) ||
      !channel_vec_ok(g, "layer_norm", "beta", beta, d, sx))
    return NULL;
  const int axis = -1;
  struct gs_node *mean, *var;
  struct gs_node *y = standardize(g, x, &axis, 1, eps, &mean, &var);
  if (gamma) y = gs_mul(g, y, gamma);
  if (beta) y = gs_add(g, y, beta);
  return y;
}

gs_tensor *gs_l2_normalize(gs_graph *g, gs_tensor *x, int axis, float eps) {
  if (!gs_graph_check(g, "l2_normalize", &x, 1)) return NULL;
  if (gs_op_axis(g, "l2_normalize", axis, &x->desc.shape) < 0) return NULL;
  /* max(|x|, eps) == sqrt(max(|x|^2, eps^2)); taking the max before the sqrt keeps the gradient
   * finite for an all-zero row. */
  struct gs_node *ss = gs_sum(g, gs_square(g, x), &axis, 1, 1);
  struct gs_node *d = gs_sqrt(g, gs_maximum(g, ss, gs_fill(g, GS_SHAPE(1), eps * eps)));
  return gs_div(g, x, d);
}
