/* Shape ops: reshape and detach (aliases: no copy), permute/transpose, concat, slice, row
 * gather/scatter and one-hot. */
#include <stdio.h>
#include <string.h>

#include "grad_rules.h"
#include "ops_impl.h"

struct gs_node *gs_op_alias(gs_graph *g, struct gs_node *x, gs_shape shape) {
  if (!gs_graph_check(g, "reshape", &x, 1)) return NULL;
  if (gs_shape_eq(&x->desc.shape, &shape)) return x;
  if (gs_shape_numel(&x->desc.shape) != gs_shape_numel(&shape)) {
    char bx[GS_SHAPE_BUF], bs[GS_SHAPE_BUF];
    return gs_graph_fail(g, GS_ERR_SHAPE, "reshape: element count differs: x %s shape %s",
                         gs_op_shp(&x->desc.shape, bx), gs_op_shp(&shape, bs));
  }
  return gs_node_new(g, GS_NODE_ALIAS, GS_OP_NOP, x->desc.dtype, shape, &x, 1);
}

struct gs_node *gs_op_pad_rank(gs_graph *g, struct gs_node *x, int r) {
  if (!x) return NULL;
  const gs_shape *s = &x->desc.shape;
  if (s->rank >= r) return x;
  gs_shape p = {r, {0}};
  for (int k = 0; k < r; k++) p.dim[k] = k < r - s->rank ? 1 : s->dim[k - (r - s->rank)];
  return gs_op_alias(g, x, p);
}

struct gs_node *gs_op_lift0(gs_graph *g, struct gs_node *x) {
  if (!x || x->desc.shape.rank > 0) return x;
  return gs_op_alias(g, x, GS_SHAPE(1));
}

gs_tensor *gs_reshape(gs_graph *g, gs_tensor *x, gs_shape shape) {
  if (!gs_graph_check(g, "reshape", &x, 1)) return NULL;
  char bx[GS_SHAPE_BUF], bs[GS_SHAPE_BUF];
  if (shape.rank < 0 || shape.rank > GS_MAX_RANK)
    return gs_graph_fail(g, GS_ERR_SHAPE, "reshape: rank %d outside 0..%d", shape.rank,
                         GS_MAX_RANK);
  int infer = -1;
  int64_t known = 1;
  for (int k = 0; k < shape.rank; k++) {
    if (shape.dim[k] == -1 && infer < 0) {
      infer = k;
    } else if (shape.dim[k] < 1) {
      return gs_graph_fail(g, GS_ERR_SHAPE, "reshape: bad target shape %s for x %s",
                           gs_op_shp(&shape, bs), gs_op_shp(&x->desc.shape, bx));
    } else {
      known *= shape.dim[k];
    }
  }
  int64_t n = gs_shape_numel(&x->desc.shape);
  if (infer >= 0) {
    if (n % known != 0)
      return gs_graph_fail(g, GS_ERR_SHAPE, "reshape: cannot infer -1 of %s for x %s",
                           gs_op_shp(&shape, bs), gs_op_shp(&x->desc.shape, bx));
    shape.dim[infer] = n / known;
  }
  return gs_op_alias(g, x, shape);
}

gs_tensor *gs_detach(gs_graph *g, gs_tensor *x) {
  if (!gs_graph_check(g, "detach", &x, 1)) return NULL;
  struct gs_node *y = gs_node_new(g, GS_NODE_ALIAS, GS_OP_NOP, x->desc.dtype, x->desc.shape, &x, 1);
  if (y) y->no_grad = 1;
  return y;
}

gs_tensor *gs_permute(gs_graph *g, gs_tensor *x, const int *perm) {
  if (!gs_graph_check(g, "permute", &x, 1)) return NULL;
  const gs_shape *s = &x->desc.shape;
  char bx[GS_SHAPE_BUF];
  if (!perm) return gs_graph_fail(g, GS_ERR_INVALID, "permute: NULL perm");
  gs_shape o = {s->rank, {0}};
  unsigned seen = 0;
  int ident = 1;
  for (int k = 0; k < s->rank; k++) {
    int p = perm[k] < 0 ? perm[k] + s->rank : perm[k];
    if (p < 0 || p >= s->rank || (seen >> p & 1u))
      return gs_graph_fail(g, GS_ERR_SHAPE,
                           "permute: perm is not a permutation of the %d axes of %s", s->rank,
                           gs_op_shp(s, bx));
    seen |= 1u << p;
    o.dim[k] = s->dim[p];
    ident &= p == k;
  }
  if (ident) return x;
  struct gs_node *y = gs_node_new(g, GS_NODE_OP, GS_OP_PERMUTE, x->desc.dtype, o, &x, 1);
  if (!y) return NULL;
  for (int k = 0; k < s->rank; k++) y->i[k] = perm[k] < 0 ? perm[k] + s->rank : perm[k];
  return y;
}

gs_tensor *gs_transpose(gs_graph *g, gs_tensor *x) {
  if (!gs_graph_check(g, "transpose", &x, 1)) return NULL;
  int r = x->desc.shape.rank;
  if (r < 2) {
    char bx[GS_SHAPE_BUF];
    return gs_graph_fail(g, GS_ERR_SHAPE, "transpose: needs rank >= 2, x %s",
                         gs_op_shp(&x->desc.shape, bx));
  }
  int perm[GS_MAX_RANK];
  for (int k = 0; k < r; k++) perm[k] = k;
  perm[r - 2] = r - 1;
  perm[r - 1] = r - 2;
  return gs_permute(g, x, perm);
}

gs_tensor *gs_concat(gs_graph *g, gs_tensor *const *xs, int n, int axis) {
  if (!g || g->status != GS_OK) return NULL;
  if (!xs || n < 1) return gs_graph_fail(g, GS_ERR_INVALID, "concat: no operands");
  if (!gs_graph_check(g, "concat", xs, n)) return NULL;
  const gs_shape *s0 = &xs[0]->desc.shape;
  int a = gs_op_axis(g, "concat", axis, s0);
  if (a < 0) return NULL;
  if (n == 1) return xs[0];
  gs_shape o = *s0;
  o.dim[a] = 0;
  for (int k = 0; k < n; k++) {
    const gs_shape *s = &xs[k]->desc.shape;
    int ok = s->rank == s0->rank && xs[k]->desc.dtype == xs[0]->desc.dtype;
    for (int d = 0; ok && d < s->rank; d++) ok = d == a || s->dim[d] == s0->dim[d];
    if (!ok) {
      char b0[GS_SHAPE_BUF], bk[GS_SHAPE_BUF];
      return gs_graph_fail(g, GS_ERR_SHAPE,
                           "concat: operand %d %s does not fit operand 0 %s along axis %d", k,
                           gs_op_shp(s, bk), gs_op_shp(s0, b0), axis);
    }
    o.dim[a] += s->dim[a];
  }
  struct gs_node *y = gs_node_new(g, GS_NODE_CONCAT, GS_OP_NOP, xs[0]->desc.dtype, o, xs, n);
  if (y) y->i[0] = a;
  return y;
}

/* SLICE with a full start vector. */
static struct gs_node *slice_node(gs_graph *g, struct gs_node *x, int a, int64_t start,
                                  int64_t len) {
  gs_shape o = x->desc.shape;
  o.dim[a] = len;
  struct gs_node *y = gs_node_new(g, GS_NODE_OP, GS_OP_SLICE, x->desc.dtype, o, &x, 1);
  if (y) y->i[a] = (int32_t)start;
  return y;
}

gs_tensor *gs_slice(gs_graph *g, gs_tensor *x, int axis, int64_t start, int64_t len) {
  if (!gs_graph_check(g, "slice", &x, 1)) return NULL;
  const gs_shape *s = &x->desc.shape;
  int a = gs_op_axis(g, "slice", axis, s);
  if (a < 0) return NULL;
  if (start < 0 || len < 1 || start + len > s->dim[a]) {
    char bx[GS_SHAPE_BUF];
    return gs_graph_fail(g, GS_ERR_SHAPE, "slice: window [%lld, %lld) outside axis %d of %s",
                         (long long)start, (long long)(start + len), axis, gs_op_shp(s, bx));
  }
  if (len == s->dim[a]) return x;
  return slice_node(g, x, a, start, len);
}

struct gs_node *gs_op_pad_into(gs_graph *g, struct gs_node *x, gs_shape full, int axis,
                               int64_t start) {
  if (!x) return NULL;
  struct gs_node *parts[3];
  int n = 0;
  int64_t len = x->desc.shape.dim[axis], after = full.dim[axis] - start - len;
  gs_shape z = full;
  if (start > 0) {
    z.dim[axis] = start;
    parts[n++] = gs_fill(g, z, 0.0f);
  }
  parts[n++] = x;
  if (after > 0) {
    z.dim[axis] = after;
    parts[n++] = gs_fill(g, z, 0.0f);
  }
  return gs_concat(g, parts, n, axis);
}

static int need_dtype(gs_graph *g, const char *op, const char *what, struct gs_node *x,
                      gs_dtype want) {
  if (x->desc.dtype == want) return 1;
  char b[GS_SHAPE_BUF];
  gs_graph_fail(g, GS_ERR_INVALID, "%s: %s %s must be %s", op, what, gs_op_shp(&x->desc.shape, b),
                want == GS_I32 ? "i32" : "f32");
  return 0;
}

gs_tensor *gs_gather_rows(gs_graph *g, gs_tensor *x, gs_tensor *idx) {
  struct gs_node *in[2] = {x, idx};
  if (!gs_graph_check(g, "gather_rows", in, 2)) return NULL;
  if (!need_dtype(g, "gather_rows", "x", x, GS_F32) ||
      !need_dtype(g, "gather_rows", "idx", idx, GS_I32))
    return NULL;
  const gs_shape *sx = &x->desc.shape, *si = &idx->desc.shape;
  if (sx->rank != 2 || si->rank != 1) {
    char bx[GS_SHAPE_BUF], bi[GS_SHAPE_BUF];
    return gs_graph_fail(g, GS_ERR_SHAPE, "gather_rows: need x [R, D] and idx [N]: x %s idx %s",
                         gs_op_shp(sx, bx), gs_op_shp(si, bi));
  }
  return gs_op_node(g, GS_OP_GATHER_ROWS, GS_SHAPE(si->dim[0], sx->dim[1]), in, 2);
}

gs_tensor *gs_scatter_add_rows(gs_graph *g, gs_tensor *src, gs_tensor *idx, int64_t rows) {
  struct gs_node *in[2] = {src, idx};
  if (!gs_graph_check(g, "scatter_add_rows", in, 2)) return NULL;
  if (!need_dtype(g, "scatter_add_rows", "src", src, GS_F32) ||
      !need_dtype(g, "scatter_add_rows", "idx", idx, GS_I32))
    return NULL;
  const gs_shape *ss = &src->desc.shape, *si = &idx->desc.shape;
  if (ss->rank != 2 || si->rank != 1 || si->dim[0] != ss->dim[0] || rows < 1) {
    char bs[GS_SHAPE_BUF], bi[GS_SHAPE_BUF];
    return gs_graph_fail(g, GS_ERR_SHAPE,
                         "scatter_add_rows: need src [N, D], idx [N], rows >= 1: src %s idx %s "
                         "rows %lld",
                         gs_op_shp(ss, bs), gs_op_shp(si, bi), (long long)rows);
  }
  return gs_op_node(g, GS_OP_SCATTER_ADD_ROWS, GS_SHAPE(rows, ss->dim[1]), in, 2);
}

gs_tensor *gs_onehot(gs_graph *g, gs_tensor *labels, int64_t classes) {
  if (!gs_graph_check(g, "onehot", &labels, 1)) return NULL;
  if (!need_dtype(g, "onehot", "labels", labels, GS_I32)) return NULL;
  const gs_shape *s = &labels->desc.shape;
  if (s->rank != 1 || classes < 1) {
    char b[GS_SHAPE_BUF];
    return gs_graph_fail(g, GS_ERR_SHAPE,
                         "onehot: need labels [N] and classes >= 1: labels %s "
                         "classes %lld",
                         gs_op_shp(s, b), (long long)classes);
  }
  struct gs_node *y = gs_op_node(g, GS_OP_ONEHOT, GS_SHAPE(s->dim[0], classes), &labels, 1);
  if (y) y->no_grad = 1;
  return y;
}

/* ---- Gradients ---- */

int gs_grad_shape(gs_graph *g, struct gs_node *y, struct gs_node *dy, const char *want,
                  struct gs_node **dx) {
  if (y->kind == GS_NODE_ALIAS) {
    if (!y->no_grad) dx[0] = gs_op_alias(g, dy, y->in[0]->desc.shape);
    return gs_graph_status(g) == GS_OK;
  }
  if (y->kind == GS_NODE_CONCAT) {
    int a = y->i[0];
    int64_t off = 0;
    for (int k = 0; k < y->n_in; k++) {
      int64_t len = y->in[k]->desc.shape.dim[a];
      if (want[k]) dx[k] = len == y->desc.shape.dim[a] ? dy : slice_node(g, dy, a, off, len);
      off += len;
    }
    return gs_graph_status(g) == GS_OK;
  }
  switch (y->op) {
  case GS_OP_PERMUTE: {
    int inv[GS_MAX_RANK];
    for (int k = 0; k < y->desc.shape.rank; k++) inv[y->i[k]] = k;
    dx[0] = gs_permute(g, dy, inv);
    break;
  }
  case GS_OP_SLICE: {
    int a = 0;
    for (int k = 0; k < y->desc.shape.rank; k++)
      if (y->desc.shape.dim[k] != y->in[0]->desc.shape.dim[k]) a = k;
    dx[0] = gs_op_pad_into(g, dy, y->in[0]->desc.shape, a, y->i[a]);
    break;
  }
  case GS_OP_GATHER_ROWS:
    if (want[0]) dx[0] = gs_scatter_add_rows(g, dy, y->in[1], y->in[0]->desc.shape.dim[0]);
    break;
  case GS_OP_SCATTER_ADD_ROWS:
    if (want[0]) dx[0] = gs_gather_rows(g, dy, y->in[1]);
    break;
  default: break;
  }
  return gs_graph_status(g) == GS_OK;
}
