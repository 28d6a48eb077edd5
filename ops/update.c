/* Persistent updates (sinks): assign, EMA and the fused optimizer steps of optim.h. A sink names
 * the param it writes in `param`; in-place opcodes also take that param's node as in0, so the
 * compiler binds the launch's out and in0 to the same buffer. */
#include <stdio.h>

#include "gessl/optim.h"
#include "ops_impl.h"

/* v as a tensor of p's shape (equal element count), f32. */
static struct gs_node *fit_param(gs_graph *g, const char *op, const char *what, gs_param *p,
                                 struct gs_node *v) {
  gs_shape ps = gs_param_shape(p);
  char bp[GS_SHAPE_BUF], bv[GS_SHAPE_BUF];
  if (v->desc.dtype != GS_F32 || gs_shape_numel(&v->desc.shape) != gs_shape_numel(&ps))
    return gs_graph_fail(g, GS_ERR_SHAPE, "%s: %s %s does not fit param '%s' %s", op, what,
                         gs_op_shp(&v->desc.shape, bv), gs_param_name(p), gs_op_shp(&ps, bp));
  return gs_op_alias(g, v, ps);
}

/* A [1] f32 operand (learning rate, step, momentum). */
static struct gs_node *scalar1(gs_graph *g, const char *op, const char *what, struct gs_node *v) {
  char b[GS_SHAPE_BUF];
  if (v->desc.dtype != GS_F32 || gs_shape_numel(&v->desc.shape) != 1)
    return gs_graph_fail(g, GS_ERR_SHAPE, "%s: %s must be one f32 value, got %s", op, what,
                         gs_op_shp(&v->desc.shape, b));
  return gs_op_alias(g, v, GS_SHAPE(1));
}

/* Optimizer state must have exactly the param's shape: the update runs in place on both. */
static int same_param_shape(gs_graph *g, const char *op, const char *what, gs_param *w,
                            gs_param *st) {
  gs_shape a = gs_param_shape(w), b = gs_param_shape(st);
  if (gs_shape_eq(&a, &b)) return 1;
  char ba[GS_SHAPE_BUF], bb[GS_SHAPE_BUF];
  gs_graph_fail(g, GS_ERR_SHAPE, "%s: %s %s does not match param '%s' %s", op, what,
                gs_op_shp(&b, bb), gs_param_name(w), gs_op_shp(&a, ba));
  return 0;
}

static struct gs_node *sink(gs_graph *g, gs_opcode op, gs_param *p, struct gs_node *const *in,
                            int n) {
  struct gs_node *s = gs_op_node(g, op, gs_param_shape(p), in, n);
  if (s) {
    s->param = p;
    s->is_sink = 1;
    s->no_grad = 1;
  }
  return s;
}

static int params_ok(gs_graph *g, const char *op, gs_param *const *ps, int n) {
  if (!g || g->status != GS_OK) return 0;
  for (int k = 0; k < n; k++)
    if (!ps[k]) {
      gs_graph_fail(g, GS_ERR_INVALID, "%s: NULL param (operand %d)", op, k);
      return 0;
    }
  return 1;
}

gs_tensor *gs_assign(gs_graph *g, gs_param *dst, gs_tensor *value) {
  if (!params_ok(g, "assign", &dst, 1) || !gs_graph_check(g, "assign", &value, 1)) return NULL;
  struct gs_node *v = fit_param(g, "assign", "value", dst, value);
  return v ? sink(g, GS_OP_INSERT, dst, &v, 1) : NULL;
}

gs_tensor *gs_ema_update(gs_graph *g, gs_param *target, gs_tensor *online, gs_tensor *m) {
  struct gs_node *ops[2] = {online, m};
  if (!params_ok(g, "ema_update", &target, 1) || !gs_graph_check(g, "ema_update", ops, 2))
    return NULL;
  struct gs_node *in[3] = {gs_param_ref(g, target),
                           fit_param(g, "ema_update", "online", target, online),
                           scalar1(g, "ema_update", "m", m)};
  if (!in[0] || !in[1] || !in[2]) return NULL;
  return sink(g, GS_OP_EMA, target, in, 3);
}

gs_status gs_ema_update_set(gs_graph *g, const gs_pset *target, const gs_pset *online,
                            gs_tensor *m) {
  int n = gs_pset_count(online);
  if (g && gs_graph_status(g) == GS_OK && gs_pset_count(target) != n)
    gs_graph_fail(g, GS_ERR_SHAPE, "ema_update: a target set of %d params for %d online ones",
                  gs_pset_count(target), n);
  for (int k = 0; k < n && gs_graph_status(g) == GS_OK; k++)
    gs_ema_update(g, gs_pset_get(target, k), gs_param_ref(g, gs_pset_get(online, k)), m);
  return gs_graph_status(g);
}

gs_tensor *gs_sgd_update(gs_graph *g, gs_param *w, gs_tensor *grad, gs_param *momentum_buf,
                         gs_tensor *lr, float momentum, float weight_decay, int nesterov) {
  gs_param *ps[2] = {w, momentum_buf};
  struct gs_node *ts[2] = {grad, lr};
  if (!params_ok(g, "sgd_update", ps, 2) || !gs_graph_check(g, "sgd_update", ts, 2)) return NULL;
  if (!same_param_shape(g, "sgd_update", "momentum buffer", w, momentum_buf)) return NULL;
  struct gs_node *in[4] = {gs_param_ref(g, w), fit_param(g, "sgd_update", "grad", w, grad),
                           gs_param_ref(g, momentum_buf), scalar1(g, "sgd_update", "lr", lr)};
  if (!in[0] || !in[1] || !in[2] || !in[3]) return NULL;
  struct gs_node *s = sink(g, GS_OP_SGD, w, in, 4);
  if (s) {
    s->f[0] = momentum;
    s->f[1] = weight_decay;
    s->i[0] = nesterov ? 1 : 0;
  }
  return s;
}

gs_tensor *gs_adamw_update(gs_graph *g, gs_param *w, gs_tensor *grad, gs_param *m, gs_param *v,
                           gs_tensor *lr, gs_tensor *t, float beta1, float beta2, float eps,
                           float weight_decay) {
  gs_param *ps[3] = {w, m, v};
  struct gs_node *ts[3] = {grad, lr, t};
  if (!params_ok(g, "adamw_update", ps, 3) || !gs_graph_check(g, "adamw_update", ts, 3))
    return NULL;
  if (!same_param_shape(g, "adamw_update", "m", w, m) ||
      !same_param_shape(g, "adamw_update", "v", w, v))
    return NULL;
  struct gs_node *in[6] = {gs_param_ref(g, w),
                           fit_param(g, "adamw_update", "grad", w, grad),
                           gs_param_ref(g, m),
                           gs_param_ref(g, v),
                           scalar1(g, "adamw_update", "lr", lr),
                           scalar1(g, "adamw_update", "t", t)};
  for (int k = 0; k < 6; k++)
    if (!in[k]) return NULL;
  struct gs_node *s = sink(g, GS_OP_ADAMW, w, in, 6);
  if (s) {
    s->f[0] = beta1;
    s->f[1] = beta2;
    s->f[2] = eps;
    s->f[3] = weight_decay;
  }
  return s;
}

gs_tensor *gs_lars_update(gs_graph *g, gs_param *w, gs_tensor *grad, gs_param *momentum_buf,
                          gs_tensor *lr, float momentum, float weight_decay, float eta,
                          int exclude) {
  if (exclude) return gs_sgd_update(g, w, grad, momentum_buf, lr, momentum, 0.0f, 0);
  gs_param *ps[2] = {w, momentum_buf};
  struct gs_node *ts[2] = {grad, lr};
  if (!params_ok(g, "lars_update", ps, 2) || !gs_graph_check(g, "lars_update", ts, 2)) return NULL;
  struct gs_node *wn = gs_param_ref(g, w), *gr = fit_param(g, "lars_update", "grad", w, grad);
  struct gs_node *l1 = scalar1(g, "lars_update", "lr", lr);
  if (!wn || !gr || !l1) return NULL;
  /* trust = eta*|w| / (|g| + wd*|w|), or 1 when either norm is 0 (the mask `both`). */
  struct gs_node *nw = gs_op_unary(g, gs_op_dot(g, wn, wn), GS_UN_SQRT, 0, 0);
  struct gs_node *ng = gs_op_unary(g, gs_op_dot(g, gr, gr), GS_UN_SQRT, 0, 0);
  struct gs_node *zero = gs_fill(g, GS_SHAPE(1), 0.0f);
  struct gs_node *both = gs_op_binary(g, gs_op_binary(g, nw, zero, GS_BIN_GT),
                                      gs_op_binary(g, ng, zero, GS_BIN_GT), GS_BIN_MUL);
  struct gs_node *notboth = gs_op_unary(g, both, GS_UN_AFFINE, -1.0f, 1.0f);
  /* notboth keeps the denominator away from 0 where the ratio is replaced anyway. */
  struct gs_node *den =
      gs_op_axpby(g, 1.0f, gs_op_axpby(g, 1.0f, ng, weight_decay, nw), 1.0f, notboth);
  struct gs_node *ratio =
      gs_op_binary(g, gs_op_unary(g, nw, GS_UN_AFFINE, eta, 0.0f), den, GS_BIN_DIV);
  struct gs_node *trust =
      gs_op_axpby(g, 1.0f, gs_op_binary(g, ratio, both, GS_BIN_MUL), 1.0f, notboth);
  struct gs_node *lr_scaled = gs_op_binary(g, l1, trust, GS_BIN_MUL);
  return gs_sgd_update(g, w, gr, momentum_buf, lr_scaled, momentum, weight_decay, 0);
}
