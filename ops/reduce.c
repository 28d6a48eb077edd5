/* Reductions (sum, mean, max over axes), broadcast (expand) and the dot product. REDUCE and
 * EXPAND launches keep the rank: reduced axes stay as 1s and an alias drops them afterwards. */
#include <stdio.h>

#include "grad_rules.h"
#include "ops_impl.h"

static const char *const reduce_names[GS_RED_COUNT] = {"sum", "mean", "max"};

struct gs_node *gs_op_reduce_mask(gs_graph *g, struct gs_node *x, unsigned mask, gs_reduce kind) {
  if (!x) return NULL;
  gs_shape o = x->desc.shape;
  for (int k = 0; k < o.rank; k++)
    if (mask >> k & 1u) o.dim[k] = 1;
  if (!mask || o.rank == 0) return x;
  struct gs_node *y = gs_op_node(g, GS_OP_REDUCE, o, &x, 1);
  if (y) y->i[0] = kind;
  return y;
}

static gs_tensor *reduce_axes(gs_graph *g, gs_tensor *x, const int *axes, int n_axes, int keepdim,
                              gs_reduce kind) {
  const char *name = reduce_names[kind];
  if (!gs_graph_check(g, name, &x, 1)) return NULL;
  const gs_shape *s = &x->desc.shape;
  char b[GS_SHAPE_BUF];
  if (x->desc.dtype != GS_F32)
    return gs_graph_fail(g, GS_ERR_INVALID, "%s: x %s is i32, expected f32", name, gs_op_shp(s, b));
  if (n_axes < 0 || (n_axes > 0 && !axes))
    return gs_graph_fail(g, GS_ERR_INVALID, "%s: bad axis list", name);
  unsigned mask = 0;
  for (int k = 0; k < n_axes; k++) {
    int a = gs_op_axis(g, name, axes[k], s);
    if (a < 0) return NULL;
    if (mask >> a & 1u)
      return gs_graph_fail(g, GS_ERR_SHAPE, "%s: axis %d listed twice for %s", name, axes[k],
                           gs_op_shp(s, b));
    mask |= 1u << a;
  }
  struct gs_node *y = gs_op_reduce_mask(g, x, mask, kind);
  if (!y || keepdim) return y;
  gs_shape o = {0, {0}};
  for (int k = 0; k < s->rank; k++)
    if (!(mask >> k & 1u)) o.dim[o.rank++] = s->dim[k];
  return gs_op_alias(g, y, o);
}

gs_tensor *gs_sum(gs_graph *g, gs_tensor *x, const int *axes, int n_axes, int keepdim) {
  return reduce_axes(g, x, axes, n_axes, keepdim, GS_RED_SUM);
}
gs_tensor *gs_mean(gs_graph *g, gs_tensor *x, const int *axes, int n_axes, int keepdim) {
  return reduce_axes(g, x, axes, n_axes, keepdim, GS_RED_MEAN);
}
gs_tensor *gs_max(gs_graph *g, gs_tensor *x, const int *axes, int n_axes, int keepdim) {
  return reduce_axes(g, x, axes, n_axes, keepdim, GS_RED_MAX);
}

static gs_tensor *reduce_all(gs_graph *g, gs_tensor *x, gs_reduce kind) {
  if (!gs_graph_check(g, reduce_names[kind], &x, 1)) return NULL;
  int axes[GS_MAX_RANK];
  for (int k = 0; k < x->desc.shape.rank; k++) axes[k] = k;
  struct gs_node *y = reduce_axes(g, x, axes, x->desc.shape.rank, 1, kind);
  return gs_op_alias(g, y, (gs_shape){0, {0}});
}

gs_tensor *gs_sum_all(gs_graph *g, gs_tensor *x) { return reduce_all(g, x, GS_RED_SUM); }
gs_tensor *gs_mean_all(gs_graph *g, gs_tensor *x) { return reduce_all(g, x, GS_RED_MEAN); }

struct gs_node *gs_op_expand_same_rank(gs_graph *g, struct gs_node *x, gs_shape shape) {
  if (!x) return NULL;
  int same = 1;
  for (int k = 0; k < shape.rank; k++) same &= x->desc.shape.dim[k] == shape.dim[k];
  if (same) return x;
  return gs_op_node(g, GS_OP_EXPAND, shape, &x, 1);
}

gs_tensor *gs_expand(gs_graph *g, gs_tensor *x, gs_shape shape) {
  if (!gs_graph_check(g, "expand", &x, 1)) return NULL;
  const gs_shape *s = &x->desc.shape;
  char bx[GS_SHAPE_BUF], bs[GS_SHAPE_BUF];
  int ok = x->desc.dtype == GS_F32 && shape.rank >= s->rank && shape.rank <= GS_MAX_RANK;
  for (int k = 0; ok && k < s->rank; k++) {
    int64_t d = s->dim[k], t = shape.dim[k + shape.rank - s->rank];
    ok = t >= 1 && (d == t || d == 1);
  }
  for (int k = 0; ok && k < shape.rank; k++) ok = shape.dim[k] >= 1;
  if (!ok)
    return gs_graph_fail(g, GS_ERR_SHAPE, "expand: x %s does not broadcast to %s", gs_op_shp(s, bx),
                         gs_op_shp(&shape, bs));
  if (shape.rank == 0) return x;
  return gs_op_expand_same_rank(g, gs_op_pad_rank(g, x, shape.rank), shape);
}

struct gs_node *gs_op_grad_sum(gs_graph *g, struct gs_node *dy, unsigned mask) {
  if (!dy || !mask) return dy;
  struct gs_node *src = gs_op_broadcast_src(dy);
  if (src) {
    /* A sum along a broadcast axis is a product with its length; the other reduced axes are
     * summed in the source, and the axes broadcast but not reduced stay broadcast. */
    const gs_shape *s = &dy->desc.shape;
    gs_shape o = *s;
    unsigned bcast = 0;
    double len = 1.0;
    for (int k = 0; k < s->rank; k++) {
      if (src->desc.shape.dim[k] != s->dim[k]) {
        bcast |= 1u << k;
        if (mask >> k & 1u) len *= (double)s->dim[k];
      }
      if (mask >> k & 1u) o.dim[k] = 1;
    }
    struct gs_node *r = gs_op_grad_scale(g, gs_op_grad_sum(g, src, mask & ~bcast), (float)len);
    return gs_op_expand_same_rank(g, r, o);
  }
  if (gs_op_scale_src(dy)) return gs_op_grad_scale(g, gs_op_grad_sum(g, dy->in[0], mask), dy->f[0]);
  return gs_op_reduce_mask(g, dy, mask, GS_RED_SUM);
}

struct gs_node *gs_op_reduce_to(gs_graph *g, struct gs_node *dy, gs_shape shape) {
  if (!dy) return NULL;
  const gs_shape *s = &dy->desc.shape;
  unsigned mask = 0;
  for (int k = 0; k < s->rank; k++) {
    int j = k - (s->rank - shape.rank);
    int64_t d = j >= 0 ? shape.dim[j] : 1;
    if (d == 1 && s->dim[k] != 1) mask |= 1u << k;
  }
  return gs_op_alias(g, gs_op_grad_sum(g, dy, mask), shape);
}

struct gs_node *gs_op_dot(gs_graph *g, struct gs_node *a, struct gs_node *b) {
  struct gs_node *in[2] = {a, b};
  if (!gs_graph_check(g, "dot", in, 2)) return NULL;
  if (gs_shape_numel(&a->desc.shape) != gs_shape_numel(&b->desc.shape)) {
    char ba[GS_SHAPE_BUF], bb[GS_SHAPE_BUF];
    return gs_graph_fail(g, GS_ERR_SHAPE, "dot: element counts differ: a %s b %s",
                         gs_op_shp(&a->desc.shape, ba), gs_op_shp(&b->desc.shape, bb));
  }
  in[0] = gs_op_lift0(g, a);
  in[1] = gs_op_alias(g, b, in[0] ? in[0]->desc.shape : a->desc.shape);
  return gs_op_node(g, GS_OP_DOT, GS_SHAPE(1), in, 2);
}

/* ---- Gradients ---- */

int gs_grad_reduce(gs_graph *g, struct gs_node *y, struct gs_node *dy, const char *want,
                   struct gs_node **dx) {
  struct gs_node *x = y->in[0];
  const gs_shape *sx = &x->desc.shape;
  switch (y->op) {
  case GS_OP_REDUCE:
    if (y->i[0] == GS_RED_SUM) {
      dx[0] = gs_op_expand_same_rank(g, dy, *sx);
    } else if (y->i[0] == GS_RED_MEAN) {
      float c = (float)((double)gs_shape_numel(&y->desc.shape) / (double)gs_shape_numel(sx));
      dx[0] = gs_op_expand_same_rank(g, gs_op_grad_scale(g, dy, c), *sx);
    } else {
      /* Every maximum receives the gradient (ties are measure-zero for float data). y and dy
       * broadcast in the BINARY launches rather than being expanded first. */
      struct gs_node *m = gs_op_binary(g, x, y, GS_BIN_EQ);
      dx[0] = gs_op_binary(g, dy, m, GS_BIN_MUL);
    }
    break;
  case GS_OP_EXPAND: {
    unsigned mask = 0;
    for (int k = 0; k < sx->rank; k++)
      if (sx->dim[k] != y->desc.shape.dim[k]) mask |= 1u << k;
    dx[0] = gs_op_grad_sum(g, dy, mask);
    break;
  }
  case GS_OP_DOT:
    if (want[0]) dx[0] = gs_op_binary(g, y->in[1], dy, GS_BIN_MUL);
    if (want[1]) dx[1] = gs_op_binary(g, y->in[0], dy, GS_BIN_MUL);
    break;
  default: break;
  }
  return gs_graph_status(g) == GS_OK;
}
