/* Matrix products. The MATMUL launch is always rank 3: rank-2 operands are viewed as a batch of
 * one and a rank-2 product is aliased back to rank 2. */
#include <stdio.h>

#include "grad_rules.h"
#include "ops_impl.h"

/* op(a) @ op(b) for rank-3 operands whose batches are 1 or equal; no further checks. */
static struct gs_node *matmul3(gs_graph *g, struct gs_node *a, struct gs_node *b, int ta, int tb) {
  if (!a || !b) return NULL;
  const gs_shape *sa = &a->desc.shape, *sb = &b->desc.shape;
  int64_t bt = sa->dim[0] > sb->dim[0] ? sa->dim[0] : sb->dim[0];
  int64_t m = ta ? sa->dim[2] : sa->dim[1], n = tb ? sb->dim[1] : sb->dim[2];
  struct gs_node *in[2] = {a, b};
  struct gs_node *y = gs_op_node(g, GS_OP_MATMUL, GS_SHAPE(bt, m, n), in, 2);
  if (y) {
    y->i[0] = ta ? 1 : 0;
    y->i[1] = tb ? 1 : 0;
  }
  return y;
}

gs_tensor *gs_matmul(gs_graph *g, gs_tensor *a, gs_tensor *b, int trans_a, int trans_b) {
  struct gs_node *ab[2] = {a, b};
  if (!gs_graph_check(g, "matmul", ab, 2)) return NULL;
  const gs_shape *sa = &a->desc.shape, *sb = &b->desc.shape;
  char ba[GS_SHAPE_BUF], bb[GS_SHAPE_BUF];
  if (a->desc.dtype != GS_F32 || b->desc.dtype != GS_F32)
    return gs_graph_fail(g, GS_ERR_INVALID, "matmul: operands must be f32: a %s b %s",
                         gs_op_shp(sa, ba), gs_op_shp(sb, bb));
  if (sa->rank < 2 || sa->rank > 3 || sb->rank < 2 || sb->rank > 3)
    return gs_graph_fail(g, GS_ERR_SHAPE, "matmul: operands must be rank 2 or 3: a %s b %s",
                         gs_op_shp(sa, ba), gs_op_shp(sb, bb));
  int oa = sa->rank - 2, ob = sb->rank - 2;
  int64_t ka = trans_a ? sa->dim[oa] : sa->dim[oa + 1];
  int64_t kb = trans_b ? sb->dim[ob + 1] : sb->dim[ob];
  if (ka != kb)
    return gs_graph_fail(g, GS_ERR_SHAPE, "matmul: inner dims differ: a %s b %s%s%s",
                         gs_op_shp(sa, ba), gs_op_shp(sb, bb), trans_a ? " (a transposed)" : "",
                         trans_b ? " (b transposed)" : "");
  int64_t na = oa ? sa->dim[0] : 1, nb = ob ? sb->dim[0] : 1;
  if (na != nb && na != 1 && nb != 1)
    return gs_graph_fail(g, GS_ERR_SHAPE, "matmul: batch dims differ: a %s b %s", gs_op_shp(sa, ba),
                         gs_op_shp(sb, bb));
  struct gs_node *a3 = gs_op_pad_rank(g, a, 3), *b3 = gs_op_pad_rank(g, b, 3);
  struct gs_node *y = matmul3(g, a3, b3, trans_a, trans_b);
  if (!y || oa || ob) return y;
  return gs_op_alias(g, y, GS_SHAPE(y->desc.shape.dim[1], y->desc.shape.dim[2]));
}

gs_tensor *gs_linear(gs_graph *g, gs_tensor *x, gs_tensor *w, gs_tensor *b) {
  struct gs_node *xw[2] = {x, w};
  if (!gs_graph_check(g, "linear", xw, 2)) return NULL;
  const gs_shape *sx = &x->desc.shape, *sw = &w->desc.shape;
  char bx[GS_SHAPE_BUF], bw[GS_SHAPE_BUF], bbuf[GS_SHAPE_BUF];
  if (sx->rank != 2 || sw->rank != 2 || sx->dim[1] != sw->dim[1])
    return gs_graph_fail(g, GS_ERR_SHAPE, "linear: need x [N, in] and w [out, in]: x %s w %s",
                         gs_op_shp(sx, bx), gs_op_shp(sw, bw));
  if (b) {
    if (!gs_graph_check(g, "linear", &b, 1)) return NULL;
    if (b->desc.shape.rank != 1 || b->desc.shape.dim[0] != sw->dim[0])
      return gs_graph_fail(g, GS_ERR_SHAPE, "linear: bias %s does not match w %s",
                           gs_op_shp(&b->desc.shape, bbuf), gs_op_shp(sw, bw));
  }
  struct gs_node *y = gs_matmul(g, x, w, 0, 1);
  return b ? gs_add(g, y, b) : y;
}

/* ---- Gradients ---- */

/* Sums a batched gradient over the batch when the operand was shared (batch of 1). */
static struct gs_node *batch_reduce(gs_graph *g, struct gs_node *d, const gs_shape *s) {
  if (!d || d->desc.shape.dim[0] == s->dim[0]) return d;
  return gs_op_reduce_mask(g, d, 1u, GS_RED_SUM);
}

int gs_grad_matmul(gs_graph *g, struct gs_node *y, struct gs_node *dy, const char *want,
                   struct gs_node **dx) {
  struct gs_node *a = y->in[0], *b = y->in[1];
  int ta = y->i[0], tb = y->i[1];
  struct gs_node *da = NULL, *db = NULL;
  /* C = op(A) op(B): dop(A) = dC op(B)^T, dop(B) = op(A)^T dC, transposed back for stored A/B. */
  if (want[0]) {
    if (!ta)
      da = tb ? matmul3(g, dy, b, 0, 0) : matmul3(g, dy, b, 0, 1);
    else
      da = tb ? matmul3(g, b, dy, 1, 1) : matmul3(g, b, dy, 0, 1);
    dx[0] = batch_reduce(g, da, &a->desc.shape);
  }
  if (want[1]) {
    if (!tb)
      db = ta ? matmul3(g, a, dy, 0, 0) : matmul3(g, a, dy, 1, 0);
    else
      db = ta ? matmul3(g, dy, a, 1, 1) : matmul3(g, dy, a, 1, 0);
    dx[1] = batch_reduce(g, db, &b->desc.shape);
  }
  return gs_graph_status(g) == GS_OK;
}
