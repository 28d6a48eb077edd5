/* Probabilities and losses, composed from primitives and kept stable by subtracting the
 * (detached: softmax does not depend on the shift) maximum before exponentiating. */
#include <stdio.h>

#include "ops_impl.h"

/* x - max(x) along axis: exp of it never overflows. */
static struct gs_node *shifted(gs_graph *g, struct gs_node *x, int axis) {
  struct gs_node *m = gs_detach(g, gs_max(g, x, &axis, 1, 1));
  return gs_sub(g, x, m);
}

static int prob_ok(gs_graph *g, const char *op, struct gs_node *x, int axis) {
  if (!gs_graph_check(g, op, &x, 1)) return 0;
  char b[GS_SHAPE_BUF];
  if (x->desc.dtype != GS_F32) {
    gs_graph_fail(g, GS_ERR_INVALID, "%s: x %s must be f32", op, gs_op_shp(&x->desc.shape, b));
    return 0;
  }
  return gs_op_axis(g, op, axis, &x->desc.shape) >= 0;
}

gs_tensor *gs_softmax(gs_graph *g, gs_tensor *x, int axis) {
  if (!prob_ok(g, "softmax", x, axis)) return NULL;
  struct gs_node *e = gs_exp(g, shifted(g, x, axis));
  return gs_div(g, e, gs_sum(g, e, &axis, 1, 1));
}

gs_tensor *gs_log_softmax(gs_graph *g, gs_tensor *x, int axis) {
  if (!prob_ok(g, "log_softmax", x, axis)) return NULL;
  struct gs_node *z = shifted(g, x, axis);
  return gs_sub(g, z, gs_log(g, gs_sum(g, gs_exp(g, z), &axis, 1, 1)));
}

gs_tensor *gs_cross_entropy(gs_graph *g, gs_tensor *logits, gs_tensor *labels) {
  struct gs_node *in[2] = {logits, labels};
  if (!gs_graph_check(g, "cross_entropy", in, 2)) return NULL;
  const gs_shape *sl = &logits->desc.shape, *sy = &labels->desc.shape;
  char bl[GS_SHAPE_BUF], by[GS_SHAPE_BUF];
  if (sl->rank != 2 || sy->rank != 1 || sy->dim[0] != sl->dim[0] || logits->desc.dtype != GS_F32 ||
      labels->desc.dtype != GS_I32)
    return gs_graph_fail(g, GS_ERR_SHAPE,
                         "cross_entropy: need logits f32 [N, C] and labels i32 [N]: logits %s "
                         "labels %s",
                         gs_op_shp(sl, bl), gs_op_shp(sy, by));
  struct gs_node *picked =
      gs_mul(g, gs_onehot(g, labels, sl->dim[1]), gs_log_softmax(g, logits, 1));
  return gs_scale(g, gs_sum_all(g, picked), -1.0f / (float)sl->dim[0]);
}

gs_tensor *gs_kl_div(gs_graph *g, gs_tensor *log_p, gs_tensor *log_q) {
  struct gs_node *in[2] = {log_p, log_q};
  if (!gs_graph_check(g, "kl_div", in, 2)) return NULL;
  const gs_shape *sp = &log_p->desc.shape, *sq = &log_q->desc.shape;
  int same = sp->rank == sq->rank && sp->rank >= 1;
  for (int k = 0; same && k < sp->rank; k++) same = sp->dim[k] == sq->dim[k];
  if (!same || log_p->desc.dtype != GS_F32 || log_q->desc.dtype != GS_F32) {
    char bp[GS_SHAPE_BUF], bq[GS_SHAPE_BUF];
    return gs_graph_fail(g, GS_ERR_SHAPE, "kl_div: log_p %s and log_q %s must be f32 of one shape",
                         gs_op_shp(sp, bp), gs_op_shp(sq, bq));
  }
  int64_t rows = gs_shape_numel(sp) / sp->dim[sp->rank - 1];
  struct gs_node *t = gs_mul(g, gs_exp(g, log_p), gs_sub(g, log_p, log_q));
  return gs_scale(g, gs_sum_all(g, t), 1.0f / (float)rows);
}
